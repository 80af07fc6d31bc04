//! Into a container: exec, logs, attach and shell.

use std::io::{IsTerminal, Write};


use super::{exit, main_container, print_json, project_and_containers, running_main_container, Failure};
use crate::domain::stats::human_bytes;
use crate::engine::{ExecChunk, ExecCommand, ExecOptions};
use crate::ops::Context;

/// Runs `command` in the project's container: an argv goes as given, a shell line to `bash -c`.
pub(super) async fn exec(ctx: &Context, key: &str, json: bool, timeout: Option<u64>, command: ExecCommand) -> Result<i32, Failure> {
    let (engine, p, containers) = project_and_containers(ctx, key).await?;
    let c = running_main_container(&p, &containers, "")?;
    let cfg = ctx.config();
    let opts = ExecOptions {
        // the container's own user (the one it was made for)
        user: None,
        timeout_secs: timeout.unwrap_or(cfg.exec.timeout_secs),
        cap_bytes: cfg.exec.output_cap_bytes,
        ..Default::default()
    };
    if json {
        let out = engine.exec_capture(&c.id, command, &opts).await?;
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
    let mut stream = engine.exec_stream(&c.id, command, &opts).await?;
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

pub(super) async fn logs(ctx: &Context, key: &str, follow: bool, tail: Option<usize>) -> Result<i32, Failure> {
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

pub(super) async fn attach(ctx: &Context, key: &str, shell: bool) -> Result<i32, Failure> {
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
    let result = crate::attach::run(&engine, &c.id, &target, None, detach).await;
    drop(raw);
    match result? {
        crate::attach::Ended::Detached => {
            eprintln!("\nagentdock: left {}; its session keeps running", c.name);
            Ok(exit::OK)
        }
        crate::attach::Ended::ContainerStopped(why) => Err(Failure::failed(why)),
    }
}
