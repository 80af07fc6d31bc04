//! The operations the CLI and the dashboard share: config and projects in, engine calls out.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::{self, Config, ConfigError, LoadedConfig};
use crate::domain::container::{now_unix, ContainerInfo};
use crate::domain::engines::{self, EngineTarget};
use crate::domain::project::{self, Orphaned, Project};
use crate::domain::spec::{self, ContainerSpec, HostContext};
use crate::domain::suggest;
use crate::domain::text::strip;
use crate::engine::{Engine, EngineError, Ensured, Refreshed};
use crate::history::{self, RefreshRecord};

/// Config plus the projects and the engines it yields.
#[derive(Debug, Clone)]
pub struct Context {
    pub loaded: LoadedConfig,
    pub projects: Vec<Project>,
    /// The engines, the default first (see [`crate::domain::engines`]).
    pub engines: Vec<EngineTarget>,
    /// The engines in view (indexes into `engines`): all, or the one `--engine` names.
    pub shown: Vec<usize>,
}

impl Context {
    pub fn load(path: Option<PathBuf>) -> Result<Context, ConfigError> {
        let path = path.unwrap_or_else(config::default_config_path);
        let loaded = config::load(&path)?;
        let bad = |message: String| ConfigError { path: path.clone(), line: 1, column: 1, message };
        let engines = crate::engine::targets::resolve(&loaded.config).map_err(bad)?;
        let mut projects = project::discover(&loaded.config, &crate::paths::home_dir());
        for p in &mut projects {
            let Some(name) = &p.settings.engine else { continue };
            let t = engines::find(&engines, name).map_err(|e| bad(format!("project {}: {e}", p.name)))?;
            // a path on another machine cannot be looked at from here
            if !t.is_local() {
                p.exists = true;
            }
        }
        let shown = (0..engines.len()).collect();
        Ok(Context { loaded, projects, engines, shown })
    }

    /// Only the engine called `name` is in view (`--engine NAME`).
    pub fn select_engine(&mut self, name: &str) -> Result<(), String> {
        let t = engines::find(&self.engines, name)?;
        let i = self.engines.iter().position(|e| e.name == t.name).unwrap_or(0);
        self.shown = vec![i];
        Ok(())
    }

    /// The engines in view, with their indexes.
    pub fn shown_engines(&self) -> impl Iterator<Item = (usize, &EngineTarget)> {
        self.shown.iter().map(|&i| (i, &self.engines[i]))
    }

    /// The project's engine, when it is in view; else one line saying where it is.
    pub fn engine_in_view(&self, p: &Project) -> Result<&EngineTarget, String> {
        let i = self.engine_index(p);
        if self.shown.contains(&i) {
            return Ok(&self.engines[i]);
        }
        let shown: Vec<&str> = self.shown_engines().map(|(_, t)| t.name.as_str()).collect();
        Err(format!(
            "{} is on engine {}, not {} (a project moves to another engine by engine = \"NAME\" in its [[project]] entry)",
            p.name,
            self.engines[i].name,
            shown.join(", ")
        ))
    }

    /// The engine a project's containers live on: the one it is pinned to, else the default.
    pub fn engine_of(&self, p: &Project) -> &EngineTarget {
        p.settings.engine.as_deref().and_then(|n| engines::find(&self.engines, n).ok()).unwrap_or(&self.engines[0])
    }

    /// The index of that engine among [`Context::engines`].
    pub fn engine_index(&self, p: &Project) -> usize {
        let name = &self.engine_of(p).name;
        self.engines.iter().position(|t| &t.name == name).unwrap_or(0)
    }

    pub fn config(&self) -> &Config {
        &self.loaded.config
    }

