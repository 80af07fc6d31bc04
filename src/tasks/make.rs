//! How a task's container is made: its spec (the project's, with the workspace, the run dir
//! and the agent config mounted), the runner's environment, and when each step of its start
//! ended. Shared by a cold start (launch.rs) and the pool's containers started ahead (pool.rs).

use std::path::Path;

use super::RUN_MOUNT;
use crate::domain::container::labels;
use crate::domain::project::Project;
use crate::domain::spec::{self, EnvVar, HostContext, Mount, Secret};
use crate::domain::task::TaskSpec;
use crate::ops::{Context, OpError};

/// The agent's environment in every task container, unless the project passes its own value.
const TASK_AGENT_ENV: &[(&str, &str)] = &[("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")];

/// When each step of a task's start ended, in ms since `task run` began (or its start, when the
/// runner starts it): one debug line per task (`AGENTDOCK_LOG=agentdock::tasks=debug`), which
/// bench/tasks.sh reads.
pub struct Phases {
    t0: std::time::Instant,
    t0_unix: f64,
    marks: Vec<(&'static str, std::time::Duration)>,
}

impl Phases {
    pub fn new() -> Phases {
        let t0_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Phases { t0: std::time::Instant::now(), t0_unix, marks: Vec::new() }
    }

    pub fn mark(&mut self, name: &'static str) {
        self.mark_at(name, std::time::Instant::now());
    }

    pub fn mark_at(&mut self, name: &'static str, at: std::time::Instant) {
        self.marks.push((name, at.saturating_duration_since(self.t0)));
    }

    pub fn log(&self, id: &str, ok: bool) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let marks: Vec<String> = self.marks.iter().map(|(n, d)| format!("{n}={:.1}", d.as_secs_f64() * 1000.0)).collect();
        tracing::debug!(task = %id, ok, "start phases (ms since {:.6}): {}", self.t0_unix, marks.join(" "));
    }
}

impl Default for Phases {
    fn default() -> Self {
        Phases::new()
    }
}

/// A task's container: the project's spec, with the workspace and run dir given mounted, the
/// agent config beside them, the runner's settings in its environment, and no restart.
pub fn container_spec(ctx: &Context, p: &Project, t: &TaskSpec, host: &HostContext, workspace: &Path, run: &Path) -> Result<spec::ContainerSpec, String> {
    // a task may say its own network mode, as it says its own model
    let mut p = p.clone();
    if let Some(m) = t.network {
        p.settings.network = m;
    }
    let mut s = spec::build(ctx.config(), &p, host)?;
    s.name = t.container.clone();
    s.one_shot = true;
    // a network of its own: no other task's container, nor its project's, is reachable
    s.network = crate::domain::network::task_network(&s.network, &t.container, &t.id);
    // its capability names the task and carries its budget
    if let Some(link) = s.broker.as_mut() {
        link.task = Some(t.id.clone());
        link.task_budget_usd = t.budget_usd;
    }
    // the project's own .git config and hooks are not the clone's
    s.mounts.retain(|m| !m.target.starts_with("/workspace/"));
    for m in s.mounts.iter_mut().filter(|m| m.target == "/workspace") {
        m.source = workspace.to_path_buf();
    }
    s.mounts.push(Mount { source: run.to_path_buf(), target: RUN_MOUNT.into(), read_only: false });
    s.labels.insert(labels::ROLE.into(), "task".into());
    s.labels.insert(labels::TASK.into(), t.id.clone());
    s.labels.insert(labels::PROJECT_PATH.into(), t.repo_dir.to_string_lossy().into_owned());
    s.env.extend(task_env(t).into_iter().map(|(name, value)| shown(name, value)));
    agent_env(&mut s);
    Ok(s)
}

pub(super) fn shown(name: &str, value: String) -> EnvVar {
    EnvVar { name: name.into(), value: Secret::new(value), shown: true }
}

/// What the runner in the container is told of the task (its environment; a pool container gets
/// it in its claim instead).
pub(super) fn task_env(t: &TaskSpec) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("TASK_FILE", format!("{RUN_MOUNT}/prompt.txt")),
        ("TASK_DIR", RUN_MOUNT.into()),
        ("SESSION_ID", t.id.clone()),
        ("TASK_BRANCH", t.branch.clone()),
        ("BRANCH", t.base_ref.clone()),
        ("BUNDLE_BASE", t.base_commit.clone()),
        ("TIMEOUT", t.timeout_secs.to_string()),
        ("MAX_OUTPUT_SIZE", t.max_output.to_string()),
        ("PERMISSION_MODE", t.permission_mode.clone()),
    ];
    if let Some(m) = &t.model {
        v.push(("MODEL", m.clone()));
    }
    if t.depth > 0 {
        v.push(("AGENTDOCK_DEPTH", t.depth.to_string()));
    }
    v
}

/// A headless run in a throwaway container: no telemetry, error reports, update checks or
/// preflight, which cost the CLI a good part of its start (a project may say otherwise by
/// passing the variable through).
pub(super) fn agent_env(s: &mut spec::ContainerSpec) {
    for (name, value) in TASK_AGENT_ENV {
        if !s.env.iter().any(|e| e.name == *name) {
            s.env.push(shown(name, value.to_string()));
        }
    }
}

/// The host facts for a task's container. A `--repo` task's repository is agentdock's own
/// clone (owned by whoever runs agentdock): its agent runs as the image's user. The secrets are
/// those the task was queued with, when they were kept.
pub(super) fn task_host(p: &Project, claude: &Path, repo: bool, env: Option<std::collections::BTreeMap<String, String>>) -> HostContext {
    let mut host = HostContext::gather(p, claude.to_path_buf());
    if repo {
        host.project_owner = None;
    }
    if let Some(env) = env {
        host.env = env;
    }
    host
}

/// What the container writes lands owned by its user (`config.user`), when agentdock runs as
/// root.
pub(super) fn chown_tree(dir: &Path, user: &str) -> Result<(), OpError> {
    let Some((uid, gid)) = spec::uid_gid(user) else { return Ok(()) };
    crate::agent_config::chown_tree(dir, uid, gid).map_err(OpError::Other)
}
