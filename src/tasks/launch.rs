//! Starting queued tasks: [`drain`] picks what `tasks.max_parallel` leaves room for (FIFO) and
//! [`launch`] starts each: a pool container handed over when one fits (see [`super::pool`]),
//! else its workspace cloned while the engine creates its container.

use std::path::Path;

use tokio::task::JoinHandle;

use super::{joined, pool, project_of, queue, store, TaskRecord, RUN_MOUNT};
use crate::domain::container::{labels, now_unix};
use crate::domain::project::Project;
use crate::domain::spec::{self, EnvVar, HostContext, Mount, Secret};
use crate::domain::task::{TaskSpec, TaskState};
use crate::engine::Engine;
use crate::ops::{Context, OpError};

/// The agent's environment in every task container, unless the project passes its own value.
const TASK_AGENT_ENV: &[(&str, &str)] = &[("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")];

/// Starts what the queue lets start now, side by side (each on a task of its own): the handles
/// give the started (or failed) records. A task whose starter was killed is looked at first.
pub async fn drain(engine: &Engine, ctx: &Context, mut phases: Option<Phases>) -> Vec<(String, JoinHandle<TaskRecord>)> {
    let picked = match pick(engine, ctx).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the task queue");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (rec, lock) in picked {
        let (engine, ctx, ph) = (engine.clone(), ctx.clone(), phases.take());
        let id = rec.spec.id.clone();
        out.push((id, tokio::spawn(async move { launch(&engine, &ctx, rec, lock, ph).await })));
    }
    out
}

/// Under the queue lock: the tasks to start, each marked `starting` and its start lock taken.
async fn pick(engine: &Engine, ctx: &Context) -> std::io::Result<Vec<(TaskRecord, std::fs::File)>> {
    let held = queue::lock().await?;
    let mut all = store::load_all();
    for r in all.iter_mut().filter(|r| r.state == TaskState::Starting && !r.collected) {
        if let Some(lock) = queue::start_lock(&r.spec.id) {
            *r = orphaned_start(engine, r.clone()).await;
            drop(lock);
        }
    }
    let ids = crate::domain::fleet::to_start(&all, ctx.config().tasks.parallel());
    let mut picked = Vec::new();
    for id in ids {
        let Some(mut rec) = all.iter().find(|r| r.spec.id == id).cloned() else { continue };
        let Some(lock) = queue::start_lock(&id) else { continue };
        rec.state = TaskState::Starting;
        store::save(&rec)?;
        picked.push((rec, lock));
    }
    drop(held);
    Ok(picked)
}

/// A `starting` task whose starter is gone: started if its container ran (the runner takes it
/// from there), else back in its place in the queue (whatever was made for it removed).
async fn orphaned_start(engine: &Engine, mut rec: TaskRecord) -> TaskRecord {
    let id = rec.spec.id.clone();
    let word = store::read_untrusted(&store::run_dir(&id), "state", 64).map(|b| String::from_utf8_lossy(&b).trim().to_string());
    let claimed = !matches!(word.as_deref(), Some(pool::READY | pool::WARMING));
    match engine.inspect_state(&rec.spec.container).await {
        Ok(Some(st)) if st.state != crate::domain::container::ContainerState::Created && claimed => {
            tracing::info!(task = %id, "its starter was killed after the start: running");
            rec.state = TaskState::Running;
            rec.started_at.get_or_insert(now_unix());
        }
        Ok(found) => {
            if found.is_some() {
                let _ = engine.remove(&rec.spec.container, true).await;
            }
            tracing::info!(task = %id, "its starter was killed before the start: queued again");
            let dir = store::task_dir(&id);
            for sub in ["workspace", "run", "claude"] {
                let _ = std::fs::remove_dir_all(dir.join(sub));
            }
            rec.state = TaskState::Queued;
            rec.spec.container = format!("agentdock-task-{id}");
            rec.from_pool = false;
        }
        Err(e) => {
            tracing::warn!(task = %id, error = %e, "cannot look at an orphaned start");
            return rec;
        }
    }
    let _ = store::save(&rec);
    rec
}

