//! The operations the CLI and the dashboard share: config and projects in, engine calls out.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::{self, Config, ConfigError, LoadedConfig};
use crate::domain::container::{now_unix, ContainerInfo};
use crate::domain::project::{self, Project};
use crate::domain::spec::{self, ContainerSpec, HostContext};
use crate::domain::suggest;
use crate::engine::{Engine, EngineError, Ensured, Refreshed};
use crate::history::{self, RefreshRecord};

/// Config plus the projects it yields.
#[derive(Debug, Clone)]
pub struct Context {
    pub loaded: LoadedConfig,
    pub projects: Vec<Project>,
}

impl Context {
    pub fn load(path: Option<PathBuf>) -> Result<Context, ConfigError> {
        let path = path.unwrap_or_else(config::default_config_path);
        let loaded = config::load(&path)?;
        let projects = project::discover(&loaded.config, &crate::paths::home_dir());
        Ok(Context { loaded, projects })
    }

    pub fn config(&self) -> &Config {
        &self.loaded.config
    }

    /// The project named `key` (id, name or path), else one rebuilt from the labels of a
    /// container made for it (an orphan), else an error naming the closest projects.
    pub fn resolve(&self, key: &str, containers: &[ContainerInfo]) -> Result<Project, String> {
        if let Some(p) = project::find(&self.projects, key) {
            return Ok(p.clone());
        }
        if let Some(p) = containers
            .iter()
            .find(|c| c.project_id.as_deref() == Some(key) || c.project_name.as_deref() == Some(key))
            .and_then(|c| project::orphan(c, self.config()))
        {
            return Ok(p);
        }
        let names = self.projects.iter().map(|p| p.name.as_str());
        let close = suggest::closest(key, names, 3);
        Err(if close.is_empty() {
            format!("unknown project '{key}' (no projects found; see `agentdock doctor`)")
        } else {
            format!("unknown project '{key}'; closest: {}", close.join(", "))
        })
    }

    /// The container spec of `p`, after making its agent config dir ready on the host, with
    /// what the user should hear of that (see [`crate::agent_config::prepare`]).
    pub fn prepare_spec(&self, p: &Project) -> anyhow::Result<(ContainerSpec, Vec<String>)> {
        let agent_dir = crate::paths::agent_config_dir(&p.id);
        let warnings = crate::agent_config::prepare(&agent_dir, &crate::paths::home_dir(), &self.config().user)?;
        let host = HostContext::gather(p, agent_dir);
        Ok((spec::build(self.config(), p, &host).map_err(anyhow::Error::msg)?, warnings))
    }
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
    let ready = Duration::from_secs(p.settings.refresh.ready_timeout_secs);
    if let Some(done) = engine.repair(&spec, ready).await? {
        tracing::info!(project = %p.id, "{done}");
    }
    Ok(Ensured { warnings, ..engine.ensure(&spec).await? })
}

/// Safe refresh under the project's lock, recorded in the history.
pub async fn refresh(
    engine: &Engine,
    ctx: &Context,
    p: &Project,
    reason: &str,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Refreshed, OpError> {
    if !p.exists {
        return Err(OpError::Refused(format!("the directory of {} is gone; nothing to refresh into", p.name)));
    }
    let _lock = crate::lock::try_lock(&p.id).map_err(|e| OpError::Refused(e.to_string()))?;
    let (spec, warnings) = ctx.prepare_spec(p)?;
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

/// Stops and removes every container of the project; `purge` also deletes its agent config.
pub async fn remove(engine: &Engine, p: &Project, purge: bool, stop_timeout: i64) -> Result<Vec<String>, OpError> {
    let _lock = crate::lock::try_lock(&p.id).map_err(|e| OpError::Refused(e.to_string()))?;
    let containers = engine.project_containers(&p.id).await?;
    let mut removed = Vec::new();
    for c in containers {
        engine.stop_and_remove(&c.id, stop_timeout).await?;
        removed.push(c.name);
    }
    if purge {
        let dir = crate::paths::agent_config_dir(&p.id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| OpError::Other(anyhow::anyhow!("cannot purge {}: {e}", dir.display())))?;
        }
    }
    Ok(removed)
}
