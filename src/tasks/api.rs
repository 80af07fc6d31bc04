//! Tasks as a library: what `agentdock task …`, the dashboard and the MCP server all call, so
//! each front end only parses its input and shows the outcome. Start (with the config's
//! defaults), find by id, follow to the end, cancel, diff, and the result in one record.

use serde::Serialize;

use super::store::{self, TaskRecord};
use super::TaskRequest;
use crate::domain::container::{now_unix, ContainerState};
use crate::domain::task::{DiffStat, TaskState};
use crate::engine::Engine;
use crate::ops::{Context, OpError};

/// What a caller may say about new tasks; what it leaves out comes from `[tasks]`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub project: Option<String>,
    pub repo_url: Option<String>,
    pub prompt: String,
    pub base: Option<String>,
    pub timeout_secs: Option<u64>,
    pub max_output: Option<u64>,
    pub model: Option<String>,
    /// The same prompt in this many tasks (0 or 1: one).
    pub attempts: u32,
    pub client: Option<String>,
    pub depth: u32,
    /// Dollars each may spend through the broker (None: the config's).
    pub budget_usd: Option<f64>,
    /// Their network mode (None: the project's).
    pub network: Option<crate::domain::settings::NetworkMode>,
}

/// The request for `o`, with the config's defaults; an empty prompt is refused.
pub fn request(ctx: &Context, o: RunOptions) -> Result<TaskRequest, String> {
    if o.prompt.trim().is_empty() {
        return Err("the prompt is empty".into());
    }
    let mut req = TaskRequest::new(ctx, o.project, o.prompt);
    req.repo_url = o.repo_url;
    req.base = o.base;
    req.attempts = o.attempts.max(1);
    if let Some(t) = o.timeout_secs {
        req.timeout_secs = t.max(1);
    }
    if let Some(m) = o.max_output {
        req.max_output = m.max(1024);
    }
    if o.model.is_some() {
        req.model = o.model;
    }
    if let Some(b) = o.budget_usd {
        req.budget_usd = b.max(0.0);
    }
    req.network = o.network;
    req.client = o.client;
    req.depth = o.depth;
    Ok(req)
}

/// Queues the request's tasks and starts what `tasks.max_parallel` lets start now (see
/// [`super::run`]): their records as they stand (queued, running, or failed to start).
pub async fn run(engine: &Engine, ctx: &Context, req: TaskRequest) -> Result<Vec<TaskRecord>, OpError> {
    let seen = engine.list(false).await?;
    super::run(engine, ctx, req, &seen).await
}

/// The task `id` names: the whole id, or a unique start or end of one.
pub fn find(id: &str) -> Result<TaskRecord, String> {
    if let Some(r) = store::load(id) {
        return Ok(r);
    }
    let all = store::load_all();
    let hits: Vec<&TaskRecord> = all.iter().filter(|r| !id.is_empty() && (r.spec.id.starts_with(id) || r.spec.id.ends_with(id))).collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!("no task '{}' (agentdock task ls lists them)", crate::domain::text::strip(id))),
        _ => Err(format!("'{}' names {} tasks; give more of the id", crate::domain::text::strip(id), hits.len())),
    }
}

/// A task followed to its end: its place while it waits in the queue, the new lines of its
/// event stream as they come, and its record brought up to date (stream summed up, result
/// collected) once its container stops.
pub struct Follow {
    pub rec: TaskRecord,
    offset: u64,
    said_place: Option<usize>,
}

/// A queued task's place: `place` of `queued`, with `running` tasks under way.
pub struct Place {
    pub place: usize,
    pub queued: usize,
    pub running: usize,
}

impl Follow {
    pub fn new(rec: TaskRecord) -> Follow {
        Follow { rec, offset: 0, said_place: None }
    }

    /// Its place in the queue when that changed since the last call (None when it did not,
    /// or the task is not queued). A queued or starting task's record is read again: whoever
    /// starts it (the runner) says so there.
    pub fn queue_moved(&mut self) -> Option<Place> {
        if matches!(self.rec.state, TaskState::Queued | TaskState::Starting) {
            self.rec = store::load(&self.rec.spec.id).unwrap_or_else(|| self.rec.clone());
        }
        if !self.rec.queued() {
            return None;
        }
        let all = store::load_open();
        let place = crate::domain::fleet::position(&all, &self.rec.spec.id);
        if place.is_none() || place == self.said_place {
            return None;
        }
        self.said_place = place;
        Some(Place {
            place: place.unwrap_or(0),
            queued: crate::domain::fleet::queue(&all).len(),
            running: all.iter().filter(|r| r.under_way()).count(),
        })
    }

    /// The whole lines of the event stream written since the last call.
    pub fn new_lines(&mut self) -> Vec<String> {
        store::new_event_lines(&self.rec.spec.id, self.rec.spec.max_output, &mut self.offset)
    }

