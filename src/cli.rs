//! The scriptable subcommands, on the same core as the dashboard.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::config::ConfigError;
use crate::domain::container::{ContainerInfo, Health};
use crate::domain::policy::{refresh_reasons, Observed, RefreshReason};
use crate::domain::project::Project;
use crate::domain::spec::SECRET_ENV;
use crate::domain::stats::{human_age, human_bytes};
use crate::engine::{ContainerStats, Engine, EngineError, ExecChunk, ExecOptions};
use crate::ops::{self, Context, OpError};

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
    /// Run a command in the project's container (bash -c, as the container user, in /workspace)
    Exec {
        project: String,
        /// Print one JSON object (stdout, stderr, exit code) at the end instead of streaming
        #[arg(long)]
        json: bool,
        /// Kill the command after this many seconds (default: config exec.timeout_secs)
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        #[arg(required = true, last = true, value_name = "CMD")]
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
    /// Check the engine, the image, the config and the projects
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// The refresh history
    History {
        #[arg(long)]
        json: bool,
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

fn print_json<T: Serialize>(v: &T) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Failure::failed(e.to_string()))?;
    println!("{s}");
    Ok(())
}

pub async fn run(cmd: Command, config_path: Option<PathBuf>) -> Result<i32, Failure> {
    let ctx = Context::load(config_path)?;
    match cmd {
        Command::Ls { json } => ls(&ctx, json).await,
        Command::Up { project, json } => up(&ctx, &project, json).await,
        Command::Exec { project, json, timeout, cmd } => exec(&ctx, &project, json, timeout, &cmd).await,
        Command::Logs { project, follow, tail } => logs(&ctx, &project, follow, tail).await,
        Command::Stats { project, json } => stats(&ctx, project.as_deref(), json).await,
        Command::Refresh { project, json } => refresh(&ctx, &project, json).await,
        Command::Rm { project, purge, yes } => rm(&ctx, &project, purge, yes).await,
        Command::Attach { project } => attach(&ctx, &project, false).await,
        Command::Shell { project } => attach(&ctx, &project, true).await,
        Command::Doctor { json } => doctor(&ctx, json).await,
        Command::History { json } => history(json),
    }
}

async fn connect() -> Result<Engine, Failure> {
    Ok(Engine::connect().await?)
}

/// Engine, managed containers, and the project named `key`.
async fn project_and_containers(ctx: &Context, key: &str) -> Result<(Engine, Project, Vec<ContainerInfo>), Failure> {
    let engine = connect().await?;
    let all = engine.list(false).await?;
    let p = ctx.resolve(key, &all).map_err(Failure::usage)?;
    let mine = all.into_iter().filter(|c| c.project_id.as_deref() == Some(p.id.as_str())).collect();
    Ok((engine, p, mine))
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

#[derive(Serialize)]
struct LsRow<'a> {
    id: &'a str,
    name: &'a str,
    path: String,
    exists: bool,
    orphaned: bool,
    containers: Vec<&'a ContainerInfo>,
}

