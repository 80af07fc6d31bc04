//! The settings model: every value a user can set, with the defaults in one place (`Default`
//! impls). Plain data: `config` reads it from TOML, the rest of the program reads it from here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod work;
pub use work::{BrokerSettings, McpSettings, TaskSettings};

/// The image agentdock builds and uses unless a project says otherwise.
pub const DEFAULT_IMAGE: &str = "agentdock/agent:latest";
/// The command that builds [`DEFAULT_IMAGE`]; named in the "image missing" error.
pub const BUILD_COMMAND: &str = "docker/build-image.sh";

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Image for project containers.
    pub image: String,
    /// Directories whose children holding `.git` are projects.
    pub roots: Vec<String>,
    /// Command the agent's tmux session runs.
    pub agent_command: String,
    /// Name of the agent's tmux session.
    pub session_name: String,
    /// `uid:gid` the container and its execs run as.
    pub user: String,
    /// Home of that user inside the image.
    pub container_home: String,
    /// Host environment variables passed into every container (values never shown).
    pub env_passthrough: Vec<String>,
    /// Extra labels put on every container agentdock creates.
    pub labels: BTreeMap<String, String>,
    pub limits: Limits,
    pub security: Security,
    pub health: HealthCheck,
    pub refresh: RefreshPolicy,
    pub exec: ExecSettings,
    pub tasks: TaskSettings,
    pub broker: BrokerSettings,
    pub mcp: McpSettings,
    pub ui: UiSettings,
    pub notify: NotifySettings,
    /// Key overrides for the dashboard: `"<key>" = "action"`; only listed keys change.
    pub keys: BTreeMap<String, String>,
    /// Projects listed one by one: `[[project]]`.
    #[serde(rename = "project")]
    pub projects: Vec<ProjectEntry>,
    /// Docker engines besides the local one: `[[engine]]` (see [`crate::domain::engines`]).
    #[serde(rename = "engine", skip_serializing_if = "Vec::is_empty")]
    pub engines: Vec<EngineEntry>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            image: DEFAULT_IMAGE.to_string(),
            roots: vec!["~/projects".to_string()],
            agent_command: "claude".to_string(),
            session_name: "claude".to_string(),
            user: "auto".to_string(),
            container_home: "/home/agent".to_string(),
            env_passthrough: Vec::new(),
            labels: BTreeMap::new(),
            limits: Limits::default(),
            security: Security::default(),
            health: HealthCheck::default(),
            refresh: RefreshPolicy::default(),
            exec: ExecSettings::default(),
            tasks: TaskSettings::default(),
            broker: BrokerSettings::default(),
            mcp: McpSettings::default(),
            ui: UiSettings::default(),
            notify: NotifySettings::default(),
            keys: BTreeMap::new(),
            projects: Vec::new(),
            engines: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Memory limit, e.g. "8g", "512m".
    pub memory: String,
    pub cpus: f64,
    pub pids: i64,
    pub nofile_soft: i64,
    pub nofile_hard: i64,
    /// Memory plus swap; empty: the same as `memory` (no swap).
    pub memory_swap: String,
    /// The engine's log of the container is rotated at this size...
    pub log_max_size: String,
    /// ...keeping this many files.
    pub log_max_files: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: "8g".to_string(),
            cpus: 4.0,
            pids: 1000,
            nofile_soft: 65536,
            nofile_hard: 65536,
            memory_swap: String::new(),
            log_max_size: "10m".to_string(),
            log_max_files: 3,
        }
    }
}

/// Per-project override of [`Limits`]: only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsPatch {
    pub memory: Option<String>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
    pub nofile_soft: Option<i64>,
    pub nofile_hard: Option<i64>,
    pub memory_swap: Option<String>,
    pub log_max_size: Option<String>,
    pub log_max_files: Option<u32>,
}

impl Limits {
    pub fn patched(&self, patch: &LimitsPatch) -> Limits {
        Limits {
            memory: patch.memory.clone().unwrap_or_else(|| self.memory.clone()),
            cpus: patch.cpus.unwrap_or(self.cpus),
            pids: patch.pids.unwrap_or(self.pids),
            nofile_soft: patch.nofile_soft.unwrap_or(self.nofile_soft),
            nofile_hard: patch.nofile_hard.unwrap_or(self.nofile_hard),
            memory_swap: patch.memory_swap.clone().unwrap_or_else(|| self.memory_swap.clone()),
            log_max_size: patch.log_max_size.clone().unwrap_or_else(|| self.log_max_size.clone()),
            log_max_files: patch.log_max_files.unwrap_or(self.log_max_files),
        }
    }
}

