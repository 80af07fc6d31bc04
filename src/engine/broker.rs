//! The credential broker's container on the engine: agentdock's own binary (`agentdock broker
//! serve`) mounted read-only into a container of the proxy's image, its state dir mounted
//! read-write, the user's credential as a 0400 file on a tmpfs that only it mounts; on the
//! egress network (its route to the upstream) and attached to every agent network as
//! `agentdock-broker`. Capabilities are issued here when an agent container is made.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use bollard::models::{ContainerCreateBody, EndpointSettings, HealthConfig, Mount, MountType, NetworkingConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RestartContainerOptionsBuilder};

use super::{Engine, EngineError, StateInfo};
use crate::broker::store;
use crate::domain::broker::{self as b, BrokerLink, BrokerSpec, CredentialKind, CredentialSource};
use crate::domain::container::{labels, ContainerState};
use crate::domain::network::{netlabels, PROXY_BUILD_COMMAND};
use crate::domain::settings::NetworkMode;
use crate::domain::spec::ContainerSpec;

/// The user's credential, read from where the config says (never logged).
pub fn read_credential(src: &CredentialSource) -> Result<(String, CredentialKind), EngineError> {
    let value = match src {
        CredentialSource::Env(_, v) => v.expose().trim().to_string(),
        CredentialSource::File(p) => {
            let m = std::fs::metadata(p).map_err(|e| EngineError::Failed(format!("broker.credential_file {}: {e}", p.display())))?;
            if !m.is_file() || m.len() > 64 * 1024 {
                return Err(EngineError::Failed(format!("broker.credential_file {} is not a small regular file", p.display())));
            }
            std::fs::read_to_string(p).map_err(|e| EngineError::Failed(format!("broker.credential_file {}: {e}", p.display())))?.trim().to_string()
        }
    };
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Err(EngineError::Failed(format!("the broker's credential ({}) is empty or not one token", src.describe())));
    }
    let kind = CredentialKind::of(&value);
    Ok((value, kind))
}

/// The host dir of the broker's credential (on the tmpfs the secrets are on).
fn credential_dir(name: &str) -> PathBuf {
    super::secrets::dir_for(name)
}

/// Writes the credential file (0400, the broker's), the dir 0500; true when it changed.
fn write_credential(name: &str, value: &str) -> std::io::Result<bool> {
    let dir = credential_dir(name);
    let file = dir.join(b::CREDENTIAL_FILE);
    if std::fs::read_to_string(&file).is_ok_and(|v| v == value) {
        return Ok(false);
    }
    super::secrets::private_dir(&dir)?;
    let (uid, gid) = store::broker_user();
    let owner = rustix::process::geteuid().is_root().then_some((uid, gid));
    let fd = crate::untrusted::open_dir(&dir)?;
    crate::untrusted::replace_at(fd.as_fd(), b::CREDENTIAL_FILE, value.as_bytes(), 0o400, owner)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::lchown(&dir, Some(uid), Some(gid))?;
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500))?;
    Ok(true)
}

/// agentdock's own binary, copied (or linked) into `bin_dir` under a name of its size and
/// time, so a rebuilt agentdock is a new file and the broker's mount never changes under it.
fn install_binary(bin_dir: &Path) -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let m = std::fs::metadata(&exe)?;
    let target = bin_dir.join(format!("agentdock-{}-{}", m.len(), m.mtime()));
    if std::fs::metadata(&target).is_ok_and(|t| t.len() == m.len()) {
        return Ok(target);
    }
    std::fs::create_dir_all(bin_dir)?;
    std::fs::set_permissions(bin_dir, std::fs::Permissions::from_mode(0o755))?;
    let tmp = bin_dir.join(format!(".agentdock.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(&exe, &tmp).is_err() {
        std::fs::copy(&exe, &tmp)?;
    }
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, &target)?;
    Ok(target)
}

/// The broker's state file written; true when it changed (the broker reads it at start).
fn write_state(spec: &BrokerSpec, kind: CredentialKind) -> Result<bool, EngineError> {
    let config = b::broker_config(spec, kind);
    let before = store::read_config(&spec.state_dir).ok();
    store::prepare(&spec.state_dir, &config).map_err(|e| EngineError::Failed(format!("cannot prepare the broker's state in {}: {e}", spec.state_dir.display())))?;
    Ok(before.as_ref() != Some(&config))
}

