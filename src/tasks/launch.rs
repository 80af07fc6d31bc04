//! Starting queued tasks: [`drain`] picks what `tasks.max_parallel` leaves room for (FIFO) and
//! [`launch`] starts each: a pool container handed over when one fits (see [`super::pool`]),
//! else its workspace cloned while the engine creates its container.

use tokio::task::JoinHandle;

use super::make::{chown_tree, container_spec, task_host};
use super::{joined, pool, project_of, queue, store, TaskRecord};
pub use super::make::Phases;
use crate::domain::container::now_unix;
use crate::domain::spec;
use crate::domain::task::TaskState;
use crate::engine::Engine;
use crate::ops::{Context, OpError};


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
    let mut all = store::load_open();
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
        rec.picked_at_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_millis() as i64);
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
    let mut ph = phases.unwrap_or_default();
    let result = start(engine, ctx, rec.clone(), &mut ph).await;
    ph.log(&id, result.is_ok());
    let rec = match result {
        Ok(r) => r,
        // the engine went away: the task waits in its place for it (the runner tries again)
        Err(OpError::Engine(crate::engine::EngineError::Unreachable { .. })) => {
            let mut r = store::load(&id).unwrap_or(rec);
            tracing::warn!(task = %id, "the engine is not there: the task goes back in the queue");
            let dir = store::task_dir(&id);
            for sub in ["workspace", "run", "claude"] {
                let _ = std::fs::remove_dir_all(dir.join(sub));
            }
            r.state = TaskState::Queued;
            r.spec.container = format!("agentdock-task-{id}");
            r.from_pool = false;
            let _ = store::save(&r);
            r
        }
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
        crate::agent_config::prepare_with(&claude, &crate::paths::home_dir(), &user, crate::ops::broker_link(ctx).is_some()).map_err(OpError::Other)?;
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