/// How an agent reaches the network (`security.network`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// A network of its own with no route out: only agentdock's egress proxy, which lets it
    /// reach the allowlisted domains.
    #[default]
    Allowlist,
    /// A network of its own with a route out (other projects' containers stay out of reach).
    Open,
    /// No network at all.
    None,
}

impl NetworkMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::Allowlist => "allowlist",
            NetworkMode::Open => "open",
            NetworkMode::None => "none",
        }
    }
}

/// The domains every agent may reach in `allowlist` mode unless `security.allow_default` says
/// otherwise: the Anthropic API (and what Claude Code reports to), npm, PyPI, crates.io,
/// GitHub (git over HTTPS, its API, downloads) and Debian's mirror.
pub const DEFAULT_ALLOW: &[&str] = &[
    "api.anthropic.com",
    "statsig.anthropic.com",
    "console.anthropic.com",
    "claude.ai",
    "platform.claude.com",
    "downloads.claude.ai",
    "statsig.com",
    "sentry.io",
    "registry.npmjs.org",
    "pypi.org",
    "files.pythonhosted.org",
    "crates.io",
    "index.crates.io",
    "static.crates.io",
    "github.com",
    "api.github.com",
    "codeload.github.com",
    "*.githubusercontent.com",
    "deb.debian.org",
    "security.debian.org",
];

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Security {
    /// Read-only root filesystem, with a noexec,nosuid tmpfs on /tmp.
    pub read_only_root: bool,
    /// "allowlist" (out only through agentdock's egress proxy, to the allowed domains),
    /// "open" or "none"; each project on a network of its own.
    pub network: NetworkMode,
    /// Domains (`name` or `*.suffix`) every agent may reach in allowlist mode.
    pub allow_default: Vec<String>,
    /// More domains, added to `allow_default` (a project's own `allow` adds to both).
    pub allow: Vec<String>,
    /// Addresses agentdock's networks are made in: one /24 each.
    pub subnet_pool: String,
    /// Old name of `network = "none"` (true wins over `network`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub network_none: bool,
    /// SSH for the agent: "agent" (the host's ssh-agent socket, no key in the container, plus
    /// `known_hosts` and `config`), "keys" (`~/.ssh` read-only: the agent can read the private
    /// keys), "none".
    pub ssh: String,
    /// Containers may run as root (`user = "0:0"`).
    pub allow_root: bool,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            read_only_root: false,
            network: NetworkMode::Allowlist,
            allow_default: DEFAULT_ALLOW.iter().map(|d| d.to_string()).collect(),
            allow: Vec::new(),
            subnet_pool: "172.16.0.0/16".to_string(),
            network_none: false,
            ssh: "agent".to_string(),
            allow_root: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthCheck {
    pub interval_secs: u64,
    pub timeout_secs: u64,
    pub retries: u32,
    /// Failures in the first seconds after a start do not count.
    pub start_period_secs: u64,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            interval_secs: 60,
            timeout_secs: 10,
            retries: 3,
            start_period_secs: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefreshPolicy {
    pub max_age_hours: f64,
    pub max_disk_percent: f64,
    pub max_memory_percent: f64,
    /// Refresh a container Docker reports unhealthy.
    pub when_unhealthy: bool,
    /// Refresh containers that need it without asking (opt-in).
    pub auto: bool,
    pub cooldown_minutes: u64,
    pub max_tries: u32,
    /// How long a refresh waits for the new container to work before rolling back.
    pub ready_timeout_secs: u64,
    /// Seconds `stop` waits before killing.
    pub stop_timeout_secs: i64,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            max_age_hours: 72.0,
            max_disk_percent: 80.0,
            max_memory_percent: 90.0,
            when_unhealthy: true,
            auto: false,
            cooldown_minutes: 10,
            max_tries: 3,
            ready_timeout_secs: 120,
            stop_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefreshPatch {
    pub max_age_hours: Option<f64>,
    pub max_disk_percent: Option<f64>,
    pub max_memory_percent: Option<f64>,
    pub when_unhealthy: Option<bool>,
    pub auto: Option<bool>,
}

impl RefreshPolicy {
    pub fn patched(&self, patch: &RefreshPatch) -> RefreshPolicy {
        RefreshPolicy {
            max_age_hours: patch.max_age_hours.unwrap_or(self.max_age_hours),
            max_disk_percent: patch.max_disk_percent.unwrap_or(self.max_disk_percent),
            max_memory_percent: patch.max_memory_percent.unwrap_or(self.max_memory_percent),
            when_unhealthy: patch.when_unhealthy.unwrap_or(self.when_unhealthy),
            auto: patch.auto.unwrap_or(self.auto),
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecSettings {
    /// Seconds before a command run with `exec` is killed (0: never).
    pub timeout_secs: u64,
    /// Bytes of output kept per stream; the newest are kept and the cut is stated.
    pub output_cap_bytes: usize,
}

impl Default for ExecSettings {
    fn default() -> Self {
        ExecSettings {
            timeout_secs: 3600,
            output_cap_bytes: 10 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSettings {
    /// Milliseconds between stats refreshes in the dashboard.
    pub stats_interval_ms: u64,
    /// Show the containers agentdock does not manage.
    pub show_unmanaged: bool,
    /// Lines kept in the output pane...
    pub output_lines: usize,
    /// ...and bytes.
    pub output_bytes: usize,
    /// Keep ANSI colours in the output pane (else strip them).
    pub ansi_colors: bool,
    /// Ring the bell and say so when an agent starts waiting or a container turns unhealthy.
    pub notifications: bool,
    /// Key that leaves an attached session.
    pub detach_key: String,
    /// Seconds between samples of the tmux pane of an agent that reports no status through
    /// hooks (each sample is one exec; at least 5).
    pub pane_sample_secs: u64,
    /// Seconds between reads of the projects' git state (the GIT column); 0 turns it off.
    pub git_interval_secs: u64,
    /// With more projects than this, the git state is not read (each read is a `git status`).
    pub git_max_projects: usize,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            stats_interval_ms: 2000,
            show_unmanaged: false,
            output_lines: 10_000,
            output_bytes: 16 * 1024 * 1024,
            ansi_colors: true,
            notifications: false,
            detach_key: "ctrl-]".to_string(),
            pane_sample_secs: 30,
            git_interval_secs: 10,
            git_max_projects: 100,
        }
    }
}

/// What the dashboard tells about agents by the terminal's bell and a desktop notification
/// (OSC 9 and OSC 777, for the terminals that show them), per kind; all off at first.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// An agent starts waiting for a permission or an answer.
    pub waiting: bool,
    /// A turn that took longer than this many minutes ends (0: never).
    pub turn_minutes: u64,
    /// An agent exits, or its container dies.
    pub died: bool,
    /// With the bell, the desktop notification.
    pub desktop: bool,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings { waiting: false, turn_minutes: 0, died: false, desktop: true }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectEntry {
    pub path: String,
    pub name: Option<String>,
    pub image: Option<String>,
    pub agent_command: Option<String>,
    pub env_passthrough: Option<Vec<String>>,
    pub limits: LimitsPatch,
    pub refresh: RefreshPatch,
    /// This project's `security.network`.
    pub network: Option<NetworkMode>,
    /// Domains this project's agents may reach besides the global ones.
    pub allow: Option<Vec<String>>,
    /// Dollars this project may spend per day through the broker (0: no budget).
    pub daily_budget_usd: Option<f64>,
    /// The engine (an `[[engine]]` name) its container lives on; its `path` is then a path on
    /// that engine's host. None: the default engine.
    pub engine: Option<String>,
}

/// One Docker engine: `[[engine]]`. `host` (`unix://`, `tcp://`, `https://`, `ssh://[user@]host`, its port in ssh's config)
/// or `context` (a Docker CLI context by name) says where; TLS material by `ca`, `cert`, `key`
/// or by `cert_path` (a directory holding `ca.pem`, `cert.pem`, `key.pem`, as `DOCKER_CERT_PATH`).
/// An entry named like the default engine (`local`) replaces it; `enabled = false` leaves an
/// engine out.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineEntry {
    pub name: String,
    pub host: Option<String>,
    pub context: Option<String>,
    pub ca: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub cert_path: Option<String>,
    /// The private key ssh uses for an `ssh://` host (else ssh's own config and agent).
    pub ssh_key: Option<String>,
    pub enabled: Option<bool>,
}

/// `~` and `~/x` expanded against `home`.
pub fn expand_home(p: &str, home: &Path) -> PathBuf {
    if p == "~" {
        home.to_path_buf()
    } else if let Some(rest) = p.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(p)
    }
}
