//! Tasks on the host: prepare a task's workspace and container, follow it, cancel it, and
//! collect its result (state, summary, the branch fetched from its bundle). The container runs
//! on its own (`agentdock-task` in the image) and writes everything to its mounted run dir, so a
//! task outlives the agentdock that started it; whoever looks next collects it.

pub mod api;
pub mod git;
pub mod store;

use std::path::{Path, PathBuf};

use crate::domain::container::{labels, now_unix};
use crate::domain::project::{self, Project};
use crate::domain::spec::{self, EnvVar, HostContext, Mount, Secret};
use crate::domain::task::{branch_of, TaskState};
use crate::engine::Engine;
use crate::ops::{Context, OpError};
use store::{TaskRecord, TaskSpec};

/// Where the run dir is mounted in the container.
pub const RUN_MOUNT: &str = "/agentdock/task";

/// The agent's environment in every task container, unless the project passes its own value.
const TASK_AGENT_ENV: &[(&str, &str)] = &[("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")];

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
    /// The MCP client starting it (kept in its record, shown with it).
    pub client: Option<String>,
    /// How many agentdock MCP servers deep it is started (0: by a person); its container
    /// gets `AGENTDOCK_DEPTH` one more, so an `agentdock mcp` inside it knows.
    pub depth: u32,
}

