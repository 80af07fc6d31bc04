//! The scriptable subcommands, on the same core as the dashboard: the command line, exit codes
//! and failures here, one file per group of subcommands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::config::ConfigError;
use crate::domain::container::ContainerInfo;
use crate::domain::project::Project;
use crate::engine::{Engine, EngineError};
use crate::ops::{Context, OpError};

mod broker;
mod engines;
mod exec;
mod files;
mod history;
mod net;
mod projects;
mod prune;
mod status;
mod attempts;
mod tasks;

/// Exit codes (documented in the README).
pub mod exit {
    pub const OK: i32 = 0;
    /// The operation failed (engine refused, container not running, refresh rolled back…).
    pub const FAILED: i32 = 1;
    /// Bad usage, bad config, unknown project.
    pub const USAGE: i32 = 2;
    /// The Docker engine could not be reached.
    pub const ENGINE_UNREACHABLE: i32 = 3;
    /// The image is missing (the message names the build command).
    pub const IMAGE_MISSING: i32 = 4;
}

#[derive(Debug, Parser)]
#[command(name = "agentdock", version, about = "Long-running Docker containers for coding agents: a dashboard and a CLI")]
pub struct Cli {
    /// Config file (default: $AGENTDOCK_CONFIG, else ~/.config/agentdock/config.toml)
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Only this engine (an [[engine]] name, or the default's: local): the dashboard shows it
    /// alone, ls / stats / doctor look at it alone, a project command checks the project is there
    #[arg(long, global = true, value_name = "NAME")]
    pub engine: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List projects and their containers
    Ls {
        #[arg(long)]
        json: bool,
    },
    /// Create the project's container if missing, start it if stopped
    Up {
        project: String,
        #[arg(long)]
        json: bool,
    },
    /// Run a command in the project's container (as the container user, in /workspace): the
    /// arguments after `--` as given, as `docker exec` does, or a shell line with --sh
    Exec {
        project: String,
        /// Print one JSON object (stdout, stderr, exit code) at the end instead of streaming
        #[arg(long)]
        json: bool,
        /// Kill the command after this many seconds (default: config exec.timeout_secs)
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// Run LINE with `bash -c` (instead of a program and its arguments after `--`)
        #[arg(short = 'c', long = "sh", value_name = "LINE", conflicts_with = "cmd")]
        sh: Option<String>,
        /// The program and its arguments, each passed as given
        #[arg(required_unless_present = "sh", last = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Print the container's log
    Logs {
        project: String,
        /// Follow the log as it grows
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines
        #[arg(long, value_name = "N")]
        tail: Option<usize>,
    },
    /// Resource use, health and refresh needs of managed containers
    Stats {
        project: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Make the project's container anew (workspace and agent config survive)
    Refresh {
        project: String,
        #[arg(long)]
        json: bool,
    },
    /// Stop and remove the project's containers
    Rm {
        project: String,
        /// Also delete the project's agent config dir
        #[arg(long)]
        purge: bool,
        /// Do not ask for confirmation
        #[arg(short, long)]
        yes: bool,
    },
    /// Attach to the agent's tmux session in the project's container (detach: ctrl-] or tmux's own)
    Attach { project: String },
    /// Open a login shell in the project's container
    Shell { project: String },
    /// The engines: each one's state, Docker version, API version and round-trip time
    Engines {
        #[arg(long)]
        json: bool,
    },
    /// Check the engine, the image, the config and the projects
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Tasks: a prompt run headless in a container of its own, its work on a branch
    Task {
        #[command(subcommand)]
        cmd: tasks::TaskCommand,
    },
    /// Copy files between the host and a container: SRC and DST as `docker cp` takes them, one
    /// of them PROJECT:PATH (a task id or a managed container's name before the colon also
    /// works); `-` is a tar stream on stdin or stdout
    Cp {
        src: String,
        dst: String,
        /// Stop a copy out of a container past this many bytes
        #[arg(long, default_value_t = 1 << 30, value_name = "BYTES")]
        max_size: u64,
        /// Stop a copy out of a container past this many entries
        #[arg(long, default_value_t = 100_000, value_name = "N")]
        max_entries: u64,
    },
    /// Serve MCP (Model Context Protocol) on stdio, for an orchestrating agent: tasks, exec and
    /// files in managed containers (`claude mcp add agentdock -- agentdock mcp`)
    Mcp {
        /// Serve streamable HTTP on 127.0.0.1 instead, behind a bearer token
        #[arg(long)]
        http: bool,
        /// The HTTP port (0: any free one, printed)
        #[arg(long, default_value_t = 0, requires = "http")]
        port: u16,
    },
    /// Network modes, the egress proxy, and the requests it refused (one project: its
    /// allowlist and each refusal)
    Net {
        project: Option<String>,
        #[arg(long)]
        json: bool,
        /// Make the egress proxy anew first (after its image was rebuilt)
        #[arg(long)]
        refresh_proxy: bool,
    },
    /// The credential broker: its state, the credential kind it holds (never the value), the
    /// capabilities issued and the requests refused
    Broker {
        #[command(subcommand)]
        cmd: Option<broker::BrokerCommand>,
        #[arg(long)]
        json: bool,
        /// Make the broker anew first (after agentdock was rebuilt)
        #[arg(long)]
        refresh: bool,
    },
    /// Tokens and cost of every agent, as the broker recorded them, by project, task and model
    Usage {
        /// From this long ago (7d, 12h, 30m) or this day (2026-11-25, UTC); default: all
        #[arg(long, value_name = "AGE|DATE")]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The refresh history
    History {
        #[arg(long)]
        json: bool,
    },
    /// Free space: agentdock's old image versions, finished task directories older than
    /// --older-than (their branches stay), the secrets of containers that are gone
    Prune {
        /// Age of a finished task's directory to remove: 14d, 12h, 30m
        #[arg(long, default_value = "14d", value_name = "AGE")]
        older_than: String,
        /// Say what would go, remove nothing
        #[arg(long)]
        dry_run: bool,
        /// Leave the images alone
        #[arg(long)]
        no_images: bool,
    },
}

/// A failure with its exit code and one line to print.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn usage(m: impl Into<String>) -> Self {
        Failure { code: exit::USAGE, message: m.into() }
    }
    pub fn failed(m: impl Into<String>) -> Self {
        Failure { code: exit::FAILED, message: m.into() }
    }
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        let code = match &e {
            EngineError::Unreachable { .. } => exit::ENGINE_UNREACHABLE,
            EngineError::ImageMissing { .. } => exit::IMAGE_MISSING,
            _ => exit::FAILED,
        };
        Failure { code, message: e.to_string() }
    }
}

impl From<OpError> for Failure {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Engine(e) => e.into(),
            other => Failure::failed(other.to_string()),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::usage(format!("config error: {e}"))
    }
}

