//! Tasks: run a prompt headless in a container of its own, list, show, follow, cancel, diff.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use super::{connect, exit, print_json, Failure};
use crate::domain::container::now_unix;
use crate::domain::stats::human_age;
use crate::domain::task::{render_line, TaskState};
use crate::ops::Context;
use crate::tasks::api::{self, Cancelled, DiffError, Follow, RunOptions};
use crate::tasks::{self, store::TaskRecord};

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Run PROMPT in a container of its own on a new branch agentdock/task-<id> of PROJECT
    Run {
        /// The project (id, name or path); with --repo, leave it out
        project: Option<String>,
        /// The prompt (or --file)
        prompt: Option<String>,
        /// Read the prompt from this file
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// Start from this branch or commit (default: the project's HEAD)
        #[arg(long)]
        branch: Option<String>,
        /// A repository that is not a local project (cloned by agentdock)
        #[arg(long, value_name = "URL")]
        repo: Option<String>,
        /// Time limit in seconds (default: tasks.timeout_secs, 300)
        #[arg(long)]
        timeout: Option<u64>,
        /// Output limit in bytes, the agent's event stream (default: tasks.max_output_bytes, 10 MiB)
        #[arg(long)]
        max_output: Option<u64>,
        /// Model the agent uses (default: tasks.model, else the CLI's)
        #[arg(long)]
        model: Option<String>,
        /// Run N tasks of this prompt side by side, each on its own branch (grouped; compare
        /// them with `task diff A B`)
        #[arg(long, value_name = "N", default_value_t = 1)]
        attempts: u32,
        /// Dollars the task may spend through the credential broker (default: tasks.budget_usd;
        /// 0: no budget)
        #[arg(long, value_name = "USD")]
        budget: Option<f64>,
        /// The task's network mode: allowlist, open or none (default: its project's)
        #[arg(long, value_name = "MODE", value_parser = network_mode)]
        network: Option<crate::domain::settings::NetworkMode>,
        /// Return once the task is queued or started (follow it with `task logs -f ID`)
        #[arg(long)]
        detach: bool,
        #[arg(long)]
        json: bool,
    },
    /// The pre-warmed pool (tasks.pool_size per project): ready and warming containers; the
    /// runner that keeps it is started when it is short
    Pool {
        #[arg(long)]
        json: bool,
        /// Remove every pool container (they are made again while tasks.pool_size asks for them)
        #[arg(long)]
        drain: bool,
    },
    /// Runs the queue, collects ended tasks, sends callbacks, stops inactive tasks, keeps the
    /// pool; started by agentdock itself when there is work (one per data dir)
    #[command(hide = true)]
    Runner,
    /// List tasks, with a summary line: how they ended, median and p95 duration, tokens, cost
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// A task's state, result and numbers
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// The agent's run, readable: text, tool calls, results
    Logs {
        id: String,
        /// Follow until the task ends
        #[arg(short, long)]
        follow: bool,
    },
    /// Stop a running task (its changes so far are committed on its branch)
    Cancel { id: String },
    /// The task branch's diff against where it started; with a second task, the diff from the
    /// first task's work to the second's (two attempts compared)
    Diff { id: String, other: Option<String> },
}

fn network_mode(s: &str) -> Result<crate::domain::settings::NetworkMode, String> {
    use crate::domain::settings::NetworkMode;
    match s {
        "allowlist" => Ok(NetworkMode::Allowlist),
        "open" => Ok(NetworkMode::Open),
        "none" => Ok(NetworkMode::None),
        _ => Err(format!("'{s}' is not a network mode: allowlist, open or none")),
    }
}

/// Exit code of a finished `task run`: 0 succeeded, 1 failed, 5 output capped, 6 budget
/// exceeded, 124 timed out,
/// 130 cancelled.
pub fn exit_code(s: TaskState) -> i32 {
    match s {
        TaskState::Succeeded => exit::OK,
        TaskState::TimedOut => 124,
        TaskState::Cancelled => 130,
        TaskState::OutputCapped => 5,
        TaskState::BudgetExceeded => 6,
        _ => exit::FAILED,
    }
}

