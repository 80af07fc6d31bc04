//! The task tools: projects_list, task_run, task_status, task_wait, task_result, task_diff,
//! task_cancel. Each calls the tasks library ([`crate::tasks::api`]) as the CLI does.

use std::time::{Duration, Instant};

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::ProgressNotificationParam;
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, RoleServer};
use serde::Serialize;

use super::params;
use super::server::{json_result, refused, Server, ToolResult};
use crate::domain::container::{container_name, now_unix};
use crate::domain::task::TaskState;
use crate::tasks::api::{self, Cancelled, DiffError, RunOptions};
use crate::tasks::store::TaskRecord;
use crate::tasks;

#[derive(Serialize)]
struct ProjectRow {
    id: String,
    name: String,
    path: String,
    /// Its main container's state ("running", "exited"…), or null without one.
    container: Option<String>,
}

#[derive(Serialize)]
struct Started {
    id: String,
    project: String,
    branch: String,
    /// running, or queued (tasks.max_parallel), or failed with its reason
    state: TaskState,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize)]
struct Status {
    id: String,
    project: String,
    state: TaskState,
    done: bool,
    elapsed_secs: Option<i64>,
    turns: u64,
    tokens: u64,
    last_tool: Option<String>,
}

fn status_of(r: &TaskRecord) -> Status {
    Status {
        id: r.spec.id.clone(),
        project: r.spec.project_name.clone(),
        state: r.state,
        done: r.collected,
        elapsed_secs: r.elapsed(now_unix()),
        turns: r.summary.turns,
        tokens: r.summary.tokens(),
        last_tool: r.summary.last_tool().map(|t| crate::domain::text::strip(&t.short())),
    }
}

impl Server {
    /// The task `id` names, when it is on a project the client may use.
    /// The task `id` names and the engine, each or why not.
    async fn task_and_engine(&self, id: &str) -> Result<(TaskRecord, crate::engine::Engine), String> {
        let rec = self.find_task(id)?;
        Ok((rec, self.engine().await?))
    }

    fn find_task(&self, id: &str) -> Result<TaskRecord, String> {
        let rec = api::find(id)?;
        if rec.spec.repo_url.is_some() && self.ctx.config().mcp.allow_repo_urls {
            return Ok(rec);
        }
        self.allowed(&rec.spec.project_id, &rec.spec.project_name)?;
        Ok(rec)
    }
}

