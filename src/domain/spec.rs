//! The whole spec of a project's container: what `ensure` creates and `refresh` recreates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::container::{container_name, labels};
use super::network::{self, netlabels, NetworkSpec};
use super::project::Project;
use super::settings::{Config, NetworkMode};

/// Environment variables whose values are secrets: passed into the container, never shown.
pub const SECRET_ENV: &[&str] = &["GITHUB_TOKEN", "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"];

/// The secrets that are the model credential: with the broker, they stay out of every
/// container.
pub const MODEL_CREDENTIALS: &[&str] = &["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"];

/// Where the host's ssh-agent socket is in the container (`security.ssh = "agent"`).
pub const SSH_AGENT_SOCK: &str = "/run/agentdock/ssh-agent.sock";

/// A value that must not be shown: its Debug and Display print a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(v: impl Into<String>) -> Self {
        Secret(v.into())
    }
    /// The real value, for the engine call only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnvVar {
    pub name: String,
    pub value: Secret,
    /// Whether the value may be shown (PROJECT_NAME may; a token may not).
    pub shown: bool,
}

/// A bind mount of a host path, or (a `source` that is not an absolute path) a named volume.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub source: PathBuf,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthSpec {
    pub test: Vec<String>,
    pub interval_secs: u64,
    pub timeout_secs: u64,
    pub retries: u32,
    pub start_period_secs: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub user: String,
    pub workdir: String,
    pub labels: BTreeMap<String, String>,
    pub env: Vec<EnvVar>,
    pub mounts: Vec<Mount>,
    pub memory_bytes: i64,
    /// Memory plus swap (equal to `memory_bytes`: no swap).
    pub memory_swap_bytes: i64,
    /// The engine's log: rotated at this size ("10m"), this many files kept.
    pub log_max_size: String,
    pub log_max_files: u32,
    pub nano_cpus: i64,
    pub pids: i64,
    pub nofile: (i64, i64),
    pub read_only_root: bool,
    /// The network it is put on (and, for `allowlist`, the proxy that serves it).
    pub network: NetworkSpec,
    pub health: HealthSpec,
    /// The host's agent config dir for this project (mounted at `~/.claude`).
    pub agent_dir: PathBuf,
    /// A one-shot container (a task): no restart, no health check, removed by the engine when
    /// it ends.
    pub one_shot: bool,
    /// Its agent reaches the model through the credential broker (its `ANTHROPIC_API_KEY` is
    /// a capability issued when it is made); None: no broker.
    pub broker: Option<super::broker::BrokerLink>,
}

/// Parses "8g", "512m", "1024k", "123" (bytes) into bytes.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a size (use e.g. 8g, 512m)"))?;
    if n <= 0.0 {
        return Err(format!("'{s}' must be above 0"));
    }
    Ok((n * mult as f64) as i64)
}

/// Inputs from the host that the spec depends on, gathered by the caller (so this stays pure).
#[derive(Debug, Clone, Default)]
pub struct HostContext {
    pub home: PathBuf,
    /// `~/.gitconfig` exists.
    pub has_gitconfig: bool,
    /// `~/.ssh` is a directory (not a link).
    pub has_ssh: bool,
    /// Files of `~/.ssh` without key material that are there: `known_hosts`, `config`.
    pub ssh_files: Vec<String>,
    /// The host's ssh-agent socket (`SSH_AUTH_SOCK`), when it is one.
    pub ssh_agent: Option<PathBuf>,
    /// The project's `.git` is a directory whose `config` and `hooks` are a file and a
    /// directory (no links): they are mounted read-only over the workspace.
    pub git_dir: bool,
    /// uid and gid of the project directory's owner (`user = "auto"` runs the agent as them).
    pub project_owner: Option<(u32, u32)>,
    /// Its permission bits.
    pub project_mode: Option<u32>,
    /// The most open files a process here may have (the engine's own limit, when it is local):
    /// a container cannot be given more.
    pub nofile_max: Option<i64>,
    /// Values of the environment variables passed through, when set on the host.
    pub env: BTreeMap<String, String>,
    pub agent_dir: PathBuf,
    /// The egress proxy of this agentdock (its data dir): name and the host dir of its config.
    pub proxy_name: String,
    pub proxy_conf_dir: PathBuf,
    /// agentdock's data dir (the broker's state is there).
    pub data_dir: PathBuf,
}

