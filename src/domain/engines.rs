//! Which Docker engines agentdock talks to, and how: the default one (as the Docker CLI picks
//! it: `DOCKER_HOST`, else `DOCKER_CONTEXT`, else the CLI's `currentContext`, else the local
//! socket), then the `[[engine]]` entries of the config. Pure: the files and variables are read
//! by the caller (`engine::targets`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::settings::EngineEntry;

/// The default engine's name, unless it comes from a Docker context (then the context's).
pub const LOCAL: &str = "local";
/// The engine when nothing says otherwise.
pub const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// The TLS material of an engine: the CA that signed its certificate, and the client's own
/// certificate and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// `ca.pem`, `cert.pem` and `key.pem` in a directory (as `DOCKER_CERT_PATH` holds them).
    pub fn in_dir(dir: PathBuf) -> TlsFiles {
        TlsFiles { ca: dir.join("ca.pem"), cert: dir.join("cert.pem"), key: dir.join("key.pem") }
    }
}

/// How agentdock reaches an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Unix,
    /// Plain HTTP over TCP (no TLS: anyone on the way is root on the engine's host).
    Tcp,
    Tls,
    /// `docker system dial-stdio` on the far side, through the system's ssh client.
    Ssh,
}

/// One engine to talk to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineTarget {
    pub name: String,
    /// `unix:///path`, `tcp://host:port` (also for TLS), `ssh://[user@]host`.
    pub host: String,
    pub transport: Transport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsFiles>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_key: Option<PathBuf>,
    /// Where it was found: `config`, `context NAME`, `DOCKER_HOST`, `default socket`.
    pub source: String,
}

impl EngineTarget {
    /// The local socket, under the default name.
    pub fn default_socket() -> EngineTarget {
        EngineTarget {
            name: LOCAL.into(),
            host: DEFAULT_SOCKET.into(),
            transport: Transport::Unix,
            tls: None,
            ssh_key: None,
            source: "default socket".into(),
        }
    }

    /// A target for `host`, TLS when `tls` is given (a `tcp://` host with TLS files is TLS,
    /// as with the Docker CLI's `--tlsverify`; an `https://` host needs them).
    pub fn new(name: &str, host: &str, tls: Option<TlsFiles>, source: &str) -> Result<EngineTarget, String> {
        let host = host.trim();
        let (transport, host) = if let Some(path) = host.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(format!("engine {name}: {host} is not a unix:// socket path (unix:///path)"));
            }
            (Transport::Unix, host.to_string())
        } else if let Some(addr) = host.strip_prefix("tcp://").or_else(|| host.strip_prefix("http://")) {
            check_addr(name, host, addr)?;
            (if tls.is_some() { Transport::Tls } else { Transport::Tcp }, format!("tcp://{}", addr.trim_end_matches('/')))
        } else if let Some(addr) = host.strip_prefix("https://") {
            check_addr(name, host, addr)?;
            if tls.is_none() {
                return Err(format!("engine {name}: {host} needs TLS material: ca, cert and key, or cert_path"));
            }
            (Transport::Tls, format!("tcp://{}", addr.trim_end_matches('/')))
        } else if let Some(dest) = host.strip_prefix("ssh://") {
            let dest = dest.trim_end_matches('/');
            let at_host = dest.rsplit('@').next().unwrap_or("");
            if dest.is_empty() || at_host.is_empty() || at_host.starts_with(':') || dest.contains('/') {
                return Err(format!("engine {name}: {host} is not ssh://[user@]host"));
            }
            // bollard hands ssh "user@host:port" as the destination, which ssh takes for a
            // host name: the port goes in ssh's own config
            if let Some((h, port)) = at_host.rsplit_once(':').filter(|(_, p)| p.parse::<u16>().is_ok()) {
                return Err(format!(
                    "engine {name}: an ssh port in the host is not passed on by bollard's ssh client; write ssh://{}{h} and put `Host {h}` / `Port {port}` in ~/.ssh/config",
                    dest.strip_suffix(at_host).unwrap_or("")
                ));
            }
            (Transport::Ssh, format!("ssh://{dest}"))
        } else {
            return Err(format!("engine {name}: host {host:?} must start with unix://, tcp://, https:// or ssh://"));
        };
        if tls.is_some() && transport != Transport::Tls {
            return Err(format!("engine {name}: TLS material is only for tcp:// or https:// hosts"));
        }
        Ok(EngineTarget { name: name.into(), host, transport, tls, ssh_key: None, source: source.into() })
    }

    /// The engine runs on this machine (a unix socket): host paths are its paths, and its
    /// containers' cgroup files are here to read.
    pub fn is_local(&self) -> bool {
        self.transport == Transport::Unix
    }
}