#[tool_router(router = task_tools, vis = "pub(super)")]
impl Server {
    #[tool(description = "List the projects you may start tasks in and reach with exec and the file tools, with their main container's state.")]
    async fn projects_list(&self, Parameters(_): Parameters<params::NoArgs>) -> ToolResult {
        let m = &self.ctx.config().mcp;
        let containers = match self.engine().await {
            Ok(e) => e.list(false).await.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        let rows: Vec<ProjectRow> = self
            .ctx
            .projects
            .iter()
            .filter(|p| m.allows(&p.id, &p.name) && p.exists)
            .map(|p| ProjectRow {
                id: p.id.clone(),
                name: p.name.clone(),
                path: p.path.display().to_string(),
                container: containers.iter().find(|c| c.name == container_name(&p.id)).map(|c| c.state.as_str().to_string()),
            })
            .collect();
        json_result(&serde_json::json!({ "projects": rows }))
    }

    #[tool(description = "Start a task: an agent works on PROMPT headless in a container of its own, on a new git branch of the project. Returns the task ids at once; then call task_wait, task_result and task_diff.")]
    async fn task_run(&self, Parameters(p): Parameters<params::TaskRun>, rc: RequestContext<RoleServer>) -> ToolResult {
        let m = &self.ctx.config().mcp;
        let client = self.client(&rc);
        let attempts = p.attempts.unwrap_or(1);
        if !(1..=10).contains(&attempts) {
            return refused("attempts must be 1 to 10");
        }
        match (&p.project, &p.repo_url) {
            (Some(_), Some(_)) => return refused("give project or repo_url, not both"),
            (None, None) => return refused("give project (see projects_list) or repo_url"),
            (Some(key), None) => match crate::domain::project::find(&self.ctx.projects, key) {
                None => {
                    let names: Vec<&str> = self.ctx.projects.iter().filter(|q| m.allows(&q.id, &q.name)).map(|q| q.name.as_str()).collect();
                    return refused(format!("no project '{}'; projects: {}", crate::domain::text::strip(key), names.join(", ")));
                }
                Some(proj) => {
                    if let Err(e) = self.allowed(&proj.id, &proj.name) {
                        return refused(e);
                    }
                }
            },
            (None, Some(url)) => {
                if !m.allow_repo_urls {
                    return refused("repository URLs are closed to MCP clients (mcp.allow_repo_urls = false); name a project");
                }
                if !url.starts_with("https://") || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return refused("repo_url must be an https:// URL of a git repository");
                }
            }
        }
        let engine = match self.engine().await {
            Ok(e) => e,
            Err(e) => return refused(e),
        };
        // one start at a time in this server: calls made at once must not all pass the cap
        static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one = STARTING.lock().await;
        let under_way = api::running_of_client(Some(&engine), &client).await;
        let cap = m.max_tasks_per_client as usize;
        if under_way + attempts as usize > cap {
            return refused(format!(
                "{client} has {under_way} tasks under way; mcp.max_tasks_per_client is {cap}: wait for one (task_wait) or cancel one (task_cancel)"
            ));
        }
        let opts = RunOptions {
            project: p.project,
            repo_url: p.repo_url,
            prompt: p.prompt,
            base: p.base_branch,
            timeout_secs: p.timeout_secs,
            model: p.model,
            client: Some(client),
            depth: self.depth + 1,
            attempts,
            ..Default::default()
        };
        let req = match api::request(&self.ctx, opts) {
            Ok(r) => r,
            Err(e) => return refused(e),
        };
        // queued in order: what tasks.max_parallel lets start now starts, the rest waits
        let recs = match api::run(&engine, &self.ctx, req).await {
            Ok(r) => r,
            Err(e) => return refused(e.to_string()),
        };
        let started: Vec<Started> = recs
            .iter()
            .map(|r| Started {
                id: r.spec.id.clone(),
                project: r.spec.project_name.clone(),
                branch: r.spec.branch.clone(),
                state: r.state,
                reason: r.reason.clone(),
            })
            .collect();
        json_result(&serde_json::json!({ "tasks": started }))
    }

    #[tool(description = "A task's state now (running, succeeded…), elapsed time, turns, tokens and last tool call. Without task: every task you started, newest first.")]
    async fn task_status(&self, Parameters(p): Parameters<params::TaskStatus>, rc: RequestContext<RoleServer>) -> ToolResult {
        let engine = self.engine().await.ok();
        match p.task {
            Some(id) => match self.find_task(&id) {
                Ok(rec) => json_result(&status_of(&tasks::refreshed(engine.as_ref(), rec).await)),
                Err(e) => refused(e),
            },
            None => {
                let client = self.client(&rc);
                let mine: Vec<TaskRecord> =
                    tasks::store::load_all().into_iter().rev().filter(|r| r.spec.client.as_deref() == Some(client.as_str())).take(50).collect();
                let mut rows = Vec::new();
                for r in mine {
                    rows.push(status_of(&tasks::refreshed(engine.as_ref(), r).await));
                }
                json_result(&serde_json::json!({ "tasks": rows }))
            }
        }
    }

