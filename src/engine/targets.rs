//! The engines of a config, found on this machine: the Docker CLI's variables and contexts
//! (`$DOCKER_CONFIG`, else `~/.docker`: `config.json`'s `currentContext`,
//! `contexts/meta/<hash>/meta.json`, TLS material under `contexts/tls/<hash>/docker/`), then the
//! `[[engine]]` entries. The rules are [`crate::domain::engines`]'.

use std::path::{Path, PathBuf};

use crate::config::{expand_home, Config};
use crate::domain::engines::{self, DefaultFrom, EngineTarget, TlsFiles};

/// A context's files are small; anything bigger is not one.
const MAX_META: u64 = 64 * 1024;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> PathBuf {
    var("DOCKER_CONFIG").map(PathBuf::from).unwrap_or_else(|| crate::paths::home_dir().join(".docker"))
}

fn read_small(p: &Path) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(p).ok()?;
    let mut s = String::new();
    f.take(MAX_META).read_to_string(&mut s).ok()?;
    Some(s)
}

/// The Docker context called `name`: its docker host and, for TLS, its files.
pub fn context(name: &str) -> Result<EngineTarget, String> {
    context_in(&docker_config_dir(), name)
}

fn context_in(docker_config: &Path, name: &str) -> Result<EngineTarget, String> {
    let dir = docker_config.join("contexts");
    let entries = std::fs::read_dir(dir.join("meta")).map_err(|_| format!("no Docker context '{name}' (none under {})", dir.display()))?;
    for e in entries.flatten() {
        let Some(text) = read_small(&e.path().join("meta.json")) else { continue };
        let Ok(meta) = engines::parse_context_meta(&text) else { continue };
        if meta.name != name {
            continue;
        }
        if meta.skip_tls_verify {
            return Err(format!("context {name} skips TLS verification; agentdock verifies every TLS engine"));
        }
        // the directory's name is the context name's sha256, the same under tls/
        let tls_dir = dir.join("tls").join(e.file_name()).join("docker");
        let tls = tls_dir.join("ca.pem").is_file().then(|| TlsFiles::in_dir(tls_dir));
        return EngineTarget::new(name, &meta.host, tls, &format!("context {name}"));
    }
    Err(format!("no Docker context '{name}' under {}", dir.display()))
}

/// The default engine as the Docker CLI picks it: `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and
/// `DOCKER_CERT_PATH`), else `DOCKER_CONTEXT`, else `currentContext`, else the local socket.
pub fn default_target() -> Result<EngineTarget, String> {
    let current = read_small(&docker_config_dir().join("config.json")).and_then(|t| engines::current_context(&t));
    match engines::default_from(var("DOCKER_HOST").as_deref(), var("DOCKER_CONTEXT").as_deref(), current.as_deref()) {
        DefaultFrom::Host(h) => {
            let verify = var("DOCKER_TLS_VERIFY").is_some_and(|v| v != "0");
            let tls = verify.then(|| TlsFiles::in_dir(var("DOCKER_CERT_PATH").map(PathBuf::from).unwrap_or_else(docker_config_dir)));
            EngineTarget::new(engines::LOCAL, &h, tls, "DOCKER_HOST")
        }
        DefaultFrom::Context(c) => context(&c),
        DefaultFrom::Socket => Ok(EngineTarget::default_socket()),
    }
}

/// Every engine of `config`, the default first.
pub fn resolve(config: &Config) -> Result<Vec<EngineTarget>, String> {
    let home = crate::paths::home_dir();
    engines::resolve(&config.engines, default_target(), &context, &|p| expand_home(p, &home))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_is_found_by_its_name_with_its_tls_files() {
        let tmp = tempfile::tempdir().unwrap();
        let meta = tmp.path().join("contexts/meta/abc123");
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(meta.join("meta.json"), r#"{"Name":"box","Endpoints":{"docker":{"Host":"tcp://box:2376"}}}"#).unwrap();
        let tls = tmp.path().join("contexts/tls/abc123/docker");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::write(tls.join("ca.pem"), "x").unwrap();
        let t = context_in(tmp.path(), "box").unwrap();
        let missing = context_in(tmp.path(), "vm");
        assert_eq!((t.transport, t.host.as_str(), t.source.as_str()), (engines::Transport::Tls, "tcp://box:2376", "context box"));
        assert_eq!(t.tls.unwrap().cert, tls.join("cert.pem"));
        assert!(missing.unwrap_err().contains("no Docker context 'vm'"));
    }
}