    /// The project named `key` (id, name or path), else one rebuilt from the labels of a
    /// container made for it (an orphan: see [`project::orphan`]), else an error naming the
    /// closest projects. A container whose label names a configured project's id belongs to
    /// that project, never to an orphan found by its name label.
    pub fn resolve(&self, key: &str, containers: &[ContainerInfo]) -> Result<Project, String> {
        if let Some(p) = project::find(&self.projects, key) {
            return Ok(p.clone());
        }
        let configured = |c: &&ContainerInfo| self.projects.iter().any(|p| c.project_id.as_deref() == Some(p.id.as_str()));
        if let Some(p) = containers
            .iter()
            .filter(|c| !configured(c))
            .find(|c| c.project_id.as_deref() == Some(key) || c.project_name.as_deref() == Some(key))
            .and_then(|c| project::orphan(c, self.config()))
        {
            return Ok(p);
        }
        let names = self.projects.iter().map(|p| p.name.as_str());
        let close = suggest::closest(key, names, 3);
        Err(if close.is_empty() {
            format!("unknown project '{}' (no projects found; see `agentdock doctor`)", strip(key))
        } else {
            format!("unknown project '{}'; closest: {}", strip(key), close.join(", "))
        })
    }

    /// True when `p` is one of the configured projects (a `[[project]]` entry or a repository
    /// under a root); false for an orphan rebuilt from a container's labels.
    pub fn is_configured(&self, p: &Project) -> bool {
        self.projects.iter().any(|q| q.id == p.id && q.path == p.path)
    }

    /// Why `p` is an orphan, in the user's words.
    pub fn orphaned(&self, p: &Project) -> Orphaned {
        Orphaned::of(&p.id, &p.path, self.config(), &crate::paths::home_dir())
    }

    /// Refuses anything but stop and remove for an orphan: its labels are all agentdock knows
    /// of it, and labels are not trusted. One line.
    fn only_configured(&self, p: &Project, what: &str) -> Result<(), OpError> {
        if self.is_configured(p) {
            return Ok(());
        }
        let why = match self.orphaned(p) {
            w @ Orphaned::BadId => w.describe().to_string(),
            w if p.path.as_os_str().is_empty() => w.describe().to_string(),
            w => format!("{}: {}", w.describe(), strip(&p.path.to_string_lossy())),
        };
        Err(OpError::Refused(format!(
            "cannot {what} {}: not a configured project, its container is orphaned ({why}); agentdock only stops and removes it (`agentdock rm {}`)",
            strip(&p.name),
            strip(&p.id),
        )))
    }

    /// The container spec of `p`, after making its agent config dir ready on the host, with
    /// what the user should hear of that (see [`crate::agent_config::prepare`]). Only for a
    /// configured project.
    pub fn prepare_spec(&self, p: &Project) -> Result<(ContainerSpec, Vec<String>), OpError> {
        self.only_configured(p, "prepare")?;
        let engine = self.engine_of(p);
        if self.engine_index(p) != 0 && p.settings.network == crate::config::NetworkMode::Allowlist {
            return Err(OpError::Refused(format!(
                "{} is on engine {}: the egress proxy of the allowlist network mode runs on the default engine only; set network = \"open\" or \"none\" for this project",
                p.name, engine.name
            )));
        }
        if !engine.is_local() {
            return self.remote_spec(p, engine);
        }
        let agent_dir = agent_dir_checked(&p.id, true)?;
        let host = HostContext::gather(p, agent_dir.clone());
        let spec = spec::build(self.config(), p, &host).map_err(OpError::Refused)?;
        // the agent config belongs to the user the container runs as
        let mut warnings = crate::agent_config::prepare_with(&agent_dir, &crate::paths::home_dir(), &spec.user, spec.broker.is_some())?;
        warnings.extend(spec::write_warning(&spec.user, &p.path, &host));
        Ok((spec, warnings))
    }

    /// The spec of a project on another machine's engine: its path is that host's, its agent
    /// config a named volume there; nothing of this host goes in (see [`HostContext::remote`]).
    fn remote_spec(&self, p: &Project, engine: &EngineTarget) -> Result<(ContainerSpec, Vec<String>), OpError> {
        let host = HostContext::remote(p);
        let spec = spec::build(self.config(), p, &host).map_err(OpError::Refused)?;
        let mut warnings = vec![format!(
            "{} is on engine {}: its .git/config and hooks are not made read-only there (agentdock cannot look at that host's files)",
            p.name, engine.name
        )];
        let secrets: Vec<&str> = spec::SECRET_ENV.iter().copied().chain(p.settings.env_passthrough.iter().map(String::as_str)).filter(|n| std::env::var_os(n).is_some()).collect();
        if !secrets.is_empty() {
            warnings.push(format!(
                "{} is not passed to a container on engine {} (secrets are files on this host's tmpfs)",
                secrets.join(", "),
                engine.name
            ));
        }
        Ok((spec, warnings))
    }
}