    /// Whether the task is over and collected (then [`Follow::rec`] is how it ended). While
    /// it waits or its container runs nothing but its state is asked.
    pub async fn ended(&mut self, engine: &Engine) -> bool {
        if self.rec.collected {
            return true;
        }
        let running = !matches!(self.rec.state, TaskState::Running)
            || matches!(engine.inspect_state(&self.rec.spec.container).await,
                Ok(Some(st)) if st.state == ContainerState::Running);
        if !running {
            self.rec = super::refreshed(Some(engine), self.rec.clone()).await;
        }
        self.rec.collected
    }
}

/// How a cancel went.
pub enum Cancelled {
    /// The task had ended before (how it ended).
    AlreadyEnded(TaskRecord),
    /// Stopped now; its changes so far committed on its branch.
    Now(TaskRecord),
}

/// Cancels the task unless it has ended.
pub async fn cancel(engine: &Engine, rec: TaskRecord) -> Result<Cancelled, OpError> {
    let rec = super::refreshed(Some(engine), rec).await;
    if rec.state.is_final() {
        return Ok(Cancelled::AlreadyEnded(rec));
    }
    Ok(Cancelled::Now(super::cancel(engine, &rec).await?))
}

/// A diff between two points of a task's repository, its text capped.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub from: String,
    pub to: String,
    pub text: String,
    /// Bytes of the whole diff; more than `text` holds when cut.
    pub total_bytes: u64,
    pub truncated: bool,
}

impl Diff {
    /// The text, and when cut, a last line saying so (as `task diff` prints it).
    pub fn shown(&self) -> String {
        if self.truncated {
            format!("{}\n[agentdock: diff cut at {} of {} bytes]\n", self.text, self.text.len(), self.total_bytes)
        } else {
            self.text.clone()
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// Two tasks on different repositories.
    #[error("{0}")]
    Unrelated(String),
    #[error("{0}")]
    Git(String),
}

/// The diff of task `a`'s branch against where it started, or with `b` from `a`'s work to
/// `b`'s; None when `a` alone made no commits. At most `max` bytes of text.
pub fn diff(a: &TaskRecord, b: Option<&TaskRecord>, max: usize) -> Result<Option<Diff>, DiffError> {
    let (from, to) = match b {
        None => match &a.head {
            None => return Ok(None),
            Some(head) => (a.spec.base_commit.clone(), head.clone()),
        },
        Some(b) => {
            if b.spec.repo_dir != a.spec.repo_dir {
                return Err(DiffError::Unrelated(format!("tasks {} and {} are on different repositories", a.spec.id, b.spec.id)));
            }
            // a task without commits is where it started
            let head_of = |r: &TaskRecord| r.head.clone().unwrap_or_else(|| r.spec.base_commit.clone());
            (head_of(a), head_of(b))
        }
    };
    let (text, total_bytes) = super::git::diff(&a.spec.repo_dir, &from, &to, max).map_err(DiffError::Git)?;
    Ok(Some(Diff { truncated: total_bytes > text.len() as u64, from, to, text, total_bytes }))
}

/// A task's outcome in one record: what `task_result` answers.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub id: String,
    pub project: String,
    pub state: TaskState,
    pub done: bool,
    pub reason: Option<String>,
    /// The task branch; None when the task ended without commits (no branch was made).
    pub branch: Option<String>,
    pub base_ref: String,
    pub base_commit: String,
    pub head: Option<String>,
    pub diffstat: Option<DiffStat>,
    pub final_text: Option<String>,
    pub is_error: Option<bool>,
    pub turns: u64,
    pub tokens: u64,
    pub cost_usd: Option<f64>,
    pub duration_secs: Option<i64>,
    pub last_tool: Option<String>,
    pub client: Option<String>,
}

pub fn result_of(r: &TaskRecord) -> TaskResult {
    let s = &r.summary;
    let no_branch = r.collected && r.head.is_none();
    TaskResult {
        id: r.spec.id.clone(),
        project: r.spec.project_name.clone(),
        state: r.state,
        done: r.collected,
        reason: r.reason.clone(),
        branch: (!no_branch).then(|| r.spec.branch.clone()),
        base_ref: r.spec.base_ref.clone(),
        base_commit: r.spec.base_commit.clone(),
        head: r.head.clone(),
        diffstat: r.diffstat,
        final_text: s.final_text.clone(),
        is_error: s.is_error,
        turns: s.turns,
        tokens: s.tokens(),
        cost_usd: s.cost_usd,
        duration_secs: r.elapsed(now_unix()),
        last_tool: s.last_tool().map(|t| t.short()),
        client: r.spec.client.clone(),
    }
}

/// Tasks of `client` that have not ended, queued ones too (they count against its cap).
pub async fn running_of_client(engine: Option<&Engine>, client: &str) -> usize {
    let mut n = 0;
    for rec in store::load_open().into_iter().filter(|r| !r.collected && r.spec.client.as_deref() == Some(client)) {
        if !super::refreshed(engine, rec).await.state.is_final() {
            n += 1;
        }
    }
    n
}