impl HostContext {
    /// Reads the host: home files and the environment variables the spec may pass.
    pub fn gather(project: &Project, agent_dir: PathBuf) -> HostContext {
        let home = crate::paths::home_dir();
        let mut env = BTreeMap::new();
        for name in SECRET_ENV.iter().copied().chain(project.settings.env_passthrough.iter().map(String::as_str)) {
            if let Ok(v) = std::env::var(name) {
                if !v.is_empty() {
                    env.insert(name.to_string(), v);
                }
            }
        }
        let real_dir = |p: &Path| std::fs::symlink_metadata(p).map(|m| m.is_dir()).unwrap_or(false);
        let real_file = |p: &Path| std::fs::symlink_metadata(p).map(|m| m.is_file()).unwrap_or(false);
        let ssh = home.join(".ssh");
        let ssh_files = ["known_hosts", "config"].iter().filter(|f| real_file(&ssh.join(f))).map(|f| f.to_string()).collect();
        let ssh_agent = std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from).filter(|p| {
            use std::os::unix::fs::FileTypeExt;
            std::fs::metadata(p).map(|m| m.file_type().is_socket()).unwrap_or(false)
        });
        // hooks/ is made when missing, so that it too is read-only in the container
        let git = project.path.join(".git");
        if real_dir(&git) && std::fs::symlink_metadata(git.join("hooks")).is_err() {
            let _ = std::fs::create_dir(git.join("hooks"));
        }
        let git_dir = real_dir(&git) && real_file(&git.join("config")) && real_dir(&git.join("hooks"));
        HostContext {
            has_gitconfig: home.join(".gitconfig").is_file(),
            has_ssh: real_dir(&ssh),
            ssh_files,
            ssh_agent,
            git_dir,
            project_owner: std::fs::metadata(&project.path).ok().map(|m| {
                use std::os::unix::fs::MetadataExt;
                (m.uid(), m.gid())
            }),
            project_mode: std::fs::metadata(&project.path).ok().map(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.permissions().mode() & 0o7777
            }),
            nofile_max: rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum.map(|m| m.min(i64::MAX as u64) as i64),
            home,
            env,
            agent_dir,
            proxy_name: network::proxy_name(std::env::var_os("AGENTDOCK_DATA_DIR").map(PathBuf::from).as_deref()),
            proxy_conf_dir: crate::paths::data_dir().join("proxy"),
            data_dir: crate::paths::data_dir(),
        }
    }
}

/// The `uid:gid` the agent runs as: the configured one, or with `"auto"` the project
/// directory's owner, so the agent can write its workspace. Root only when allowed.
pub fn container_user(config: &Config, project: &Project, host: &HostContext) -> Result<String, String> {
    let user = match (config.user.as_str(), host.project_owner) {
        ("auto", Some((uid, gid))) => format!("{uid}:{gid}"),
        ("auto", None) => DEFAULT_USER.to_string(),
        (u, _) => u.to_string(),
    };
    if user.split(':').next() == Some("0") && !config.security.allow_root {
        return Err(format!(
            "{} is owned by root, so its agent would run as root; set user = \"1000:1000\" in the config (and give the directory to that user) or security.allow_root = true",
            project.path.display()
        ));
    }
    Ok(user)
}

/// uid and gid of a container user written `uid[:gid]` in numbers (the gid defaults to the
/// uid); None for anything else.
pub fn uid_gid(user: &str) -> Option<(u32, u32)> {
    let mut ids = user.split(':').map(|x| x.trim().parse::<u32>().ok());
    let uid = ids.next().flatten()?;
    Some((uid, ids.next().flatten().unwrap_or(uid)))
}