/// Starts one picked task; a failure ends it `failed` with the reason (nothing of it runs).
pub async fn launch(engine: &Engine, ctx: &Context, rec: TaskRecord, lock: std::fs::File, phases: Option<Phases>) -> TaskRecord {
    let id = rec.spec.id.clone();
    let mut ph = phases.unwrap_or_else(Phases::new);
    let result = start(engine, ctx, rec.clone(), &mut ph).await;
    ph.log(&id, result.is_ok());
    let rec = match result {
        Ok(r) => r,
        Err(e) => {
            let mut r = store::load(&id).unwrap_or(rec);
            r.state = TaskState::Failed;
            r.reason = Some(format!("not started: {e}"));
            r.ended_at = Some(now_unix());
            r.collected = true;
            let _ = std::fs::remove_dir_all(store::task_dir(&id).join("workspace"));
            super::ended(&mut r);
            let _ = store::save(&r);
            r
        }
    };
    drop(lock);
    rec
}

async fn start(engine: &Engine, ctx: &Context, mut rec: TaskRecord, ph: &mut Phases) -> Result<TaskRecord, OpError> {
    let refused = OpError::Refused;
    let p = project_of(ctx, &rec.spec).map_err(refused)?;
    let id = rec.spec.id.clone();
    let dir = store::task_dir(&id);
    let env = crate::engine::secrets::stashed(&id);
    if let Some(done) = pool::claim(engine, ctx, &p, &mut rec, env.as_ref(), ph).await {
        return done;
    }
    let (run, workspace, claude) = (dir.join("run"), dir.join("workspace"), dir.join("claude"));
    for d in [&run, &workspace] {
        std::fs::create_dir_all(d).map_err(|e| refused(format!("cannot create {}: {e}", d.display())))?;
    }
    let host = task_host(&p, &claude, rec.spec.repo_url.is_some(), env);
    let user = spec::container_user(ctx.config(), &p, &host).map_err(refused)?;
    let cpus = {
        let e = engine.clone();
        tokio::spawn(async move { e.cpu_count().await })
    };
    let clone = {
        let (source, ws, base, branch, user) = (rec.spec.repo_dir.to_string_lossy().into_owned(), workspace.clone(), rec.spec.base_commit.clone(), rec.spec.branch.clone(), user.clone());
        tokio::task::spawn_blocking(move || {
            let r = super::git::clone_for_task(&source, &ws, &base, &branch)
                .map_err(|e| OpError::Refused(format!("cannot make the workspace: {e}")))
                .and_then(|()| chown_tree(&ws, &user));
            (r, std::time::Instant::now())
        })
    };
    let made = async {
        std::fs::copy(dir.join("prompt.txt"), run.join("prompt.txt")).map_err(|e| refused(format!("cannot copy the prompt: {e}")))?;
        chown_tree(&run, &user)?;
        crate::agent_config::prepare(&claude, &crate::paths::home_dir(), &user).map_err(OpError::Other)?;
        ph.mark("dirs");
        let cspec = container_spec(ctx, &p, &rec.spec, &host, &workspace, &run).map_err(refused)?;
        let ncpu = cpus.await.map_err(joined)?;
        let cid = engine.create_once(&cspec, ncpu).await?;
        ph.mark("create");
        Ok::<_, OpError>(cid)
    }
    .await;
    let cloned = match clone.await {
        Ok((r, end)) => {
            ph.mark_at("clone", end);
            r
        }
        Err(e) => Err(joined(e)),
    };
    let container = match (made, cloned) {
        (Ok(cid), Ok(())) => cid,
        (Ok(cid), Err(e)) => {
            let _ = engine.remove(&cid, true).await;
            return Err(e);
        }
        (Err(e), _) => return Err(e),
    };
    engine.start_once(&container).await?;
    ph.mark("start");
    rec.state = TaskState::Running;
    rec.started_at = Some(now_unix());
    if let Err(e) = store::save(&rec) {
        let _ = engine.remove(&container, true).await;
        return Err(refused(format!("cannot save the task: {e}")));
    }
    crate::engine::secrets::unstash(&id);
    ph.mark("saved");
    Ok(rec)
}

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
    let mut s = spec::build(ctx.config(), p, host)?;
    s.name = t.container.clone();
    s.one_shot = true;
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