/// The agent config dir of project `id` (`<data>/agents/<id>`), checked before agentdock
/// writes, chowns or deletes in it: `id` must be a valid id, and the dir, symlinks resolved,
/// must be exactly that path inside the data dir, so a link planted in its place (or in place
/// of `agents`) cannot lead the work out. `create` makes `<data>/agents` first; a dir that is
/// not there yet is given by the path it will have.
pub fn agent_dir_checked(id: &str, create: bool) -> Result<PathBuf, OpError> {
    let refused = |why: String| OpError::Refused(why);
    if !project::valid_id(id) {
        return Err(refused(format!("refusing to use '{}' in a path: not a project id agentdock makes (container labels are not trusted)", strip(id))));
    }
    let data = crate::paths::data_dir();
    let agents = data.join("agents");
    if create {
        std::fs::create_dir_all(&agents).map_err(|e| refused(format!("cannot create {}: {e}", agents.display())))?;
    }
    // each step must be a real directory (not a link), and where it resolves must be where it
    // is (the data dir itself may be a link: it is the user's)
    let canon = |p: &Path| std::fs::canonicalize(p).map_err(|e| refused(format!("cannot resolve {}: {e}", p.display())));
    let mut want = canon(&data)?;
    for (path, name) in [(&agents, "agents"), (&agents.join(id), id)] {
        want.push(name);
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(want),
            Err(e) => return Err(refused(format!("cannot read {}: {e}", path.display()))),
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refused(format!("refusing to use {}: it is a symbolic link, not a directory of agentdock's", path.display())))
            }
            Ok(_) => {}
        }
        let got = canon(path)?;
        if got != want {
            return Err(refused(format!("refusing to use {}: it leads to {}, outside {}", path.display(), got.display(), data.display())));
        }
    }
    Ok(want)
}

/// Why an operation failed, in the caller's terms.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Refused(String),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

/// Creates or starts the project's container.
pub async fn up(engine: &Engine, ctx: &Context, p: &Project) -> Result<Ensured, OpError> {
    ctx.only_configured(p, "start")?;
    if !p.exists {
        return Err(OpError::Refused(format!(
            "the directory of {} ({}) is gone; its container is orphaned",
            p.name,
            p.path.display()
        )));
    }
    // a refresh of this project may be under way (here or in another process)
    let _lock = crate::lock::try_lock(&p.id).map_err(|e| OpError::Refused(e.to_string()))?;
    let (spec, warnings) = ctx.prepare_spec(p)?;
    ensure_volumes(engine, &spec).await?;
    let ready = Duration::from_secs(p.settings.refresh.ready_timeout_secs);
    if let Some(done) = engine.repair(&spec, ready).await? {
        tracing::info!(project = %p.id, "{done}");
    }
    let done = engine.ensure(&spec).await.map_err(explained)?;
    // a proxy image older than this agentdock's files is said (it still serves)
    let stale = match spec.network.mode {
        crate::config::NetworkMode::Allowlist => engine.proxy_staleness(&spec.network.proxy).await,
        _ => Vec::new(),
    };
    Ok(Ensured { warnings: warnings.into_iter().chain(done.warnings.iter().cloned()).chain(stale).collect(), ..done })
}

/// Finishes what an interrupted refresh of the project left (see [`Engine::repair`]), under
/// its lock; None when there was nothing to do.
pub async fn repair(engine: &Engine, ctx: &Context, p: &Project) -> Result<Option<String>, OpError> {
    ctx.only_configured(p, "repair")?;
    let _lock = crate::lock::try_lock(&p.id).map_err(|e| OpError::Refused(e.to_string()))?;
    let (spec, _) = ctx.prepare_spec(p)?;
    Ok(engine.repair(&spec, Duration::from_secs(p.settings.refresh.ready_timeout_secs)).await?)
}

