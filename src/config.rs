//! The TOML config: every field optional, the defaults in one place (`Default` impls below).
//!
//! Location: `--config PATH`, else `$AGENTDOCK_CONFIG`, else `<config dir>/agentdock/config.toml`
//! from `directories` (Linux: `~/.config/agentdock/config.toml`). No file at all means defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    pub ui: UiSettings,
    /// Key overrides for the dashboard: `"<key>" = "action"`; only listed keys change.
    pub keys: BTreeMap<String, String>,
    /// Projects listed one by one: `[[project]]`.
    #[serde(rename = "project")]
    pub projects: Vec<ProjectEntry>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            image: DEFAULT_IMAGE.to_string(),
            roots: vec!["~/projects".to_string()],
            agent_command: "claude".to_string(),
            session_name: "claude".to_string(),
            user: "1000:1000".to_string(),
            container_home: "/home/agent".to_string(),
            env_passthrough: Vec::new(),
            labels: BTreeMap::new(),
            limits: Limits::default(),
            security: Security::default(),
            health: HealthCheck::default(),
            refresh: RefreshPolicy::default(),
            exec: ExecSettings::default(),
            ui: UiSettings::default(),
            keys: BTreeMap::new(),
            projects: Vec::new(),
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: "8g".to_string(),
            cpus: 4.0,
            pids: 1000,
            nofile_soft: 1024,
            nofile_hard: 2048,
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
}

impl Limits {
    pub fn patched(&self, patch: &LimitsPatch) -> Limits {
        Limits {
            memory: patch.memory.clone().unwrap_or_else(|| self.memory.clone()),
            cpus: patch.cpus.unwrap_or(self.cpus),
            pids: patch.pids.unwrap_or(self.pids),
            nofile_soft: patch.nofile_soft.unwrap_or(self.nofile_soft),
            nofile_hard: patch.nofile_hard.unwrap_or(self.nofile_hard),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Security {
    /// Read-only root filesystem, with a noexec,nosuid tmpfs on /tmp.
    pub read_only_root: bool,
    /// No network at all inside the container.
    pub network_none: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthCheck {
    pub interval_secs: u64,
    pub timeout_secs: u64,
    pub retries: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            interval_secs: 60,
            timeout_secs: 10,
            retries: 3,
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
    /// Lines kept in the output pane.
    pub output_lines: usize,
    /// Keep ANSI colours in the output pane (else strip them).
    pub ansi_colors: bool,
    /// Ring the bell and say so when an agent starts waiting or a container turns unhealthy.
    pub notifications: bool,
    /// Key that leaves an attached session.
    pub detach_key: String,
    /// Seconds between samples of the tmux pane of an agent that reports no status through
    /// hooks (each sample is one exec; at least 5).
    pub pane_sample_secs: u64,
}

impl Default for UiSettings {
    fn default() -> Self {
        UiSettings {
            stats_interval_ms: 2000,
            show_unmanaged: false,
            output_lines: 10_000,
            ansi_colors: true,
            notifications: false,
            detach_key: "ctrl-]".to_string(),
            pane_sample_secs: 30,
        }
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
}

/// A config file that could not be used: the message names file, line and column.
#[derive(Debug, thiserror::Error)]
#[error("{path}:{line}:{column}: {message}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Where the config comes from and what it says.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub config: Config,
    pub path: PathBuf,
    /// False when no file existed and the defaults are in use.
    pub from_file: bool,
}

pub fn default_config_path() -> PathBuf {
    if let Ok(p) = std::env::var("AGENTDOCK_CONFIG") {
        return PathBuf::from(p);
    }
    crate::paths::config_dir().join("config.toml")
}

/// Reads the config at `path`; a missing file gives the defaults.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(LoadedConfig {
                config: Config::default(),
                path: path.to_path_buf(),
                from_file: false,
            })
        }
        Err(e) => {
            return Err(ConfigError {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: format!("cannot read: {e}"),
            })
        }
    };
    let config = parse(&text).map_err(|(offset, message)| {
        let (line, column) = line_col(&text, offset);
        ConfigError {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    })?;
    Ok(LoadedConfig {
        config,
        path: path.to_path_buf(),
        from_file: true,
    })
}

/// Parses config text; an error gives its byte offset and a one-line message.
pub fn parse(text: &str) -> Result<Config, (usize, String)> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        (offset, e.message().trim().replace('\n', " "))
    })?;
    validate(&config).map_err(|m| (0, m))?;
    Ok(config)
}

fn validate(config: &Config) -> Result<(), String> {
    crate::domain::spec::parse_bytes(&config.limits.memory)
        .map_err(|e| format!("limits.memory: {e}"))?;
    if config.limits.cpus <= 0.0 {
        return Err("limits.cpus must be above 0".into());
    }
    for (i, p) in config.projects.iter().enumerate() {
        if p.path.trim().is_empty() {
            return Err(format!("project #{}: path is required", i + 1));
        }
        if let Some(m) = &p.limits.memory {
            crate::domain::spec::parse_bytes(m)
                .map_err(|e| format!("project {}: limits.memory: {e}", p.path))?;
        }
    }
    if config.user.trim().is_empty() {
        return Err("user must not be empty".into());
    }
    Ok(())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, column)
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

/// The shipped default config, kept in `assets/` and tested to parse to [`Config::default`].
pub const SHIPPED_DEFAULT: &str = include_str!("../assets/config.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_gives_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn shipped_default_matches_code_defaults() {
        assert_eq!(parse(SHIPPED_DEFAULT).unwrap(), Config::default());
    }

    #[test]
    fn error_points_at_line_and_column() {
        let text = "image = \"x\"\n[limits]\ncpus = \"four\"\n";
        let (offset, msg) = parse(text).unwrap_err();
        assert_eq!(line_col(text, offset), (3, 8));
        assert!(msg.contains("float") || msg.contains("string"), "{msg}");
    }

    #[test]
    fn unknown_key_is_an_error() {
        let (_, msg) = parse("imagee = \"x\"").unwrap_err();
        assert!(msg.contains("unknown field"), "{msg}");
    }

    #[test]
    fn bad_memory_is_an_error() {
        let (_, msg) = parse("[limits]\nmemory = \"lots\"").unwrap_err();
        assert!(msg.contains("limits.memory"), "{msg}");
    }

    #[test]
    fn project_patch_overrides_only_given_fields() {
        let cfg = parse("[[project]]\npath = \"/p\"\nlimits = { cpus = 1.5 }\n").unwrap();
        let l = cfg.limits.patched(&cfg.projects[0].limits);
        assert_eq!(l.cpus, 1.5);
        assert_eq!(l.memory, "8g");
    }

    #[test]
    fn home_expansion() {
        let h = Path::new("/home/u");
        assert_eq!(expand_home("~/projects", h), PathBuf::from("/home/u/projects"));
        assert_eq!(expand_home("/abs", h), PathBuf::from("/abs"));
    }
}