pub async fn run(ctx: &Context, cmd: TaskCommand) -> Result<i32, Failure> {
    match cmd {
        TaskCommand::Pool { json, drain } => {
            if drain {
                let engine = connect(ctx).await?;
                let gone = tasks::pool::drain_all(&engine).await;
                println!("{} pool container{} removed", gone.len(), if gone.len() == 1 { "" } else { "s" });
                return Ok(exit::OK);
            }
            if tasks::pool::short(ctx) {
                tasks::queue::ensure_runner(Some(&ctx.loaded.path));
            }
            let states = tasks::pool::states();
            if json {
                print_json(&serde_json::json!({ "size": ctx.config().tasks.pool_size, "pool": states, "runner": tasks::queue::runner_pid().is_some() }))?;
            } else if states.is_empty() {
                println!("no pool containers (tasks.pool_size = {})", ctx.config().tasks.pool_size);
            } else {
                for s in states {
                    println!("{}: {} ready, {} warming ({})", s.project, s.ready, s.warming, s.image);
                }
            }
            Ok(exit::OK)
        }
        TaskCommand::Runner => {
            tasks::runner::run(ctx.clone()).await.map_err(|e| Failure::failed(e.to_string()))?;
            Ok(exit::OK)
        }
        TaskCommand::Run { project, prompt, file, branch, repo, timeout, max_output, model, attempts, budget, network, detach, json } => {
            let (project, prompt) = match (&repo, project, prompt) {
                (Some(_), Some(p), None) => (None, Some(p)),
                (_, project, prompt) => (project, prompt),
            };
            let prompt = match (prompt, file) {
                (Some(p), None) => p,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .map_err(|e| Failure::usage(format!("cannot read the prompt from {}: {e}", f.display())))?,
                (Some(_), Some(_)) => return Err(Failure::usage("give the prompt or --file, not both")),
                (None, None) => return Err(Failure::usage("no prompt: give it as an argument or with --file")),
            };
            if prompt.trim().is_empty() {
                return Err(Failure::usage("the prompt is empty"));
            }
            if !(1..=64).contains(&attempts) {
                return Err(Failure::usage("--attempts is 1 to 64"));
            }
            let opts = RunOptions { project, repo_url: repo, prompt, base: branch, timeout_secs: timeout, max_output, model, attempts, budget_usd: budget, network, ..Default::default() };
            let req = api::request(ctx, opts).map_err(Failure::usage)?;
            let engine = connect(ctx).await?;
            let recs = api::run(&engine, ctx, req).await?;
            if detach {
                if json {
                    print_json(&recs)?;
                } else {
                    recs.iter().for_each(|r| println!("{}", r.spec.id));
                }
                return Ok(exit::OK);
            }
            if recs.len() > 1 {
                return super::attempts::follow_all(&engine, recs, json).await;
            }
            let rec = recs.into_iter().next().expect("one task");
            if !json {
                eprintln!("task {} on {} ({}), branch {}", rec.spec.id, rec.spec.project_name, short(&rec.spec.base_commit), rec.spec.branch);
            }
            let rec = follow(&engine, ctx, rec, !json).await?;
            if json {
                print_json(&rec)?;
            } else {
                print_result(&rec);
            }
            Ok(exit_code(rec.state))
        }
        TaskCommand::Ls { json } => {
            let engine = connect(ctx).await.ok();
            let all = tasks::refreshed_all(engine.as_ref()).await;
            wake_runner(ctx, &all);
            // tokens and cost as the broker recorded them, where it did
            let metered = crate::broker::store::report(&crate::broker::store::state_dir(), 0.0).by_task;
            let all = crate::domain::broker::metered_tasks(&all, &metered);
            let summary = crate::domain::fleet::summarize(&all);
            if json {
                let queue: Vec<&str> = crate::domain::fleet::queue(&all).iter().map(|r| r.spec.id.as_str()).collect();
                let sweep = tasks::runner::last_sweep();
                print_json(&serde_json::json!({ "tasks": all, "summary": summary, "queue": queue, "cleanup": sweep, "metered": metered }))?;
            } else {
                print_table(&all);
                println!("{}", summary.line(human_age));
            }
            Ok(exit::OK)
        }
        TaskCommand::Show { id, json } => {
            let rec = find(&id)?;
            let engine = connect(ctx).await.ok();
            let rec = tasks::refreshed(engine.as_ref(), rec).await;
            wake_runner(ctx, std::slice::from_ref(&rec));
            if json {
                print_json(&rec)?;
            } else {
                print_table(std::slice::from_ref(&rec));
                print_result(&rec);
            }
            Ok(exit::OK)
        }
        TaskCommand::Logs { id, follow: f } => {
            let rec = find(&id)?;
            if f {
                let engine = connect(ctx).await?;
                follow(&engine, ctx, rec, true).await?;
            } else {
                print_lines(Follow::new(rec).new_lines());
            }
            Ok(exit::OK)
        }
        TaskCommand::Cancel { id } => {
            let rec = find(&id)?;
            let engine = connect(ctx).await?;
            match api::cancel(&engine, rec).await? {
                Cancelled::AlreadyEnded(rec) => println!("task {} already ended: {}", rec.spec.id, rec.state.label()),
                Cancelled::Now(rec) => println!("task {}: {}", rec.spec.id, rec.state.label()),
            }
            Ok(exit::OK)
        }
        TaskCommand::Diff { id, other } => {
            let engine = connect(ctx).await.ok();
            let rec = tasks::refreshed(engine.as_ref(), find(&id)?).await;
            let other = match other {
                Some(o) => Some(tasks::refreshed(engine.as_ref(), find(&o)?).await),
                None => None,
            };
            match api::diff(&rec, other.as_ref(), 10 * 1024 * 1024) {
                Ok(None) => println!("task {} made no commits", rec.spec.id),
                Ok(Some(d)) => print!("{}", d.shown()),
                Err(DiffError::Unrelated(m)) => return Err(Failure::usage(m)),
                Err(DiffError::Git(m)) => return Err(Failure::failed(m)),
            }
            Ok(exit::OK)
        }
    }
}

