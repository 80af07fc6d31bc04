//! The pre-warmed pool: `tasks.pool_size` started containers per project, each with the
//! project cloned at its HEAD and the agent (the Claude Code CLI, `--input-format stream-json`)
//! already started in it, waiting for a prompt. A task on that commit is handed one: no clone,
//! no container create, no CLI start; its prompt goes to the waiting CLI as one message.
//!
//! Mounts cannot change after a create, so each pool container gets a slot directory,
//! `<data>/pool/<slot>/` (`workspace/`, `run/`, `claude/`, and the host's `slot.json`). The
//! claim renames the slot away (one claimer wins), moves its three directories into the task's
//! own directory (a bind mount follows its directory), writes the prompt and the claim
//! (`run/claim.json`, the task's settings) and waits for the runner in the container to say it
//! took it. The runner is agentdock's own copy of `docker/task-run.py` behind the pool's wait
//! (`pool_runner.py`), both mounted read-only (the wait over the image's runner, which the
//! entrypoint runs), so the pool works with any image of the contract, built before this or not,
//! and the image itself is not changed for it.
//!
//! A slot is used only for the project, image id, settings, secrets and commit it was made for
//! (`slot.json` holds a hash of them, never in a label); a rebuilt image, a changed config or a
//! new HEAD makes its slots stale, and the keeper (in the runner) replaces them. A pool
//! container that dies is noticed by the keeper (and by a claimer, which never hands it out).
//! Per project rather than per image: a container's network, user, limits and secrets are its
//! project's and cannot change after its create either.

use std::collections::{BTreeMap, HashMap};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::make::{self as launch, Phases};
use super::{store, TaskRecord, RUN_MOUNT};
use crate::domain::container::{labels, now_unix, ContainerState};
use crate::domain::fleet::PoolState;
use crate::domain::project::Project;
use crate::domain::spec::{self, HostContext, Mount};
use crate::domain::task::TaskState;
use crate::engine::Engine;
use crate::ops::{Context, OpError};

/// The state words a pool container's runner writes before it is handed a task.
pub const WARMING: &str = "warming";
pub const READY: &str = "ready";
pub const PREFIX: &str = "agentdock-task-pool-";
/// agentdock's task runner and the pool's wait before it, mounted in pool containers: the
/// runner at [`RUNNER_DIR`], the wait over the image's runner (which the entrypoint runs).
const RUNNER: &str = include_str!("../../docker/task-run.py");
const POOL_RUNNER: &str = include_str!("pool_runner.py");
const RUNNER_DIR: &str = "/opt/agentdock-pool";
const RUNNER_AT: &str = "/usr/local/bin/agentdock-task";

fn pool_dir() -> PathBuf {
    crate::paths::data_dir().join("pool")
}

/// What the host knows of a slot (`slot.json`, never written by the container).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub slot: String,
    pub project_id: String,
    pub project_name: String,
    pub image: String,
    pub image_id: String,
    pub key: String,
    pub commit: String,
    pub container: String,
    pub created_at: i64,
}

fn read_slots() -> Vec<Slot> {
    let Ok(entries) = std::fs::read_dir(pool_dir()) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path().join("slot.json")).ok()?).ok())
        .collect()
}

/// What a slot's runner says (its `run/state`, read as the container's).
fn said(slot_dir: &Path) -> Option<String> {
    store::read_untrusted(&slot_dir.join("run"), "state", 64).map(|b| String::from_utf8_lossy(&b).trim().to_string())
}