fn check_addr(name: &str, host: &str, addr: &str) -> Result<(), String> {
    let addr = addr.trim_end_matches('/');
    let port_ok = addr.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
    if !port_ok || addr.contains('/') {
        return Err(format!("engine {name}: {host} is not host:port"));
    }
    Ok(())
}

/// The named volume that holds a project's agent config on an engine of another machine.
pub fn agent_volume(project_id: &str) -> String {
    format!("agentdock-agent-{project_id}")
}

impl super::spec::HostContext {
    /// For a project on another machine's engine: nothing of this host goes in (no home
    /// files, no ssh, no secrets or passed variables, whose files live on this host's tmpfs;
    /// the owner of its directory is not known, so the image's user runs the agent); the agent
    /// config is the named volume [`agent_volume`] there.
    pub fn remote(project: &super::project::Project) -> super::spec::HostContext {
        super::spec::HostContext { agent_dir: PathBuf::from(agent_volume(&project.id)), ..Default::default() }
    }
}

/// An engine name: what `--engine`, `engine = "…"` and the dashboard show. Letters, digits,
/// `.`, `_`, `-`; at most 64.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// What a Docker context's `meta.json` says that agentdock uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextMeta {
    pub name: String,
    pub host: String,
    pub skip_tls_verify: bool,
}

#[derive(Deserialize)]
struct MetaFile {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Endpoints", default)]
    endpoints: std::collections::BTreeMap<String, MetaEndpoint>,
}

