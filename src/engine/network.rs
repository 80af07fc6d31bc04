//! Networks and the egress proxy on the engine: each project's network (its own /24 of the
//! pool; `internal` with no host address on the bridge for `allowlist`), the proxy container
//! (Debian's squid, `docker/proxy/`) attached to every allowlist network under the name
//! `agentdock-proxy`, its per-network config written from what the engine holds, and the
//! refusals it logs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard::models::{EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, NetworkingConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder, LogsOptionsBuilder};
use futures_util::StreamExt;
use serde::Serialize;

use super::proxy::{proxy_body, write_conf};
use super::{Engine, EngineError, StateInfo};
use crate::domain::container::{labels, ContainerState};
use crate::domain::network::{self as net, netlabels, NetworkSpec, ProxyNet, ProxySpec, Refusal};
use crate::domain::settings::NetworkMode;

/// One of agentdock's networks on the engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkInfo {
    pub name: String,
    pub subnet: Option<String>,
    pub internal: bool,
    /// Its mode label (absent on the egress network).
    pub mode: Option<String>,
    pub project: Option<String>,
    /// Containers on it: name and address (running ones have one).
    pub containers: Vec<(String, Option<String>)>,
    /// The task whose network it is (a task's own network), from its label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

fn label_filter(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), pairs.iter().map(|(k, v)| format!("{k}={v}")).collect())])
}

impl Engine {
    /// The engine's networks carrying all `pairs` as labels.
    async fn networks_labelled(&self, pairs: &[(&str, &str)]) -> Result<Vec<bollard::models::Network>, EngineError> {
        let opts = ListNetworksOptionsBuilder::default().filters(&label_filter(pairs)).build();
        self.docker.list_networks(Some(opts)).await.map_err(|e| self.err(e))
    }

