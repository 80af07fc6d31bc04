//! The messages between the dashboard's app and the rest: commands out, engine events in.

use crate::domain::container::ContainerInfo;
use crate::domain::project::Project;
use crate::domain::stats::StatsSample;
use crate::domain::task::TaskRecord;
use crate::engine::{DetailInfo, StateInfo};

pub use crate::domain::agent::AgentStatus;

/// What the app asks the engine worker (or the terminal owner) to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Up(Project),
    Refresh { project: Project, reason: String },
    Remove(Project),
    Start(String),
    Stop(String),
    Exec { stream: u64, container: String, cmd: String },
    Logs { stream: u64, container: String },
    StopStream(u64),
    Detail(String),
    /// The detail view closed: no more per-container extras.
    CloseDetail,
    /// `session`: a further agent session's (`+`), else the main one.
    Attach { container: String, project: String, session: Option<String> },
    Shell { container: String, project: String },
    Bell,
    /// One of agentdock's own services (its egress proxy, its broker) made anew, by name.
    RefreshService(String),
    /// The bell and, with `desktop`, a desktop notification saying `text`.
    Notify { text: String, desktop: bool },
    /// Something for an agent (a prompt, an answer, a new session…).
    Steer(crate::domain::steer::Steer),
    /// The task list is on screen (its tasks are looked at every second) or not.
    WatchTasks(bool),
    StartTask { project: Project, prompt: String },
    CancelTask(String),
    /// A task's run, readable, into the output pane until the task ends.
    TaskRun { stream: u64, id: String },
    /// A task branch's diff against its base, into the output pane.
    TaskDiff { stream: u64, id: String },
    /// Read this project's git state again (its agent finished a turn).
    GitNow(String),
    /// The containers agentdock does not manage are listed (`u`) or not: their stats are
    /// sampled only while they are.
    ShowUnmanaged(bool),
}

/// What the engine worker tells the app.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Connected { host: String, version: String, api: String },
    Disconnected { reason: String, retry_in_ms: u64 },
    /// The engine's last ping took this long (sent when the dashboard shows several engines).
    RoundTrip { micros: u64 },
    Containers(Vec<ContainerInfo>),
    Container(ContainerInfo),
    ContainerGone(String),
    State(StateInfo),
    Stats(Vec<(String, LiveStats)>),
    Detail { id: String, state: StateInfo, detail: DetailInfo },
    Output { stream: u64, data: Vec<u8> },
    OutputEnd { stream: u64, exit_code: Option<i64>, error: Option<String> },
    OpProgress { project: String, text: String },
    OpDone { project: String, result: Result<String, String> },
    Agent { container: String, status: AgentStatus },
    /// What the host read of an agent session's transcript (`extra`: a session `+` started,
    /// with its own status; None: the container's main one).
    AgentInfo { container: String, extra: Option<String>, info: Box<crate::domain::agent::AgentInfo> },
    /// A session `+` started is gone.
    AgentGone { container: String, extra: String },
    /// The kernel killed a process of the container for going over its memory limit.
    Oom { id: String, name: String },
    /// A container's main process ended (it may be restarted by its policy).
    Died { id: String, name: String, exit_code: Option<i64>, oom_killed: bool },
    Error(String),
    /// Every task, newest first, and the fleet around them (pool, cleanup, runner), when
    /// something about them changed.
    Tasks(Vec<TaskRecord>, crate::domain::fleet::FleetInfo),
    /// A task started from the dashboard (or why it could not).
    TaskStarted(Result<Box<TaskRecord>, String>),
    /// Requests the egress proxy refused, counted per container; the containers refused for
    /// the first time.
    Refusals { counts: std::collections::BTreeMap<String, crate::domain::network::RefusalCount>, first: Vec<String> },
    /// The broker's record of tokens and cost, summed (sent when it grew).
    Usage(Box<crate::domain::broker::UsageReport>),
    /// The MCP clients connected to an `agentdock mcp` now.
    McpClients(Vec<crate::domain::task::McpClient>),
    /// Something done that the user should read about (a task cancelled).
    Message(String),
    /// The git state of projects' workspaces that changed, by project id.
    Git(Vec<(String, crate::domain::gitstate::GitRead)>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveStats {
    pub sample: StatsSample,
    pub disk_percent: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EngineStatus {
    Connecting,
    Connected { host: String, version: String, api: String },
    Reconnecting { reason: String, retry_in_ms: u64 },
}