impl Engine {
    /// Makes the broker ready: its image (the proxy's), the egress network, its state and
    /// credential written, agentdock's binary in place, the container created or started (made
    /// to read a changed credential or config again), attached to every agent network of its
    /// proxy; capabilities of containers gone revoked.
    pub async fn ensure_broker(&self, link: &BrokerLink) -> Result<StateInfo, EngineError> {
        let spec = &link.broker;
        let _lock = super::network::networks_lock().await;
        if !self.image_exists(&spec.image).await? {
            return Err(EngineError::ImageMissing { image: spec.image.clone(), build: PROXY_BUILD_COMMAND.into() });
        }
        self.ensure_egress_network(&spec.egress, &spec.labels, &spec.subnet_pool).await?;
        let (value, kind) = read_credential(&link.credential)?;
        let changed_cred = write_credential(&spec.name, &value).map_err(|e| EngineError::Failed(format!("cannot write the broker's credential under {}: {e}", super::secrets::base().display())))?;
        let changed_state = write_state(spec, kind)?;
        let bin = install_binary(&spec.bin_dir).map_err(|e| EngineError::Failed(format!("cannot put agentdock's binary in {}: {e}", spec.bin_dir.display())))?;
        let st = match self.inspect_state(&spec.name).await? {
            None => {
                let opts = CreateContainerOptionsBuilder::default().name(&spec.name).build();
                let id = match self.docker.create_container(Some(opts), broker_body(spec, &bin)).await.map_err(|e| self.err(e)) {
                    Ok(c) => c.id,
                    Err(EngineError::Conflict(_)) => self.inspect_state(&spec.name).await?.map(|s| s.id).unwrap_or_default(),
                    Err(e) => return Err(e),
                };
                tracing::info!(broker = %spec.name, "broker created");
                self.check_broker(&id, spec).await?;
                self.start(&id).await?;
                self.inspect_state(&id).await?.ok_or_else(|| EngineError::Failed("the broker vanished".into()))?
            }
            Some(st) => {
                self.check_broker(&st.id, spec).await?;
                if st.state != ContainerState::Running {
                    self.start(&st.id).await?;
                    tracing::info!(broker = %spec.name, "broker started");
                } else if changed_cred || changed_state {
                    let opts = RestartContainerOptionsBuilder::default().t(5).build();
                    self.docker.restart_container(&st.id, Some(opts)).await.map_err(|e| self.err(e))?;
                    tracing::info!(broker = %spec.name, "broker restarted: its credential or settings changed");
                }
                st
            }
        };
        self.attach_to_agent_networks(&st.id, &spec.proxy, b::BROKER_ALIAS, &[NetworkMode::Allowlist, NetworkMode::Open]).await?;
        // capabilities of containers gone go (but fresh ones: their container is on its way)
        let names: Vec<String> = self.list(false).await?.into_iter().map(|c| c.name).collect();
        match store::sweep(&spec.state_dir, &names, 300) {
            Ok(gone) if !gone.is_empty() => tracing::info!(containers = ?gone, "capabilities revoked: their containers are gone"),
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot sweep the capabilities: {e}"),
        }
        Ok(st)
    }

    /// A container of the broker's name that is not agentdock's broker is refused.
    async fn check_broker(&self, id: &str, spec: &BrokerSpec) -> Result<(), EngineError> {
        let l = self.docker.inspect_container(id, None).await.map_err(|e| self.err(e))?.config.and_then(|c| c.labels).unwrap_or_default();
        if l.get(labels::ROLE).map(String::as_str) != Some("broker") || l.get(netlabels::PROXY) != Some(&spec.proxy) {
            return Err(EngineError::Conflict(format!("a container named {} exists that is not agentdock's broker; rename or remove it", spec.name)));
        }
        Ok(())
    }

    /// Makes the broker anew (after agentdock was rebuilt, say): the old container goes, a new
    /// one is made and attached again. Requests in flight through the old one fail.
    pub async fn refresh_broker(&self, link: &BrokerLink) -> Result<StateInfo, EngineError> {
        if let Some(st) = self.inspect_state(&link.broker.name).await? {
            self.check_broker(&st.id, &link.broker).await?;
            self.stop_and_remove(&st.id, 5).await?;
        }
        self.ensure_broker(link).await
    }

    /// Why the broker is stale: it runs another build of agentdock than this one.
    pub async fn broker_staleness(&self, spec: &BrokerSpec) -> Vec<String> {
        let Ok(c) = self.docker.inspect_container(&spec.name, None).await else { return Vec::new() };
        let Ok(exe) = std::env::current_exe().and_then(std::fs::metadata) else { return Vec::new() };
        let want = spec.bin_dir.join(format!("agentdock-{}-{}", exe.len(), exe.mtime()));
        let have = c.mounts.unwrap_or_default().into_iter().find(|m| m.destination.as_deref() == Some(b::BIN_MOUNT)).and_then(|m| m.source);
        match have {
            Some(h) if Path::new(&h) != want => vec![format!("the broker runs another build of agentdock than this one; `agentdock broker --refresh` makes it anew")],
            _ => Vec::new(),
        }
    }