async fn ls(ctx: &Context, json: bool) -> Result<i32, Failure> {
    let engine = connect().await?;
    let containers = engine.list(false).await?;
    let mut rows: Vec<LsRow> = ctx
        .projects
        .iter()
        .map(|p| LsRow {
            id: &p.id,
            name: &p.name,
            path: p.path.display().to_string(),
            exists: p.exists,
            orphaned: false,
            containers: containers.iter().filter(|c| c.project_id.as_deref() == Some(p.id.as_str())).collect(),
        })
        .collect();
    // Containers whose project is no longer configured or whose directory is gone.
    for c in &containers {
        let known = rows.iter().any(|r| Some(r.id) == c.project_id.as_deref());
        if !known {
            let id = c.project_id.as_deref().unwrap_or("?");
            if let Some(r) = rows.iter_mut().find(|r| r.id == id) {
                r.containers.push(c);
                continue;
            }
            let path = c.project_path.clone().unwrap_or_default();
            rows.push(LsRow {
                id,
                name: c.project_name.as_deref().unwrap_or(id),
                exists: std::path::Path::new(&path).is_dir(),
                path,
                orphaned: true,
                containers: vec![c],
            });
        }
    }
    for r in &mut rows {
        if !r.exists && !r.containers.is_empty() {
            r.orphaned = true;
        }
    }
    if json {
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    println!("{:<24} {:<14} {:<10} {:<10} PATH", "PROJECT", "CONTAINER", "STATE", "HEALTH");
    for r in &rows {
        let note = if r.orphaned { "  (orphaned: directory gone)" } else { "" };
        if r.containers.is_empty() {
            println!("{:<24} {:<14} {:<10} {:<10} {}{note}", r.name, "-", "none", "-", r.path);
        }
        for c in &r.containers {
            let state = if r.orphaned { "orphaned" } else { c.state.as_str() };
            println!("{:<24} {:<14} {:<10} {:<10} {}{note}", r.name, c.short_id(), state, c.health.as_str(), r.path);
        }
    }
    if rows.is_empty() {
        println!("(no projects: add roots or [[project]] entries to {})", ctx.loaded.path.display());
    }
    Ok(exit::OK)
}

async fn up(ctx: &Context, key: &str, json: bool) -> Result<i32, Failure> {
    let (engine, p, _) = project_and_containers(ctx, key).await?;
    let done = ops::up(&engine, ctx, &p).await?;
    if json {
        print_json(&done)?;
    } else {
        let what = match done.action {
            crate::engine::EnsureAction::Created => "created and started",
            crate::engine::EnsureAction::Started => "started",
            crate::engine::EnsureAction::AlreadyRunning => "already running",
        };
        println!("{} {} ({what})", done.name, &done.id[..12.min(done.id.len())]);
    }
    Ok(exit::OK)
}

async fn exec(ctx: &Context, key: &str, json: bool, timeout: Option<u64>, cmd: &[String]) -> Result<i32, Failure> {
    let (engine, p, containers) = project_and_containers(ctx, key).await?;
    let c = running_main_container(&p, &containers, "")?;
    let command = cmd.join(" ");
    let cfg = ctx.config();
    let opts = ExecOptions {
        user: Some(cfg.user.clone()),
        timeout_secs: timeout.unwrap_or(cfg.exec.timeout_secs),
        cap_bytes: cfg.exec.output_cap_bytes,
        ..Default::default()
    };
    if json {
        let out = engine.exec_capture(&c.id, &command, &opts).await?;
        for (name, dropped) in [("stdout", out.stdout_dropped), ("stderr", out.stderr_dropped)] {
            if dropped > 0 {
                eprintln!(
                    "agentdock: {name} cut: kept the last {} of {}",
                    human_bytes(opts.cap_bytes as u64),
                    human_bytes(dropped + opts.cap_bytes as u64)
                );
            }
        }
        print_json(&out)?;
        return Ok(exit_code_of(out.exit_code));
    }
    let mut stream = engine.exec_stream(&c.id, &command, &opts).await?;
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    while let Some(chunk) = stream.next().await {
        // A closed pipe (`| head`) ends the copy, not the program with a panic.
        let written = match chunk? {
            ExecChunk::Stdout(b) => stdout.write_all(&b).and_then(|_| stdout.flush()),
            ExecChunk::Stderr(b) => stderr.write_all(&b),
        };
        if written.is_err() {
            break;
        }
    }
    let code = stream.exit_code().await?;
    if code == 124 && opts.timeout_secs > 0 {
        eprintln!("agentdock: the command was killed after {}s", opts.timeout_secs);
    }
    Ok(exit_code_of(code))
}

fn exit_code_of(code: i64) -> i32 {
    if (0..=255).contains(&code) {
        code as i32
    } else {
        exit::FAILED
    }
}

async fn logs(ctx: &Context, key: &str, follow: bool, tail: Option<usize>) -> Result<i32, Failure> {
    let (engine, p, containers) = project_and_containers(ctx, key).await?;
    let c = main_container(&p, &containers)?;
    let mut stream = engine.logs(&c.id, follow, tail).await;
    let mut stdout = std::io::stdout().lock();
    while let Some(chunk) = stream.next().await {
        let written = match chunk? {
            ExecChunk::Stdout(b) | ExecChunk::Stderr(b) => stdout.write_all(&b).and_then(|_| stdout.flush()),
        };
        if written.is_err() {
            break;
        }
    }
    Ok(exit::OK)
}

#[derive(Serialize)]
struct StatsRow {
    #[serde(flatten)]
    stats: ContainerStats,
    needs_refresh: Vec<RefreshReason>,
}

async fn stats(ctx: &Context, key: Option<&str>, json: bool) -> Result<i32, Failure> {
    let engine = connect().await?;
    let mut containers = engine.list(false).await?;
    if let Some(k) = key {
        let p = ctx.resolve(k, &containers).map_err(Failure::usage)?;
        containers.retain(|c| c.project_id.as_deref() == Some(p.id.as_str()));
    }
    let stats = engine.stats_many(&containers).await;
    let rows: Vec<StatsRow> = stats
        .into_iter()
        .map(|s| {
            let policy = s
                .project_id
                .as_deref()
                .and_then(|id| ctx.projects.iter().find(|p| p.id == id))
                .map(|p| p.settings.refresh.clone())
                .unwrap_or_else(|| ctx.config().refresh.clone());
            let observed = Observed {
                age_secs: s.age_secs,
                disk_percent: s.disk_percent,
                mem_percent: s.sample.map(|x| x.mem_percent),
                health: Some(s.health),
            };
            StatsRow { needs_refresh: refresh_reasons(&policy, &observed), stats: s }
        })
        .collect();
    if json {
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    println!(
        "{:<28} {:<9} {:<10} {:>7} {:>22} {:>6} {:>5} {:>7}  REFRESH",
        "NAME", "STATE", "HEALTH", "CPU%", "MEM USED / LIMIT", "DISK", "PIDS", "AGE"
    );
    for r in &rows {
        let s = &r.stats;
        let (cpu, mem, pids) = match &s.sample {
            Some(x) => (
                format!("{:.1}", x.cpu_percent),
                format!("{} / {} {:.0}%", human_bytes(x.mem_used), human_bytes(x.mem_limit), x.mem_percent),
                x.pids.to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let disk = s.disk_percent.map(|d| format!("{d:.0}%")).unwrap_or_else(|| "-".into());
        let reasons: Vec<String> = r.needs_refresh.iter().map(ToString::to_string).collect();
        println!(
            "{:<28} {:<9} {:<10} {:>7} {:>22} {:>6} {:>5} {:>7}  {}",
            s.name,
            s.state.as_str(),
            s.health.as_str(),
            cpu,
            mem,
            disk,
            pids,
            s.age_secs.map(human_age).unwrap_or_default(),
            if reasons.is_empty() { "-".to_string() } else { reasons.join(", ") }
        );
        if s.health == Health::Unhealthy {
            if let Some(o) = &s.last_health_output {
                println!("    last health check: {o}");
            }
        }
    }
    Ok(exit::OK)
}

async fn refresh(ctx: &Context, key: &str, json: bool) -> Result<i32, Failure> {
    let (engine, p, _) = project_and_containers(ctx, key).await?;
    let progress = |m: &str| eprintln!("agentdock: {m}");
    let done = ops::refresh(&engine, ctx, &p, "manual", &progress).await?;
    if json {
        print_json(&done)?;
    } else {
        let old = done.old_id.as_deref().map(|o| &o[..12.min(o.len())]).unwrap_or("none");
        println!("{} refreshed: {old} -> {}", done.name, &done.new_id[..12.min(done.new_id.len())]);
    }
    Ok(exit::OK)
}

async fn rm(ctx: &Context, key: &str, purge: bool, yes: bool) -> Result<i32, Failure> {
    let (engine, p, containers) = project_and_containers(ctx, key).await?;
    if containers.is_empty() && !purge {
        println!("{} has no container", p.name);
        return Ok(exit::OK);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::usage("rm asks for confirmation: pass --yes when not at a terminal"));
        }
        let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
        eprint!(
            "Remove {}{} of {}? [y/N] ",
            names.join(", "),
            if purge { " and its agent config" } else { "" },
            p.name
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).map_err(|e| Failure::failed(e.to_string()))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("nothing removed");
            return Ok(exit::OK);
        }
    }
    let removed = ops::remove(&engine, &p, purge, ctx.config().refresh.stop_timeout_secs).await?;
    for n in &removed {
        println!("removed {n}");
    }
    if purge {
        println!("purged the agent config of {}", p.name);
    }
    Ok(exit::OK)
}

/// Raw mode for the length of an attach, off again on every path (panics included).
struct RawMode;

impl RawMode {
    fn on() -> Result<RawMode, Failure> {
        crossterm::terminal::enable_raw_mode().map_err(|e| Failure::failed(format!("cannot set the terminal up: {e}")))?;
        let original = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let _ = crossterm::terminal::disable_raw_mode();
            original(info);
        }));
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

