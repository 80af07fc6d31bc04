//! Networks of agents, in agentdock's own terms: each project's Docker network, the egress
//! proxy that is the only way out of an `allowlist` network, the proxy's per-network config and
//! the refusals it logs. Pure; `engine::network` makes it real.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::Serialize;

use super::container::labels;
use super::settings::{Config, NetworkMode};

/// The proxy's image and the command that builds it (named when it is missing).
pub const PROXY_IMAGE: &str = "agentdock/proxy:latest";
pub const PROXY_BUILD_COMMAND: &str = "docker/proxy/build.sh";
/// The proxy's image: `$AGENTDOCK_PROXY_IMAGE` (the tag `docker/proxy/build.sh` builds too),
/// else [`PROXY_IMAGE`].
pub fn proxy_image() -> String {
    std::env::var("AGENTDOCK_PROXY_IMAGE").ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| PROXY_IMAGE.into())
}

/// What `docker/proxy/build.sh` hashes into the image's `dev.agentdock.image-hash` label (its
/// files, in its order): an image with another hash was built from other files than this
/// agentdock's.
const PROXY_FILES: &[&[u8]] = &[
    include_bytes!("../../docker/proxy/Dockerfile"),
    include_bytes!("../../docker/proxy/squid.conf"),
    include_bytes!("../../docker/proxy/entrypoint.sh"),
    include_bytes!("../../docker/proxy/healthcheck.sh"),
    include_bytes!("../../docker/proxy/ERR_AGENTDOCK_UNLISTED"),
    include_bytes!("../../docker/proxy/ERR_AGENTDOCK_PRIVATE"),
];
pub const IMAGE_HASH_LABEL: &str = "dev.agentdock.image-hash";

/// The hash `docker/proxy/build.sh` gives an image built from this agentdock's proxy files
/// (the first 16 hex digits of the SHA-256 of them all, one after the other).
pub fn proxy_files_hash() -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for f in PROXY_FILES {
        ctx.update(f);
    }
    ctx.finish().as_ref().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Why the proxy is stale, if it is: its image built from other files than this agentdock's
/// (`image_hash`, its label), or the container made from an older image than the tag's now.
pub fn proxy_staleness(image: &str, image_hash: Option<&str>, image_id: Option<&str>, container_image_id: Option<&str>) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(h) = image_hash.filter(|h| *h != proxy_files_hash()) {
        v.push(format!("the proxy image {image} was built from other files than this agentdock's ({h}); rebuild it with {PROXY_BUILD_COMMAND}, then `agentdock net --refresh-proxy`"));
    }
    if let (Some(want), Some(have)) = (image_id, container_image_id) {
        if want != have {
            v.push(format!("the proxy runs an older build of {image}; `agentdock net --refresh-proxy` makes it anew"));
        }
    }
    v
}

/// The proxy's name on every agent network: `HTTP(S)_PROXY` point at it.
pub const PROXY_ALIAS: &str = "agentdock-proxy";
pub const PROXY_PORT: u16 = 3128;
/// Where the proxy reads the file agentdock writes ([`PROXY_CONF_FILE`]).
pub const PROXY_CONF_MOUNT: &str = "/etc/squid/agentdock";
pub const PROXY_CONF_FILE: &str = "networks.conf";
/// Hosts an agent reaches without the proxy (its own loopback).
pub const NO_PROXY: &str = "localhost,127.0.0.1,::1";

/// Label keys of networks and of the proxy (besides [`labels`]).
pub mod netlabels {
    /// The network mode, on networks and on the containers on them.
    pub const NETWORK: &str = "dev.agentdock.network";
    /// A container's allowlist, comma-separated (the proxy lets its network reach these).
    pub const ALLOW: &str = "dev.agentdock.allow";
    /// On networks and on the proxy: the name of the proxy that serves them.
    pub const PROXY: &str = "dev.agentdock.proxy";
}

/// The proxy container of one agentdock (one data dir).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProxySpec {
    pub name: String,
    pub image: String,
    /// Its network with a route out.
    pub egress: String,
    /// Labels of the proxy and of the egress network (the config's, plus agentdock's).
    pub labels: BTreeMap<String, String>,
    /// Host dir mounted read-only at [`PROXY_CONF_MOUNT`].
    pub conf_dir: PathBuf,
    /// Where networks get their /24.
    pub subnet_pool: String,
    pub health_interval_secs: u64,
    pub health_timeout_secs: u64,
    pub health_retries: u32,
}

