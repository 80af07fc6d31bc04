//! Tasks on the host: prepare a task's workspace and container, follow it, cancel it, and
//! collect its result (state, summary, the branch fetched from its bundle). The container runs
//! on its own (`agentdock-task` in the image) and writes everything to its mounted run dir, so a
//! task outlives the agentdock that started it; whoever looks next collects it.

pub mod api;
pub mod git;
pub mod launch;
mod make;
pub mod pool;
pub mod queue;
pub mod runner;
pub mod store;
pub mod webhook;

use std::path::{Path, PathBuf};

use crate::domain::container::now_unix;
use crate::domain::project::{self, Project};
use crate::domain::spec::HostContext;
use crate::domain::task::{branch_of, TaskState};
use crate::engine::Engine;
use crate::ops::{Context, OpError};
pub use launch::{drain, Phases};
use store::{TaskRecord, TaskSpec};

/// Where the run dir is mounted in the container.
pub const RUN_MOUNT: &str = "/agentdock/task";

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    pub project: Option<String>,
    pub repo_url: Option<String>,
    pub prompt: String,
    pub base: Option<String>,
    pub timeout_secs: u64,
    pub max_output: u64,
    pub model: Option<String>,
    pub permission_mode: String,
    /// How many tasks of this one prompt (`--attempts`), grouped; at least 1.
    pub attempts: u32,
    /// Dollars each may spend through the broker (0: no budget).
    pub budget_usd: f64,
    /// Their network mode (None: the project's).
    pub network: Option<crate::domain::settings::NetworkMode>,
    /// The MCP client starting it (kept in its record, shown with it).
    pub client: Option<String>,
    /// How deep its agent runs under `agentdock mcp` servers (0: started by a person); its
    /// container gets it as `AGENTDOCK_DEPTH`.
    pub depth: u32,
}

impl TaskRequest {
    /// A request with the config's defaults (`[tasks]`).
    pub fn new(ctx: &Context, project: Option<String>, prompt: String) -> TaskRequest {
        let t = &ctx.config().tasks;
        TaskRequest {
            project,
            repo_url: None,
            prompt,
            base: None,
            timeout_secs: t.timeout_secs.max(1),
            max_output: t.max_output_bytes.max(1024),
            model: Some(t.model.clone()).filter(|m| !m.is_empty()),
            permission_mode: t.permission_mode.clone(),
            attempts: 1,
            budget_usd: t.budget_usd.max(0.0),
            network: None,
            client: None,
            depth: 0,
        }
    }
}

/// The library's way to run tasks (the CLI, the dashboard and the MCP server use it): queues
/// the request's tasks, starts what `tasks.max_parallel` lets start now (the first one's start
/// timed in `phases`), and makes sure the runner is there for the rest, for collecting them
/// and for their callbacks. The records as they stand (queued, running, or failed to start).
pub async fn run(engine: &Engine, ctx: &Context, req: TaskRequest, seen: &[crate::domain::container::ContainerInfo]) -> Result<Vec<TaskRecord>, OpError> {
    let mut phases = Phases::new();
    let queued = submit(engine, ctx, req, seen, &mut phases).await?;
    let mut started = std::collections::HashMap::new();
    for (id, h) in drain(engine, ctx, Some(phases)).await {
        if let Ok(r) = h.await {
            started.insert(id, r);
        }
    }
    queue::ensure_runner(Some(&ctx.loaded.path));
    Ok(queued.into_iter().map(|r| started.remove(&r.spec.id).unwrap_or(r)).collect())
}