    async fn network(&self, name: &str) -> Result<Option<bollard::models::NetworkInspect>, EngineError> {
        match self.docker.inspect_network(name, None).await {
            Ok(n) => Ok(Some(n)),
            Err(e) => match self.err(e) {
                EngineError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Makes network `name` with a free /24 of `pool`; `internal` ones have no route out and
    /// no address of the host on their bridge (so neither the host nor the metadata address is
    /// reachable from them). A subnet taken meanwhile by another creator is skipped.
    async fn create_network(&self, name: &str, internal: bool, labels: &BTreeMap<String, String>, pool: &str) -> Result<(), EngineError> {
        // a subnet refused as taken stays skipped: the engine reserves it before it lists the
        // network that took it
        let mut taken: Vec<String> = Vec::new();
        for _ in 0..20 {
            let all = self.docker.list_networks(None).await.map_err(|e| self.err(e))?;
            let mut used: Vec<String> = taken.clone();
            used.extend(all.iter().flat_map(|n| n.ipam.iter().flat_map(|i| i.config.iter().flatten()).filter_map(|c| c.subnet.clone())));
            let subnet = net::pick_subnet(pool, &used).ok_or_else(|| {
                EngineError::Failed(format!("no free /24 left in security.subnet_pool ({pool}) for network {name}; set another range"))
            })?;
            let mut options = HashMap::new();
            if internal {
                options.insert("com.docker.network.bridge.inhibit_ipv4".to_string(), "true".to_string());
            }
            let req_subnet = subnet.clone();
            let req = NetworkCreateRequest {
                name: name.to_string(),
                driver: Some("bridge".into()),
                internal: Some(internal),
                ipam: Some(Ipam { config: Some(vec![IpamConfig { subnet: Some(subnet), ..Default::default() }]), ..Default::default() }),
                options: Some(options),
                labels: Some(labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                ..Default::default()
            };
            match self.docker.create_network(req).await.map_err(|e| self.err(e)) {
                Ok(_) => {
                    tracing::info!(network = %name, "network created");
                    return Ok(());
                }
                Err(EngineError::Failed(m) | EngineError::Conflict(m)) if m.contains("overlap") => {
                    tracing::debug!(network = %name, subnet = %req_subnet, "subnet taken meanwhile: {m}");
                    taken.push(req_subnet);
                    continue;
                }
                // made by another process meanwhile
                Err(EngineError::Conflict(_)) if self.network(name).await?.is_some() => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Err(EngineError::Failed(format!("could not find a free subnet for network {name}")))
    }

    /// Makes the spec's network when it is missing; one of that name that is not agentdock's,
    /// or of another kind, is refused.
    pub async fn ensure_network(&self, spec: &NetworkSpec) -> Result<(), EngineError> {
        if spec.mode == NetworkMode::None {
            return Ok(());
        }
        let _lock = networks_lock().await;
        let internal = spec.mode == NetworkMode::Allowlist;
        match self.network(&spec.name).await? {
            None => self.create_network(&spec.name, internal, &spec.labels, &spec.proxy.subnet_pool).await,
            Some(n) => {
                let l = n.labels.unwrap_or_default();
                if l.get(labels::MANAGED).map(String::as_str) != Some("true") || n.internal.unwrap_or(false) != internal {
                    return Err(EngineError::Conflict(format!(
                        "a network named {} exists that agentdock did not make for {} mode; remove it (docker network rm {})",
                        spec.name,
                        spec.mode.as_str(),
                        spec.name
                    )));
                }
                Ok(())
            }
        }
    }

    /// The network with a route out that agentdock's services (proxy, broker) sit on.
    pub(super) async fn ensure_egress_network(&self, name: &str, service_labels: &BTreeMap<String, String>, pool: &str) -> Result<(), EngineError> {
        if self.network(name).await?.is_none() {
            let mut l = service_labels.clone();
            l.insert(labels::ROLE.into(), "egress".into());
            self.create_network(name, false, &l, pool).await?;
        }
        Ok(())
    }

    /// The subnet of network `name`, when it has one.
    pub async fn network_subnet(&self, name: &str) -> Result<Option<String>, EngineError> {
        Ok(self.network(name).await?.and_then(|n| n.ipam).and_then(|i| i.config).and_then(|c| c.into_iter().find_map(|c| c.subnet)))
    }

    /// Attaches container `id` under `alias` to every agent network (with a mode label) that
    /// proxy `proxy` serves and `modes` names; the names attached.
    pub(super) async fn attach_to_agent_networks(&self, id: &str, proxy: &str, alias: &str, modes: &[NetworkMode]) -> Result<Vec<String>, EngineError> {
        let on = self.container_networks(id).await?;
        let mut attached = Vec::new();
        for n in self.networks_labelled(&[(netlabels::PROXY, proxy)]).await? {
            let l = n.labels.clone().unwrap_or_default();
            if !l.get(netlabels::NETWORK).is_some_and(|m| modes.iter().any(|x| x.as_str() == m)) {
                continue;
            }
            let name = n.name.unwrap_or_default();
            if on.contains(&name) {
                continue;
            }
            let req = NetworkConnectRequest {
                container: id.to_string(),
                endpoint_config: Some(EndpointSettings { aliases: Some(vec![alias.into()]), ..Default::default() }),
            };
            match self.docker.connect_network(&name, req).await.map_err(|e| self.err(e)) {
                Ok(()) => attached.push(name),
                // connected by another process meanwhile, or the network went meanwhile
                Err(EngineError::Failed(m) | EngineError::Conflict(m)) if m.contains("already exists") => {}
                Err(EngineError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(attached)
    }

    /// agentdock's networks served by proxy `proxy`, with the containers on each.
    pub async fn agent_networks(&self, proxy: &str) -> Result<Vec<NetworkInfo>, EngineError> {
        let nets = self.networks_labelled(&[(netlabels::PROXY, proxy)]).await?;
        let containers = self.network_members(nets.iter().filter_map(|n| n.name.as_deref()), false).await?;
        let mut out: Vec<NetworkInfo> = nets
            .into_iter()
            .map(|n| {
                let l = n.labels.clone().unwrap_or_default();
                let name = n.name.clone().unwrap_or_default();
                NetworkInfo {
                    subnet: n.ipam.and_then(|i| i.config).and_then(|c| c.into_iter().find_map(|c| c.subnet)),
                    internal: n.internal.unwrap_or(false),
                    mode: l.get(netlabels::NETWORK).cloned(),
                    project: l.get(labels::PROJECT).cloned(),
                    task: l.get(labels::TASK).cloned(),
                    containers: containers.iter().filter_map(|m| m.networks.get(&name).map(|ip| (m.name.clone(), ip.clone()))).collect(),
                    name,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The containers on any of `networks` (by filter: a host's thousand others are not listed),
    /// each with its networks (address per network) and allowlist label; `managed_only`: ours.
    async fn network_members<'a>(&self, networks: impl IntoIterator<Item = &'a str>, managed_only: bool) -> Result<Vec<Member>, EngineError> {
        // by name (or id prefix, which ours are not; "" would match all), each once
        let networks: Vec<String> = networks.into_iter().filter(|n| !n.is_empty()).collect::<BTreeSet<_>>().into_iter().map(str::to_string).collect();
        if networks.is_empty() {
            return Ok(Vec::new());
        }
        let mut filters = HashMap::from([("network".to_string(), networks)]);
        if managed_only {
            filters.insert("label".into(), vec![format!("{}=true", labels::MANAGED)]);
        }
        let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(opts)).await.map_err(|e| self.err(e))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let l = c.labels.unwrap_or_default();
                Member {
                    name: c.names.and_then(|n| n.into_iter().next()).map(|n| super::shown(n.trim_start_matches('/'))).unwrap_or_default(),
                    managed: l.get(labels::MANAGED).map(String::as_str) == Some("true"),
                    allow: l.get(netlabels::ALLOW).map(|a| a.split(',').map(str::to_string).collect()).unwrap_or_default(),
                    networks: c.network_settings.and_then(|s| s.networks).unwrap_or_default().into_iter()
                        .map(|(k, e)| (k, e.ip_address.filter(|ip| !ip.is_empty()))).collect(),
                }
            })
            .collect())
    }

    /// The networks container `id` is on.
    pub async fn container_networks(&self, id: &str) -> Result<Vec<String>, EngineError> {
        let i = self.docker.inspect_container(id, None).await.map_err(|e| self.err(e))?;
        let mut v: Vec<String> = i.network_settings.and_then(|s| s.networks).unwrap_or_default().into_keys().collect();
        if let Some(mode) = i.host_config.and_then(|h| h.network_mode).filter(|m| m == "none" || m == "host") {
            v.retain(|n| *n == mode);
            v.push(mode);
            v.dedup();
        }
        v.sort();
        Ok(v)
    }

    /// Why a container is not where its spec puts it (a network it should not be on, or not
    /// the one it should), None when it is.
    pub async fn network_drift(&self, id: &str, spec: &NetworkSpec) -> Result<Option<String>, EngineError> {
        let on = self.container_networks(id).await?;
        let want = if spec.mode == NetworkMode::None { "none" } else { spec.name.as_str() };
        Ok((on != [want]).then(|| format!("it is on {} but its network is {} ({} mode)", if on.is_empty() { "no network".into() } else { on.join(", ") }, want, spec.mode.as_str())))
    }

    /// The proxy container's state; None when there is none.
    pub async fn proxy_state(&self, proxy: &str) -> Result<Option<StateInfo>, EngineError> {
        self.inspect_state(proxy).await
    }

    /// Makes the proxy ready: its image there (else the error naming the build command), its
    /// egress network, the container created or started, attached to every allowlist network
    /// it serves, and its config written from the engine (squid reloaded when it changed).
    pub async fn ensure_proxy(&self, p: &ProxySpec) -> Result<StateInfo, EngineError> {
        let _lock = networks_lock().await;
        if !self.image_exists(&p.image).await? {
            return Err(EngineError::ImageMissing { image: p.image.clone(), build: net::PROXY_BUILD_COMMAND.into() });
        }
        self.ensure_egress_network(&p.egress, &p.labels, &p.subnet_pool).await?;
        let conf = self.proxy_conf(p).await?;
        let changed = write_conf(&p.conf_dir, &conf).map_err(|e| EngineError::Failed(format!("cannot write the proxy's config in {}: {e}", p.conf_dir.display())))?;
        // squid reads its config when it starts: a reload only for one that already ran
        let mut reload = changed;
        let st = match self.inspect_state(&p.name).await? {
            None => {
                let opts = CreateContainerOptionsBuilder::default().name(&p.name).build();
                let id = match self.docker.create_container(Some(opts), proxy_body(p)).await.map_err(|e| self.err(e)) {
                    Ok(c) => c.id,
                    // made by another process meanwhile
                    Err(EngineError::Conflict(_)) => self.inspect_state(&p.name).await?.map(|s| s.id).unwrap_or_default(),
                    Err(e) => return Err(e),
                };
                tracing::info!(proxy = %p.name, "proxy created");
                reload = false;
                self.start(&id).await?;
                self.await_proxy_listening(&id, &[]).await?;
                self.inspect_state(&id).await?.ok_or_else(|| EngineError::Failed("the proxy vanished".into()))?
            }
            Some(st) if st.state != ContainerState::Running => {
                self.start(&st.id).await?;
                tracing::info!(proxy = %p.name, "proxy started");
                self.await_proxy_listening(&st.id, &[]).await?;
                reload = false;
                st
            }
            Some(st) => st,
        };
        self.check_proxy(&st.id, &p.name).await?;
        self.attach_to_agent_networks(&st.id, &p.name, net::PROXY_ALIAS, &[NetworkMode::Allowlist]).await?;
        if reload {
            self.reload_proxy(&st.id).await?;
        }
        Ok(st)
    }

    /// Why the proxy is stale, if it is (see [`net::proxy_staleness`]): warnings, never errors.
    pub async fn proxy_staleness(&self, p: &ProxySpec) -> Vec<String> {
        let Ok(Some((id, hash))) = self.image_id_and_label(&p.image, net::IMAGE_HASH_LABEL).await else { return Vec::new() };
        let running = match self.docker.inspect_container(&p.name, None).await {
            Ok(c) => c.image,
            Err(_) => None,
        };
        net::proxy_staleness(&p.image, hash.as_deref(), Some(&id), running.as_deref())
    }

    /// A container of the proxy's name that is not agentdock's proxy is refused.
    async fn check_proxy(&self, id: &str, name: &str) -> Result<(), EngineError> {
        let labels = self.docker.inspect_container(id, None).await.map_err(|e| self.err(e))?.config.and_then(|c| c.labels).unwrap_or_default();
        if labels.get(labels::ROLE).map(String::as_str) != Some("proxy") || labels.get(netlabels::PROXY).map(String::as_str) != Some(name) {
            return Err(EngineError::Conflict(format!("a container named {name} exists that is not agentdock's proxy; rename or remove it")));
        }
        Ok(())
    }

    /// Makes the proxy anew (its image rebuilt, say): the old container goes (its refusal log
    /// with it), a new one is made and attached to every network it serves.
    pub async fn refresh_proxy(&self, p: &ProxySpec) -> Result<StateInfo, EngineError> {
        if !self.image_exists(&p.image).await? {
            return Err(EngineError::ImageMissing { image: p.image.clone(), build: net::PROXY_BUILD_COMMAND.into() });
        }
        if let Some(st) = self.inspect_state(&p.name).await? {
            self.check_proxy(&st.id, &p.name).await?;
            self.stop_and_remove(&st.id, 5).await?;
        }
        self.ensure_proxy(p).await
    }

    /// Writes the proxy's config from the engine and reloads squid when it changed (nothing
    /// when there is no running proxy). True when it changed.
    pub async fn sync_proxy(&self, p: &ProxySpec) -> Result<bool, EngineError> {
        let Some(st) = self.inspect_state(&p.name).await? else { return Ok(false) };
        let conf = self.proxy_conf(p).await?;
        let changed = write_conf(&p.conf_dir, &conf).map_err(|e| EngineError::Failed(format!("cannot write the proxy's config in {}: {e}", p.conf_dir.display())))?;
        if changed && st.state == ContainerState::Running {
            self.reload_proxy(&st.id).await?;
        }
        Ok(changed)
    }

    /// The proxy's `networks.conf` as the engine stands: each allowlist network it serves, with
    /// the allowlists of the containers on it, and (local engine) this host's addresses.
    async fn proxy_conf(&self, p: &ProxySpec) -> Result<String, EngineError> {
        let nets = self.networks_labelled(&[(netlabels::PROXY, &p.name), (netlabels::NETWORK, NetworkMode::Allowlist.as_str())]).await?;
        let members = self.network_members(nets.iter().filter_map(|n| n.name.as_deref()), true).await?;
        let nets: Vec<ProxyNet> = nets
            .into_iter()
            .filter_map(|n| {
                let name = n.name?;
                let subnet = n.ipam?.config?.into_iter().find_map(|c| c.subnet)?;
                let mut allow: Vec<String> = members.iter().filter(|m| m.managed && m.networks.contains_key(&name)).flat_map(|m| m.allow.clone()).collect();
                allow.sort();
                allow.dedup();
                Some(ProxyNet { name, subnet, allow })
            })
            .collect();
        let host = if self.is_local() {
            let read = |f: &str| std::fs::read_to_string(f).unwrap_or_default();
            net::host_addresses(&read("/proc/net/fib_trie"), &read("/proc/net/if_inet6"))
        } else {
            Vec::new()
        };
        Ok(net::squid_conf(&nets, &host))
    }

    /// Removes the project's networks other than `keep` that no container but agentdock's own
    /// (the proxy) is on (they are taken off first), and brings the proxy's config up to date;
    /// returns the networks removed. A task's own network is left to its task (it may be made
    /// before its container is).
    pub async fn prune_networks(&self, project_id: &str, keep: Option<&str>, p: &ProxySpec) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        for n in self.agent_networks(&p.name).await?.into_iter().filter(|n| n.project.as_deref() == Some(project_id) && Some(n.name.as_str()) != keep && n.task.is_none()) {
            if self.remove_agent_network(&n, p, None).await {
                removed.push(n.name);
            }
        }
        // the allowlists of containers gone go too
        self.sync_proxy(p).await?;
        Ok(removed)
    }

    /// Removes the own network of a task's container `container` (named like it) once no
    /// container but agentdock's own is on it (its task was collected); true when it is gone.
    pub async fn remove_task_network(&self, container: &str, p: &ProxySpec) -> Result<bool, EngineError> {
        let Some(n) = self.agent_networks(&p.name).await?.into_iter().find(|n| n.name == container && n.task.is_some()) else {
            return Ok(true);
        };
        // the task's own container may still be on it while the engine removes it
        let ended = match self.inspect_state(container).await? {
            Some(st) if st.state == ContainerState::Running => None,
            _ => Some(container),
        };
        let gone = self.remove_agent_network(&n, p, ended).await;
        if gone {
            self.sync_proxy(p).await?;
        }
        Ok(gone)
    }

    /// Removes network `n` unless a container other than agentdock's own services (and
    /// `ended`, a task's container that ended) is on it; those are taken off first. True when
    /// it is gone.
    async fn remove_agent_network(&self, n: &NetworkInfo, p: &ProxySpec, ended: Option<&str>) -> bool {
        let mut services = net::service_names(p);
        services.extend(ended.map(str::to_string));
        if n.containers.iter().any(|(c, _)| !services.contains(c)) {
            return false;
        }
        for (c, _) in &n.containers {
            let req = NetworkDisconnectRequest { container: c.clone(), force: Some(true) };
            if let Err(e) = self.docker.disconnect_network(&n.name, req).await {
                tracing::warn!(network = %n.name, container = %c, error = %e, "cannot take agentdock's service off the network");
            }
        }
        match self.docker.remove_network(&n.name).await.map_err(|e| self.err(e)) {
            Ok(()) | Err(EngineError::NotFound(_)) => true,
            Err(e) => {
                tracing::warn!(network = %n.name, error = %e, "cannot remove the network");
                false
            }
        }
    }

    /// The requests proxy `proxy` refused since `since` (unix seconds; 0: all it still logs),
    /// oldest first, each with the container at its client address now.
    pub async fn refusals(&self, proxy: &str, since: i64) -> Result<Vec<Refusal>, EngineError> {
        if self.inspect_state(proxy).await?.is_none() {
            return Ok(Vec::new());
        }
        let opts = LogsOptionsBuilder::default().stdout(true).stderr(false).since(since.clamp(0, i32::MAX as i64) as i32).build();
        let mut logs = self.docker.logs(proxy, Some(opts));
        let mut text = Vec::new();
        // the lines carry what agents asked for: a flood of them is read up to a bound (the
        // rest waits for the next look, which starts after the newest line read)
        while let Some(chunk) = logs.next().await {
            text.extend_from_slice(&chunk.map_err(|e| self.err(e))?.into_bytes());
            if text.len() >= REFUSALS_READ_MAX {
                break;
            }
        }
        let refusals: Vec<Refusal> = String::from_utf8_lossy(&text).lines().filter_map(net::parse_refusal).collect();
        if refusals.is_empty() {
            return Ok(refusals);
        }
        // which container each came from: only looked up when there is something to name
        let members = self.network_members(refusals.iter().map(|r| r.network.as_str()), false).await?;
        Ok(refusals
            .into_iter()
            .map(|mut r| {
                r.container = members.iter().find(|m| m.networks.get(&r.network).is_some_and(|ip| ip.as_deref() == Some(r.client.as_str()))).map(|m| m.name.clone());
                r
            })
            .collect())
    }
}

/// Bytes of the proxy's log read in one look for refusals.
const REFUSALS_READ_MAX: usize = 4 << 20;

/// Held while networks or the proxy are made: the engine (API 1.41) makes a second network of
/// a name that exists, and two containers of the same project (tasks) are often made at once.
/// Waits up to a minute, then goes on without it (a lock file it cannot open holds up nothing).
pub(super) async fn networks_lock() -> Option<std::fs::File> {
    let dir = crate::paths::lock_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let file = std::fs::File::options().create(true).truncate(false).write(true).open(dir.join("networks.lock")).ok()?;
    for _ in 0..1200 {
        match file.try_lock() {
            Ok(()) => return Some(file),
            Err(std::fs::TryLockError::WouldBlock) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            Err(_) => return None,
        }
    }
    tracing::warn!("waited a minute for the networks lock; going on without it");
    None
}

struct Member {
    name: String,
    managed: bool,
    allow: Vec<String>,
    networks: HashMap<String, Option<String>>,
}

/// The networking part of an agent container's create body: its network (with `none`, none).
pub(super) fn agent_networking(spec: &NetworkSpec) -> (Option<String>, Option<NetworkingConfig>) {
    match spec.mode {
        NetworkMode::None => (Some("none".into()), None),
        _ => (
            Some(spec.name.clone()),
            Some(NetworkingConfig { endpoints_config: Some(HashMap::from([(spec.name.clone(), EndpointSettings::default())])) }),
        ),
    }
}