async fn attach(ctx: &Context, key: &str, shell: bool) -> Result<i32, Failure> {
    let verb = if shell { "shell" } else { "attach" };
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(Failure::usage(format!("{verb} needs a terminal: stdin or stdout is not a TTY")));
    }
    let (engine, p, containers) = project_and_containers(ctx, key).await?;
    let c = running_main_container(&p, &containers, &format!(", then {verb}"))?;
    let cfg = ctx.config();
    let detach_key = &cfg.ui.detach_key;
    let detach = crate::attach::detach_byte(detach_key)
        .ok_or_else(|| Failure::usage(format!("ui.detach_key '{detach_key}' is not a control key like ctrl-]")))?;
    let target = if shell {
        crate::attach::Target::Shell
    } else {
        crate::attach::Target::Agent { session: cfg.session_name.clone() }
    };
    eprintln!("agentdock: {verb} {}; leave with {detach_key}{}", c.name, if shell { "" } else { " (or the tmux prefix, then d)" });
    let raw = RawMode::on()?;
    let result = crate::attach::run(&engine, &c.id, &target, Some(cfg.user.clone()), detach).await;
    drop(raw);
    match result? {
        crate::attach::Ended::Detached => {
            eprintln!("\nagentdock: left {}; its session keeps running", c.name);
            Ok(exit::OK)
        }
        crate::attach::Ended::ContainerStopped(why) => Err(Failure::failed(why)),
    }
}

