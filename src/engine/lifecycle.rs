//! Create, start, stop, remove and refresh containers from a [`ContainerSpec`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, HostConfigLogConfig, Mount, MountType, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder,
};
use serde::Serialize;

use super::secrets;

use super::{Engine, EngineError, StateInfo};
use crate::config::BUILD_COMMAND;
use crate::domain::container::{now_unix, ContainerState, Health};
use crate::domain::network::PROXY_BUILD_COMMAND;
use crate::domain::settings::NetworkMode;
use crate::domain::spec::ContainerSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnsureAction {
    Created,
    Started,
    AlreadyRunning,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ensured {
    pub id: String,
    pub name: String,
    pub action: EnsureAction,
    /// What the user should hear of besides (the agent's settings file set aside).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refreshed {
    pub old_id: Option<String>,
    pub new_id: String,
    pub name: String,
    /// What the user should hear of besides (the agent's settings file set aside).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

pub(super) fn body(spec: &ContainerSpec) -> ContainerCreateBody {
    let secs = |s: u64| (s as i64) * 1_000_000_000;
    let bind = |source: &std::path::Path, target: &str, read_only: bool| Mount {
        source: Some(source.to_string_lossy().into_owned()),
        target: Some(target.to_string()),
        // a name, not a path: a named volume (the agent config on another machine's engine)
        typ: Some(if source.is_absolute() { MountType::BIND } else { MountType::VOLUME }),
        read_only: Some(read_only),
        ..Default::default()
    };
    let mut mounts: Vec<Mount> = spec.mounts.iter().map(|m| bind(&m.source, &m.target, m.read_only)).collect();
    // secrets are files (see `secrets`), never environment variables
    let mut env: Vec<String> = spec.env.iter().filter(|e| e.shown).map(|e| format!("{}={}", e.name, e.value.expose())).collect();
    // a brokered agent's capability is a secret too, issued when it is made
    if secrets::of(spec).next().is_some() || spec.broker.is_some() {
        mounts.push(bind(&secrets::dir_for(&spec.name), secrets::MOUNT, true));
        env.push(format!("AGENTDOCK_SECRETS_DIR={}", secrets::MOUNT));
    }
    let (network_mode, networking_config) = super::network::agent_networking(&spec.network);
    let mut tmpfs = HashMap::new();
    if spec.read_only_root {
        tmpfs.insert("/tmp".to_string(), "rw,noexec,nosuid,size=1g".to_string());
    }
    let host_config = HostConfig {
        mounts: Some(mounts),
        memory: Some(spec.memory_bytes),
        nano_cpus: Some(spec.nano_cpus),
        pids_limit: Some(spec.pids),
        memory_swap: Some(spec.memory_swap_bytes.max(spec.memory_bytes)),
        ulimits: Some(vec![
            ResourcesUlimits { name: Some("nofile".into()), soft: Some(spec.nofile.0), hard: Some(spec.nofile.1) },
            // no core dumps: they fill the disk and can hold secrets
            ResourcesUlimits { name: Some("core".into()), soft: Some(0), hard: Some(0) },
        ]),
        // an init reaps the zombies an agent's tools leave
        init: Some(true),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_string(), spec.log_max_size.clone()),
                ("max-file".to_string(), spec.log_max_files.to_string()),
            ])),
        }),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        readonly_rootfs: Some(spec.read_only_root),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        network_mode,
        restart_policy: Some(RestartPolicy {
            name: Some(if spec.one_shot { RestartPolicyNameEnum::NO } else { RestartPolicyNameEnum::UNLESS_STOPPED }),
            maximum_retry_count: None,
        }),
        auto_remove: Some(spec.one_shot),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        user: Some(spec.user.clone()),
        working_dir: Some(spec.workdir.clone()),
        env: Some(env),
        labels: Some(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        healthcheck: Some(HealthConfig {
            test: Some(if spec.one_shot { vec!["NONE".into()] } else { spec.health.test.clone() }),
            interval: Some(secs(spec.health.interval_secs)),
            timeout: Some(secs(spec.health.timeout_secs)),
            retries: Some(i64::from(spec.health.retries)),
            start_period: Some(secs(spec.health.start_period_secs)),
            start_interval: None,
        }),
        host_config: Some(host_config),
        networking_config,
        ..Default::default()
    }
}