/// The network a container is put on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NetworkSpec {
    pub mode: NetworkMode,
    /// The Docker network (empty with `none`).
    pub name: String,
    /// Labels of the network.
    pub labels: BTreeMap<String, String>,
    /// Allowed domains (`name`, `*.suffix`), for `allowlist`.
    pub allow: Vec<String>,
    pub proxy: ProxySpec,
}

/// `agentdock-net-<id>` (allowlist) or `agentdock-open-<id>` (open): a mode change puts the
/// next container on another network, so no network ever changes kind under a container.
pub fn network_name(mode: NetworkMode, id: &str) -> String {
    match mode {
        NetworkMode::Allowlist => format!("agentdock-net-{id}"),
        NetworkMode::Open => format!("agentdock-open-{id}"),
        NetworkMode::None => String::new(),
    }
}

/// The proxy of the agentdock whose data dir is `data_dir` (None: the platform's default):
/// `agentdock-proxy`, or `agentdock-proxy-<hash>` for another data dir (each its own config).
pub fn proxy_name(data_dir: Option<&std::path::Path>) -> String {
    match data_dir {
        None => "agentdock-proxy".into(),
        Some(d) => {
            let mut h: u64 = 0xcbf29ce484222325;
            for b in d.as_os_str().as_encoded_bytes() {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x100000001b3);
            }
            format!("agentdock-proxy-{:06x}", h & 0xff_ffff)
        }
    }
}

pub fn proxy_spec(config: &Config, name: &str, conf_dir: PathBuf) -> ProxySpec {
    let mut labels = config.labels.clone();
    labels.insert(labels::ROLE.into(), "proxy".into());
    labels.insert(netlabels::PROXY.into(), name.into());
    ProxySpec {
        name: name.into(),
        image: proxy_image(),
        egress: name.replacen("agentdock-proxy", "agentdock-egress", 1),
        labels,
        conf_dir,
        subnet_pool: config.security.subnet_pool.clone(),
        health_interval_secs: config.health.interval_secs.max(1),
        health_timeout_secs: config.health.timeout_secs.max(1),
        health_retries: config.health.retries.max(1),
    }
}

/// The proxy of this agentdock: named after its data dir (`$AGENTDOCK_DATA_DIR`, else the
/// platform's), its config in `<data dir>/proxy`.
pub fn this_proxy(config: &Config) -> ProxySpec {
    let name = proxy_name(std::env::var_os("AGENTDOCK_DATA_DIR").map(PathBuf::from).as_deref());
    proxy_spec(config, &name, crate::paths::data_dir().join("proxy"))
}

/// agentdock's own containers that sit on agent networks (the egress proxy; the broker).
pub fn service_names(p: &ProxySpec) -> Vec<String> {
    vec![p.name.clone(), super::broker::broker_name(&p.name)]
}

/// The network of project `id` (a task's may be given another name; its labels name the
/// project).
pub fn network_spec(config: &Config, id: &str, mode: NetworkMode, allow: &[String], proxy: ProxySpec) -> NetworkSpec {
    let mut labels = config.labels.clone();
    labels.insert(labels::MANAGED.into(), "true".into());
    labels.insert(labels::PROJECT.into(), id.into());
    labels.insert(netlabels::NETWORK.into(), mode.as_str().into());
    labels.insert(netlabels::PROXY.into(), proxy.name.clone());
    NetworkSpec { mode, name: network_name(mode, id), labels, allow: allow.to_vec(), proxy }
}

/// The network of a task's container `container` (`agentdock-task-<id>`, or a pool
/// container's, `task` then its slot): the project's mode, allowlist and proxy, on a network of
/// its own named like the container and labelled with the task, so a task reaches neither its
/// project's containers nor another task's. It goes when the task is collected.
pub fn task_network(project_net: &NetworkSpec, container: &str, task: &str) -> NetworkSpec {
    let mut n = project_net.clone();
    if n.mode != NetworkMode::None {
        n.name = container.to_string();
        n.labels.insert(labels::TASK.into(), task.into());
    }
    n
}

/// A domain as `security.allow` takes it: `name` or `*.suffix`, letters, digits, `-` and dots.
pub fn valid_domain(d: &str) -> bool {
    let name = d.strip_prefix("*.").unwrap_or(d);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && name.parse::<Ipv4Addr>().is_err()
}

/// One agent network as the proxy sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyNet {
    pub name: String,
    pub subnet: String,
    pub allow: Vec<String>,
}

