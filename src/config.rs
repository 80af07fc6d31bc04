//! The TOML config file: every field optional, the types and their defaults in
//! [`crate::domain::settings`]; here the file is found, parsed and checked.
//!
//! Location: `--config PATH`, else `$AGENTDOCK_CONFIG`, else `<config dir>/agentdock/config.toml`
//! from `directories` (Linux: `~/.config/agentdock/config.toml`). No file at all means defaults.

use std::path::{Path, PathBuf};

pub use crate::domain::settings::*;

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
    const MODES: &[&str] = &["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk"];
    if !MODES.contains(&config.tasks.permission_mode.as_str()) {
        return Err(format!("tasks.permission_mode must be one of {}", MODES.join(", ")));
    }
    if config.tasks.timeout_secs == 0 {
        return Err("tasks.timeout_secs must be above 0".into());
    }
    if !(config.tasks.inactive_minutes >= 0.0 && config.tasks.inactive_minutes.is_finite()) {
        return Err("tasks.inactive_minutes must be 0 (never) or more".into());
    }
    if config.tasks.sweep_secs == 0 || config.tasks.webhook_timeout_secs == 0 {
        return Err("tasks.sweep_secs and tasks.webhook_timeout_secs must be above 0".into());
    }
    let url = config.tasks.webhook_url.trim();
    if !(url.is_empty() || url.starts_with("http://")) {
        return Err("tasks.webhook_url must start with http:// (https:// is not supported yet: use a local relay)".into());
    }
    if config.tasks.pool_size > 16 {
        return Err("tasks.pool_size is at most 16 (each holds a started agent)".into());
    }
    if !["agent", "keys", "none"].contains(&config.security.ssh.as_str()) {
        return Err(format!("security.ssh must be \"agent\", \"keys\" or \"none\", not \"{}\"", config.security.ssh));
    }
    if config.user != "auto" && config.user.split(':').any(|x| x.trim().parse::<u32>().is_err()) {
        return Err(format!("user must be \"auto\" or \"uid:gid\" in numbers, not \"{}\"", config.user));
    }
    if config.user.split(':').next().map(str::trim) == Some("0") && !config.security.allow_root {
        return Err("user = \"0:…\" runs the agent as root; set security.allow_root = true to allow it".into());
    }
    crate::domain::spec::parse_bytes(&config.limits.log_max_size).map_err(|e| format!("limits.log_max_size: {e}"))?;
    if !config.limits.memory_swap.is_empty() {
        crate::domain::spec::parse_bytes(&config.limits.memory_swap).map_err(|e| format!("limits.memory_swap: {e}"))?;
    }
    let domains = |what: &str, list: &[String]| -> Result<(), String> {
        match list.iter().find(|d| !crate::domain::network::valid_domain(d.trim())) {
            Some(d) => Err(format!("{what}: '{d}' is not a domain (use a name like example.com, or *.example.com for every name under it)")),
            None => Ok(()),
        }
    };
    domains("security.allow_default", &config.security.allow_default)?;
    domains("security.allow", &config.security.allow)?;
    for p in &config.projects {
        domains(&format!("project {}: allow", p.path), p.allow.as_deref().unwrap_or_default())?;
    }
    if crate::domain::network::parse_cidr(&config.security.subnet_pool).is_none_or(|(_, len)| len > 24) {
        return Err(format!("security.subnet_pool must be an IPv4 range of /24 or more, like 172.16.0.0/16, not \"{}\"", config.security.subnet_pool));
    }
    for e in &config.engines {
        crate::domain::engines::check_entry(e)?;
    }
    if let Some(p) = config.projects.iter().find(|p| p.engine.as_deref().is_some_and(|e| !crate::domain::engines::valid_name(e))) {
        return Err(format!("project {}: engine {:?} is not an engine name", p.path, p.engine.as_deref().unwrap_or("")));
    }
    if config.user.trim().is_empty() {
        return Err("user must not be empty".into());
    }
    let b = &config.broker;
    let up = b.upstream.trim();
    if !(up.starts_with("https://") || up.starts_with("http://")) || up.len() < 10 || up.contains(char::is_whitespace) {
        return Err(format!("broker.upstream must be an http(s):// URL, not \"{}\"", b.upstream));
    }
    let money = |what: &str, v: f64| if v.is_finite() && v >= 0.0 { Ok(()) } else { Err(format!("{what} must be 0 or more dollars")) };
    money("broker.daily_budget_usd", b.daily_budget_usd)?;
    money("broker.project_daily_budget_usd", b.project_daily_budget_usd)?;
    money("tasks.budget_usd", config.tasks.budget_usd)?;
    for p in &config.projects {
        money(&format!("project {}: daily_budget_usd", p.path), p.daily_budget_usd.unwrap_or(0.0))?;
    }
    for (model, pr) in &b.prices {
        for (field, v) in [("input", pr.input), ("output", pr.output), ("cache_write", pr.cache_write), ("cache_read", pr.cache_read)] {
            money(&format!("broker.prices.\"{model}\".{field}"), v)?;
        }
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
    fn root_and_bad_security_values_are_refused() {
        let (_, msg) = parse("user = \"0:0\"").unwrap_err();
        assert!(msg.contains("allow_root"), "{msg}");
        assert!(parse("user = \"0:0\"\n[security]\nallow_root = true").is_ok());
        let (_, msg) = parse("[security]\nssh = \"all\"").unwrap_err();
        assert!(msg.contains("security.ssh"), "{msg}");
        let (_, msg) = parse("[tasks]\npermission_mode = \"yolo\"").unwrap_err();
        assert!(msg.contains("tasks.permission_mode"), "{msg}");
        for bad in ["webhook_url = \"https://hooks.example.com/x\"", "webhook_url = \"ftp://x\"", "inactive_minutes = -1.0", "sweep_secs = 0", "pool_size = 99"] {
            let (_, msg) = parse(&format!("[tasks]\n{bad}")).unwrap_err();
            assert!(msg.contains("tasks."), "{bad}: {msg}");
        }
        assert!(parse("[tasks]\nwebhook_url = \"http://127.0.0.1:9/hook\"\npool_size = 2\nmax_parallel = 3").is_ok());
    }

    #[test]
    fn broker_settings_are_checked() {
        let (_, msg) = parse("[broker]\nupstream = \"api.anthropic.com\"").unwrap_err();
        assert!(msg.contains("broker.upstream"), "{msg}");
        let (_, msg) = parse("[tasks]\nbudget_usd = -1.0").unwrap_err();
        assert!(msg.contains("tasks.budget_usd"), "{msg}");
        let (_, msg) = parse("[broker.prices.\"m\"]\ninput = -1.0\noutput = 1.0\ncache_write = 1.0\ncache_read = 1.0").unwrap_err();
        assert!(msg.contains("broker.prices"), "{msg}");
        let c = parse("[broker]\nfrom_env = true\nupstream = \"https://model.test\"\n[broker.prices.\"m\"]\ninput = 1.0\noutput = 2.0\ncache_write = 0.0\ncache_read = 0.0\n[[project]]\npath = \"/x\"\ndaily_budget_usd = 3.0").unwrap();
        assert_eq!(c.broker.prices["m"].output, 2.0);
        assert_eq!(crate::domain::project::settings_for(&c, c.projects.first()).daily_budget_usd, 3.0);
    }

    #[test]
    fn network_settings_are_checked_and_a_project_adds_to_the_allowlist() {
        let (_, msg) = parse("[security]\nnetwork = \"wide\"").unwrap_err();
        assert!(msg.contains("allowlist"), "{msg}");
        let (_, msg) = parse("[security]\nallow = [\"x.com\\nhttp_access allow all\"]").unwrap_err();
        assert!(msg.contains("security.allow"), "{msg}");
        let (_, msg) = parse("[security]\nsubnet_pool = \"10.0.0.0/28\"").unwrap_err();
        assert!(msg.contains("subnet_pool"), "{msg}");
        let cfg = parse("[security]\nallow = [\"Example.com\"]\n[[project]]\npath = \"/p\"\nnetwork = \"open\"\nallow = [\"*.internal.example\", \"example.com\"]\n").unwrap();
        let s = crate::domain::project::settings_for(&cfg, Some(&cfg.projects[0]));
        assert_eq!(s.network, NetworkMode::Open);
        assert_eq!(s.allow.len(), DEFAULT_ALLOW.len() + 2);
        assert_eq!(&s.allow[DEFAULT_ALLOW.len()..], ["example.com", "*.internal.example"]);
        assert_eq!(crate::domain::project::settings_for(&cfg, None).network, NetworkMode::Allowlist);
        assert_eq!(crate::domain::project::settings_for(&parse("[security]\nnetwork_none = true").unwrap(), None).network, NetworkMode::None);
    }

    #[test]
    fn project_patch_overrides_only_given_fields() {
        let cfg = parse("[[project]]\npath = \"/p\"\nlimits = { cpus = 1.5 }\n").unwrap();
        let l = cfg.limits.patched(&cfg.projects[0].limits);
        assert_eq!(l.cpus, 1.5);
        assert_eq!(l.memory, "8g");
    }

    #[test]
    fn engines_are_read_and_checked() {
        let cfg = parse("[[engine]]\nname = \"box\"\nhost = \"ssh://me@box\"\n[[engine]]\nname = \"tls\"\nhost = \"tcp://b:2376\"\ncert_path = \"~/certs\"\n[[project]]\npath = \"/srv/api\"\nengine = \"box\"\nnetwork = \"open\"\n").unwrap();
        assert_eq!(cfg.engines.len(), 2);
        assert_eq!(cfg.projects[0].engine.as_deref(), Some("box"));
        let (_, msg) = parse("[[engine]]\nname = \"x\"\nhost = \"box:2375\"").unwrap_err();
        assert!(msg.contains("must start with"), "{msg}");
        let (_, msg) = parse("[[engine]]\nname = \"x\"\nhost = \"https://b:1\"\nca = \"/ca\"").unwrap_err();
        assert!(msg.contains("go together"), "{msg}");
        let (_, msg) = parse("[[engine]]\nname = \"x\"\nhots = \"tcp://b:1\"").unwrap_err();
        assert!(msg.contains("unknown field"), "{msg}");
    }

    #[test]
    fn home_expansion() {
        let h = Path::new("/home/u");
        assert_eq!(expand_home("~/projects", h), PathBuf::from("/home/u/projects"));
        assert_eq!(expand_home("/abs", h), PathBuf::from("/abs"));
    }
}
