//! Tasks: run a prompt headless in a container of its own, list, show, follow, cancel, diff.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

use super::{connect, exit, print_json, Failure};
use crate::domain::container::now_unix;
use crate::domain::stats::human_age;
use crate::domain::task::{render_line, TaskState};
use crate::ops::Context;
use crate::tasks::{self, store, store::TaskRecord, TaskRequest};

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
        /// Return once the task started (follow it with `task logs -f ID`)
        #[arg(long)]
        detach: bool,
        #[arg(long)]
        json: bool,
    },
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

/// Exit code of a finished `task run`: 0 succeeded, 1 failed, 5 output capped, 124 timed out,
/// 130 cancelled.
pub fn exit_code(s: TaskState) -> i32 {
    match s {
        TaskState::Succeeded => exit::OK,
        TaskState::TimedOut => 124,
        TaskState::Cancelled => 130,
        TaskState::OutputCapped => 5,
        _ => exit::FAILED,
    }
}

pub async fn run(ctx: &Context, cmd: TaskCommand) -> Result<i32, Failure> {
    match cmd {
        TaskCommand::Run { project, prompt, file, branch, repo, timeout, max_output, model, detach, json } => {
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
            let t = &ctx.config().tasks;
            let req = TaskRequest {
                project,
                repo_url: repo,
                prompt,
                base: branch,
                timeout_secs: timeout.unwrap_or(t.timeout_secs).max(1),
                max_output: max_output.unwrap_or(t.max_output_bytes).max(1024),
                model: model.or_else(|| Some(t.model.clone()).filter(|m| !m.is_empty())),
                permission_mode: t.permission_mode.clone(),
            };
            let engine = connect(ctx).await?;
            let seen = engine.list(false).await?;
            let rec = tasks::start(&engine, ctx, req, &seen).await?;
            if detach {
                if json {
                    print_json(&rec)?;
                } else {
                    println!("{}", rec.spec.id);
                }
                return Ok(exit::OK);
            }
            if !json {
                eprintln!("task {} on {} ({}), branch {}", rec.spec.id, rec.spec.project_name, short(&rec.spec.base_commit), rec.spec.branch);
            }
            let rec = follow(&engine, rec, !json).await?;
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
            let summary = crate::domain::fleet::summarize(&all);
            if json {
                print_json(&serde_json::json!({ "tasks": all, "summary": summary }))?;
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
                follow(&engine, rec, true).await?;
            } else {
                let mut offset = 0;
                print_new_events(&rec, &mut offset);
            }
            Ok(exit::OK)
        }
        TaskCommand::Cancel { id } => {
            let rec = find(&id)?;
            let engine = connect(ctx).await?;
            let rec = tasks::refreshed(Some(&engine), rec).await;
            if rec.state.is_final() {
                println!("task {} already ended: {}", rec.spec.id, rec.state.label());
                return Ok(exit::OK);
            }
            let rec = tasks::cancel(&engine, &rec).await?;
            println!("task {}: {}", rec.spec.id, rec.state.label());
            Ok(exit::OK)
        }
        TaskCommand::Diff { id, other } => {
            let engine = connect(ctx).await.ok();
            let rec = tasks::refreshed(engine.as_ref(), find(&id)?).await;
            let (from, to, repo) = match other {
                None => {
                    let Some(head) = &rec.head else {
                        println!("task {} made no commits", rec.spec.id);
                        return Ok(exit::OK);
                    };
                    (rec.spec.base_commit.clone(), head.clone(), rec.spec.repo_dir.clone())
                }
                Some(other) => {
                    let b = tasks::refreshed(engine.as_ref(), find(&other)?).await;
                    if b.spec.repo_dir != rec.spec.repo_dir {
                        return Err(Failure::usage(format!("tasks {} and {} are on different repositories", rec.spec.id, b.spec.id)));
                    }
                    // a task without commits is where it started
                    let head_of = |r: &TaskRecord| r.head.clone().unwrap_or_else(|| r.spec.base_commit.clone());
                    (head_of(&rec), head_of(&b), rec.spec.repo_dir.clone())
                }
            };
            let text = tasks::git::diff(&repo, &from, &to, 10 * 1024 * 1024).map_err(Failure::failed)?;
            print!("{text}");
            Ok(exit::OK)
        }
    }
}

fn find(id: &str) -> Result<TaskRecord, Failure> {
    if let Some(r) = store::load(id) {
        return Ok(r);
    }
    // a unique prefix or suffix of an id will do
    let all = store::load_all();
    let hits: Vec<&TaskRecord> = all.iter().filter(|r| r.spec.id.starts_with(id) || r.spec.id.ends_with(id)).collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Failure::usage(format!("no task '{id}' (agentdock task ls lists them)"))),
        _ => Err(Failure::usage(format!("'{id}' names {} tasks; give more of the id", hits.len()))),
    }
}

/// Prints the run as it comes (when `print`) until the task ends; Ctrl-C cancels the task.
/// While its container runs only the new lines are read; the record is brought up to date
/// (stream summed up, result collected) once it no longer runs.
async fn follow(engine: &crate::engine::Engine, rec: TaskRecord, print: bool) -> Result<TaskRecord, Failure> {
    let mut offset = 0u64;
    let mut rec = rec;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        if print {
            print_new_events(&rec, &mut offset);
        }
        let running = matches!(engine.inspect_state(&rec.spec.container).await,
            Ok(Some(st)) if st.state == crate::domain::container::ContainerState::Running);
        if !running {
            rec = tasks::refreshed(Some(engine), rec).await;
            if rec.collected {
                if print {
                    print_new_events(&rec, &mut offset);
                }
                return Ok(rec);
            }
        }
        tokio::select! {
            _ = &mut ctrl_c => {
                eprintln!("cancelling task {}…", rec.spec.id);
                return tasks::cancel(engine, &rec).await.map_err(Failure::from);
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// Prints the lines of the event stream after `offset` (whole lines only), readably.
fn print_new_events(rec: &TaskRecord, offset: &mut u64) {
    for line in store::new_event_lines(&rec.spec.id, rec.spec.max_output, offset) {
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
    for r in all {
        let s = &r.summary;
        let elapsed = r.elapsed(now).map(human_age).unwrap_or_else(|| "-".into());
        let cost = s.cost_usd.map(|c| format!("${c:.4}")).unwrap_or_else(|| "-".into());
        let diff = r.diffstat.map(|d| format!("{} files +{} -{}", d.files, d.insertions, d.deletions)).unwrap_or_else(|| "-".into());
        let tool = s.last_tool().map(|t| t.short()).unwrap_or_default();
        println!(
            "{:<16} {:<13} {:<20} {:>7} {:>5} {:>8} {:>8} {:<24} {}",
            r.spec.id,
            r.state.label(),
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
}