#[derive(Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

async fn doctor(ctx: &Context, json: bool) -> Result<i32, Failure> {
    let mut checks = Vec::new();
    let cfg = ctx.config();
    let engine = Engine::connect().await;
    let mut unreachable = false;
    match &engine {
        Ok(e) => checks.push(Check {
            name: "engine",
            ok: true,
            detail: format!("{} (Docker {}, API {})", e.host(), e.server_version(), e.api_version()),
        }),
        Err(e) => {
            unreachable = matches!(e, EngineError::Unreachable { .. });
            checks.push(Check { name: "engine", ok: false, detail: e.to_string() })
        }
    }
    let mut images: Vec<&str> = vec![cfg.image.as_str()];
    images.extend(ctx.projects.iter().map(|p| p.settings.image.as_str()));
    images.sort();
    images.dedup();
    for image in images {
        let check = match &engine {
            Ok(e) => match e.image_size(image).await {
                Ok(Some(size)) => Check { name: "image", ok: true, detail: format!("{image} ({})", human_bytes(size as u64)) },
                Ok(None) => Check {
                    name: "image",
                    ok: false,
                    detail: format!("{image} is missing; build it with: {}", crate::config::BUILD_COMMAND),
                },
                Err(err) => Check { name: "image", ok: false, detail: err.to_string() },
            },
            Err(_) => Check { name: "image", ok: false, detail: format!("{image}: engine unreachable") },
        };
        checks.push(check);
    }
    checks.push(Check {
        name: "config",
        ok: true,
        detail: if ctx.loaded.from_file {
            format!("{}", ctx.loaded.path.display())
        } else {
            format!("{} (no file: defaults in use)", ctx.loaded.path.display())
        },
    });
    let missing: Vec<&str> = ctx.projects.iter().filter(|p| !p.exists).map(|p| p.name.as_str()).collect();
    checks.push(Check {
        name: "projects",
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            format!("{} found (roots: {})", ctx.projects.len(), cfg.roots.join(", "))
        } else {
            format!("{} found; directory missing: {}", ctx.projects.len(), missing.join(", "))
        },
    });
    checks.push(Check { name: "data", ok: true, detail: crate::paths::data_dir().display().to_string() });
    let secrets: Vec<String> = SECRET_ENV
        .iter()
        .map(|n| format!("{n} {}", if std::env::var(n).map(|v| !v.is_empty()).unwrap_or(false) { "set" } else { "not set" }))
        .collect();
    checks.push(Check { name: "secrets", ok: true, detail: secrets.join(", ") });

    let all_ok = checks.iter().all(|c| c.ok);
    if json {
        print_json(&checks)?;
    } else {
        for c in &checks {
            println!("{:<9} {:<4} {}", c.name, if c.ok { "ok" } else { "FAIL" }, c.detail);
        }
    }
    Ok(if unreachable {
        exit::ENGINE_UNREACHABLE
    } else if all_ok {
        exit::OK
    } else {
        exit::FAILED
    })
}

fn history(json: bool) -> Result<i32, Failure> {
    let records = crate::history::read_all();
    if json {
        print_json(&records)?;
        return Ok(exit::OK);
    }
    if records.is_empty() {
        println!("no refreshes yet");
    }
    for r in &records {
        let short = |s: &Option<String>| s.as_deref().map(|x| x[..12.min(x.len())].to_string()).unwrap_or("-".into());
        println!(
            "{} {:<24} {:<10} {} -> {} {:.1}s {}",
            r.at,
            r.container,
            r.reason,
            short(&r.old_id),
            short(&r.new_id),
            r.seconds,
            r.result
        );
    }
    Ok(exit::OK)
}
