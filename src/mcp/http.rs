//! `agentdock mcp --http`: the same server over streamable HTTP, on 127.0.0.1 only, every
//! request carrying `Authorization: Bearer <token>`. The token is `$AGENTDOCK_MCP_TOKEN`, else
//! a new random one written to `<data>/mcp/http-token` (mode 0600): its path is printed, never
//! the token.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use rmcp::transport::streamable_http_server::{session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService};

use super::{check_depth, depth_here, Server};
use crate::ops::Context;

/// Serves until killed; each connection on a task of its own.
pub async fn serve(ctx: Context, port: u16) -> Result<(), String> {
    let depth = depth_here();
    check_depth(&ctx, depth)?;
    let (token, told) = token()?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    eprintln!("agentdock mcp: http://127.0.0.1:{port}/mcp ({told})");
    let _listening = super::clients::Registration::new(&format!("http 127.0.0.1:{port}"), "http");
    let ctx = Arc::new(ctx);
    // only loopback names in Host (no DNS rebinding from a browser), the SDK's default
    let config = StreamableHttpServerConfig::default();
    // one server's state for every request: the engine connection and the tools are shared
    let server = Server::new(ctx, depth, "http");
    let service: StreamableHttpService<Server, LocalSessionManager> = StreamableHttpService::new(move || Ok(server.clone()), Arc::default(), config);
    let token = Arc::new(token);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "MCP HTTP accept failed");
                continue;
            }
        };
        let (service, token) = (service.clone(), token.clone());
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (mut service, token) = (service.clone(), token.clone());
                async move {
                    if !authorized(&req, &token) {
                        return Ok::<_, Infallible>(unauthorized());
                    }
                    let r = tower_service::Service::call(&mut service, req).await?;
                    Ok(r)
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, handler).await {
                tracing::debug!(error = %e, "MCP HTTP connection ended");
            }
        });
    }
}

/// The bearer token, and what to tell the user of it (where it is, never what it is).
fn token() -> Result<(String, String), String> {
    if let Some(t) = std::env::var("AGENTDOCK_MCP_TOKEN").ok().filter(|t| t.len() >= 16) {
        return Ok((t, "bearer token: $AGENTDOCK_MCP_TOKEN".into()));
    }
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .map_err(|e| format!("cannot make a token: {e}"))?;
    let t: String = b.iter().map(|x| format!("{x:02x}")).collect();
    let dir = crate::paths::data_dir().join("mcp");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let fd = crate::untrusted::open_dir(&dir).map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
    crate::untrusted::replace_at(std::os::fd::AsFd::as_fd(&fd), "http-token", t.as_bytes(), 0o600, None)
        .map_err(|e| format!("cannot write the token: {e}"))?;
    Ok((t, format!("bearer token in {}", dir.join("http-token").display())))
}

fn authorized(req: &Request<Incoming>, token: &str) -> bool {
    let Some(given) = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let Some(given) = given.strip_prefix("Bearer ").or_else(|| given.strip_prefix("bearer ")) else { return false };
    // the same time for every wrong token
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized() -> Response<BoxBody<Bytes, Infallible>> {
    let body = Full::new(Bytes::from_static(b"{\"error\":\"a bearer token is needed (Authorization: Bearer <token>)\"}\n"));
    let mut r = Response::new(body.boxed());
    *r.status_mut() = StatusCode::UNAUTHORIZED;
    r.headers_mut().insert(hyper::header::WWW_AUTHENTICATE, hyper::header::HeaderValue::from_static("Bearer"));
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}