/// Makes the task's directory, workspace and container, and starts it. Anything made is
/// removed again when a step fails, so a refused task leaves nothing behind.
pub async fn start(engine: &Engine, ctx: &Context, req: TaskRequest, projects_seen: &[crate::domain::container::ContainerInfo]) -> Result<TaskRecord, OpError> {
    let id = store::new_id();
    let dir = store::task_dir(&id);
    let mut phases = Phases::new();
    let result = prepare(engine, ctx, &req, &id, projects_seen, &mut phases).await;
    phases.log(&id, result.is_ok());
    match result {
        Ok(rec) => Ok(rec),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

async fn prepare(
    engine: &Engine,
    ctx: &Context,
    req: &TaskRequest,
    id: &str,
    seen: &[crate::domain::container::ContainerInfo],
    ph: &mut Phases,
) -> Result<TaskRecord, OpError> {
    let refused = |m: String| OpError::Refused(m);
    let branch = branch_of(id);
    let base_ref = req.base.clone().unwrap_or_else(|| "HEAD".into());
    // the project (or a stand-in for --repo) and the repository the branch goes to
    let (p, repo_dir, source): (Project, PathBuf, String) = match (&req.project, &req.repo_url) {
        (_, Some(url)) => {
            let name = url.trim_end_matches('/').trim_end_matches(".git").rsplit(['/', ':']).next().unwrap_or("repo");
            let pid = format!("repo-{}", project::slug(name));
            let mirror = crate::paths::data_dir().join("repos").join(format!("{pid}.git"));
            std::fs::create_dir_all(mirror.parent().unwrap()).map_err(|e| refused(e.to_string()))?;
            let (u, m) = (url.clone(), mirror.clone());
            blocking(move || git::mirror(&u, &m)).await?.map_err(|e| refused(format!("cannot clone {url}: {e}")))?;
            let p = Project {
                id: pid,
                name: name.to_string(),
                path: mirror.clone(),
                exists: true,
                settings: project::settings_for(ctx.config(), None),
            };
            let src = mirror.to_string_lossy().into_owned();
            (p, mirror, src)
        }
        (Some(key), None) => {
            let p = ctx.resolve(key, seen).map_err(refused)?;
            if !p.exists {
                return Err(refused(format!("the directory of {} ({}) is gone", p.name, p.path.display())));
            }
            let src = p.path.to_string_lossy().into_owned();
            (p.clone(), p.path.clone(), src)
        }
        (None, None) => return Err(refused("name a project, or a repository with --repo URL".into())),
    };
    ph.mark("project");
    // asked now, answered while the host works: whether the image is there, and the engine's
    // CPU count (the container's CPU limit is capped to it)
    let image_check = {
        let (e, image) = (engine.clone(), p.settings.image.clone());
        tokio::spawn(async move { e.require_image(&image).await })
    };
    let cpus = {
        let e = engine.clone();
        tokio::spawn(async move { e.cpu_count().await })
    };
    let (repo, rev) = (repo_dir.clone(), base_ref.clone());
    let base_commit = match blocking(move || git::resolve(&repo, &rev)).await.and_then(|r| r.map_err(refused)) {
        Ok(c) => c,
        Err(e) => {
            image_check.abort();
            cpus.abort();
            return Err(e);
        }
    };
    ph.mark("resolve");

    // From here on the workspace is cloned (off the runtime thread) while the rest is made and
    // the engine creates the container; it starts once both are done. Whatever fails, the task
    // dir goes again ([`start`]), and so does a container made for it.
    let dir = store::task_dir(id);
    let (run, workspace, claude) = (dir.join("run"), dir.join("workspace"), dir.join("claude"));
    for d in [&dir, &run, &workspace] {
        if let Err(e) = std::fs::create_dir_all(d) {
            image_check.abort();
            cpus.abort();
            return Err(refused(format!("cannot create {}: {e}", d.display())));
        }
    }
    // the user the task's container runs as (the project directory's owner, with "auto")
    let user = spec::container_user(ctx.config(), &p, &task_host(&p, &claude, req.repo_url.is_some())).map_err(refused)?;
    let clone = {
        let (source, ws, base, branch, user) = (source, workspace.clone(), base_commit.clone(), branch.clone(), user.clone());
        tokio::task::spawn_blocking(move || {
            let r = git::clone_for_task(&source, &ws, &base, &branch)
                .map_err(|e| OpError::Refused(format!("cannot make the workspace: {e}")))
                .and_then(|()| chown_tree(&ws, &user));
            (r, std::time::Instant::now())
        })
    };
    let made = async {
        image_check.await.map_err(joined)??;
        // what the container's mounts need besides the workspace: the run dir with the prompt,
        // and the agent config
        std::fs::write(run.join("prompt.txt"), &req.prompt).map_err(|e| refused(e.to_string()))?;
        chown_tree(&run, &user)?;
        crate::agent_config::prepare(&claude, &crate::paths::home_dir(), &user).map_err(OpError::Other)?;
        ph.mark("dirs");
        let spec = TaskSpec {
            id: id.to_string(),
            project_id: p.id.clone(),
            project_name: p.name.clone(),
            repo_dir: repo_dir.clone(),
            repo_url: req.repo_url.clone(),
            base_ref,
            base_commit,
            branch,
            timeout_secs: req.timeout_secs,
            max_output: req.max_output,
            model: req.model.clone(),
            permission_mode: req.permission_mode.clone(),
            image: p.settings.image.clone(),
            container: format!("agentdock-task-{id}"),
            created_at: now_unix(),
            client: req.client.clone(),
        };
        let mut cspec = container_spec(ctx, &p, &spec, &workspace, &run, &claude).map_err(refused)?;
        if req.depth > 0 {
            cspec.env.push(EnvVar { name: "AGENTDOCK_DEPTH".into(), value: Secret::new(req.depth.to_string()), shown: true });
        }
        let ncpu = cpus.await.map_err(joined)?;
        let cid = engine.create_once(&cspec, ncpu).await?;
        ph.mark("create");
        Ok::<_, OpError>((spec, cid))
    }
    .await;
    let cloned = match clone.await {
        Ok((r, end)) => {
            ph.mark_at("clone", end);
            r
        }
        Err(e) => Err(joined(e)),
    };
    let (spec, container) = match (made, cloned) {
        (Ok(made), Ok(())) => made,
        (Ok((_, cid)), Err(e)) => {
            let _ = engine.remove(&cid, true).await;
            return Err(e);
        }
        (Err(e), _) => return Err(e),
    };
    engine.start_once(&container).await?;
    ph.mark("start");
    // the record is written once the container runs: a look at the tasks before that (the
    // dashboard's refresh) cannot take a container that is still being made for one that ended
    let rec = TaskRecord {
        spec,
        state: TaskState::Running,
        reason: None,
        started_at: Some(now_unix()),
        ended_at: None,
        collected: false,
        diffstat: None,
        head: None,
        summary: Default::default(),
    };
    if let Err(e) = store::save(&rec) {
        let _ = engine.remove(&container, true).await;
        return Err(refused(format!("cannot save the task: {e}")));
    }
    ph.mark("saved");
    Ok(rec)
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

/// When each step of a task's start ended, in ms since [`start`] began: one debug line per
/// task (`AGENTDOCK_LOG=agentdock::tasks=debug`), which bench/tasks.sh reads.
struct Phases {
    t0: std::time::Instant,
    t0_unix: f64,
    marks: Vec<(&'static str, std::time::Duration)>,
}

impl Phases {
    fn new() -> Phases {
        let t0_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        Phases { t0: std::time::Instant::now(), t0_unix, marks: Vec::new() }
    }

    fn mark(&mut self, name: &'static str) {
        self.mark_at(name, std::time::Instant::now());
    }

    fn mark_at(&mut self, name: &'static str, at: std::time::Instant) {
        self.marks.push((name, at.saturating_duration_since(self.t0)));
    }

    fn log(&self, id: &str, ok: bool) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        let marks: Vec<String> = self.marks.iter().map(|(n, d)| format!("{n}={:.1}", d.as_secs_f64() * 1000.0)).collect();
        tracing::debug!(task = %id, ok, "start phases (ms since {:.6}): {}", self.t0_unix, marks.join(" "));
    }
}

/// The task's container: the project's spec, with the task's workspace, run dir and agent
/// config mounted, the runner's settings in its environment, and no restart.
fn container_spec(
    ctx: &Context,
    p: &Project,
    t: &TaskSpec,
    workspace: &Path,
    run: &Path,
    claude: &Path,
) -> Result<spec::ContainerSpec, String> {
    let host = task_host(p, claude, t.repo_url.is_some());
    let mut s = spec::build(ctx.config(), p, &host)?;
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
    let shown = |name: &str, value: String| EnvVar { name: name.into(), value: Secret::new(value), shown: true };
    s.env.extend([
        shown("TASK_FILE", format!("{RUN_MOUNT}/prompt.txt")),
        shown("TASK_DIR", RUN_MOUNT.into()),
        shown("SESSION_ID", t.id.clone()),
        shown("TASK_BRANCH", t.branch.clone()),
        shown("BRANCH", t.base_ref.clone()),
        shown("BUNDLE_BASE", t.base_commit.clone()),
        shown("TIMEOUT", t.timeout_secs.to_string()),
        shown("MAX_OUTPUT_SIZE", t.max_output.to_string()),
        shown("PERMISSION_MODE", t.permission_mode.clone()),
    ]);
    if let Some(m) = &t.model {
        s.env.push(shown("MODEL", m.clone()));
    }
    // a headless run in a throwaway container: no telemetry, error reports, update checks or
    // preflight, which cost the CLI a good part of its start (a project may say otherwise by
    // passing the variable through)
    for (name, value) in TASK_AGENT_ENV {
        if !s.env.iter().any(|e| e.name == *name) {
            s.env.push(shown(name, value.to_string()));
        }
    }
    Ok(s)
}

/// The host facts for a task's container. A `--repo` task's repository is agentdock's own
/// clone (owned by whoever runs agentdock): its agent runs as the image's user.
fn task_host(p: &Project, claude: &Path, repo: bool) -> HostContext {
    let mut host = HostContext::gather(p, claude.to_path_buf());
    if repo {
        host.project_owner = None;
    }
    host
}

/// What the container writes lands owned by its user (`config.user`), when agentdock runs as
/// root.
fn chown_tree(dir: &Path, user: &str) -> Result<(), OpError> {
    let Some((uid, gid)) = spec::uid_gid(user) else { return Ok(()) };
    crate::agent_config::chown_tree(dir, uid, gid).map_err(OpError::Other)
}

/// Brings a record up to date: a task whose container is gone is over; its result is read and
/// its branch fetched (once). `running` says whether its container still runs (None: the
/// engine was not asked).
pub fn reconcile(mut rec: TaskRecord, running: Option<bool>) -> TaskRecord {
    if rec.collected {
        return rec;
    }
    let id = rec.spec.id.clone();
    rec.summary = store::summary_of(&id, rec.spec.max_output);
    let run = store::run_dir(&id);
    let word = store::read_untrusted(&run, "state", 64).map(|b| String::from_utf8_lossy(&b).into_owned());
    let said = word.as_deref().and_then(TaskState::from_runner);
    match (running, said) {
        (Some(true), _) | (None, None | Some(TaskState::Running)) => {
            if rec.state == TaskState::Starting && said == Some(TaskState::Running) {
                rec.state = TaskState::Running;
            }
            return rec;
        }
        (_, Some(s)) if s.is_final() => {
            rec.state = s;
            rec.reason = result_reason(&run);
        }
        _ => {
            rec.state = TaskState::Failed;
            rec.reason = Some("the task's container ended without a result (killed?)".into());
        }
    }
    // one collector at a time (the CLI following it, the dashboard, a `task ls` elsewhere): the
    // others take what it saved
    let lock = std::fs::File::create(store::task_dir(&id).join(".collect.lock")).ok();
    if let Some(l) = &lock {
        if l.try_lock().is_err() {
            return store::load(&id).unwrap_or(rec);
        }
    }
    if let Some(done) = store::load(&id).filter(|r| r.collected) {
        return done;
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
    rec
}

/// Cancels a running task: the runner is told (SIGTERM), stops the agent, commits what it
/// made and writes its result; told again with SIGKILL if it has not ended in 10 s.
pub async fn cancel(engine: &Engine, rec: &TaskRecord) -> Result<TaskRecord, OpError> {
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
    let fresh = store::load(&rec.spec.id).unwrap_or_else(|| rec.clone());
    Ok(reconcile(fresh, Some(false)))
}
