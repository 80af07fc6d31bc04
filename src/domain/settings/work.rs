//! The settings of the work agents do besides their own containers: tasks (`[tasks]`), the
//! credential broker (`[broker]`) and the MCP server (`[mcp]`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Defaults of `agentdock task run` and of tasks started from the dashboard.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskSettings {
    /// Seconds before a task's agent is stopped and the task ends `timed out`.
    pub timeout_secs: u64,
    /// Bytes of the agent's event stream kept; past it the task ends `output capped`.
    pub max_output_bytes: u64,
    /// Claude Code's `--permission-mode` in a task's container (see the README).
    pub permission_mode: String,
    /// The model the agent uses (empty: the CLI's default).
    pub model: String,
    /// Dollars a task may spend through the credential broker (0: no budget).
    pub budget_usd: f64,
    /// Tasks running at once; more wait in a queue, first in first out (0: this machine's cores).
    pub max_parallel: usize,
    /// A running task with no output for this long is stopped and ends timed out (0: never).
    pub inactive_minutes: f64,
    /// How often the cleanup looks for inactive task containers, in seconds.
    pub sweep_secs: u64,
    /// When set, each task's result (JSON) is POSTed here when it ends (http:// only, for now).
    pub webhook_url: String,
    /// Each of the callback's 3 tries gives up after this many seconds.
    pub webhook_timeout_secs: u64,
    /// Started containers kept ready per project (0: none): a task handed one starts without a
    /// container create, its agent already running.
    pub pool_size: usize,
    /// The projects the pool is kept for (empty: those that ran a task in the last hour).
    pub pool_projects: Vec<String>,
}

impl TaskSettings {
    /// `max_parallel`, with 0 meaning this machine's cores.
    pub fn parallel(&self) -> usize {
        match self.max_parallel {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        }
    }
}

impl Default for TaskSettings {
    fn default() -> Self {
        TaskSettings {
            timeout_secs: 300,
            max_output_bytes: 10 * 1024 * 1024,
            permission_mode: "bypassPermissions".to_string(),
            model: String::new(),
            budget_usd: 0.0,
            max_parallel: 0,
            inactive_minutes: 30.0,
            sweep_secs: 60,
            webhook_url: String::new(),
            webhook_timeout_secs: 10,
            pool_size: 0,
            pool_projects: Vec::new(),
        }
    }
}

/// The credential broker (see the README): the one place that holds the model credential.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerSettings {
    /// A file holding an Anthropic API key or a long-lived OAuth token (`claude setup-token`):
    /// the broker holds it, agents get a capability instead. Empty: no broker (unless
    /// `from_env`).
    pub credential_file: String,
    /// Take the host's `ANTHROPIC_API_KEY` (else `CLAUDE_CODE_OAUTH_TOKEN`) for the broker
    /// instead of passing it into the containers.
    pub from_env: bool,
    /// Where the broker forwards to.
    pub upstream: String,
    /// An extra CA bundle (PEM) the broker trusts for the upstream (empty: the image's).
    pub ca_file: String,
    /// Dollars all agents together may spend per day (UTC) (0: no budget).
    pub daily_budget_usd: f64,
    /// Dollars each project may spend per day (UTC) (0: no budget); `daily_budget_usd` of a
    /// `[[project]]` says it for one.
    pub project_daily_budget_usd: f64,
    /// Prices over `assets/prices.toml`, per model.
    pub prices: BTreeMap<String, crate::domain::broker::Price>,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        BrokerSettings {
            credential_file: String::new(),
            from_env: false,
            upstream: "https://api.anthropic.com".to_string(),
            ca_file: String::new(),
            daily_budget_usd: 0.0,
            project_daily_budget_usd: 0.0,
            prices: BTreeMap::new(),
        }
    }
}

/// What an MCP client of `agentdock mcp` may do.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpSettings {
    /// Projects (ids or names) an MCP client may start tasks in and reach with exec and the
    /// file tools; `"*"`: every configured project.
    pub allow_projects: Vec<String>,
    /// Whether `task_run` may take a repository URL (https only) instead of a project.
    pub allow_repo_urls: bool,
    /// Tasks one client may have under way at once.
    pub max_tasks_per_client: u32,
    /// Whether `agentdock mcp` may serve inside an agent container (a task's agent fanning out).
    pub nested: bool,
    /// With `nested`: how many MCP servers deep tasks may be started (1: a task's agent may
    /// start tasks, their agents may not).
    pub max_depth: u32,
    /// Bytes a file tool reads or writes at most in one call.
    pub max_file_bytes: u64,
}

impl Default for McpSettings {
    fn default() -> Self {
        McpSettings {
            allow_projects: vec!["*".to_string()],
            allow_repo_urls: true,
            max_tasks_per_client: 8,
            nested: false,
            max_depth: 1,
            max_file_bytes: 10 * 1024 * 1024,
        }
    }
}

impl McpSettings {
    /// Whether a client may work in the project `id` (named `name`).
    pub fn allows(&self, id: &str, name: &str) -> bool {
        self.allow_projects.iter().any(|a| a == "*" || a == id || a == name)
    }
}