pub(super) fn write_secrets(spec: &ContainerSpec) -> Result<(), EngineError> {
    secrets::write(spec).map_err(|e| EngineError::Failed(format!("cannot write the container's secrets under {}: {e}", secrets::base().display())))
}

impl Engine {
    /// Ok when the image is there, else the error that names the build command.
    pub async fn require_image(&self, image: &str) -> Result<(), EngineError> {
        if self.image_exists(image).await? {
            Ok(())
        } else {
            Err(EngineError::ImageMissing { image: image.to_string(), build: BUILD_COMMAND.to_string() })
        }
    }

    /// Creates the container of `spec` under `name` and starts it; a container that does not
    /// start is removed again, so nothing half-made is left.
    async fn create_and_start(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let id = self.create_named(spec, None).await?;
        if let Err(e) = self.start(&id).await {
            let _ = self.remove(&id, true).await;
            return Err(e);
        }
        tracing::info!(container = %spec.name, id = %id, "created and started");
        Ok(id)
    }

    /// Creates the container when missing, starts it when stopped, leaves it when running.
    pub async fn ensure(&self, spec: &ContainerSpec) -> Result<Ensured, EngineError> {
        match self.inspect_state(&spec.name).await? {
            Some(st) if !st.managed => Err(EngineError::Conflict(format!(
                "a container named {} exists that agentdock does not manage; rename or remove it",
                spec.name
            ))),
            Some(st) => {
                // its network and the proxy (which may have been stopped or removed meanwhile);
                // a container made for other network settings is said, never silently kept
                let warnings = self.ensure_egress(spec, Some(&st.id)).await?;
                if st.state == ContainerState::Running {
                    return Ok(Ensured { id: st.id, name: spec.name.clone(), action: EnsureAction::AlreadyRunning, warnings });
                }
                // a reboot empties the tmpfs the secrets live on
                self.write_secrets_and_capability(spec).await?;
                self.start(&st.id).await?;
                Ok(Ensured { id: st.id, name: spec.name.clone(), action: EnsureAction::Started, warnings })
            }
            None => {
                self.require_image(&spec.image).await?;
                let id = self.create_and_start(spec).await?;
                Ok(Ensured { id, name: spec.name.clone(), action: EnsureAction::Created, warnings: Vec::new() })
            }
        }
    }