/// Safe refresh under the project's lock, recorded in the history.
pub async fn refresh(
    engine: &Engine,
    ctx: &Context,
    p: &Project,
    reason: &str,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Refreshed, OpError> {
    ctx.only_configured(p, "refresh")?;
    if !p.exists {
        return Err(OpError::Refused(format!("the directory of {} is gone; nothing to refresh into", p.name)));
    }
    let _lock = crate::lock::try_lock(&p.id).map_err(|e| OpError::Refused(e.to_string()))?;
    let (spec, warnings) = ctx.prepare_spec(p)?;
    ensure_volumes(engine, &spec).await?;
    let started = Instant::now();
    let at = now_unix();
    let policy = &p.settings.refresh;
    let result = engine
        .refresh(&spec, policy.stop_timeout_secs, Duration::from_secs(policy.ready_timeout_secs), progress)
        .await;
    let rec = RefreshRecord {
        at,
        project: p.id.clone(),
        container: spec.name.clone(),
        reason: reason.to_string(),
        result: match &result {
            Ok(_) => "ok".into(),
            Err(e) => format!("failed: {e}"),
        },
        old_id: result.as_ref().ok().and_then(|r| r.old_id.clone()),
        new_id: result.as_ref().ok().map(|r| r.new_id.clone()),
        seconds: started.elapsed().as_secs_f64(),
    };
    if let Err(e) = history::append(&rec) {
        tracing::warn!(error = %e, "cannot append to the refresh history");
    }
    Ok(Refreshed { warnings, ..result? })
}

/// An engine's refusal with what to do about it, where agentdock knows.
fn explained(e: EngineError) -> OpError {
    match e {
        // the engine's own open-files limit is below the container's (agentdock reads it on this
        // machine, not on another's)
        EngineError::Failed(m) if m.contains("rlimit type 7") => OpError::Refused(format!(
            "{}; the engine allows fewer open files than limits.nofile_soft / nofile_hard: lower them for this project",
            m.trim()
        )),
        other => OpError::Engine(other),
    }
}

/// The named volumes a spec mounts (the agent config on another machine's engine), made with
/// the spec's labels (so they are known as agentdock's).
async fn ensure_volumes(engine: &Engine, spec: &ContainerSpec) -> Result<(), OpError> {
    for m in spec.mounts.iter().filter(|m| !m.source.is_absolute()) {
        engine.ensure_volume(&m.source.to_string_lossy(), &spec.labels).await?;
    }
    Ok(())
}

/// Stops and removes every container of the project; `purge` also deletes its agent config
/// (on another machine's engine: its volume there).
/// The one operation open to an orphan (see [`project::orphan`]). An id that is not a valid
/// one names no file: no lock (such a project is never refreshed, there is nothing to keep
/// apart) and no purge.
pub async fn remove(engine: &Engine, p: &Project, purge: bool, stop_timeout: i64) -> Result<Vec<String>, OpError> {
    let valid = project::valid_id(&p.id);
    if purge && !valid {
        return Err(OpError::Refused(format!(
            "refusing to purge '{}': not a project id agentdock makes, so it names no agent config (container labels are not trusted); nothing removed; `agentdock rm` without --purge removes its containers",
            strip(&p.id)
        )));
    }
    // checked before anything is removed, and again before the delete
    if purge && engine.is_local() {
        agent_dir_checked(&p.id, false).map_err(|e| OpError::Refused(format!("{e}; nothing removed")))?;
    }
    let _lock = match valid {
        true => Some(crate::lock::try_lock(&p.id).map_err(|e| OpError::Refused(e.to_string()))?),
        false => None,
    };
    let containers = engine.project_containers(&p.id).await?;
    let mut removed = Vec::new();
    for c in containers {
        engine.stop_and_remove(&c.id, stop_timeout).await?;
        removed.push(c.name);
    }
    // their capabilities go with them
    if let Err(e) = crate::broker::store::revoke(&crate::broker::store::state_dir(), &removed) {
        tracing::warn!(project = %p.id, error = %e, "cannot revoke the removed containers' capabilities");
    }
    // its networks go too (the proxy is known by the data dir: no config needed); a network a
    // task still runs on stays
    let proxy = crate::domain::network::this_proxy(&Config::default());
    match engine.prune_networks(&p.id, None, &proxy).await {
        Ok(nets) => removed.extend(nets),
        Err(e) => tracing::warn!(project = %p.id, error = %e, "cannot remove the project's networks"),
    }
    if purge && !engine.is_local() {
        let volume = engines::agent_volume(&p.id);
        if engine.remove_volume(&volume).await? {
            removed.push(volume);
        }
    } else if purge {
        let dir = agent_dir_checked(&p.id, false)?;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| OpError::Other(anyhow::anyhow!("cannot purge {}: {e}", dir.display())))?;
        }
    }
    Ok(removed)
}