/// squid's form of an allowlist: `*.x` is `.x` (which squid also matches to `x` itself);
/// names a suffix already covers dropped (squid refuses overlaps).
fn squid_domains(allow: &[String]) -> Vec<String> {
    let mut v: Vec<String> = allow
        .iter()
        .filter(|d| valid_domain(d))
        .map(|d| d.to_ascii_lowercase())
        .map(|d| d.strip_prefix('*').map(str::to_string).unwrap_or(d))
        .collect();
    v.sort();
    v.dedup();
    let suffixes: Vec<String> = v.iter().filter(|d| d.starts_with('.')).cloned().collect();
    v.retain(|d| !suffixes.iter().any(|s| s != d && (d.ends_with(s.as_str()) || format!(".{d}") == *s)));
    v
}

/// The proxy's `networks.conf`: for each agent network, its subnet's allowlist and a note
/// naming it in the log; then this host's own addresses, never reached. Names and domains are
/// checked (they become config lines).
pub fn squid_conf(nets: &[ProxyNet], host_addrs: &[String]) -> String {
    let mut out = String::from("# written by agentdock: one block per agent network\n");
    let mut nets: Vec<&ProxyNet> = nets.iter().filter(|n| parse_cidr(&n.subnet).is_some() && n.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))).collect();
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    for (i, n) in nets.iter().enumerate() {
        out.push_str(&format!("acl agentdock_src_{i} src {}\n", n.subnet));
        out.push_str(&format!("note agentdock_net {} agentdock_src_{i}\n", n.name));
        let domains = squid_domains(&n.allow);
        if !domains.is_empty() {
            out.push_str(&format!("acl agentdock_allow_{i} dstdomain -n {}\n", domains.join(" ")));
            out.push_str(&format!("http_access deny agentdock_src_{i} agentdock_allow_{i} agentdock_private\n"));
            out.push_str(&format!("http_access allow agentdock_src_{i} agentdock_allow_{i}\n"));
        }
    }
    let addrs: Vec<&String> = host_addrs.iter().filter(|a| a.parse::<std::net::IpAddr>().is_ok()).collect();
    if !addrs.is_empty() {
        out.push_str(&format!("acl agentdock_private dst {}\n", addrs.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" ")));
    }
    out
}

/// The host's own addresses, from `/proc/net/fib_trie` (IPv4 `LOCAL` entries) and
/// `/proc/net/if_inet6` (global IPv6): the proxy never connects to them.
pub fn host_addresses(fib_trie: &str, if_inet6: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut prev = "";
    for line in fib_trie.lines() {
        let t = line.trim();
        if t.starts_with("/32 host LOCAL") {
            if let Some(ip) = prev.rsplit(' ').next().filter(|ip| ip.parse::<Ipv4Addr>().is_ok()) {
                out.push(ip.to_string());
            }
        }
        prev = t;
    }
    for line in if_inet6.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 4 && f[0].len() == 32 && f[3] == "00" {
            let groups: Vec<&str> = (0..8).map(|i| &f[0][i * 4..i * 4 + 4]).collect();
            if let Ok(ip) = groups.join(":").parse::<std::net::Ipv6Addr>() {
                out.push(ip.to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// `a.b.c.d/n` as (network, prefix).
pub fn parse_cidr(s: &str) -> Option<(u32, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((u32::from(ip) & mask, len))
}

fn overlaps(a: (u32, u8), b: (u32, u8)) -> bool {
    let len = a.1.min(b.1);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a.0 & mask == b.0 & mask
}

/// The first /24 of `pool` that overlaps none of `used` (subnets of the engine's networks).
pub fn pick_subnet(pool: &str, used: &[String]) -> Option<String> {
    let (base, len) = parse_cidr(pool)?;
    if len > 24 {
        return None;
    }
    let used: Vec<(u32, u8)> = used.iter().filter_map(|u| parse_cidr(u)).collect();
    (0..1u32 << (24 - len)).map(|i| (base + (i << 8), 24)).find(|c| !used.iter().any(|u| overlaps(*c, *u))).map(|(n, _)| format!("{}/24", Ipv4Addr::from(n)))
}

/// Why the proxy refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// The host is not on the network's allowlist.
    NotAllowed,
    /// An allowed name that resolves to a private, link-local or host address.
    PrivateAddress,
    /// A port or method the proxy never passes (CONNECT other than 443, plain HTTP other
    /// than 80, a request to the proxy itself).
    Port,
}

impl RefusalReason {
    pub fn describe(self) -> &'static str {
        match self {
            RefusalReason::NotAllowed => "not on the allowlist",
            RefusalReason::PrivateAddress => "resolves to a private or host address",
            RefusalReason::Port => "port or method not allowed",
        }
    }
}

/// One refused request, as the proxy logged it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    /// Unix seconds (with milliseconds).
    pub at: f64,
    /// The agent network it came from.
    pub network: String,
    /// The client's address on it.
    pub client: String,
    /// The container at that address when the log was read (None: gone).
    pub container: Option<String>,
    pub method: String,
    pub host: String,
    pub port: u16,
    pub reason: RefusalReason,
}

/// A line of the proxy's log (`agentdock-refused TIME CLIENT NETWORK METHOD HOST PORT CODE`),
/// else None. The host is the agent's own text: only printable text of it is kept.
pub fn parse_refusal(line: &str) -> Option<Refusal> {
    let mut f = line.trim().split(' ');
    if f.next()? != "agentdock-refused" {
        return None;
    }
    let at: f64 = f.next()?.parse().ok()?;
    let client = f.next()?.to_string();
    let network = f.next()?.to_string();
    let method = f.next()?.to_string();
    let host = super::text::strip(f.next()?);
    let port: u16 = f.next()?.parse().unwrap_or(0);
    let reason = match f.next()? {
        "ERR_AGENTDOCK_PRIVATE" => RefusalReason::PrivateAddress,
        "ERR_AGENTDOCK_UNLISTED" => RefusalReason::NotAllowed,
        c if c.starts_with("ERR_") => RefusalReason::Port,
        // a 403 the origin server sent: not the proxy's refusal
        _ => return None,
    };
    Some(Refusal { at, network: if network == "-" { String::new() } else { network }, client, container: None, method, host, port, reason })
}

/// What a container was refused so far (for the dashboard).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RefusalCount {
    pub count: u64,
    pub last_host: String,
    pub last_port: u16,
    pub last_at: f64,
}