/// Checks a request (project, base commit, image) and queues its tasks: each gets its
/// directory with the prompt and, kept on the tmpfs, the secrets of this environment. A refused
/// request leaves nothing behind.
pub async fn submit(
    engine: &Engine,
    ctx: &Context,
    req: TaskRequest,
    seen: &[crate::domain::container::ContainerInfo],
    ph: &mut Phases,
) -> Result<Vec<TaskRecord>, OpError> {
    let refused = |m: String| OpError::Refused(m);
    let base_ref = req.base.clone().unwrap_or_else(|| "HEAD".into());
    // the project (or a stand-in for --repo) and the repository the branch goes to
    let (p, repo_dir) = match (&req.project, &req.repo_url) {
        (_, Some(url)) => {
            let p = repo_project(ctx, url);
            std::fs::create_dir_all(p.path.parent().unwrap()).map_err(|e| refused(e.to_string()))?;
            let (u, m) = (url.clone(), p.path.clone());
            blocking(move || git::mirror(&u, &m)).await?.map_err(|e| refused(format!("cannot clone {url}: {e}")))?;
            let dir = p.path.clone();
            (p, dir)
        }
        (Some(key), None) => {
            let p = ctx.resolve(key, seen).map_err(refused)?;
            if ctx.engine_index(&p) != 0 {
                return Err(refused(format!("{} is on engine {}: tasks run on the default engine only", p.name, ctx.engine_of(&p).name)));
            }
            if !p.exists {
                return Err(refused(format!("the directory of {} ({}) is gone", p.name, p.path.display())));
            }
            let dir = p.path.clone();
            (p, dir)
        }
        (None, None) => return Err(refused("name a project, or a repository with --repo URL".into())),
    };
    ph.mark("project");
    let image_check = {
        let (e, image) = (engine.clone(), p.settings.image.clone());
        tokio::spawn(async move { e.require_image(&image).await })
    };
    let (repo, rev) = (repo_dir.clone(), base_ref.clone());
    let base_commit = match blocking(move || git::resolve(&repo, &rev)).await.and_then(|r| r.map_err(refused)) {
        Ok(c) => c,
        Err(e) => {
            image_check.abort();
            return Err(e);
        }
    };
    ph.mark("resolve");
    image_check.await.map_err(joined)??;
    ph.mark("image");
    let env = HostContext::gather(&p, PathBuf::new()).env;
    let n = req.attempts.max(1);
    let held = queue::lock().await.map_err(|e| refused(format!("cannot queue the task: {e}")))?;
    let mut made: Vec<TaskRecord> = Vec::new();
    let mut group = None;
    for i in 0..n {
        let id = store::new_id();
        let spec = TaskSpec {
            id: id.clone(),
            project_id: p.id.clone(),
            project_name: p.name.clone(),
            repo_dir: repo_dir.clone(),
            repo_url: req.repo_url.clone(),
            base_ref: base_ref.clone(),
            base_commit: base_commit.clone(),
            branch: branch_of(&id),
            timeout_secs: req.timeout_secs,
            max_output: req.max_output,
            model: req.model.clone(),
            permission_mode: req.permission_mode.clone(),
            image: p.settings.image.clone(),
            container: format!("agentdock-task-{id}"),
            created_at: now_unix(),
            group: (n > 1).then(|| group.get_or_insert_with(|| id.clone()).clone()),
            attempt: (n > 1).then_some(i + 1),
            callback: !ctx.config().tasks.webhook_url.trim().is_empty(),
            budget_usd: req.budget_usd,
            network: req.network,
            client: req.client.clone(),
            depth: req.depth,
        };
        let saved = queue_one(&held, spec, &req.prompt, &env);
        match saved {
            Ok(rec) => made.push(rec),
            Err(e) => {
                for r in made.iter().map(|r| r.spec.id.clone()).chain([id]) {
                    crate::engine::secrets::unstash(&r);
                    let _ = std::fs::remove_dir_all(store::task_dir(&r));
                }
                return Err(refused(format!("cannot queue the task: {e}")));
            }
        }
    }
    drop(held);
    ph.mark("queued");
    Ok(made)
}

fn queue_one(held: &queue::Held, spec: TaskSpec, prompt: &str, env: &std::collections::BTreeMap<String, String>) -> std::io::Result<TaskRecord> {
    let dir = store::task_dir(&spec.id);
    crate::paths::private_dir(&store::tasks_dir())?;
    std::fs::create_dir(&dir)?;
    std::fs::write(dir.join("prompt.txt"), prompt)?;
    crate::engine::secrets::stash(&spec.id, env)?;
    store::mark_open(&spec.id)?;
    let rec = TaskRecord { spec, state: TaskState::Queued, seq: held.next_seq()?, queued_at: Some(now_unix()), ..Default::default() };
    store::save(&rec)?;
    Ok(rec)
}

/// The stand-in project of a `--repo` task: agentdock's clone of it under `<data>/repos/`.
fn repo_project(ctx: &Context, url: &str) -> Project {
    let name = url.trim_end_matches('/').trim_end_matches(".git").rsplit(['/', ':']).next().unwrap_or("repo");
    let pid = format!("repo-{}", project::slug(name));
    let mirror = crate::paths::data_dir().join("repos").join(format!("{pid}.git"));
    Project { id: pid, name: name.to_string(), path: mirror, exists: true, settings: project::settings_for(ctx.config(), None) }
}