/// The egress proxy made ready again when any allowlist network needs it (the dashboard calls
/// this every health interval, so a proxy killed from outside comes back); None when no
/// network needs one.
pub async fn ensure_proxy(engine: &Engine, ctx: &Context) -> Result<Option<crate::engine::StateInfo>, OpError> {
    let proxy = crate::domain::network::this_proxy(ctx.config());
    let nets = engine.agent_networks(&proxy.name).await?;
    if !nets.iter().any(|n| n.mode.as_deref() == Some("allowlist")) {
        return Ok(None);
    }
    Ok(Some(engine.ensure_proxy(&proxy).await?))
}

/// This agentdock's broker, with the credential the config gives it; None when it gives none
/// (then agents keep their own login).
pub fn broker_link(ctx: &Context) -> Option<crate::domain::broker::BrokerLink> {
    let config = ctx.config();
    let home = crate::paths::home_dir();
    let env: std::collections::BTreeMap<String, String> =
        crate::domain::spec::MODEL_CREDENTIALS.iter().filter_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()).map(|v| (n.to_string(), v))).collect();
    let credential = crate::domain::broker::credential_source(config, &env, &home)?;
    let proxy = crate::domain::network::this_proxy(config);
    Some(crate::domain::broker::BrokerLink {
        broker: crate::domain::broker::broker_spec(config, &proxy, &crate::paths::data_dir(), &home),
        credential,
        task: None,
        task_budget_usd: 0.0,
        project_daily_budget_usd: 0.0,
    })
}

/// The broker made ready again when one is configured and an agent network exists for it
/// (the dashboard calls this every health interval, as for the proxy); None otherwise.
pub async fn ensure_broker(engine: &Engine, ctx: &Context) -> Result<Option<crate::engine::StateInfo>, OpError> {
    let Some(link) = broker_link(ctx) else { return Ok(None) };
    let nets = engine.agent_networks(&link.broker.proxy).await?;
    if nets.iter().all(|n| n.mode.is_none()) && engine.inspect_state(&link.broker.name).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(engine.ensure_broker(&link).await?))
}

/// One of agentdock's own services made anew, by its name.
pub async fn refresh_service(engine: &Engine, ctx: &Context, name: &str) -> Result<crate::engine::StateInfo, OpError> {
    let proxy = crate::domain::network::this_proxy(ctx.config());
    if name == proxy.name {
        return refresh_proxy(engine, ctx).await;
    }
    if name == crate::domain::broker::broker_name(&proxy.name) {
        let link = broker_link(ctx).ok_or_else(|| OpError::Refused("no broker is configured (broker.credential_file or broker.from_env)".into()))?;
        return Ok(engine.refresh_broker(&link).await?);
    }
    Err(OpError::Refused(format!("{} is not one of agentdock's services", crate::domain::text::strip(name))))
}

/// The egress proxy made anew (see [`Engine::refresh_proxy`]).
pub async fn refresh_proxy(engine: &Engine, ctx: &Context) -> Result<crate::engine::StateInfo, OpError> {
    Ok(engine.refresh_proxy(&crate::domain::network::this_proxy(ctx.config())).await?)
}
