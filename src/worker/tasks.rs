//! Tasks in the dashboard. A look at the tasks on disk, off the loop's thread, every second
//! while the task list is on screen or a task is under way (never when neither: an idle
//! dashboard reads nothing); ended tasks are read once. The commands that start, cancel,
//! follow and diff a task. Everything under a task's `run/` was written by its container and
//! is read bounded and without following links (`tasks::store`).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::Worker;
use crate::app::EngineEvent;
use crate::domain::container::{now_unix, ContainerState};
use crate::domain::fleet::FleetInfo;
use crate::domain::task::{cut, render_line, TaskRecord, TaskState};
use crate::domain::text::strip;
use crate::engine::Engine;
use crate::tasks::{self, store, TaskRequest};

/// A task container not seen by the engine this long after its task started has ended (before
/// that it may be on its way).
const GRACE_SECS: i64 = 15;
const DIFF_CAP: usize = 10 * 1024 * 1024;

#[derive(Clone)]
struct Known {
    rec: TaskRecord,
    /// Bytes of the event stream summed up in `rec.summary` (tasks under way).
    offset: u64,
}

#[derive(Default)]
pub(super) struct TaskWatch {
    /// The task list is on screen.
    pub shown: bool,
    known: BTreeMap<String, Known>,
    sent: Option<(Vec<TaskRecord>, FleetInfo)>,
    scan: Option<JoinHandle<(BTreeMap<String, Known>, FleetInfo)>>,
    fleet: FleetInfo,
    /// One look is due whatever else (at connect, so the status line can count tasks).
    due: bool,
    /// The MCP clients last sent.
    mcp: Option<Vec<crate::domain::task::McpClient>>,
}

impl TaskWatch {
    pub fn new() -> TaskWatch {
        TaskWatch { due: true, ..Default::default() }
    }

    /// A look is due whatever else (the engine is back: containers may have ended meanwhile).
    pub fn look_again(&mut self) {
        self.due = true;
    }
}

/// The states of the task containers the engine has, by container name.
fn task_containers(w: &Worker) -> HashMap<String, ContainerState> {
    w.containers
        .values()
        .filter(|c| c.name.starts_with("agentdock-task-"))
        .map(|c| (c.name.clone(), c.state))
        .collect()
}

impl Worker {
    /// Called every second: starts a look when one is wanted and none runs; sends the tasks
    /// when the last look changed them.
    pub(super) async fn watch_tasks(&mut self, engine: &Engine) {
        // the MCP clients connected (a few small files of agentdock's own)
        let clients = crate::mcp::clients::connected();
        if self.tasks.mcp.as_ref() != Some(&clients) {
            self.tasks.mcp = Some(clients.clone());
            self.send(EngineEvent::McpClients(clients)).await;
        }
        let finished = self.tasks.scan.as_ref().is_some_and(|t| t.is_finished());
        if finished {
            if let Some(Ok((known, fleet))) = self.tasks.scan.take().and_then(futures_util::FutureExt::now_or_never) {
                // tasks collected by this look give back what they held on the engine
                let done: Vec<TaskRecord> = known
                    .values()
                    .filter(|k| k.rec.collected && self.tasks.known.get(&k.rec.spec.id).is_some_and(|o| !o.rec.collected))
                    .map(|k| k.rec.clone())
                    .collect();
                if !done.is_empty() {
                    let engine = engine.clone();
                    tokio::spawn(async move {
                        for rec in &done {
                            tasks::release(&engine, rec).await;
                        }
                    });
                }
                self.tasks.known = known;
                self.tasks.fleet = fleet;
            }
            let mut all: Vec<TaskRecord> = self.tasks.known.values().map(|k| k.rec.clone()).collect();
            all.sort_by(|a, b| (b.spec.created_at, b.seq, &b.spec.id).cmp(&(a.spec.created_at, a.seq, &a.spec.id)));
            let now = (all, self.tasks.fleet.clone());
            if self.tasks.sent.as_ref() != Some(&now) {
                self.tasks.sent = Some(now.clone());
                self.send(EngineEvent::Tasks(now.0, now.1)).await;
            }
        }
        if self.tasks.scan.is_some() {
            return;
        }
        let containers = task_containers(self);
        let under_way = self.tasks.known.values().any(|k| !k.rec.collected);
        if !(self.tasks.shown || self.tasks.due || under_way || !containers.is_empty()) {
            return;
        }
        self.tasks.due = false;
        let known = std::mem::take(&mut self.tasks.known);
        let ctx = self.ctx.clone();
        self.tasks.scan = Some(tokio::task::spawn_blocking(move || {
            let known = scan(known, &containers, now_unix());
            let fleet = fleet(&ctx, known.values().map(|k| &k.rec));
            (known, fleet)
        }));
    }