    /// The capability of a container about to be made (or started again): the broker ready
    /// and serving its network, a new token issued for it (an older one of its name revoked).
    /// None when the container does not use the broker.
    pub(super) async fn issue_capability(&self, spec: &ContainerSpec) -> Result<Option<String>, EngineError> {
        let Some(link) = &spec.broker else { return Ok(None) };
        self.ensure_broker(link).await?;
        let subnet = self.network_subnet(&spec.network.name).await?;
        let holder = store::Holder {
            container: spec.name.clone(),
            project: spec.project_id().to_string(),
            task: link.task.clone(),
            subnet,
            task_budget_usd: link.task_budget_usd,
            project_daily_budget_usd: link.project_daily_budget_usd,
        };
        let token = store::issue(&link.broker.state_dir, &holder).map_err(|e| EngineError::Failed(format!("cannot issue the container's capability in {}: {e}", link.broker.state_dir.display())))?;
        Ok(Some(token))
    }
}

impl Engine {
    /// Writes the spec's secrets, with, for a brokered agent, a new capability as its
    /// `ANTHROPIC_API_KEY` (the broker made ready to take it).
    pub(super) async fn write_secrets_and_capability(&self, spec: &ContainerSpec) -> Result<(), EngineError> {
        match self.issue_capability(spec).await? {
            None => super::lifecycle::write_secrets(spec),
            Some(token) => {
                // an interactive agent uses it without asking
                if let Err(e) = crate::agent_config::approve_api_key(&spec.agent_dir, &token, &spec.user) {
                    tracing::warn!(container = %spec.name, "cannot approve the capability in the agent's config: {e:#}");
                }
                let mut s = spec.clone();
                s.env.retain(|e| e.name != "ANTHROPIC_API_KEY");
                s.env.push(crate::domain::spec::EnvVar { name: "ANTHROPIC_API_KEY".into(), value: crate::domain::spec::Secret::new(token), shown: false });
                super::lifecycle::write_secrets(&s)
            }
        }
    }
}

/// The broker's container: agentdock's binary as its entrypoint, as the broker's own user,
/// no capabilities, a read-only root, on the egress network; restarted unless stopped.
fn broker_body(spec: &BrokerSpec, bin: &Path) -> ContainerCreateBody {
    let secs = |s: u64| (s as i64) * 1_000_000_000;
    let bind = |source: &Path, target: &str, read_only: bool| Mount {
        source: Some(source.to_string_lossy().into_owned()),
        target: Some(target.to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Default::default()
    };
    let mut mounts = vec![
        bind(bin, b::BIN_MOUNT, true),
        bind(&spec.state_dir, b::STATE_MOUNT, false),
        bind(&credential_dir(&spec.name), b::CREDENTIAL_MOUNT, true),
    ];
    if let Some(ca) = &spec.ca_file {
        mounts.push(bind(ca, b::CA_MOUNT, true));
    }
    let (uid, gid) = store::broker_user();
    let host_config = super::proxy::service_host_config(mounts, 256 << 20, 200, "16m", &spec.egress);
    let credential = format!("{}/{}", b::CREDENTIAL_MOUNT, b::CREDENTIAL_FILE);
    let listen = format!("0.0.0.0:{}", b::BROKER_PORT);
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        user: Some(format!("{uid}:{gid}")),
        entrypoint: Some(vec![b::BIN_MOUNT.into()]),
        cmd: Some(["broker", "serve", "--state", b::STATE_MOUNT, "--credential", &credential, "--listen", &listen].iter().map(|s| s.to_string()).collect()),
        env: Some(vec![format!("AGENTDOCK_DATA_DIR={}", b::STATE_MOUNT), "HOME=/tmp".into()]),
        working_dir: Some("/tmp".into()),
        labels: Some(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        healthcheck: Some(HealthConfig {
            test: Some(vec!["CMD".into(), b::BIN_MOUNT.into(), "broker".into(), "health".into()]),
            interval: Some(secs(spec.health_interval_secs)),
            timeout: Some(secs(spec.health_timeout_secs)),
            retries: Some(i64::from(spec.health_retries)),
            start_period: Some(secs(5)),
            start_interval: None,
        }),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig { endpoints_config: Some(HashMap::from([(spec.egress.clone(), EndpointSettings::default())])) }),
        ..Default::default()
    }
}