/// The project a queued task runs on, as configured now.
pub fn project_of(ctx: &Context, t: &TaskSpec) -> Result<Project, String> {
    if let Some(url) = &t.repo_url {
        return Ok(repo_project(ctx, url));
    }
    // the projects as they are now: one may have come since this process looked
    let found = ctx.projects.iter().find(|p| p.id == t.project_id).cloned().or_else(|| {
        project::discover(ctx.config(), &crate::paths::home_dir()).into_iter().find(|p| p.id == t.project_id)
    });
    match found {
        Some(p) if p.exists => Ok(p),
        Some(p) => Err(format!("the directory of {} ({}) is gone", p.name, p.path.display())),
        None => Err(format!("project {} is no longer configured", t.project_name)),
    }
}

/// Runs blocking work (git, file copies) on the blocking pool, so the runtime goes on with the
/// engine calls meanwhile (and the dashboard stays responsive).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, OpError> {
    tokio::task::spawn_blocking(f).await.map_err(joined)
}

/// A step run on its own (a spawned task) that did not end (it panicked).
fn joined(e: tokio::task::JoinError) -> OpError {
    OpError::Other(anyhow::anyhow!("a task step failed: {e}"))
}

/// What every end of a task does, however it ended: its kept secrets go, and its callback is
/// due when one was asked for.
pub fn ended(rec: &mut TaskRecord) {
    crate::engine::secrets::unstash(&rec.spec.id);
    if rec.spec.callback && rec.webhook.is_none() {
        rec.webhook = Some(crate::domain::task::Webhook { state: "pending".into(), ..Default::default() });
    }
}

/// Brings a record up to date: a task whose container is gone is over; its result is read and
/// its branch fetched (once). `running` says whether its container still runs (None: the
/// engine was not asked).
pub fn reconcile(mut rec: TaskRecord, running: Option<bool>) -> TaskRecord {
    // a queued task has no container yet, a starting one is its starter's (see `queue`)
    if rec.collected || matches!(rec.state, TaskState::Queued | TaskState::Starting) {
        return rec;
    }
    let id = rec.spec.id.clone();
    rec.summary = store::summary_of(&id, rec.spec.max_output);
    let run = store::run_dir(&id);
    let word = store::read_untrusted(&run, "state", 64).map(|b| String::from_utf8_lossy(&b).into_owned());
    let said = word.as_deref().and_then(TaskState::from_runner);
    match (running, said) {
        (Some(true), _) | (None, None | Some(TaskState::Running)) => return rec,
        (_, Some(s)) if s.is_final() => {
            rec.state = s;
            rec.reason = result_reason(&run);
            // the agent failed because the broker refused it: a budget stopped it
            if s == TaskState::Failed {
                if let Some(why) = crate::broker::store::budget_stop(&crate::broker::store::state_dir(), &id) {
                    rec.state = TaskState::BudgetExceeded;
                    rec.reason = Some(why);
                }
            }
        }
        _ => {
            rec.state = TaskState::Failed;
            rec.reason = Some("the task's container ended without a result (killed?)".into());
        }
    }
    // one collector at a time (the CLI following it, the runner, the dashboard, a `task ls`
    // elsewhere): the others wait for it (a fetch of the bundle) and take what it saved
    let lock = std::fs::File::create(store::task_dir(&id).join(".collect.lock")).ok();
    if let Some(l) = &lock {
        let _ = l.lock();
    }
    match store::load(&id) {
        Some(done) if done.collected => return done,
        // what others noted meanwhile (the runner's stop) is not in a copy held since before
        Some(disk) => rec.stopped = disk.stopped.or(rec.stopped.take()),
        None => {}
    }
    // agentdock stopped it for its silence: that, not the signal, is how it ended
    if let (Some(why), TaskState::Cancelled) = (&rec.stopped, rec.state) {
        rec.state = TaskState::TimedOut;
        rec.reason = Some(why.clone());
    }
    collect(&mut rec);
    drop(lock);
    rec
}

fn result_reason(run: &Path) -> Option<String> {
    let bytes = store::read_untrusted(run, "result.json", 256 * 1024)?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("reason").and_then(|r| r.as_str()).filter(|r| !r.is_empty()).map(|r| crate::domain::task::cut(&crate::domain::text::strip(r), 500))
}