    pub(super) fn start_task(&self, project: crate::domain::project::Project, prompt: String) {
        let req = TaskRequest::new(&self.ctx, Some(project.id.clone()), prompt);
        let (ctx, events) = (self.ctx.clone(), self.events.clone());
        let seen: Vec<_> = self.containers.values().cloned().collect();
        off_thread(events, self.ctx.engines[0].clone(), move |engine| async move {
            let r = tasks::run(&engine, &ctx, req, &seen).await.map_err(|e| e.to_string());
            EngineEvent::TaskStarted(r.and_then(|v| v.into_iter().next().ok_or_else(|| "no task".to_string())).map(Box::new))
        });
    }

    pub(super) fn cancel_task(&self, id: String) {
        off_thread(self.events.clone(), self.ctx.engines[0].clone(), move |engine| async move {
            let Some(rec) = store::load(&id) else { return EngineEvent::Error(format!("no task {id}")) };
            match tasks::cancel(&engine, &rec).await {
                Ok(r) => EngineEvent::Message(format!("task {id}: {}", r.state.label())),
                Err(e) => EngineEvent::Error(format!("cancel of task {id}: {e}")),
            }
        });
    }

    pub(super) fn follow_task(&mut self, stream: u64, id: String) {
        let events = self.events.clone();
        let task = tokio::spawn(async move {
            let mut offset = 0u64;
            loop {
                let id2 = id.clone();
                let Ok((rec, text, read_to)) = tokio::task::spawn_blocking(move || {
                    let rec = store::load(&id2);
                    let max = rec.as_ref().map(|r| r.spec.max_output).unwrap_or(0);
                    let mut text = String::new();
                    for line in store::new_event_lines(&id2, max, &mut offset) {
                        for shown in render_line(&line, 5).unwrap_or_default() {
                            text.push_str(&paint_run_line(&strip(&shown)));
                        }
                    }
                    (rec, text, offset)
                })
                .await
                else {
                    break;
                };
                offset = read_to;
                if !text.is_empty() && events.send(EngineEvent::Output { stream, data: text.into_bytes() }).await.is_err() {
                    return;
                }
                match rec {
                    None => {
                        let _ = events.send(EngineEvent::OutputEnd { stream, exit_code: None, error: Some(format!("no task {id}")) }).await;
                        return;
                    }
                    Some(r) if r.collected => {
                        let _ = events.send(EngineEvent::Output { stream, data: footer(&r).into_bytes() }).await;
                        break;
                    }
                    Some(_) => tokio::time::sleep(Duration::from_millis(300)).await,
                }
            }
            let _ = events.send(EngineEvent::OutputEnd { stream, exit_code: None, error: None }).await;
        });
        self.track(stream, task);
    }

    pub(super) fn diff_task(&mut self, stream: u64, id: String) {
        let events = self.events.clone();
        let task = tokio::spawn(async move {
            let text = tokio::task::spawn_blocking(move || diff_text(&id)).await.unwrap_or_else(|e| Err(e.to_string()));
            let error = match text {
                Ok(t) => {
                    for chunk in t.into_bytes().chunks(64 * 1024) {
                        if events.send(EngineEvent::Output { stream, data: chunk.to_vec() }).await.is_err() {
                            return;
                        }
                    }
                    None
                }
                Err(e) => Some(e),
            };
            let _ = events.send(EngineEvent::OutputEnd { stream, exit_code: None, error }).await;
        });
        self.track(stream, task);
    }
}

/// Runs `f` on a thread of its own with its own engine connection: starting and cancelling a
/// task do git and file work that must not hold up the dashboard's one thread.
fn off_thread<F, Fut>(events: super::Events, target: crate::domain::engines::EngineTarget, f: F)
where
    F: FnOnce(Engine) -> Fut + Send + 'static,
    Fut: Future<Output = EngineEvent>,
{
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => return drop(events.blocking_send(EngineEvent::Error(e.to_string()))),
        };
        let ev = rt.block_on(async move {
            match Engine::connect_to(&target).await {
                Ok(engine) => f(engine).await,
                Err(e) => EngineEvent::Error(e.to_string()),
            }
        });
        let _ = events.blocking_send(ev);
    });
}

/// The pool, the cleanup and the runner as they stand; the runner started when there is work
/// for it (queued tasks, tasks under way, callbacks due, a pool short) and it is not there.
fn fleet<'a>(ctx: &crate::ops::Context, all: impl Iterator<Item = &'a TaskRecord>) -> FleetInfo {
    let due = |r: &TaskRecord| !r.collected || r.webhook.as_ref().is_some_and(|w| w.state == "pending");
    let mut runner = tasks::queue::runner_pid().is_some();
    if !runner && (all.into_iter().any(due) || tasks::pool::short(ctx)) {
        tasks::queue::ensure_runner(Some(&ctx.loaded.path));
        runner = true;
    }
    FleetInfo { pool: tasks::pool::states(), sweep: tasks::runner::last_sweep(), runner }
}