#[derive(Deserialize)]
struct MetaEndpoint {
    #[serde(rename = "Host", default)]
    host: Option<String>,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// Parses a context's `meta.json` (`{"Name": …, "Endpoints": {"docker": {"Host": …}}}`).
pub fn parse_context_meta(text: &str) -> Result<ContextMeta, String> {
    let m: MetaFile = serde_json::from_str(text).map_err(|e| format!("not a context's meta.json: {e}"))?;
    let docker = m.endpoints.get("docker").ok_or_else(|| format!("context {} has no docker endpoint", m.name))?;
    let host = docker.host.clone().filter(|h| !h.is_empty()).ok_or_else(|| format!("context {} names no docker host", m.name))?;
    Ok(ContextMeta { name: m.name, host, skip_tls_verify: docker.skip_tls_verify })
}

/// The `currentContext` of the Docker CLI's `config.json`, when it names one.
pub fn current_context(config_json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(config_json).ok()?;
    v.get("currentContext")?.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// Where the default engine comes from, as the Docker CLI decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultFrom {
    /// `DOCKER_HOST`.
    Host(String),
    /// A context named by `DOCKER_CONTEXT` or the CLI's `currentContext`.
    Context(String),
    /// `/var/run/docker.sock`.
    Socket,
}

pub fn default_from(docker_host: Option<&str>, docker_context: Option<&str>, current: Option<&str>) -> DefaultFrom {
    let set = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    if let Some(h) = set(docker_host) {
        return DefaultFrom::Host(h);
    }
    match set(docker_context).or_else(|| set(current)) {
        Some(c) if c != "default" => DefaultFrom::Context(c),
        _ => DefaultFrom::Socket,
    }
}

/// Checks an `[[engine]]` entry on its own (the files it names are looked at when it is used).
pub fn check_entry(e: &EngineEntry) -> Result<(), String> {
    let name = if e.name.is_empty() { e.context.as_deref().unwrap_or("") } else { e.name.as_str() };
    if !valid_name(name) {
        return Err(format!(
            "engine {name:?}: a name is required (letters, digits, '.', '_', '-'; up to 64), or a context to take it from"
        ));
    }
    match (&e.host, &e.context) {
        (Some(_), Some(_)) => return Err(format!("engine {name}: give host or context, not both")),
        (None, None) if e.enabled != Some(false) && name != LOCAL => return Err(format!("engine {name}: host or context is required")),
        _ => {}
    }
    let files = [&e.ca, &e.cert, &e.key].iter().filter(|f| f.is_some()).count();
    if files != 0 && files != 3 {
        return Err(format!("engine {name}: ca, cert and key go together"));
    }
    if files == 3 && e.cert_path.is_some() {
        return Err(format!("engine {name}: give ca, cert and key, or cert_path, not both"));
    }
    if e.context.is_some() && (files > 0 || e.cert_path.is_some()) {
        return Err(format!("engine {name}: a context brings its own TLS material"));
    }
    if let Some(h) = &e.host {
        EngineTarget::new(name, h, tls_of(e, &|p| PathBuf::from(p)), "config")?;
    }
    Ok(())
}

/// The TLS files an entry names (paths expanded by `expand`).
fn tls_of(e: &EngineEntry, expand: &dyn Fn(&str) -> PathBuf) -> Option<TlsFiles> {
    if let (Some(ca), Some(cert), Some(key)) = (&e.ca, &e.cert, &e.key) {
        return Some(TlsFiles { ca: expand(ca), cert: expand(cert), key: expand(key) });
    }
    e.cert_path.as_deref().map(|d| TlsFiles::in_dir(expand(d)))
}

/// The engines in order: the default first, then the entries. An entry named like the
/// default, or pointing at the same host, takes its place (`enabled = false` leaves it out).
/// `context` finds a Docker context by name; `expand` expands `~` in paths.
pub fn resolve(
    entries: &[EngineEntry],
    default: Result<EngineTarget, String>,
    context: &dyn Fn(&str) -> Result<EngineTarget, String>,
    expand: &dyn Fn(&str) -> PathBuf,
) -> Result<Vec<EngineTarget>, String> {
    let mut out: Vec<EngineTarget> = Vec::new();
    let mut default_slot = Some(default);
    let default_name = match &default_slot {
        Some(Ok(d)) => d.name.clone(),
        _ => LOCAL.to_string(),
    };
    let mut replaced_default = false;
    for e in entries {
        check_entry(e)?;
        let name = if e.name.is_empty() { e.context.clone().unwrap_or_default() } else { e.name.clone() };
        let takes_default = name == default_name;
        if e.enabled == Some(false) {
            if takes_default {
                default_slot = None;
            }
            continue;
        }
        let mut t = match (&e.host, &e.context) {
            (Some(h), _) => EngineTarget::new(&name, h, tls_of(e, expand), "config")?,
            (None, Some(c)) => context(c)?,
            // `[[engine]] name = "local"` with only TLS files or an ssh key: the default, with them
            (None, None) => match default_slot.clone() {
                Some(Ok(d)) => d,
                Some(Err(err)) => return Err(err),
                None => EngineTarget::default_socket(),
            },
        };
        t.name = name.clone();
        if let Some(k) = &e.ssh_key {
            t.ssh_key = Some(expand(k));
        }
        let same_host = matches!(&default_slot, Some(Ok(d)) if d.host == t.host);
        if takes_default || same_host {
            if replaced_default {
                return Err(format!("engine {name}: a second entry for the default engine"));
            }
            replaced_default = true;
            default_slot = None;
            out.insert(0, t);
            continue;
        }
        if let Some(other) = out.iter().find(|o| o.name == t.name || o.host == t.host) {
            return Err(format!("engines {} and {}: the same {}", other.name, t.name, if other.name == t.name { "name" } else { "host" }));
        }
        out.push(t);
    }
    if let Some(d) = default_slot {
        let d = d?;
        if out.iter().any(|o| o.name == d.name) {
            return Err(format!("engine {}: the default engine has that name", d.name));
        }
        out.insert(0, d);
    }
    if out.is_empty() {
        return Err("every engine is disabled ([[engine]] enabled = false)".into());
    }
    Ok(out)
}

/// The engine called `name` among `targets`, or one line naming them.
pub fn find<'a>(targets: &'a [EngineTarget], name: &str) -> Result<&'a EngineTarget, String> {
    targets.iter().find(|t| t.name == name).ok_or_else(|| {
        let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        format!("unknown engine '{}'; engines: {}", super::text::strip(name), names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, host: &str) -> EngineEntry {
        EngineEntry { name: name.into(), host: Some(host.into()), ..Default::default() }
    }

    fn no_context(c: &str) -> Result<EngineTarget, String> {
        Err(format!("no context {c}"))
    }

    fn plain(p: &str) -> PathBuf {
        PathBuf::from(p.replace('~', "/home/u"))
    }

    #[test]
    fn hosts_are_checked_and_normalised() {
        let t = EngineTarget::new("a", "tcp://10.0.0.2:2375/", None, "config").unwrap();
        assert_eq!((t.transport, t.host.as_str()), (Transport::Tcp, "tcp://10.0.0.2:2375"));
        let tls = Some(TlsFiles::in_dir("/c".into()));
        let t = EngineTarget::new("a", "https://box:2376", tls.clone(), "config").unwrap();
        assert_eq!((t.transport, t.host.as_str()), (Transport::Tls, "tcp://box:2376"));
        assert_eq!(t.tls.unwrap().ca, PathBuf::from("/c/ca.pem"));
        assert_eq!(EngineTarget::new("a", "tcp://box:2376", tls.clone(), "config").unwrap().transport, Transport::Tls);
        let t = EngineTarget::new("a", "ssh://me@box", None, "config").unwrap();
        assert_eq!((t.transport, t.is_local(), t.host.as_str()), (Transport::Ssh, false, "ssh://me@box"));
        let e = EngineTarget::new("a", "ssh://me@box:2222", None, "config").unwrap_err();
        assert!(e.contains("ssh://me@box and put `Host box` / `Port 2222` in ~/.ssh/config"), "{e}");
        assert!(EngineTarget::new("a", "unix:///run/docker.sock", None, "config").unwrap().is_local());
        for bad in ["box:2375", "tcp://box", "https://box:2376", "unix://relative", "ssh://", "ssh://me@", "ftp://x:1", "tcp://:1"] {
            assert!(EngineTarget::new("a", bad, None, "config").is_err(), "{bad}");
        }
        assert!(EngineTarget::new("a", "unix:///s", tls, "config").is_err());
    }

    #[test]
    fn the_default_follows_the_docker_cli() {
        assert_eq!(default_from(Some("tcp://x:1"), Some("box"), Some("vm")), DefaultFrom::Host("tcp://x:1".into()));
        assert_eq!(default_from(Some(""), Some("box"), Some("vm")), DefaultFrom::Context("box".into()));
        assert_eq!(default_from(None, None, Some("vm")), DefaultFrom::Context("vm".into()));
        assert_eq!(default_from(None, Some("default"), Some("vm")), DefaultFrom::Socket);
        assert_eq!(default_from(None, None, None), DefaultFrom::Socket);
        assert_eq!(current_context(r#"{"auths":{},"currentContext":"vm"}"#).as_deref(), Some("vm"));
        assert_eq!(current_context(r#"{"auths":{}}"#), None);
    }

    #[test]
    fn a_context_meta_gives_its_host() {
        let m = parse_context_meta(r#"{"Name":"box","Metadata":{},"Endpoints":{"docker":{"Host":"ssh://me@box","SkipTLSVerify":false}}}"#).unwrap();
        assert_eq!((m.name.as_str(), m.host.as_str(), m.skip_tls_verify), ("box", "ssh://me@box", false));
        assert!(parse_context_meta(r#"{"Name":"k","Endpoints":{"kubernetes":{}}}"#).unwrap_err().contains("no docker endpoint"));
        assert!(parse_context_meta("nope").is_err());
    }

    #[test]
    fn entries_are_checked() {
        let check = |e: EngineEntry| check_entry(&e).map_err(|m| m.to_string());
        assert!(check(entry("box", "ssh://me@box")).is_ok());
        assert!(check(entry("", "ssh://me@box")).unwrap_err().contains("name is required"));
        assert!(check(entry("a b", "ssh://me@box")).is_err());
        assert!(check(EngineEntry { name: "x".into(), ..Default::default() }).unwrap_err().contains("host or context"));
        assert!(check(EngineEntry { context: Some("vm".into()), ..Default::default() }).is_ok());
        let half = EngineEntry { ca: Some("/ca".into()), ..entry("t", "https://b:1") };
        assert!(check(half).unwrap_err().contains("go together"));
        let both = EngineEntry { host: Some("ssh://b".into()), context: Some("c".into()), ..entry("t", "") };
        assert!(check(both).unwrap_err().contains("not both"));
        assert!(check(EngineEntry { name: "local".into(), enabled: Some(false), ..Default::default() }).is_ok());
    }

    #[test]
    fn the_default_comes_first_and_an_entry_may_replace_it() {
        let d = Ok(EngineTarget::default_socket());
        let entries = vec![entry("box", "ssh://me@box"), EngineEntry { name: "tls".into(), host: Some("tcp://b:2376".into()), cert_path: Some("~/certs".into()), ..Default::default() }];
        let all = resolve(&entries, d.clone(), &no_context, &plain).unwrap();
        let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["local", "box", "tls"]);
        assert_eq!(all[2].tls.as_ref().unwrap().key, PathBuf::from("/home/u/certs/key.pem"));
        // the same socket under another name takes the default's place
        let all = resolve(&[entry("box", "ssh://me@box"), entry("ws", DEFAULT_SOCKET)], d.clone(), &no_context, &plain).unwrap();
        assert_eq!(all.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["ws", "box"]);
        // the default left out
        let off = EngineEntry { name: "local".into(), enabled: Some(false), ..Default::default() };
        let all = resolve(&[off.clone(), entry("box", "ssh://me@box")], d.clone(), &no_context, &plain).unwrap();
        assert_eq!(all.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["box"]);
        assert!(resolve(&[off], d.clone(), &no_context, &plain).unwrap_err().contains("disabled"));
        // two entries for one host, or one name twice
        assert!(resolve(&[entry("a", "tcp://b:1"), entry("b", "tcp://b:1")], d.clone(), &no_context, &plain).unwrap_err().contains("same host"));
        assert!(resolve(&[entry("a", "tcp://b:1"), entry("a", "tcp://c:1")], d.clone(), &no_context, &plain).unwrap_err().contains("same name"));
        // a context entry takes the context's name
        let ctx = |c: &str| EngineTarget::new(c, "ssh://me@vm", None, &format!("context {c}"));
        let all = resolve(&[EngineEntry { context: Some("vm".into()), ..Default::default() }], d, &ctx, &plain).unwrap();
        assert_eq!((all[1].name.as_str(), all[1].source.as_str()), ("vm", "context vm"));
        // a broken default matters only when it is used
        let all = resolve(&[EngineEntry { name: "local".into(), enabled: Some(false), ..Default::default() }, entry("box", "ssh://b")], Err("no context x".into()), &no_context, &plain).unwrap();
        assert_eq!(all.len(), 1);
        assert!(resolve(&[], Err("no context x".into()), &no_context, &plain).is_err());
    }
}