/// Refusals counted per container (name, else network/address), fed in the order they come.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RefusalTally {
    pub by_container: BTreeMap<String, RefusalCount>,
    /// The newest time counted: read on from here.
    pub newest: f64,
}

impl RefusalTally {
    /// Counts `refusals` newer than those counted before; returns the containers refused for
    /// the first time (a notification each).
    pub fn add(&mut self, refusals: &[Refusal]) -> Vec<String> {
        let mut first = Vec::new();
        for r in refusals.iter().filter(|r| r.at > self.newest) {
            let key = r.container.clone().unwrap_or_else(|| format!("{} {}", r.network, r.client));
            let c = self.by_container.entry(key.clone()).or_default();
            if c.count == 0 {
                first.push(key);
            }
            c.count += 1;
            c.last_host = r.host.clone();
            c.last_port = r.port;
            c.last_at = r.at;
        }
        self.newest = refusals.iter().map(|r| r.at).fold(self.newest, f64::max);
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_built_from_other_files_or_an_older_image_is_stale() {
        let h = proxy_files_hash();
        assert_eq!(h.len(), 16);
        assert!(proxy_staleness(PROXY_IMAGE, Some(&h), Some("sha256:a"), Some("sha256:a")).is_empty());
        let v = proxy_staleness(PROXY_IMAGE, Some("0123456789abcdef"), Some("sha256:b"), Some("sha256:a"));
        assert_eq!(v.len(), 2);
        assert!(v[0].contains("docker/proxy/build.sh") && v[1].contains("--refresh-proxy"), "{v:?}");
        // an image without the label (built by hand) is not judged
        assert!(proxy_staleness(PROXY_IMAGE, None, None, None).is_empty());
    }

    #[test]
    fn names_and_domains() {
        assert_eq!(network_name(NetworkMode::Allowlist, "api"), "agentdock-net-api");
        assert_eq!(network_name(NetworkMode::Open, "api"), "agentdock-open-api");
        assert_eq!(proxy_name(None), "agentdock-proxy");
        let p = proxy_name(Some(std::path::Path::new("/tmp/x")));
        assert!(p.starts_with("agentdock-proxy-") && p.len() == 22, "{p}");
        assert_eq!(proxy_spec(&Config::default(), &p, "/d".into()).egress, p.replace("proxy", "egress"));
        for ok in ["github.com", "*.githubusercontent.com", "a-b.example.org", "localhost"] {
            assert!(valid_domain(ok), "{ok}");
        }
        for bad in ["", "*.", "a..b", "-a.com", "a b", "x.com\nhttp_access allow all", "1.2.3.4", "*", "a/b", "exa_mple.com"] {
            assert!(!valid_domain(bad), "{bad:?}");
        }
    }

    #[test]
    fn squid_conf_has_one_block_per_network_and_the_host_addresses() {
        let nets = vec![
            ProxyNet { name: "agentdock-net-web".into(), subnet: "172.16.1.0/24".into(), allow: vec!["*.github.com".into(), "api.github.com".into(), "github.com".into(), "pypi.org".into(), "bad name".into()] },
            ProxyNet { name: "agentdock-net-api".into(), subnet: "172.16.0.0/24".into(), allow: vec![] },
            ProxyNet { name: "evil\nhttp_access allow all".into(), subnet: "172.16.2.0/24".into(), allow: vec!["x.com".into()] },
        ];
        let conf = squid_conf(&nets, &["192.0.2.2".into(), "not an ip".into()]);
        assert_eq!(
            conf,
            "# written by agentdock: one block per agent network\n\
             acl agentdock_src_0 src 172.16.0.0/24\n\
             note agentdock_net agentdock-net-api agentdock_src_0\n\
             acl agentdock_src_1 src 172.16.1.0/24\n\
             note agentdock_net agentdock-net-web agentdock_src_1\n\
             acl agentdock_allow_1 dstdomain -n .github.com pypi.org\n\
             http_access deny agentdock_src_1 agentdock_allow_1 agentdock_private\n\
             http_access allow agentdock_src_1 agentdock_allow_1\n\
             acl agentdock_private dst 192.0.2.2\n"
        );
    }

    #[test]
    fn host_addresses_from_proc() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n     |-- 192.0.2.2\n        /32 host LOCAL\n     |-- 192.0.2.255\n        /32 link BROADCAST\nLocal:\n     |-- 192.0.2.2\n        /32 host LOCAL\n     |-- 127.0.0.1\n        /32 host LOCAL\n";
        let v6 = "00000000000000000000000000000001 01 80 10 80       lo\n20010db8000000000000000000000005 02 40 00 80     eth0\nfe800000000000000000000000000001 02 40 20 80     eth0\n";
        assert_eq!(host_addresses(fib, v6), ["127.0.0.1", "192.0.2.2", "2001:db8::5"]);
    }