/// The end of a task: its branch fetched from the bundle the runner wrote, the diff stat
/// against the base, the record saved.
fn collect(rec: &mut TaskRecord) {
    let id = rec.spec.id.clone();
    // its container is gone: so are its secrets
    crate::engine::secrets::remove(&rec.spec.container);
    let dir = store::task_dir(&id);
    let copy = dir.join("result.bundle");
    rec.ended_at.get_or_insert(now_unix());
    // a bundle as big as the whole output allowance is plenty for a task's commits
    let cap = 1 << 30;
    if store::copy_untrusted(&store::run_dir(&id), "result.bundle", cap, &copy).is_some() {
        if let Err(e) = git::fetch_bundle(&rec.spec.repo_dir, &copy, &rec.spec.branch) {
            let note = format!("the task's commits could not be fetched: {e}");
            rec.reason = Some(rec.reason.take().map(|r| format!("{r}; {note}")).unwrap_or(note));
        }
    }
    rec.head = git::head_of(&rec.spec.repo_dir, &rec.spec.branch);
    if let Some(head) = &rec.head {
        rec.diffstat = git::diffstat(&rec.spec.repo_dir, &rec.spec.base_commit, head).ok();
    }
    rec.collected = true;
    ended(rec);
    if let Err(e) = store::save(rec) {
        tracing::warn!(task = %id, error = %e, "cannot save the task record");
    }
}

/// Every task, brought up to date with the engine (when it answers).
pub async fn refreshed_all(engine: Option<&Engine>) -> Vec<TaskRecord> {
    let mut out = Vec::new();
    for rec in store::load_all() {
        out.push(refreshed(engine, rec).await);
    }
    out
}

pub async fn refreshed(engine: Option<&Engine>, rec: TaskRecord) -> TaskRecord {
    if rec.collected {
        return rec;
    }
    let running = match engine {
        Some(e) => match e.inspect_state(&rec.spec.container).await {
            Ok(Some(st)) => Some(st.state == crate::domain::container::ContainerState::Running),
            Ok(None) => Some(false),
            Err(_) => None,
        },
        None => None,
    };
    let before = rec.clone();
    let rec = reconcile(rec, running);
    if !rec.collected && rec != before {
        let _ = store::save(&rec);
    }
    if let (true, Some(e)) = (rec.collected, engine) {
        release(e, &rec).await;
    }
    rec
}

/// What a collected task held goes: its container's own network (once the container is gone)
/// and its capability. Safe to call again; failures are logged (the next look tries again).
pub async fn release(engine: &Engine, rec: &TaskRecord) {
    release_container(engine, &rec.spec.container).await;
}

/// The network and capability of a task's (or pool) container that is gone.
pub async fn release_container(engine: &Engine, container: &str) {
    let proxy = crate::domain::network::this_proxy(&crate::config::Config::default());
    if let Err(e) = engine.remove_task_network(container, &proxy).await {
        tracing::warn!(container, error = %e, "cannot remove the task's network");
    }
    if let Err(e) = crate::broker::store::revoke(&crate::broker::store::state_dir(), &[container.to_string()]) {
        tracing::warn!(container, error = %e, "cannot revoke the task's capability");
    }
}

/// Cancels a task. A queued one leaves the queue at once; a starting one is waited for (its
/// starter is making its container); a running one's runner is told (SIGTERM), stops the agent,
/// commits what it made and writes its result; told again with SIGKILL if it has not ended in
/// 10 s.
pub async fn cancel(engine: &Engine, rec: &TaskRecord) -> Result<TaskRecord, OpError> {
    let id = rec.spec.id.clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let rec = loop {
        let held = queue::lock().await.map_err(|e| OpError::Other(e.into()))?;
        let now = store::load(&id).unwrap_or_else(|| rec.clone());
        match now.state {
            TaskState::Queued if !now.collected => {
                let mut r = now;
                r.state = TaskState::Cancelled;
                r.reason = Some("cancelled while queued".into());
                r.ended_at = Some(now_unix());
                r.collected = true;
                ended(&mut r);
                store::save(&r).map_err(|e| OpError::Other(e.into()))?;
                return Ok(r);
            }
            TaskState::Starting if std::time::Instant::now() < deadline => {
                drop(held);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            _ => break now,
        }
    };
    if rec.collected {
        return Ok(rec);
    }
    let name = rec.spec.container.clone();
    // a signal sent while the runner is still starting can be lost: say it again until it ends
    for _ in 0..5 {
        engine.kill(&name, "TERM").await?;
        let waited = tokio::time::timeout(std::time::Duration::from_secs(2), engine.wait_exit(&name)).await;
        if matches!(waited, Ok(Ok(_))) {
            break;
        }
    }
    if engine.inspect_state(&name).await?.is_some() {
        engine.kill(&name, "KILL").await?;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), engine.wait_exit(&name)).await;
    }
    let fresh = store::load(&id).unwrap_or(rec);
    let done = reconcile(fresh, Some(false));
    if done.collected {
        release(engine, &done).await;
    }
    Ok(done)
}
