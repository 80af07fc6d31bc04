//! `agentdock broker serve`: the credential broker itself, run in its container. It checks
//! each request's capability (the agent's `ANTHROPIC_API_KEY`), its network and its budgets,
//! swaps in the user's credential and forwards the request to the upstream over TLS; the answer
//! comes back untouched (a stream stays a stream), its `usage` read on the way and recorded.
//! Only the Messages API (and what the CLI asks besides: model list, hello) is forwarded.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::store;
use crate::domain::broker::{self as b, BrokerConfig, Capability, CredentialKind, Meter, RefusalLine, Refused, Spent, UsageLine};

type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
type Out = BoxBody<Bytes, hyper::Error>;

/// What the broker is started with.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub state_dir: PathBuf,
    pub credential_file: PathBuf,
    pub listen: SocketAddr,
}

struct State {
    config: BrokerConfig,
    /// The upstream without a trailing `/`.
    upstream: String,
    /// The user's credential: only ever put in the upstream request's header.
    credential: HeaderValue,
    dir: PathBuf,
    caps: Mutex<store::CapsCache>,
    spent: Mutex<Spent>,
    records: Mutex<store::Records>,
    client: Client<Https, Incoming>,
}

/// Runs the broker until it is stopped.
pub async fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    let config = store::read_config(&opts.state_dir)?;
    let secret = std::fs::read_to_string(&opts.credential_file)
        .map_err(|e| anyhow::anyhow!("cannot read the credential file {}: {e}", opts.credential_file.display()))?;
    let secret = secret.trim();
    if secret.is_empty() {
        anyhow::bail!("the credential file {} is empty", opts.credential_file.display());
    }
    let mut credential = match config.kind {
        CredentialKind::ApiKey => HeaderValue::from_str(secret),
        CredentialKind::OauthToken => HeaderValue::from_str(&format!("Bearer {secret}")),
    }
    .map_err(|_| anyhow::anyhow!("the credential holds characters a header cannot"))?;
    credential.set_sensitive(true);
    let spent = store::spent_so_far(&opts.state_dir);
    let state = Arc::new(State {
        upstream: config.upstream.trim_end_matches('/').to_string(),
        client: client(config.ca_file.as_deref().map(Path::new))?,
        config,
        credential,
        caps: Mutex::new(store::CapsCache::default()),
        spent: Mutex::new(spent),
        records: Mutex::new(store::Records::open(&opts.state_dir)?),
        dir: opts.state_dir.clone(),
    });
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    tracing::info!(listen = %opts.listen, upstream = %state.upstream, kind = ?state.config.kind, "broker listening");
    eprintln!("agentdock broker listening on {} (upstream {}, {})", opts.listen, state.upstream, state.config.kind.describe());
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(state.clone(), peer, req));
            if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await {
                tracing::debug!(%peer, "connection: {e}");
            }
        });
    }
}

