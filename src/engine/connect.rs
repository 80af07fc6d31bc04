//! Connecting to an engine over its transport (unix socket, TCP, TLS, ssh: bollard's own
//! clients; ssh runs the system's OpenSSH client and `docker system dial-stdio` on the far side),
//! and settling on the API version both sides speak.

use std::time::Duration;

use bollard::{Docker, API_DEFAULT_VERSION};

use super::{one_line, Engine, EngineError};
use crate::domain::engines::{EngineTarget, Transport};

/// How long opening a connection may take before the engine counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// How long a busy engine may take to answer its first call, once a connection opened.
pub const FIRST_ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// bollard's timeout of one request (seconds), as its `connect_with_defaults` sets it.
const REQUEST_TIMEOUT: u64 = 120;

/// Opens (and closes) one connection to `host`: an engine that is not there is told at once
/// (no socket, refused) or within [`CONNECT_TIMEOUT`], while a busy one gets time to answer.
/// An ssh engine is not probed: its client says soon enough.
async fn probe(host: &str) -> Result<(), String> {
    if let Some(path) = host.strip_prefix("unix://") {
        tokio::net::UnixStream::connect(path).await.map(|_| ()).map_err(|e| e.to_string())
    } else if let Some(addr) = host.strip_prefix("tcp://") {
        let addr = addr.trim_end_matches('/').to_string();
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(r) => r.map(|_| ()).map_err(|e| e.to_string()),
            Err(_) => Err(format!("no connection within {}s", CONNECT_TIMEOUT.as_secs())),
        }
    } else {
        Ok(())
    }
}

/// The bollard client of a target (nothing is sent yet).
fn client(t: &EngineTarget) -> Result<Docker, String> {
    let v = API_DEFAULT_VERSION;
    let r = match t.transport {
        Transport::Unix => Docker::connect_with_unix(&t.host, REQUEST_TIMEOUT, v),
        Transport::Tcp => Docker::connect_with_http(&t.host, REQUEST_TIMEOUT, v),
        Transport::Tls => {
            let Some(tls) = &t.tls else { return Err("no TLS material".into()) };
            for (what, p) in [("CA certificate", &tls.ca), ("certificate", &tls.cert), ("key", &tls.key)] {
                if !p.is_file() {
                    return Err(format!("TLS {what} {} is not there", p.display()));
                }
            }
            Docker::connect_with_ssl(&t.host, &tls.key, &tls.cert, &tls.ca, REQUEST_TIMEOUT, v)
        }
        Transport::Ssh => {
            let key = t.ssh_key.as_ref().map(|k| k.to_string_lossy().into_owned());
            Docker::connect_with_ssh(&t.host, REQUEST_TIMEOUT, v, key)
        }
    };
    r.map_err(|e| one_line(&e.to_string()))
}

/// What went wrong on the way, in one line: the innermost cause says the most (a refused TLS
/// certificate, ssh's own complaint) where bollard's outer text says "error trying to connect".
pub(crate) fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = telling_line(&e.to_string());
    let mut source = e.source();
    while let Some(s) = source {
        let t = telling_line(&s.to_string());
        if !t.is_empty() {
            text = t;
        }
        source = s.source();
    }
    text
}

/// The first line of `s` that says something (ssh frames its warnings in lines of `@`), without
/// its frame, and without control characters (the text may come from the far side).
fn telling_line(s: &str) -> String {
    let line = s.lines().find(|l| l.chars().any(char::is_alphanumeric)).unwrap_or("");
    crate::domain::text::strip(line.trim_matches(|c: char| c == '@' || c.is_whitespace()))
}

impl Engine {
    /// Connects to the default engine (`DOCKER_HOST`, the Docker CLI's context, else the local
    /// socket); callers with a config use [`Engine::connect_to`] with its targets.
    pub async fn connect() -> Result<Engine, EngineError> {
        let target = super::targets::default_target().map_err(|reason| EngineError::Unreachable { host: "the default engine".into(), reason })?;
        Engine::connect_to(&target).await
    }

    /// Connects to `t` and settles on the newest API version both sides speak (the engine
    /// refuses a client that asks for more).
    pub async fn connect_to(t: &EngineTarget) -> Result<Engine, EngineError> {
        let host = t.host.clone();
        let unreachable = |reason: String| EngineError::Unreachable { host: host.clone(), reason };
        let docker = client(t).map_err(unreachable)?;
        probe(&host).await.map_err(|e| unreachable(one_line(&e)))?;
        let docker = match tokio::time::timeout(FIRST_ANSWER_TIMEOUT, docker.negotiate_version()).await {
            Err(_) => return Err(unreachable(format!("no answer within {}s", FIRST_ANSWER_TIMEOUT.as_secs()))),
            Ok(Err(e)) => return Err(first_error(e, &host)),
            Ok(Ok(d)) => d,
        };
        let version = tokio::time::timeout(FIRST_ANSWER_TIMEOUT, docker.version())
            .await
            .map_err(|_| unreachable("no answer".into()))?
            .map_err(|e| first_error(e, &host))?;
        let v = docker.client_version();
        Ok(Engine {
            docker,
            name: t.name.clone(),
            host,
            transport: t.transport,
            api_version: format!("{}.{}", v.major_version, v.minor_version),
            server_version: version.version.unwrap_or_default(),
        })
    }
}

impl Engine {
    /// One ping's round trip.
    pub async fn round_trip(&self) -> Result<Duration, EngineError> {
        let start = std::time::Instant::now();
        self.docker.ping().await.map_err(|e| self.err(e))?;
        Ok(start.elapsed())
    }
}

/// The first call's failure: a transport error by its innermost cause (the TLS or ssh reason).
fn first_error(e: bollard::errors::Error, host: &str) -> EngineError {
    match e {
        bollard::errors::Error::DockerResponseServerError { .. } | bollard::errors::Error::JsonDataError { .. } => EngineError::from_bollard(e, host),
        other => EngineError::Unreachable { host: host.to_string(), reason: cause(&other) },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_telling_line_of_an_ssh_complaint() {
        let ssh = "@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@\nIT IS POSSIBLE\nHost key verification failed.";
        assert_eq!(super::telling_line(ssh), "WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!");
        assert_eq!(super::telling_line("\x1b[31mred\x1b[0m refused"), "red refused");
    }
}