/// `v` as pretty JSON on stdout, written as it is made (no copy of it held: an exec's output
/// may be megabytes).
fn print_json<T: Serialize>(v: &T) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, v).map_err(|e| Failure::failed(e.to_string()))?;
    // a closed pipe (`| head`) ends the output, not the program
    let _ = writeln!(out).and_then(|()| out.flush());
    Ok(())
}

/// The config, with `--engine` applied.
pub fn context(config_path: Option<PathBuf>, engine: Option<&str>) -> Result<Context, Failure> {
    let mut ctx = Context::load(config_path)?;
    if let Some(name) = engine {
        ctx.select_engine(name).map_err(Failure::usage)?;
    }
    Ok(ctx)
}

pub async fn run(cmd: Command, config_path: Option<PathBuf>, engine: Option<String>) -> Result<i32, Failure> {
    // the broker's own process, in its container: no config, no projects
    if let Command::Broker { cmd: Some(c @ (broker::BrokerCommand::Serve { .. } | broker::BrokerCommand::Health { .. })), .. } = &cmd {
        return broker::inside(c.clone()).await;
    }
    let ctx = context(config_path, engine.as_deref())?;
    match cmd {
        Command::Engines { json } => engines::engines(&ctx, json).await,
        Command::Ls { json } => projects::ls(&ctx, json).await,
        Command::Up { project, json } => projects::up(&ctx, &project, json).await,
        Command::Exec { project, json, timeout, sh, cmd } => {
            let cmd = match sh {
                Some(line) => crate::engine::ExecCommand::Shell(line),
                None => crate::engine::ExecCommand::Argv(cmd),
            };
            exec::exec(&ctx, &project, json, timeout, cmd).await
        }
        Command::Logs { project, follow, tail } => exec::logs(&ctx, &project, follow, tail).await,
        Command::Stats { project, json } => status::stats(&ctx, project.as_deref(), json).await,
        Command::Refresh { project, json } => projects::refresh(&ctx, &project, json).await,
        Command::Rm { project, purge, yes } => projects::rm(&ctx, &project, purge, yes).await,
        Command::Attach { project } => exec::attach(&ctx, &project, false).await,
        Command::Shell { project } => exec::attach(&ctx, &project, true).await,
        Command::Doctor { json } => status::doctor(&ctx, json).await,
        Command::History { json } => history::history(json),
        Command::Prune { older_than, dry_run, no_images } => prune::prune(&ctx, &older_than, dry_run, !no_images).await,
        Command::Net { project, json, refresh_proxy } => net::net(&ctx, project.as_deref(), json, refresh_proxy).await,
        Command::Task { cmd } => tasks::run(&ctx, cmd).await,
        Command::Broker { json, refresh, .. } => broker::status(&ctx, json, refresh).await,
        Command::Usage { since, json } => broker::usage(&ctx, since.as_deref(), json).await,
        Command::Cp { src, dst, max_size, max_entries } => {
            files::cp(&ctx, &src, &dst, crate::files::untar::Limits { max_bytes: max_size, max_entries }).await
        }
        Command::Mcp { http, port } => files::mcp(ctx, http, port).await,
    }
}