/// The upstream client: TLS by rustls with the image's CAs (and `ca_file`'s), HTTP/1.1,
/// connections kept for the next request.
fn client(ca_file: Option<&Path>) -> anyhow::Result<Client<Https, Incoming>> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(f) = ca_file {
        let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(f)
            .map_err(|e| anyhow::anyhow!("cannot read the CA file {}: {e}", f.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("bad certificate in {}: {e}", f.display()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            anyhow::bail!("no certificate in the CA file {}", f.display());
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).pool_idle_timeout(std::time::Duration::from_secs(60)).build(https))
}

fn own(status: StatusCode, kind: &str, message: &str) -> Response<Out> {
    let mut r = Response::new(Full::new(Bytes::from(b::error_body(kind, message))).map_err(|never| match never {}).boxed());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // the CLI retries only what may succeed again
    h.insert(HeaderName::from_static("x-should-retry"), HeaderValue::from_static("false"));
    r
}

/// The token a request carries: `x-api-key`, else `Authorization: Bearer`.
fn token_of(req: &Request<Incoming>) -> Option<String> {
    let h = req.headers();
    if let Some(v) = h.get("x-api-key").and_then(|v| v.to_str().ok()).filter(|v| !v.trim().is_empty()) {
        return Some(v.trim().to_string());
    }
    let auth = h.get(hyper::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = auth.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim().to_string()).filter(|t| !t.is_empty())
}

/// Paths forwarded: the Messages API (not its batches, which are not metered as they pass),
/// token counting, the model list, and the CLI's hello.
fn forwarded(path: &str) -> bool {
    let p = path.split('?').next().unwrap_or("");
    p == "/v1/messages" || p == "/v1/messages/count_tokens" || p == "/v1/models" || p.starts_with("/v1/models/") || p == "/api/hello"
}

fn metered(method: &hyper::Method, path: &str) -> bool {
    method == hyper::Method::POST && path.split('?').next() == Some("/v1/messages")
}

fn in_subnet(peer: IpAddr, subnet: &str) -> bool {
    let ip = match peer {
        IpAddr::V4(v) => v,
        IpAddr::V6(v) => match v.to_ipv4_mapped() {
            Some(v) => v,
            None => return false,
        },
    };
    match crate::domain::network::parse_cidr(subnet) {
        Some((net, len)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(ip) & mask == net
        }
        None => false,
    }
}

async fn handle(state: Arc<State>, peer: SocketAddr, req: Request<Incoming>) -> Result<Response<Out>, Infallible> {
    let path = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    if path.starts_with(b::OWN_PATH) {
        return Ok(match path.as_str() {
            "/agentdock/health" => Response::new(Full::new(Bytes::from_static(b"ok\n")).map_err(|never| match never {}).boxed()),
            _ => own(StatusCode::NOT_FOUND, "not_found_error", "agentdock broker: no such endpoint"),
        });
    }
    let refuse = |why: Refused, cap: Option<&Capability>, status: StatusCode, kind: &str, message: String| {
        state.refused(RefusalLine {
            at: store::now(),
            peer: peer.ip().to_string(),
            why,
            container: cap.map(|c| c.container.clone()),
            project: cap.map(|c| c.project.clone()),
            task: cap.and_then(|c| c.task.clone()),
            message: message.clone(),
        });
        Ok(own(status, kind, &message))
    };
    let Some(token) = token_of(&req) else {
        return refuse(Refused::NoCapability, None, StatusCode::UNAUTHORIZED, "authentication_error", "agentdock broker: no capability in the request (the container's ANTHROPIC_API_KEY); nothing was forwarded".into());
    };
    let Some(cap) = state.capability(&b::token_hash(&token)) else {
        return refuse(Refused::UnknownCapability, None, StatusCode::UNAUTHORIZED, "authentication_error", "agentdock broker: not a capability agentdock issued, or its container is gone; nothing was forwarded".into());
    };
    if let Some(net) = &cap.subnet {
        if !in_subnet(peer.ip(), net) {
            let m = format!("agentdock broker: this capability belongs to {} and is refused from another network; nothing was forwarded", cap.container);
            return refuse(Refused::WrongNetwork, Some(&cap), StatusCode::FORBIDDEN, "permission_error", m);
        }
    }
    if !forwarded(&path) {
        return Ok(own(StatusCode::NOT_FOUND, "not_found_error", "agentdock broker: only the Messages API is forwarded"));
    }
    let meter = metered(req.method(), &path);
    if meter {
        let reached = state.spent.lock().map(|s| s.reached(&cap, state.config.daily_budget_usd, store::now())).unwrap_or(None);
        if let Some(m) = reached {
            return refuse(Refused::Budget, Some(&cap), StatusCode::BAD_REQUEST, "invalid_request_error", m);
        }
    }
    let started = Instant::now();
    let upstream = match state.upstream_request(req, &path) {
        Ok(r) => r,
        Err(e) => return Ok(own(StatusCode::BAD_REQUEST, "invalid_request_error", &format!("agentdock broker: {e}"))),
    };
    match state.client.request(upstream).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            let ctype = parts.headers.get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            tracing::debug!(container = %cap.container, status = parts.status.as_u16(), ms = started.elapsed().as_millis() as u64, "forwarded");
            let body: Out = if meter {
                MeteredBody { inner: body, meter: Meter::new(&ctype), record: Some((state.clone(), cap, parts.status.as_u16())) }.boxed()
            } else {
                body.boxed()
            };
            Ok(Response::from_parts(parts, body))
        }
        Err(e) => {
            tracing::warn!(container = %cap.container, "upstream: {e:?}");
            let why = std::error::Error::source(&e).map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
            Ok(own(StatusCode::BAD_GATEWAY, "api_error", &format!("agentdock broker: the upstream {} could not be reached: {why}", state.upstream)))
        }
    }
}

/// Headers that belong to one connection, not to the message.
const HOP_BY_HOP: &[&str] = &["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];

fn strip_hop_by_hop(h: &mut hyper::HeaderMap) {
    let named: Vec<String> = h.get_all(hyper::header::CONNECTION).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase())).collect();
    for n in HOP_BY_HOP.iter().map(|s| s.to_string()).chain(named) {
        h.remove(n.as_str());
    }
}