/// The runner's files on the host (`agentdock-task`: the pool's wait, `task_run.py`: the
/// runner), where pool containers mount them from; written once per version of them.
fn runner_dir() -> std::io::Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (RUNNER, POOL_RUNNER).hash(&mut h);
    let dir = pool_dir().join(format!("runner-{:016x}", h.finish()));
    if !dir.join("agentdock-task").is_file() {
        crate::paths::private_dir(&pool_dir())?;
        let tmp = pool_dir().join(format!(".runner.{}.tmp", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir(&tmp)?;
        for (name, text, mode) in [("task_run.py", RUNNER, 0o644), ("agentdock-task", POOL_RUNNER, 0o755)] {
            std::fs::write(tmp.join(name), text)?;
            std::fs::set_permissions(tmp.join(name), std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        }
        std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        if std::fs::rename(&tmp, &dir).is_err() {
            // another process wrote it first
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    Ok(dir)
}

/// A pool container of project `p` on slot directory `dir`.
fn pool_spec(ctx: &Context, p: &Project, host: &HostContext, dir: &Path, name: &str, runner: &Path) -> Result<spec::ContainerSpec, String> {
    let mut s = spec::build(ctx.config(), p, host)?;
    s.name = name.to_string();
    s.one_shot = true;
    // a network of its own, like a task's (the slot names it until a task is handed it)
    let slot = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    s.network = crate::domain::network::task_network(&s.network, name, &slot);
    s.mounts.retain(|m| !m.target.starts_with("/workspace/"));
    for m in s.mounts.iter_mut().filter(|m| m.target == "/workspace") {
        m.source = dir.join("workspace");
    }
    s.mounts.push(Mount { source: dir.join("run"), target: RUN_MOUNT.into(), read_only: false });
    s.mounts.push(Mount { source: runner.to_path_buf(), target: RUNNER_DIR.into(), read_only: true });
    s.mounts.push(Mount { source: runner.join("agentdock-task"), target: RUNNER_AT.into(), read_only: true });
    s.labels.insert(labels::ROLE.into(), "pool".into());
    s.labels.insert(labels::POOL.into(), p.settings.image.clone());
    s.labels.insert(labels::POOL_SLOT.into(), dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    let t = &ctx.config().tasks;
    let mut env = vec![
        ("AGENTDOCK_POOL", "1".to_string()),
        ("TASK_FILE", format!("{RUN_MOUNT}/prompt.txt")),
        ("TASK_DIR", RUN_MOUNT.to_string()),
        ("PERMISSION_MODE", t.permission_mode.clone()),
    ];
    if !t.model.is_empty() {
        env.push(("MODEL", t.model.clone()));
    }
    s.env.extend(env.into_iter().map(|(n, v)| launch::shown(n, v)));
    launch::agent_env(&mut s);
    Ok(s)
}

/// What a pool container must match to serve a task: everything it was made with (the spec as
/// it would be made now, secrets included) and the image's id. Kept on the host only.
fn key(ctx: &Context, p: &Project, host: &HostContext, image_id: &str) -> Result<String, String> {
    use std::hash::{Hash, Hasher};
    let s = pool_spec(ctx, p, host, Path::new("/slot"), "pool", Path::new("/runner"))?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{s:?}").hash(&mut h);
    for e in s.env.iter().filter(|e| !e.shown) {
        (e.name.as_str(), e.value.expose()).hash(&mut h);
    }
    (image_id, RUNNER, POOL_RUNNER).hash(&mut h);
    Ok(format!("{:016x}", h.finish()))
}

/// Hands `rec` a ready pool container of its project, when one fits (same commit, same key):
/// None to start it cold. A slot that turns out dead is thrown away, never handed out.
pub async fn claim(
    engine: &Engine,
    ctx: &Context,
    p: &Project,
    rec: &mut TaskRecord,
    env: Option<&BTreeMap<String, String>>,
    ph: &mut Phases,
) -> Option<Result<TaskRecord, OpError>> {
    // a task of another network mode than its project's is not made like the pool's; one
    // started through MCP needs its depth in its agent's environment, which a CLI started
    // ahead does not have: both start cold
    if ctx.config().tasks.pool_size == 0 || rec.spec.repo_url.is_some() || rec.spec.network.is_some_and(|m| m != p.settings.network) || rec.spec.depth > 0 {
        return None;
    }
    let slots: Vec<Slot> = read_slots().into_iter().filter(|s| s.project_id == p.id && s.commit == rec.spec.base_commit).collect();
    if slots.is_empty() {
        return None;
    }
    let image_id = engine.image_id(&p.settings.image).await.ok()??;
    let host = launch::task_host(p, Path::new("/slot/claude"), false, env.cloned());
    let want = key(ctx, p, &host, &image_id).ok()?;
    for s in slots.iter().filter(|s| s.key == want && s.image_id == image_id) {
        let from = pool_dir().join(&s.slot);
        if said(&from).as_deref() != Some(READY) {
            continue;
        }
        let taken = pool_dir().join(format!(".claimed-{}", s.slot));
        if std::fs::rename(&from, &taken).is_err() {
            continue; // another claimer was first
        }
        let user = spec::container_user(ctx.config(), p, &host).unwrap_or_default();
        let r = hand_over(engine, rec.clone(), s, &taken, &user, ph).await;
        let _ = std::fs::remove_dir_all(&taken);
        match r {
            Ok(done) => return Some(Ok(done)),
            Err(why) => {
                tracing::warn!(task = %rec.spec.id, slot = %s.slot, "pool container not handed over: {why}");
                let _ = engine.remove(&s.container, true).await;
                crate::engine::secrets::remove(&s.container);
                super::release_container(engine, &s.container).await;
                let dir = store::task_dir(&rec.spec.id);
                for sub in ["workspace", "run", "claude"] {
                    let _ = std::fs::remove_dir_all(dir.join(sub));
                }
                let _ = store::save(rec);
            }
        }
    }
    None
}

async fn hand_over(engine: &Engine, mut rec: TaskRecord, s: &Slot, taken: &Path, user: &str, ph: &mut Phases) -> Result<TaskRecord, String> {
    let running = |st: Result<Option<crate::engine::StateInfo>, _>| matches!(st, Ok(Some(st)) if st.state == ContainerState::Running);
    if !running(engine.inspect_state(&s.container).await) {
        return Err("its container is not running".into());
    }
    let id = rec.spec.id.clone();
    let dir = store::task_dir(&id);
    for sub in ["workspace", "run", "claude"] {
        std::fs::rename(taken.join(sub), dir.join(sub)).map_err(|e| format!("cannot move its {sub}: {e}"))?;
    }
    // the run dir is the container's: written without following anything it put there
    let owner = spec::uid_gid(user).filter(|_| rustix::process::geteuid().is_root());
    let run = crate::untrusted::open_dir(&dir.join("run")).map_err(|e| e.to_string())?;
    let prompt = std::fs::read(dir.join("prompt.txt")).map_err(|e| format!("cannot read the prompt: {e}"))?;
    crate::untrusted::replace_at(run.as_fd(), "prompt.txt", &prompt, 0o644, owner).map_err(|e| e.to_string())?;
    rec.spec.container = s.container.clone();
    rec.from_pool = true;
    store::save(&rec).map_err(|e| e.to_string())?;
    // its capability now names the task, and holds it to its budget
    crate::broker::store::assign(&crate::broker::store::state_dir(), &s.container, &id, rec.spec.budget_usd).map_err(|e| format!("cannot give the task its capability: {e}"))?;
    let settings: BTreeMap<&str, String> = launch::task_env(&rec.spec).into_iter().collect();
    let text = serde_json::to_vec(&settings).map_err(|e| e.to_string())?;
    crate::untrusted::replace_at(run.as_fd(), "claim.json", &text, 0o644, owner).map_err(|e| e.to_string())?;
    ph.mark("claim");
    // its runner says it took it (or its container ends, or it says nothing in 10 s)
    let end = Instant::now() + Duration::from_secs(10);
    while matches!(said(&dir).as_deref(), Some(READY | WARMING) | None) {
        if Instant::now() > end || !running(engine.inspect_state(&s.container).await) {
            return Err("its runner did not take the task".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ph.mark("taken");
    rec.state = TaskState::Running;
    rec.started_at = Some(now_unix());
    store::save(&rec).map_err(|e| e.to_string())?;
    crate::engine::secrets::unstash(&id);
    Ok(rec)
}

/// The pool as it stands on disk (no engine asked), per project and image.
pub fn states() -> Vec<PoolState> {
    let mut by: BTreeMap<(String, String), PoolState> = BTreeMap::new();
    for s in read_slots() {
        let e = by.entry((s.project_name.clone(), s.image.clone())).or_insert_with(|| PoolState { project: s.project_name.clone(), image: s.image.clone(), ..Default::default() });
        match said(&pool_dir().join(&s.slot)).as_deref() {
            Some(READY) => e.ready += 1,
            Some(WARMING) | None => e.warming += 1,
            _ => {}
        }
    }
    by.into_values().collect()
}

/// The projects the pool is kept for: `tasks.pool_projects`, else those with a task in the
/// last hour (local projects only: a `--repo` task has no pool).
fn wanted(ctx: &Context, recent: &[TaskRecord]) -> Vec<Project> {
    let t = &ctx.config().tasks;
    if t.pool_size == 0 {
        return Vec::new();
    }
    let ids: Vec<String> = if t.pool_projects.is_empty() {
        let since = now_unix() - 3600;
        recent.iter().filter(|r| r.spec.repo_url.is_none() && r.spec.created_at >= since).map(|r| r.spec.project_id.clone()).collect()
    } else {
        t.pool_projects.iter().filter_map(|k| crate::domain::project::find(&ctx.projects, k).map(|p| p.id.clone())).collect()
    };
    let mut out: Vec<Project> = Vec::new();
    for id in ids {
        if out.iter().all(|p| p.id != id) {
            if let Ok(p) = super::project_of(ctx, &crate::domain::task::TaskSpec { project_id: id, ..Default::default() }) {
                out.push(p);
            }
        }
    }
    out
}

/// Whether the pool wants work (some wanted project is short), from disk only: for waking the
/// runner.
pub fn short(ctx: &Context) -> bool {
    let t = &ctx.config().tasks;
    if t.pool_size == 0 {
        return false;
    }
    let slots = read_slots();
    let recent = if t.pool_projects.is_empty() { store::load_all() } else { Vec::new() };
    wanted(ctx, &recent).iter().any(|p| slots.iter().filter(|s| s.project_id == p.id).count() < t.pool_size)
}

/// Keeps the pool, in the runner: every few seconds dead and stale pool containers go and the
/// wanted projects are filled up, one container at a time each, in the background.
#[derive(Default)]
pub struct Keeper {
    removed: Vec<String>,
    filling: HashMap<String, JoinHandle<bool>>,
    /// A project whose last fill failed is tried again after a while, not every look.
    failed: HashMap<String, Instant>,
    last: Option<Instant>,
    recent: Vec<TaskRecord>,
    recent_at: Option<Instant>,
    short: bool,
}

impl Keeper {
    /// One look at the pool: true while it is short of what is wanted (so the runner stays).
    pub async fn keep(&mut self, engine: &Engine, ctx: &Context, open: &[TaskRecord]) -> bool {
        let done: Vec<String> = self.filling.iter().filter(|(_, h)| h.is_finished()).map(|(k, _)| k.clone()).collect();
        for pid in done {
            if let Some(h) = self.filling.remove(&pid) {
                if !matches!(futures_util::FutureExt::now_or_never(h), Some(Ok(true))) {
                    self.failed.insert(pid, Instant::now());
                }
            }
        }
        self.failed.retain(|_, t| t.elapsed() < Duration::from_secs(30));
        if self.last.is_some_and(|t| t.elapsed() < Duration::from_secs(2)) {
            return self.short || !self.filling.is_empty();
        }
        self.last = Some(Instant::now());
        if ctx.config().tasks.pool_projects.is_empty() {
            // the tasks of the last hour: all of them read once a minute, what is open at once
            if self.recent_at.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                self.recent = store::load_all();
                self.recent_at = Some(Instant::now());
            }
            let new: Vec<TaskRecord> = open.iter().filter(|r| !self.recent.iter().any(|k| k.spec.id == r.spec.id)).cloned().collect();
            self.recent.extend(new);
        }
        let wanted = wanted(ctx, &self.recent);
        let listed: Vec<crate::domain::container::ContainerInfo> = match engine.list(false).await {
            Ok(all) => all.into_iter().filter(|c| c.name.starts_with(PREFIX)).collect(),
            Err(_) => return true,
        };
        let containers: HashMap<String, ContainerState> = listed.iter().map(|c| (c.name.clone(), c.state)).collect();
        self.orphans(engine, &listed, open).await;
        let mut current: HashMap<String, (String, String, String)> = HashMap::new();
        for p in &wanted {
            if let Some(k) = current_key(engine, ctx, p).await {
                current.insert(p.id.clone(), k);
            }
        }
        let mut live: HashMap<String, usize> = HashMap::new();
        for s in read_slots() {
            let dir = pool_dir().join(&s.slot);
            let state = containers.get(&s.container).copied();
            let young = now_unix() - s.created_at < 60;
            let fits = current.get(&s.project_id).is_some_and(|(key, image_id, commit)| *key == s.key && *image_id == s.image_id && *commit == s.commit);
            let said_word = said(&dir);
            // a slot still being made has no running container yet
            let making = young && self.filling.contains_key(&s.project_id);
            let dead = match state {
                Some(ContainerState::Running) => !matches!(said_word.as_deref(), Some(READY | WARMING) | None),
                Some(ContainerState::Created) | None => !making,
                Some(_) => true,
            };
            if dead || !fits {
                let _ = engine.remove(&s.container, true).await;
                crate::engine::secrets::remove(&s.container);
                super::release_container(engine, &s.container).await;
                let _ = std::fs::remove_dir_all(&dir);
                tracing::info!(slot = %s.slot, dead, "pool container removed");
                self.removed.push(s.container.clone());
                continue;
            }
            *live.entry(s.project_id.clone()).or_default() += 1;
        }
        let size = ctx.config().tasks.pool_size;
        let starting = crate::domain::fleet::a_task_is_starting(open, now_unix());
        self.short = false;
        for p in wanted {
            if live.get(&p.id).copied().unwrap_or(0) >= size {
                continue;
            }
            self.short = true;
            let Some((key, image_id, commit)) = current.get(&p.id).cloned() else { continue };
            if starting || self.filling.contains_key(&p.id) || self.failed.contains_key(&p.id) {
                continue;
            }
            let (e, c, pid) = (engine.clone(), ctx.clone(), p.id.clone());
            self.filling.insert(pid, tokio::spawn(async move {
                match fill(&e, &c, &p, key, image_id, commit).await {
                    Ok(()) => true,
                    Err(err) => {
                        tracing::warn!(project = %p.id, "pool: cannot make a container: {err}");
                        false
                    }
                }
            }));
        }
        self.short || !self.filling.is_empty()
    }

    /// Pool containers of no slot and no task (their claimer was killed between taking the
    /// slot and naming the container in its task's record): gone after two minutes, with what
    /// is left of their slot.
    async fn orphans(&mut self, engine: &Engine, listed: &[crate::domain::container::ContainerInfo], open: &[TaskRecord]) {
        let slots: Vec<String> = read_slots().into_iter().map(|s| s.container).collect();
        for c in listed {
            let used = slots.contains(&c.name) || open.iter().any(|r| r.spec.container == c.name);
            if used || now_unix() - c.created < 120 {
                continue;
            }
            let _ = engine.remove(&c.id, true).await;
            crate::engine::secrets::remove(&c.name);
            super::release_container(engine, &c.name).await;
            let _ = std::fs::remove_dir_all(pool_dir().join(format!(".claimed-{}", c.name.trim_start_matches(PREFIX))));
            tracing::info!(container = %c.name, "pool container of no slot and no task removed");
            self.removed.push(c.name.clone());
        }
    }

    /// The pool containers removed since the last sweep (for its report).
    pub fn take_removed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.removed)
    }
}

/// (key, image id, HEAD commit) of project `p` now, None when one of them cannot be had.
async fn current_key(engine: &Engine, ctx: &Context, p: &Project) -> Option<(String, String, String)> {
    let image_id = engine.image_id(&p.settings.image).await.ok()??;
    let host = launch::task_host(p, Path::new("/slot/claude"), false, None);
    let key = key(ctx, p, &host, &image_id).ok()?;
    let path = p.path.clone();
    let commit = tokio::task::spawn_blocking(move || super::git::resolve(&path, "HEAD")).await.ok()?.ok()?;
    Some((key, image_id, commit))
}

/// Makes one pool container of `p`: its slot (the project cloned at `commit`, the agent
/// config), the container created and started; its runner starts the CLI and says "ready".
async fn fill(engine: &Engine, ctx: &Context, p: &Project, key: String, image_id: String, commit: String) -> Result<(), String> {
    let slot = store::new_id();
    let dir = pool_dir().join(&slot);
    let made = make(engine, ctx, p, &slot, &dir, key, image_id, commit).await;
    if made.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    made
}

#[allow(clippy::too_many_arguments)]
async fn make(engine: &Engine, ctx: &Context, p: &Project, slot: &str, dir: &Path, key: String, image_id: String, commit: String) -> Result<(), String> {
    crate::paths::private_dir(&pool_dir()).map_err(|e| e.to_string())?;
    std::fs::create_dir(dir).map_err(|e| e.to_string())?;
    let name = format!("{PREFIX}{slot}");
    let (workspace, run, claude) = (dir.join("workspace"), dir.join("run"), dir.join("claude"));
    std::fs::create_dir_all(&run).map_err(|e| e.to_string())?;
    let host = launch::task_host(p, &claude, false, None);
    let user = spec::container_user(ctx.config(), p, &host)?;
    {
        let (source, ws, base, user) = (p.path.to_string_lossy().into_owned(), workspace.clone(), commit.clone(), user.clone());
        tokio::task::spawn_blocking(move || {
            super::git::clone_for_task(&source, &ws, &base, "agentdock/pool").and_then(|()| launch::chown_tree(&ws, &user).map_err(|e| e.to_string()))
        })
        .await
        .map_err(|e| e.to_string())??;
    }
    launch::chown_tree(&run, &user).map_err(|e| e.to_string())?;
    crate::agent_config::prepare_with(&claude, &crate::paths::home_dir(), &user, crate::ops::broker_link(ctx).is_some()).map_err(|e| e.to_string())?;
    let info = Slot {
        slot: slot.to_string(),
        project_id: p.id.clone(),
        project_name: p.name.clone(),
        image: p.settings.image.clone(),
        image_id,
        key,
        commit,
        container: name.clone(),
        created_at: now_unix(),
    };
    std::fs::write(dir.join("slot.json"), serde_json::to_vec_pretty(&info).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let runner = runner_dir().map_err(|e| e.to_string())?;
    let cspec = pool_spec(ctx, p, &host, dir, &name, &runner)?;
    let ncpu = engine.cpu_count().await;
    let id = engine.create_once(&cspec, ncpu).await.map_err(|e| e.to_string())?;
    engine.start_once(&id).await.map_err(|e| e.to_string())?;
    tracing::info!(project = %p.id, slot, "pool container started");
    Ok(())
}

/// Every pool container and slot goes (`task pool --drain`): their agents stop.
pub async fn drain_all(engine: &Engine) -> Vec<String> {
    let mut gone = Vec::new();
    for s in read_slots() {
        let _ = engine.remove(&s.container, true).await;
        crate::engine::secrets::remove(&s.container);
        super::release_container(engine, &s.container).await;
        let _ = std::fs::remove_dir_all(pool_dir().join(&s.slot));
        gone.push(s.container);
    }
    gone
}