/// The default engine, for the commands that work there only (tasks, the network's proxy,
/// prune): `--engine` naming another is a usage error.
async fn connect(ctx: &Context) -> Result<Engine, Failure> {
    if !ctx.shown.contains(&0) {
        return Err(Failure::usage(format!("this command works on the default engine ({}) only", ctx.engines[0].name)));
    }
    Ok(Engine::connect_to(&ctx.engines[0]).await?)
}

/// Engine, managed containers, and the project named `key`: a configured project on its own
/// engine; an orphan on the first engine in view that has it.
async fn project_and_containers(ctx: &Context, key: &str) -> Result<(Engine, Project, Vec<ContainerInfo>), Failure> {
    let mine = |all: Vec<ContainerInfo>, p: &Project| all.into_iter().filter(|c| c.project_id.as_deref() == Some(p.id.as_str())).collect();
    if let Some(p) = crate::domain::project::find(&ctx.projects, key) {
        let target = ctx.engine_in_view(p).map_err(Failure::usage)?;
        let engine = Engine::connect_to(target).await?;
        let all = engine.list(false).await?;
        return Ok((engine, p.clone(), mine(all, p)));
    }
    let mut last = None;
    for (_, target) in ctx.shown_engines() {
        let engine = match Engine::connect_to(target).await {
            Ok(e) => e,
            Err(e) => {
                last = Some(Failure::from(e));
                continue;
            }
        };
        let all = engine.list(false).await?;
        match ctx.resolve(key, &all) {
            Ok(p) => return Ok((engine, p.clone(), mine(all, &p))),
            Err(e) => last = Some(Failure::usage(e)),
        }
    }
    Err(last.unwrap_or_else(|| Failure::usage(format!("unknown project '{}'", crate::domain::text::strip(key)))))
}

/// The project's main container, or a clear error.
fn main_container<'a>(p: &Project, containers: &'a [ContainerInfo]) -> Result<&'a ContainerInfo, Failure> {
    let name = crate::domain::container::container_name(&p.id);
    containers
        .iter()
        .find(|c| c.name == name)
        .or_else(|| containers.first())
        .ok_or_else(|| Failure::failed(format!("{} has no container; create it with `agentdock up {}`", p.name, p.id)))
}

/// The project's main container when it runs; else one line saying how to start it.
fn running_main_container<'a>(p: &Project, containers: &'a [ContainerInfo], then: &str) -> Result<&'a ContainerInfo, Failure> {
    let c = main_container(p, containers)?;
    if c.state != crate::domain::container::ContainerState::Running {
        return Err(Failure::failed(format!(
            "the container of {} is {}; start it with `agentdock up {}`{then}",
            p.name,
            c.state.as_str(),
            p.id
        )));
    }
    Ok(c)
}