    pub async fn start(&self, id: &str) -> Result<(), EngineError> {
        match self.docker.start_container(id, None::<StartContainerOptions>).await {
            Ok(()) => Ok(()),
            // 304: already started
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    pub async fn stop(&self, id: &str, timeout_secs: i64) -> Result<(), EngineError> {
        let opts = StopContainerOptionsBuilder::default().t(timeout_secs as i32).build();
        match self.docker.stop_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Removes a container (its anonymous volumes too); `force` kills it first when running.
    pub async fn remove(&self, id: &str, force: bool) -> Result<(), EngineError> {
        let opts = RemoveContainerOptionsBuilder::default().force(force).v(true).build();
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) => match self.err(e) {
                EngineError::NotFound(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    pub async fn rename(&self, id: &str, name: &str) -> Result<(), EngineError> {
        let opts = RenameContainerOptionsBuilder::default().name(name).build();
        self.docker.rename_container(id, opts).await.map_err(|e| self.err(e))
    }

    /// Stops (with a grace period) and removes.
    pub async fn stop_and_remove(&self, id: &str, timeout_secs: i64) -> Result<(), EngineError> {
        self.stop(id, timeout_secs).await?;
        self.remove(id, true).await
    }

    /// Waits until the container works: running, and healthy when it has a health check.
    /// Docker runs the first check only after one interval, so while it says "starting" the
    /// check itself is run here by exec; its success counts as working.
    pub async fn wait_ready(&self, id: &str, timeout: Duration) -> Result<StateInfo, EngineError> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("not started");
        loop {
            let st = self
                .inspect_state(id)
                .await?
                .ok_or_else(|| EngineError::Failed("the new container vanished".into()))?;
            match (st.state, st.health) {
                (ContainerState::Running, Health::Healthy | Health::None) => return Ok(st),
                (ContainerState::Running, Health::Starting) => {
                    let probe = self
                        .exec_capture(id, "/usr/local/bin/agentdock-healthcheck", &super::ExecOptions::quick())
                        .await;
                    match probe {
                        Ok(out) if out.exit_code == 0 => return Ok(st),
                        Ok(out) => last = String::from_utf8_lossy(&out.stdout).trim().to_string(),
                        Err(e) => last = e.to_string(),
                    }
                }
                (ContainerState::Running, Health::Unhealthy) => {
                    return Err(EngineError::Failed(format!(
                        "the new container is unhealthy: {}",
                        st.last_health_output.unwrap_or_default()
                    )))
                }
                (ContainerState::Exited | ContainerState::Dead, _) => {
                    return Err(EngineError::Failed(format!(
                        "the new container exited with code {}",
                        st.exit_code.unwrap_or(-1)
                    )))
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(EngineError::Failed(format!(
                    "the new container did not become ready within {}s: {last}",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Makes the project's container anew from `spec`, without giving up the old one until the
    /// new one works: image checked first; old renamed aside and stopped (two agents never share
    /// a workspace); new created, started, waited for; only then the old one removed. On any
    /// failure the new one is removed and the old one gets its name back and is started again.
    /// Workspace and agent config are bind mounts, so they survive every path.
    ///
    /// Every step may meet a lost engine: it is retried until the engine answers again (within
    /// [`ENGINE_LOSS_BUDGET`]), and each step first checks what the engine already did, so a
    /// step whose answer was lost is never done twice.
    pub async fn refresh(
        &self,
        spec: &ContainerSpec,
        stop_timeout_secs: i64,
        ready_timeout: Duration,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Refreshed, EngineError> {
        let deadline = Instant::now() + ENGINE_LOSS_BUDGET + ready_timeout;
        self.resilient(deadline, || self.require_image(&spec.image)).await?;
        if spec.network.mode == NetworkMode::Allowlist && !self.resilient(deadline, || self.image_exists(&spec.network.proxy.image)).await? {
            return Err(EngineError::ImageMissing { image: spec.network.proxy.image.clone(), build: PROXY_BUILD_COMMAND.into() });
        }
        self.resilient(deadline, || self.repair(spec, ready_timeout)).await?;
        let old = self.resilient(deadline, || self.inspect_state(&spec.name)).await?;
        let Some(old) = old else {
            progress("no container yet: creating one");
            let id = self.resilient(deadline, || self.create_named(spec, None)).await?;
            self.resilient(deadline, || self.start(&id)).await?;
            self.resilient(deadline, || self.wait_ready(&id, ready_timeout)).await?;
            return Ok(Refreshed { old_id: None, new_id: id, name: spec.name.clone(), warnings: Vec::new() });
        };
        if !old.managed {
            return Err(EngineError::Conflict(format!("{} is not managed by agentdock", spec.name)));
        }
        let was_running = old.state == ContainerState::Running;
        let aside = format!("{}-old-{}", spec.name, now_unix());
        progress("stopping the old container");
        self.resilient(deadline, || self.ensure_named(&old.id, &aside)).await?;
        if let Err(e) = self.resilient(deadline, || self.stop(&old.id, stop_timeout_secs)).await {
            self.rollback(None, &old.id, &spec.name, was_running, deadline).await;
            return Err(e);
        }
        progress("creating the new container");
        let created = self.resilient(deadline, || self.create_named(spec, Some(&old.id))).await;
        let new_id = match created {
            Ok(id) => id,
            Err(e) => {
                self.rollback(None, &old.id, &spec.name, was_running, deadline).await;
                return Err(e);
            }
        };
        progress("waiting for the new container to be ready");
        let ready = async {
            self.resilient(deadline, || self.start(&new_id)).await?;
            self.resilient(deadline, || self.wait_ready(&new_id, ready_timeout)).await
        };
        if let Err(e) = ready.await {
            self.rollback(Some(&new_id), &old.id, &spec.name, was_running, deadline).await;
            return Err(EngineError::Failed(format!("refresh rolled back: {e}")));
        }
        progress("removing the old container");
        if let Err(e) = self.resilient(deadline, || self.remove(&old.id, true)).await {
            tracing::warn!(error = %e, "old container could not be removed after refresh");
        }
        // the old container's network (another mode) and allowlist go with it
        if let Err(e) = self.prune_networks(spec.project_id(), Some(&spec.network.name), &spec.network.proxy).await {
            tracing::warn!(error = %e, "networks left by the old container could not be removed");
        }
        Ok(Refreshed { old_id: Some(old.id), new_id, name: spec.name.clone(), warnings: Vec::new() })
    }

    /// Runs `step` again while the engine is unreachable, until `deadline`.
    async fn resilient<T, F, Fut>(&self, deadline: Instant, mut step: F) -> Result<T, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, EngineError>>,
    {
        let mut wait = Duration::from_millis(250);
        loop {
            match step().await {
                Err(EngineError::Unreachable { reason, .. }) if Instant::now() + wait < deadline => {
                    tracing::warn!(%reason, "engine lost during a refresh; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    /// Gives container `id` the name `name`, unless it has it already.
    async fn ensure_named(&self, id: &str, name: &str) -> Result<(), EngineError> {
        match self.inspect_state(id).await? {
            Some(st) if st.name == name => Ok(()),
            Some(_) => self.rename(id, name).await,
            None => Err(EngineError::NotFound(format!("container {id} is gone"))),
        }
    }

    /// Creates the container of `spec` under its name, or finds the one a lost answer created
    /// (same name, same project, not `old_id`).
    pub(super) async fn create_named(&self, spec: &ContainerSpec, old_id: Option<&str>) -> Result<String, EngineError> {
        if let Some(st) = self.inspect_state(&spec.name).await? {
            if st.managed && st.project_id.as_deref() == Some(spec.project_id()) && Some(st.id.as_str()) != old_id {
                return Ok(st.id);
            }
            return Err(EngineError::Conflict(format!("{} already exists", spec.name)));
        }
        let opts = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        self.before_create(spec).await?;
        let mut body = body(spec);
        // The engine refuses more CPUs than the host has: the limit is capped to the host's.
        if let Ok(info) = self.docker.info().await {
            if let (Some(hc), Some(ncpu)) = (body.host_config.as_mut(), info.ncpu.filter(|n| *n > 0)) {
                hc.nano_cpus = hc.nano_cpus.map(|n| n.min(ncpu * 1_000_000_000));
            }
        }
        let created = self.docker.create_container(Some(opts), body).await.map_err(|e| self.err(e))?;
        self.after_create(spec, &created.id).await?;
        Ok(created.id)
    }

    /// What a container of `spec` needs before it is created: the proxy's image (allowlist),
    /// its network, its secrets' files.
    pub(super) async fn before_create(&self, spec: &ContainerSpec) -> Result<(), EngineError> {
        if spec.network.mode == NetworkMode::Allowlist && !self.image_exists(&spec.network.proxy.image).await? {
            return Err(EngineError::ImageMissing { image: spec.network.proxy.image.clone(), build: PROXY_BUILD_COMMAND.into() });
        }
        self.ensure_network(&spec.network).await?;
        self.write_secrets_and_capability(spec).await
    }

    /// After the create: the proxy lets the new container's network reach its allowlist before
    /// it starts. A container that cannot be served is removed again.
    pub(super) async fn after_create(&self, spec: &ContainerSpec, id: &str) -> Result<(), EngineError> {
        if let Err(e) = self.ensure_egress(spec, None).await {
            let _ = self.remove(id, true).await;
            return Err(e);
        }
        Ok(())
    }

    /// For an allowlist spec, the proxy ready and serving its network (with the allowlists of
    /// the containers on it); for container `id` made before, why it is not on the spec's
    /// network, if it is not (a warning: its next refresh moves it).
    async fn ensure_egress(&self, spec: &ContainerSpec, id: Option<&str>) -> Result<Vec<String>, EngineError> {
        let mut warnings = Vec::new();
        if let Some(id) = id {
            if let Some(why) = self.network_drift(id, &spec.network).await? {
                warnings.push(format!("{} was made for other network settings: {why}; `agentdock refresh` moves it", spec.name));
            }
        }
        if spec.network.mode == NetworkMode::Allowlist {
            self.ensure_network(&spec.network).await?;
            self.ensure_proxy(&spec.network.proxy).await?;
        }
        // a running agent's broker (it may have been stopped or removed meanwhile); one made
        // now is made ready with its capability
        if let (Some(link), Some(_)) = (&spec.broker, id) {
            self.ensure_network(&spec.network).await?;
            self.ensure_broker(link).await?;
        }
        Ok(warnings)
    }

    /// Rollback: the new container (if any) goes, the old one gets its name back and runs again
    /// when it ran before. Each step survives a lost engine like the refresh itself.
    async fn rollback(&self, new_id: Option<&str>, old_id: &str, name: &str, start: bool, deadline: Instant) {
        let deadline = deadline.max(Instant::now() + ENGINE_LOSS_BUDGET);
        if let Some(new_id) = new_id {
            if let Err(e) = self.resilient(deadline, || self.remove(new_id, true)).await {
                tracing::error!(error = %e, "rollback: could not remove the new container");
            }
        }
        if let Err(e) = self.resilient(deadline, || self.ensure_named(old_id, name)).await {
            tracing::error!(error = %e, "rollback: could not rename the old container back");
        }
        if start {
            if let Err(e) = self.resilient(deadline, || self.start(old_id)).await {
                tracing::error!(error = %e, "rollback: could not start the old container");
            }
        }
    }

    /// Finishes what an interrupted refresh left (its process killed, the engine gone too
    /// long): old containers renamed aside. When the project's container works, they go;
    /// otherwise the half-made one goes and the newest old one comes back. Returns what it did.
    pub async fn repair(&self, spec: &ContainerSpec, ready_timeout: Duration) -> Result<Option<String>, EngineError> {
        let all = self.project_containers(spec.project_id()).await?;
        let prefix = format!("{}-old-", spec.name);
        let mut aside: Vec<_> = all.iter().filter(|c| c.name.starts_with(&prefix)).collect();
        if aside.is_empty() {
            return Ok(None);
        }
        aside.sort_by_key(|c| std::cmp::Reverse(c.name.clone()));
        let main = all.iter().find(|c| c.name == spec.name);
        let main_works = match main {
            // a main container that is only stopped is started before it is judged
            Some(m) => {
                if m.state != ContainerState::Running {
                    let _ = self.start(&m.id).await;
                }
                self.wait_ready(&m.id, ready_timeout).await.is_ok()
            }
            None => false,
        };
        if main_works {
            for c in &aside {
                self.remove(&c.id, true).await?;
            }
            return Ok(Some(format!("removed {} left over by an interrupted refresh", aside.len())));
        }
        if let Some(m) = main {
            self.remove(&m.id, true).await?;
        }
        let newest = aside[0];
        self.rename(&newest.id, &spec.name).await?;
        self.start(&newest.id).await?;
        for c in &aside[1..] {
            self.remove(&c.id, true).await?;
        }
        Ok(Some(format!("restored {} after an interrupted refresh", spec.name)))
    }
}

/// How long a refresh keeps retrying while the engine is unreachable.
pub const ENGINE_LOSS_BUDGET: Duration = Duration::from_secs(120);