/// Starts the runner when tasks wait for it (queued, under way, a callback due) and it is not
/// there (killed, say): a look at the tasks is enough to get the queue going again.
fn wake_runner(ctx: &Context, all: &[TaskRecord]) {
    let due = |r: &TaskRecord| !r.collected || r.webhook.as_ref().is_some_and(|w| w.state == "pending");
    if all.iter().any(due) || tasks::pool::short(ctx) {
        tasks::queue::ensure_runner(Some(&ctx.loaded.path));
    }
}

fn find(id: &str) -> Result<TaskRecord, Failure> {
    api::find(id).map_err(Failure::usage)
}

/// Prints the run as it comes (when `print`) until the task ends; Ctrl-C cancels the task.
/// While its container runs only the new lines are read; the record is brought up to date
/// (stream summed up, result collected) once it no longer runs.
async fn follow(engine: &crate::engine::Engine, ctx: &Context, rec: TaskRecord, print: bool) -> Result<TaskRecord, Failure> {
    let mut f = Follow::new(rec);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // the broker the agent talks to is kept up while the task runs (made ready again every
    // health interval, as the dashboard does)
    let every = Duration::from_secs(ctx.config().health.interval_secs.max(1));
    let mut last_ensure = std::time::Instant::now();
    loop {
        if last_ensure.elapsed() >= every {
            last_ensure = std::time::Instant::now();
            if let Err(e) = crate::ops::ensure_broker(engine, ctx).await {
                tracing::warn!("broker: {e}");
            }
        }
        if let Some(p) = f.queue_moved() {
            if print {
                eprintln!("task {} queued: {} of {} in the queue, {} running (tasks.max_parallel)", f.rec.spec.id, p.place, p.queued, p.running);
            }
        }
        if print {
            print_lines(f.new_lines());
        }
        if f.ended(engine).await {
            if print {
                print_lines(f.new_lines());
            }
            return Ok(f.rec);
        }
        tokio::select! {
            _ = &mut ctrl_c => {
                eprintln!("cancelling task {}…", f.rec.spec.id);
                return tasks::cancel(engine, &f.rec).await.map_err(Failure::from);
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// Prints stream lines readably.
fn print_lines(lines: Vec<String>) {
    for line in lines {
        for shown in render_line(&line, 5).unwrap_or_default() {
            println!("{}", crate::domain::text::strip(&shown));
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..12.min(sha.len())]
}

fn print_table(all: &[TaskRecord]) {
    let now = now_unix();
    println!("{:<16} {:<13} {:<20} {:>7} {:>5} {:>8} {:>8} {:<24} LAST TOOL", "ID", "STATE", "PROJECT", "ELAPSED", "TURNS", "TOKENS", "COST", "DIFF");
    let queue = crate::domain::fleet::queue(all);
    for r in all {
        let s = &r.summary;
        let place = queue.iter().position(|q| q.spec.id == r.spec.id);
        let state = match place {
            Some(i) => format!("queued {}/{}", i + 1, queue.len()),
            None => r.state.label().to_string(),
        };
        // a queued task's clock is its wait
        let elapsed = match place {
            Some(_) => r.queued_at.map(|q| human_age(now - q)).unwrap_or_else(|| "-".into()),
            None => r.elapsed(now).map(human_age).unwrap_or_else(|| "-".into()),
        };
        let cost = s.cost_usd.map(|c| format!("${c:.4}")).unwrap_or_else(|| "-".into());
        let diff = r.diffstat.map(|d| format!("{} files +{} -{}", d.files, d.insertions, d.deletions)).unwrap_or_else(|| "-".into());
        let mut tool = s.last_tool().map(|t| t.short()).unwrap_or_default();
        if let Some(w) = r.webhook.as_ref().filter(|w| w.state == "failed") {
            tool = format!("{tool} [callback failed: {}]", w.error.as_deref().unwrap_or("?"));
        }
        println!(
            "{:<16} {:<13} {:<20} {:>7} {:>5} {:>8} {:>8} {:<24} {}",
            r.spec.id,
            state,
            crate::domain::task::cut(&r.spec.project_name, 20),
            elapsed,
            s.turns,
            s.tokens(),
            cost,
            diff,
            crate::domain::text::strip(&tool)
        );
    }
}

fn print_result(r: &TaskRecord) {
    println!("state: {}{}", r.state.label(), r.reason.as_deref().map(|x| format!(" ({})", crate::domain::text::strip(x))).unwrap_or_default());
    if r.collected && r.head.is_none() {
        // no commits came back, so no branch was made: do not name one that is not there
        println!("branch: none, no commits (from {} {})", r.spec.base_ref, short(&r.spec.base_commit));
    } else {
        println!("branch: {} (from {} {})", r.spec.branch, r.spec.base_ref, short(&r.spec.base_commit));
    }
    if let Some(d) = r.diffstat {
        println!("changes: {} files, +{} -{}", d.files, d.insertions, d.deletions);
    }
    if let Some(t) = &r.summary.final_text {
        println!("result: {}", crate::domain::text::strip(t));
    }
    if let Some(w) = &r.webhook {
        let why = w.error.as_deref().map(|e| format!(": {}", crate::domain::text::strip(e))).unwrap_or_default();
        println!("callback: {} ({} tr{}){why}", w.state, w.tries, if w.tries == 1 { "y" } else { "ies" });
    }
}