    #[test]
    fn subnets_are_picked_clear_of_those_in_use() {
        assert_eq!(pick_subnet("172.16.0.0/16", &[]).as_deref(), Some("172.16.0.0/24"));
        let used = vec!["172.16.0.0/24".to_string(), "172.16.1.128/25".into(), "172.17.0.0/16".into()];
        assert_eq!(pick_subnet("172.16.0.0/16", &used).as_deref(), Some("172.16.2.0/24"));
        assert_eq!(pick_subnet("172.16.0.0/16", &["172.16.0.0/12".into()]), None);
        assert_eq!(pick_subnet("nonsense", &[]), None);
        assert_eq!(pick_subnet("10.1.2.0/24", &[]).as_deref(), Some("10.1.2.0/24"));
    }

    #[test]
    fn refusal_lines_parse_and_count_per_container() {
        let r = parse_refusal("agentdock-refused 1795589227.965 172.16.240.3 agentdock-net-api CONNECT denied.test 443 ERR_AGENTDOCK_UNLISTED").unwrap();
        assert_eq!((r.network.as_str(), r.host.as_str(), r.port, r.reason), ("agentdock-net-api", "denied.test", 443, RefusalReason::NotAllowed));
        let p = parse_refusal("agentdock-refused 1795589228.000 172.16.240.3 - CONNECT private.test 443 ERR_AGENTDOCK_PRIVATE").unwrap();
        assert_eq!((p.network.as_str(), p.reason), ("", RefusalReason::PrivateAddress));
        assert_eq!(parse_refusal("agentdock-refused 1 1.2.3.4 n GET x 3128 ERR_ACCESS_DENIED").unwrap().reason, RefusalReason::Port);
        assert!(parse_refusal("agentdock-refused 1 1.2.3.4 n GET x 80 -").is_none());
        assert!(parse_refusal("2026/11/25 06:46:54| Initializing IP Cache...").is_none());
        let mut t = RefusalTally::default();
        let mut a = r.clone();
        a.container = Some("agentdock-api".into());
        let mut b = a.clone();
        b.at += 1.0;
        b.host = "other.test".into();
        assert_eq!(t.add(&[a.clone(), b.clone()]), ["agentdock-api"]);
        assert!(t.add(&[a, b]).is_empty(), "the same lines are not counted twice");
        let c = &t.by_container["agentdock-api"];
        assert_eq!((c.count, c.last_host.as_str()), (2, "other.test"));
    }
}