impl State {
    fn capability(&self, hash: &str) -> Option<Capability> {
        let mut c = self.caps.lock().ok()?;
        c.reload(&self.dir);
        c.caps.find(hash).cloned()
    }

    /// The request as the upstream gets it: its URL, the agent's token out and the user's
    /// credential in, and no compression asked (the usage is read on the way back).
    fn upstream_request(&self, req: Request<Incoming>, path: &str) -> Result<Request<Incoming>, String> {
        let (mut parts, body) = req.into_parts();
        parts.uri = format!("{}{path}", self.upstream).parse().map_err(|e| format!("bad upstream URL: {e}"))?;
        parts.version = hyper::Version::HTTP_11;
        let h = &mut parts.headers;
        strip_hop_by_hop(h);
        for n in ["x-api-key", "authorization", "host", "accept-encoding"] {
            h.remove(n);
        }
        match self.config.kind {
            CredentialKind::ApiKey => {
                h.insert(HeaderName::from_static("x-api-key"), self.credential.clone());
            }
            CredentialKind::OauthToken => {
                h.insert(hyper::header::AUTHORIZATION, self.credential.clone());
                let beta = match h.get("anthropic-beta").and_then(|v| v.to_str().ok()) {
                    Some(v) if v.split(',').any(|x| x.trim() == b::OAUTH_BETA) => v.to_string(),
                    Some(v) if !v.trim().is_empty() => format!("{v},{}", b::OAUTH_BETA),
                    _ => b::OAUTH_BETA.to_string(),
                };
                if let Ok(v) = HeaderValue::from_str(&beta) {
                    h.insert(HeaderName::from_static("anthropic-beta"), v);
                }
            }
        }
        Ok(Request::from_parts(parts, body))
    }

    fn refused(&self, line: RefusalLine) {
        tracing::info!(peer = %line.peer, why = ?line.why, container = ?line.container, "refused");
        if let Ok(mut r) = self.records.lock() {
            r.refused(&line);
        }
    }

    fn used(&self, line: UsageLine) {
        if let Ok(mut s) = self.spent.lock() {
            s.add(&line);
        }
        if let Ok(mut r) = self.records.lock() {
            r.usage(&line);
        }
    }
}

/// The upstream's answer passed on frame by frame, its usage read on the way; recorded once,
/// when it ends, fails or is dropped (the agent went away).
struct MeteredBody {
    inner: Incoming,
    meter: Meter,
    record: Option<(Arc<State>, Capability, u16)>,
}

impl MeteredBody {
    fn done(&mut self) {
        let Some((state, cap, status)) = self.record.take() else { return };
        self.meter.finish();
        let model = self.meter.model.clone().unwrap_or_default();
        let cost = state.config.prices.cost(&model, &self.meter.usage);
        state.used(UsageLine {
            at: store::now(),
            container: cap.container,
            project: cap.project,
            task: cap.task,
            model,
            usage: self.meter.usage,
            cost_usd: cost,
            status,
            complete: self.meter.complete,
        });
    }
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.meter.feed(d);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.done();
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.done();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        self.done();
    }
}

/// `agentdock broker health`: 0 when the broker at `addr` answers.
pub async fn health(addr: SocketAddr) -> i32 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let check = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET /agentdock/health HTTP/1.1\r\nHost: broker\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut buf = vec![0u8; 256];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"HTTP/1.1 200"))
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), check).await {
        Ok(Some(true)) => 0,
        _ => {
            eprintln!("agentdock broker: no answer on {addr}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_messages_api_is_forwarded_and_only_messages_are_metered() {
        for ok in ["/v1/messages", "/v1/messages?beta=true", "/v1/messages/count_tokens?beta=true", "/v1/models", "/api/hello"] {
            assert!(forwarded(ok), "{ok}");
        }
        for no in ["/v1/messages/batches", "/v1/files", "/v1/organizations/api_keys", "/", "/v1/messages/../files"] {
            assert!(!forwarded(no), "{no}");
        }
        assert!(metered(&hyper::Method::POST, "/v1/messages?beta=true"));
        assert!(!metered(&hyper::Method::POST, "/v1/messages/count_tokens"));
        assert!(in_subnet("172.16.3.9".parse().unwrap(), "172.16.3.0/24"));
        assert!(!in_subnet("172.16.4.9".parse().unwrap(), "172.16.3.0/24"));
        assert!(in_subnet("::ffff:172.16.3.9".parse().unwrap(), "172.16.3.0/24"));
        assert!(!in_subnet("172.16.3.9".parse().unwrap(), "nonsense"));
    }
}