    #[tool(description = "Wait until a task ends (or timeout_secs passes; the task goes on either way), sending progress notifications meanwhile. Returns the same as task_result.")]
    async fn task_wait(&self, Parameters(p): Parameters<params::TaskWait>, rc: RequestContext<RoleServer>) -> ToolResult {
        let (rec, engine) = match self.task_and_engine(&p.task).await {
            Ok(x) => x,
            Err(e) => return refused(e),
        };
        let limit = Duration::from_secs(p.timeout_secs.unwrap_or(300).clamp(1, 3600));
        let token = rc.meta.get_progress_token();
        let t0 = Instant::now();
        let mut follow = api::Follow::new(rec);
        // what the stream said so far, summed up as it comes (for the progress messages)
        let mut so_far = crate::domain::task::Summary::default();
        let mut said = Instant::now() - Duration::from_secs(60);
        let mut place: Option<api::Place> = None;
        loop {
            // a queued task's record says when it starts (and its place meanwhile)
            if let Some(p) = follow.queue_moved() {
                place = Some(p);
            }
            follow.new_lines().iter().for_each(|l| so_far.push_line(l));
            if follow.ended(&engine).await {
                break;
            }
            if t0.elapsed() >= limit {
                let mut r = serde_json::to_value(api::result_of(&tasks::refreshed(Some(&engine), follow.rec.clone()).await)).unwrap_or_default();
                r["waited_secs"] = t0.elapsed().as_secs().into();
                r["note"] = "still under way: call task_wait again, or task_cancel".into();
                return json_result(&r);
            }
            if let Some(token) = &token {
                if said.elapsed() >= Duration::from_secs(2) {
                    said = Instant::now();
                    let msg = match &place {
                        Some(p) if follow.rec.queued() => {
                            format!("queued: {} of {} in the queue, {} running (tasks.max_parallel)", p.place, p.queued, p.running)
                        }
                        _ => format!(
                            "{} · {} turns · {} tokens{}",
                            follow.rec.state.label(),
                            so_far.turns,
                            so_far.tokens(),
                            so_far.last_tool().map(|t| format!(" · {}", crate::domain::text::strip(&t.short()))).unwrap_or_default()
                        ),
                    };
                    let param = ProgressNotificationParam::new(token.clone(), t0.elapsed().as_secs_f64())
                        .with_total(limit.as_secs_f64())
                        .with_message(msg);
                    if rc.peer.notify_progress(param).await.is_err() {
                        // the client is gone: the task goes on without it
                        return refused("the client went away");
                    }
                }
            }
            tokio::select! {
                _ = rc.ct.cancelled() => return refused("the wait was cancelled; the task goes on"),
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        json_result(&api::result_of(&follow.rec))
    }

    #[tool(description = "A task's outcome: state and why, the agent's final text, its branch, diff stat, turns, tokens, cost and duration. done is false while it runs.")]
    async fn task_result(&self, Parameters(p): Parameters<params::TaskId>) -> ToolResult {
        let engine = self.engine().await.ok();
        match self.find_task(&p.task) {
            Ok(rec) => json_result(&api::result_of(&tasks::refreshed(engine.as_ref(), rec).await)),
            Err(e) => refused(e),
        }
    }

    #[tool(description = "The diff of a task's branch against where it started (or from one task's work to another's with other_task), cut at max_bytes with a marker saying so.")]
    async fn task_diff(&self, Parameters(p): Parameters<params::TaskDiff>) -> ToolResult {
        let engine = self.engine().await.ok();
        let a = match self.find_task(&p.task) {
            Ok(r) => tasks::refreshed(engine.as_ref(), r).await,
            Err(e) => return refused(e),
        };
        let b = match &p.other_task {
            Some(o) => match self.find_task(o) {
                Ok(r) => Some(tasks::refreshed(engine.as_ref(), r).await),
                Err(e) => return refused(e),
            },
            None => None,
        };
        let max = p.max_bytes.unwrap_or(100_000).clamp(1, 5_000_000) as usize;
        let (a2, b2) = (a.clone(), b.clone());
        let got = tokio::task::spawn_blocking(move || api::diff(&a2, b2.as_ref(), max)).await;
        match got {
            Ok(Ok(None)) => {
                let why = if a.collected { "made no commits" } else { "is under way: its commits come back when it ends" };
                json_result(&serde_json::json!({ "task": a.spec.id, "diff": "", "note": format!("task {} {why}", a.spec.id) }))
            }
            Ok(Ok(Some(d))) => json_result(&serde_json::json!({
                "task": a.spec.id, "from": d.from, "to": d.to, "truncated": d.truncated,
                "total_bytes": d.total_bytes, "diff": d.shown(),
            })),
            Ok(Err(DiffError::Unrelated(m) | DiffError::Git(m))) => refused(m),
            Err(e) => refused(e.to_string()),
        }
    }

    #[tool(description = "Stop a running task; what its agent changed so far is committed on its branch.")]
    async fn task_cancel(&self, Parameters(p): Parameters<params::TaskId>) -> ToolResult {
        let (rec, engine) = match self.task_and_engine(&p.task).await {
            Ok(x) => x,
            Err(e) => return refused(e),
        };
        match api::cancel(&engine, rec).await {
            Ok(Cancelled::AlreadyEnded(r)) => json_result(&serde_json::json!({ "task": r.spec.id, "state": r.state, "note": "it had ended already" })),
            Ok(Cancelled::Now(r)) => json_result(&api::result_of(&r)),
            Err(e) => refused(e.to_string()),
        }
    }
}