/// Why the agent (running as `user`) could not write its workspace, if it could not.
pub fn write_warning(user: &str, path: &Path, host: &HostContext) -> Option<String> {
    let ((owner, group), mode) = (host.project_owner?, host.project_mode?);
    let (uid, gid) = uid_gid(user)?;
    let can = uid == 0 || (uid == owner && mode & 0o200 != 0) || (gid == group && mode & 0o020 != 0) || mode & 0o002 != 0;
    (!can).then(|| {
        format!(
            "the agent runs as {user} but {} belongs to {owner}:{group} (mode {mode:o}): it will not be able to write its workspace; set user = \"auto\" or \"{owner}:{group}\"",
            path.display()
        )
    })
}

/// The image's own user, for `user = "auto"` when the owner cannot be read.
pub const DEFAULT_USER: &str = "1000:1000";

pub fn build(config: &Config, project: &Project, host: &HostContext) -> Result<ContainerSpec, String> {
    let s = &project.settings;
    let user = container_user(config, project, host)?;
    let home = config.container_home.trim_end_matches('/');
    let mut labels: BTreeMap<String, String> = config.labels.clone();
    labels.insert(labels::MANAGED.into(), "true".into());
    labels.insert(labels::PROJECT.into(), project.id.clone());
    labels.insert(labels::PROJECT_NAME.into(), project.name.clone());
    labels.insert(labels::PROJECT_PATH.into(), project.path.to_string_lossy().into_owned());
    labels.insert(labels::ROLE.into(), "main".into());
    labels.insert(labels::SESSION.into(), config.session_name.clone());
    labels.insert(labels::AGENT_DIR.into(), host.agent_dir.to_string_lossy().into_owned());

    let shown = |name: &str, value: &str| EnvVar { name: name.into(), value: Secret::new(value), shown: true };
    let mut env = vec![
        shown("PROJECT_NAME", &project.name),
        shown("PROJECT_PATH", "/workspace"),
        shown("AGENT_CMD", &s.agent_command),
        shown("AGENT_SESSION", &config.session_name),
        shown("CLAUDE_CONFIG_DIR", &format!("{home}/.claude")),
        // the image pins the CLI (a rebuild updates it); its updater could only fail, and its
        // check would be a refusal on every start of an allowlisted agent
        shown("DISABLE_AUTOUPDATER", "1"),
    ];
    // with the broker, the model credential stays with it: the agent gets a capability (made
    // when the container is) and the broker's address
    let net_mode = project.settings.network;
    let credential = super::broker::credential_source(config, &host.env, &host.home);
    let brokered = credential.is_some();
    for (name, value) in &host.env {
        if brokered && MODEL_CREDENTIALS.contains(&name.as_str()) {
            continue;
        }
        env.push(EnvVar {
            name: name.clone(),
            value: Secret::new(value.clone()),
            shown: false,
        });
        if name == "GITHUB_TOKEN" {
            env.push(shown("GIT_ASKPASS", "/usr/local/bin/git-askpass-helper"));
        }
    }

    let mut mounts = vec![
        Mount { source: project.path.clone(), target: "/workspace".into(), read_only: false },
        Mount { source: host.agent_dir.clone(), target: format!("{home}/.claude"), read_only: false },
    ];
    if host.has_gitconfig {
        mounts.push(Mount {
            source: host.home.join(".gitconfig"),
            target: format!("{home}/.gitconfig"),
            read_only: true,
        });
    }
    // the agent can commit, but not set core.fsmonitor / core.pager or add a hook that the
    // user's next git command on the host would run; .git is a mount point of its own, so it
    // cannot be moved aside for another
    if host.git_dir {
        let git = project.path.join(".git");
        mounts.push(Mount { source: git.clone(), target: "/workspace/.git".into(), read_only: false });
        mounts.push(Mount { source: git.join("config"), target: "/workspace/.git/config".into(), read_only: true });
        mounts.push(Mount { source: git.join("hooks"), target: "/workspace/.git/hooks".into(), read_only: true });
    }
    match config.security.ssh.as_str() {
        "keys" if host.has_ssh => {
            mounts.push(Mount { source: host.home.join(".ssh"), target: format!("{home}/.ssh"), read_only: true });
        }
        "agent" => {
            for f in &host.ssh_files {
                mounts.push(Mount { source: host.home.join(".ssh").join(f), target: format!("{home}/.ssh/{f}"), read_only: true });
            }
            if let Some(sock) = &host.ssh_agent {
                mounts.push(Mount { source: sock.clone(), target: SSH_AGENT_SOCK.into(), read_only: true });
                env.push(shown("SSH_AUTH_SOCK", SSH_AGENT_SOCK));
            }
        }
        _ => {}
    }

    let net = network_for(config, project, host);
    debug_assert_eq!(net.mode, net_mode);
    labels.insert(netlabels::NETWORK.into(), net.mode.as_str().into());
    env.push(shown("AGENTDOCK_NETWORK", net.mode.as_str()));
    // `none` reaches no broker: such an agent gets no credential at all
    let broker = credential.filter(|_| net.mode != NetworkMode::None).map(|credential| super::broker::BrokerLink {
        broker: super::broker::broker_spec(config, &net.proxy, &host.data_dir, &host.home),
        credential,
        task: None,
        task_budget_usd: 0.0,
        project_daily_budget_usd: project.settings.daily_budget_usd,
    });
    if broker.is_some() {
        env.push(shown("ANTHROPIC_BASE_URL", &super::broker::base_url()));
    }
    if net.mode == NetworkMode::Allowlist {
        labels.insert(netlabels::ALLOW.into(), net.allow.join(","));
        let proxy = format!("http://{}:{}", network::PROXY_ALIAS, network::PROXY_PORT);
        for name in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
            env.push(shown(name, &proxy));
        }
        // the broker is reached directly, on the agent's own network
        let no_proxy = format!("{},{}", network::NO_PROXY, super::broker::BROKER_ALIAS);
        env.push(shown("NO_PROXY", &no_proxy));
        env.push(shown("no_proxy", &no_proxy));
    }

    Ok(ContainerSpec {
        name: container_name(&project.id),
        image: s.image.clone(),
        user,
        workdir: "/workspace".into(),
        labels,
        env,
        mounts,
        memory_bytes: parse_bytes(&s.limits.memory)?,
        memory_swap_bytes: if s.limits.memory_swap.trim().is_empty() { parse_bytes(&s.limits.memory)? } else { parse_bytes(&s.limits.memory_swap)? },
        log_max_size: s.limits.log_max_size.clone(),
        log_max_files: s.limits.log_max_files.max(1),
        nano_cpus: (s.limits.cpus * 1e9) as i64,
        pids: s.limits.pids,
        nofile: {
            let max = host.nofile_max.unwrap_or(i64::MAX);
            (s.limits.nofile_soft.min(max), s.limits.nofile_hard.min(max))
        },
        read_only_root: config.security.read_only_root,
        network: net,
        health: HealthSpec {
            test: vec!["CMD".into(), "/usr/local/bin/agentdock-healthcheck".into()],
            interval_secs: config.health.interval_secs.max(1),
            timeout_secs: config.health.timeout_secs.max(1),
            retries: config.health.retries.max(1),
            start_period_secs: config.health.start_period_secs,
        },
        agent_dir: host.agent_dir.clone(),
        one_shot: false,
        broker,
    })
}

/// The network of the project's containers: its mode and allowlist, served by this
/// agentdock's proxy.
pub fn network_for(config: &Config, project: &Project, host: &HostContext) -> NetworkSpec {
    let name = if host.proxy_name.is_empty() { network::proxy_name(None) } else { host.proxy_name.clone() };
    let proxy = network::proxy_spec(config, &name, host.proxy_conf_dir.clone());
    network::network_spec(config, &project.id, project.settings.network, &project.settings.allow, proxy)
}

impl ContainerSpec {
    /// The spec's project id label.
    pub fn project_id(&self) -> &str {
        self.labels.get(labels::PROJECT).map(String::as_str).unwrap_or("")
    }

}

#[cfg(test)]
mod tests;