/// One look at the tasks on disk: new ones read, those under way summed up from where the
/// last look stopped, those whose container ended collected (result, branch).
fn scan(mut known: BTreeMap<String, Known>, containers: &HashMap<String, ContainerState>, now: i64) -> BTreeMap<String, Known> {
    let ids = store::ids();
    known.retain(|id, _| ids.contains(id));
    for id in ids {
        if known.contains_key(&id) {
            continue;
        }
        if let Some(mut rec) = store::load(&id) {
            if !rec.collected {
                // summed up again here, from the start
                rec.summary = Default::default();
            }
            known.insert(id, Known { rec, offset: 0 });
        }
    }
    for k in known.values_mut().filter(|k| !k.rec.collected) {
        let id = k.rec.spec.id.clone();
        // queued or starting: whoever starts it says so in its record (and names its container)
        if matches!(k.rec.state, TaskState::Queued | TaskState::Starting) {
            if let Some(mut fresh) = store::load(&id) {
                fresh.summary = Default::default();
                *k = Known { rec: fresh, offset: 0 };
            }
            if matches!(k.rec.state, TaskState::Queued | TaskState::Starting) || k.rec.collected {
                continue;
            }
        }
        let state = containers.get(&k.rec.spec.container).copied();
        let young = now - k.rec.started_at.unwrap_or(k.rec.spec.created_at) < GRACE_SECS;
        let ended = match state {
            Some(ContainerState::Exited | ContainerState::Dead) => true,
            Some(_) => false,
            None => !young,
        };
        if !ended {
            for line in store::new_event_lines(&id, k.rec.spec.max_output, &mut k.offset) {
                k.rec.summary.push_line(&line);
            }
            if k.rec.state == TaskState::Starting && state == Some(ContainerState::Running) {
                k.rec.state = TaskState::Running;
            }
            continue;
        }
        // the CLI may have collected it already
        let fresh = store::load(&id).unwrap_or_else(|| k.rec.clone());
        k.rec = if fresh.collected { fresh } else { tasks::reconcile(fresh, Some(false)) };
    }
    known
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const CYAN: &str = "\x1b[36m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// A line of the run (already stripped of the container's escapes) with our own colours.
fn paint_run_line(line: &str) -> String {
    let colour = match line.chars().next() {
        Some('→') => CYAN,
        Some('✗') => RED,
        Some('✓') => GREEN,
        Some('·' | '←') => DIM,
        _ => "",
    };
    if colour.is_empty() { format!("{line}\n") } else { format!("{colour}{line}{RESET}\n") }
}

/// How a task ended, under its run.
fn footer(r: &TaskRecord) -> String {
    let s = &r.summary;
    let colour = if r.state == TaskState::Succeeded { GREEN } else { RED };
    let mut parts = vec![format!("{colour}{BOLD}{}{RESET}", r.state.label())];
    parts.push(format!("{} turns", s.turns));
    parts.push(format!("{} tokens", s.tokens()));
    if let Some(c) = s.cost_usd {
        parts.push(format!("${c:.4}"));
    }
    if let Some(d) = r.diffstat {
        parts.push(format!("{} file{} +{} -{}", d.files, if d.files == 1 { "" } else { "s" }, d.insertions, d.deletions));
    }
    let mut out = format!("── {} ── branch {} (D: its diff)\n", parts.join(" · "), r.spec.branch);
    if let Some(reason) = &r.reason {
        out.push_str(&format!("   {}\n", cut(&strip(reason), 500)));
    }
    out
}

/// A task's diff with colours (the text is the container's: its own escapes are taken out).
fn diff_text(id: &str) -> Result<String, String> {
    let rec = store::load(id).ok_or_else(|| format!("no task {id}"))?;
    let Some(head) = &rec.head else {
        return Ok(if rec.collected {
            format!("task {id} made no commits\n")
        } else {
            format!("task {id} is under way: its commits come back when it ends\n")
        });
    };
    let Some(diff) = tasks::api::diff(&rec, None, DIFF_CAP).map_err(|e| e.to_string())? else {
        return Ok(format!("task {id} made no commits\n"));
    };
    debug_assert_eq!(&diff.to, head);
    let text = diff.shown();
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.lines() {
        let line = strip(line);
        let colour = if line.starts_with("diff --git") {
            BOLD
        } else if line.starts_with("@@") {
            CYAN
        } else if line.starts_with('+') && !line.starts_with("+++") {
            GREEN
        } else if line.starts_with('-') && !line.starts_with("---") {
            RED
        } else {
            ""
        };
        if colour.is_empty() {
            out.push_str(&line);
        } else {
            out.push_str(&format!("{colour}{line}{RESET}"));
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_lines_get_our_colours_only() {
        assert_eq!(paint_run_line("→ Bash(ls)"), format!("{CYAN}→ Bash(ls){RESET}\n"));
        assert_eq!(paint_run_line("  plain text"), "  plain text\n");
        assert!(paint_run_line("✗ error: 529").starts_with(RED));
    }
}
