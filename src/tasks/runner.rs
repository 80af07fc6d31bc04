//! The runner: `agentdock task runner`, one per data dir (its lock), started by any task
//! command or the dashboard when there is work and it is not there ([`super::queue::ensure_runner`]).
//! Every half second it collects the tasks that ended, starts queued ones as room frees, sends
//! the callbacks due, and keeps the pool; every `tasks.sweep_secs` it stops task containers that
//! have been silent for `tasks.inactive_minutes`. It ends once nothing is queued, under way, due
//! or missing from the pool for a few seconds: so it runs exactly while task containers can
//! exist, whether or not a dashboard is open, and a killed one is started again by the next
//! agentdock that looks.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::{drain, pool, queue, refreshed, store, webhook, TaskRecord};
use crate::domain::container::now_unix;
pub use crate::domain::fleet::Sweep;
use crate::domain::task::TaskState;
use crate::engine::Engine;
use crate::ops::Context;

const TICK: Duration = Duration::from_millis(500);
/// Idle this long (nothing to do at all), the runner ends.
const LINGER: Duration = Duration::from_secs(5);

pub fn last_sweep() -> Option<Sweep> {
    let bytes = std::fs::read(store::tasks_dir().join(".sweep.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[derive(Default)]
struct Work {
    launches: Vec<(String, JoinHandle<TaskRecord>)>,
    deliveries: HashMap<String, JoinHandle<()>>,
    stopping: HashMap<String, JoinHandle<()>>,
    /// Tasks over and done with (collected, no callback due): never read again.
    done: HashSet<String>,
}

impl Work {
    fn busy(&self) -> bool {
        !(self.launches.is_empty() && self.deliveries.is_empty() && self.stopping.is_empty())
    }

    fn prune(&mut self) {
        self.launches.retain(|(_, h)| !h.is_finished());
        self.deliveries.retain(|_, h| !h.is_finished());
        self.stopping.retain(|_, h| !h.is_finished());
    }
}

/// Runs until there is nothing left to do (or another runner holds the lock: then at once).
pub async fn run(mut ctx: Context) -> anyhow::Result<()> {
    let Some(_lock) = queue::runner_lock() else { return Ok(()) };
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut config_time = modified(&ctx.loaded.path);
    tracing::info!(pid = std::process::id(), "task runner started");
    let mut engine = None;
    let mut work = Work::default();
    let mut pool = pool::Keeper::default();
    let mut last_sweep = Instant::now();
    let mut idle_since: Option<Instant> = None;
    let mut engine_wait = Duration::from_millis(500);
    let mut no_engine: Option<Instant> = None;
    loop {
        if !store::tasks_dir().is_dir() {
            tracing::info!("the tasks directory is gone: the runner ends");
            break;
        }
        let Some(e) = engine.clone() else {
            match Engine::connect_to(&ctx.engines[0]).await {
                Ok(e) => engine = Some(e),
                // the next agentdock that looks starts another runner
                Err(err) if no_engine.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(120) => {
                    tracing::warn!(error = %err, "task runner: no engine for two minutes; the runner ends");
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "task runner: no engine; trying again");
                    tokio::time::sleep(engine_wait).await;
                    engine_wait = (engine_wait * 2).min(Duration::from_secs(10));
                }
            }
            continue;
        };
        // the config as it is now (a changed callback URL, limit or pool size counts at once)
        let t = modified(&ctx.loaded.path);
        if t != config_time {
            config_time = t;
            match Context::load(Some(ctx.loaded.path.clone())) {
                Ok(c) => ctx = c,
                Err(err) => tracing::warn!(error = %err, "task runner: the config does not load; keeping the one it had"),
            }
        }
        work.prune();
        let open = look(&e, &mut work).await;
        for r in open.iter().filter(|r| r.webhook.as_ref().is_some_and(|w| w.state == "pending")) {
            if !work.deliveries.contains_key(&r.spec.id) {
                let (ctx, id) = (ctx.clone(), r.spec.id.clone());
                work.deliveries.insert(id.clone(), tokio::spawn(async move { webhook::deliver(&ctx, &id).await }));
            }
        }
        work.launches.extend(drain(&e, &ctx, None).await);
        if last_sweep.elapsed() >= Duration::from_secs(ctx.config().tasks.sweep_secs.max(1)) {
            last_sweep = Instant::now();
            sweep(&e, &ctx, &open, &mut work, &mut pool).await;
        }
        let pool_busy = pool.keep(&e, &ctx, &open).await;
        let busy = work.busy() || pool_busy || open.iter().any(|r| !r.state.is_final() || !r.collected);
        match (busy, idle_since) {
            (true, _) => idle_since = None,
            (false, None) => idle_since = Some(Instant::now()),
            (false, Some(t)) if t.elapsed() >= LINGER => break,
            _ => {}
        }
        tokio::time::sleep(TICK).await;
    }
    tracing::info!("task runner ends: nothing left to do");
    Ok(())
}

/// The tasks not done with, brought up to date (those that ended collected).
async fn look(engine: &Engine, work: &mut Work) -> Vec<TaskRecord> {
    let launching: HashSet<&String> = work.launches.iter().map(|(id, _)| id).collect();
    let mut open = Vec::new();
    for id in store::ids() {
        if work.done.contains(&id) {
            continue;
        }
        let Some(r) = store::load(&id) else { continue };
        let r = if r.state == TaskState::Running && !launching.contains(&id) && !work.stopping.contains_key(&id) {
            refreshed(Some(engine), r).await
        } else {
            r
        };
        let callback_due = r.webhook.as_ref().is_some_and(|w| w.state == "pending");
        if r.collected && !callback_due {
            work.done.insert(id);
        } else {
            open.push(r);
        }
    }
    open
}

/// When a running task last wrote output: its event stream's time (the container can set that,
/// so a time in the future counts as now; its own time limit still ends it), else its start.
fn last_output(r: &TaskRecord) -> i64 {
    let written = crate::untrusted::open(&store::run_dir(&r.spec.id), "events.jsonl")
        .ok()
        .and_then(|(f, _)| f.metadata().ok())
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64);
    written.into_iter().chain(r.started_at).max().unwrap_or(r.spec.created_at)
}

/// The cleanup: running tasks silent for `tasks.inactive_minutes` are stopped (their runner
/// commits what they made) and marked; ended task containers the engine did not remove go.
async fn sweep(engine: &Engine, ctx: &Context, open: &[TaskRecord], work: &mut Work, pool: &mut pool::Keeper) {
    let t0 = Instant::now();
    let limit = (ctx.config().tasks.inactive_minutes * 60.0) as i64;
    let now = now_unix();
    let mut report = Sweep { at: now, ..Default::default() };
    for r in open.iter().filter(|r| r.state == TaskState::Running && !r.collected) {
        report.checked += 1;
        let last = last_output(r);
        if r.stopped.is_some() || work.stopping.contains_key(&r.spec.id) || !crate::domain::fleet::inactive(last, now, limit) {
            continue;
        }
        let mut marked = r.clone();
        let why = format!(
            "stopped by agentdock: no output for {} (tasks.inactive_minutes = {})",
            crate::domain::stats::human_age(now - last),
            ctx.config().tasks.inactive_minutes
        );
        tracing::info!(task = %r.spec.id, "{why}");
        marked.stopped = Some(why);
        if store::save(&marked).is_err() {
            continue;
        }
        report.stopped.push(r.spec.id.clone());
        let e = engine.clone();
        work.stopping.insert(r.spec.id.clone(), tokio::spawn(async move {
            if let Err(err) = super::cancel(&e, &marked).await {
                tracing::warn!(task = %marked.spec.id, error = %err, "cannot stop an inactive task");
            }
        }));
    }
    // containers of tasks that are over, still there (the engine removes them when they end)
    // (only those named for a task whose record says it is over: labels are claims)
    let over = |name: &str| name.strip_prefix("agentdock-task-").and_then(store::load).is_some_and(|r| r.collected && r.spec.container == name);
    if let Ok(all) = engine.list(false).await {
        for c in all.iter().filter(|c| c.managed && c.state != crate::domain::container::ContainerState::Running && over(&c.name)) {
            if engine.remove(&c.id, true).await.is_ok() {
                report.removed.push(c.name.clone());
            }
        }
    }
    report.removed.extend(pool.take_removed());
    if report.stopped.is_empty() && report.removed.is_empty() {
        if let Some(before) = last_sweep() {
            (report.acted_at, report.stopped, report.removed) = (before.acted_at, before.stopped, before.removed);
        }
    } else {
        report.acted_at = Some(now);
    }
    tracing::debug!(ms = t0.elapsed().as_secs_f64() * 1000.0, checked = report.checked, "sweep done");
    if let Ok(text) = serde_json::to_vec_pretty(&report) {
        let path = store::tasks_dir().join(".sweep.json");
        let tmp = store::tasks_dir().join(format!(".sweep.json.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}
