//! Attach: an interactive TTY exec into the agent's tmux session (or a shell), with the local
//! terminal's keys and the container's output passed through byte for byte, window resizes
//! followed, and a detach key that returns. The caller owns the terminal: raw mode must be on
//! and the alternate screen left before `run`.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use crate::domain::container::ContainerState;
use crate::engine::{Engine, EngineError, ExecChunk};

/// What to run in the container.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The agent's tmux session, created (running the agent) when absent.
    Agent { session: String },
    /// A login shell: bash when present, else sh.
    Shell,
}

impl Target {
    pub fn argv(&self) -> Vec<String> {
        match self {
            Target::Agent { session } => vec![
                "tmux".into(),
                "new-session".into(),
                "-A".into(),
                "-s".into(),
                session.clone(),
                "-c".into(),
                "/workspace".into(),
                "-e".into(),
                format!("AGENT_SESSION={session}"),
                // an attach can come before the entrypoint made the session: the agent still
                // gets the secrets the entrypoint would have exported (argv, no shell of tmux's)
                "bash".into(),
                "-c".into(),
                ". /usr/local/lib/agentdock/secrets.sh 2>/dev/null; exec /usr/local/bin/agentdock-agent-run".into(),
            ],
            Target::Shell => vec![
                "sh".into(),
                "-c".into(),
                "cd /workspace 2>/dev/null; if command -v bash >/dev/null; then exec bash -l; else exec sh -l; fi".into(),
            ],
        }
    }
}

/// How an attach ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// The detach key, or the session's own detach (tmux prefix d) / exit.
    Detached,
    /// The container stopped under us; the reason says how.
    ContainerStopped(String),
}

/// "ctrl-]" -> 0x1d; None when the key is not a control character.
pub fn detach_byte(key: &str) -> Option<u8> {
    let k = key.trim().to_ascii_lowercase();
    let c = k.strip_prefix("ctrl-").or_else(|| k.strip_prefix("ctrl+"))?;
    let mut chars = c.chars();
    let ch = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    match ch {
        'a'..='z' => Some(ch as u8 - b'a' + 1),
        '[' | ']' | '\\' | '^' | '_' => Some(ch as u8 & 0x1f),
        _ => None,
    }
}

/// Reads stdin on a thread, polling so it can be stopped without eating a key.
struct StdinPump {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StdinPump {
    fn start(tx: mpsc::UnboundedSender<Vec<u8>>) -> StdinPump {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let stdin = std::io::stdin();
            let mut buf = [0u8; 4096];
            let timeout = rustix::event::Timespec { tv_sec: 0, tv_nsec: 50_000_000 };
            while !s.load(Ordering::Relaxed) {
                let mut fds = [rustix::event::PollFd::new(&stdin, rustix::event::PollFlags::IN)];
                match rustix::event::poll(&mut fds, Some(&timeout)) {
                    Ok(0) => continue,
                    Ok(_) => {}
                    Err(_) => break,
                }
                match stdin.lock().read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        StdinPump { stop, thread: Some(thread) }
    }
}

impl Drop for StdinPump {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Runs the session until it ends, the detach key is pressed, or the container stops.
pub async fn run(
    engine: &Engine,
    container: &str,
    target: &Target,
    user: Option<String>,
    detach: u8,
) -> Result<Ended, EngineError> {
    let started_at = engine.inspect_state(container).await?.and_then(|s| s.started_at);
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into());
    let env = vec![format!("TERM={term}"), "LANG=en_US.UTF-8".into()];
    let mut session = engine.exec_tty(container, target.argv(), user, "/workspace", env).await?;
    if let Ok((w, h)) = crossterm::terminal::size() {
        let _ = engine.resize_exec(&session.exec_id, w, h).await;
    }
    let (tx, mut keys) = mpsc::unbounded_channel();
    let pump = StdinPump::start(tx);
    let mut winch = signal(SignalKind::window_change()).map_err(|e| EngineError::Failed(e.to_string()))?;
    let mut stdout = std::io::stdout();
    let mut health = tokio::time::interval(Duration::from_millis(500));
    let mut by_key = false;
    let ended = loop {
        tokio::select! {
            k = keys.recv() => match k {
                Some(bytes) => {
                    if let Some(i) = bytes.iter().position(|b| *b == detach) {
                        let _ = session.input.write_all(&bytes[..i]).await;
                        by_key = true;
                        break Ended::Detached;
                    }
                    if session.input.write_all(&bytes).await.is_err() {
                        break Ended::Detached;
                    }
                    let _ = session.input.flush().await;
                }
                None => break Ended::Detached,
            },
            out = session.output.next() => match out {
                Some(Ok(ExecChunk::Stdout(b) | ExecChunk::Stderr(b))) => {
                    let _ = stdout.write_all(&b);
                    let _ = stdout.flush();
                }
                Some(Err(_)) | None => break Ended::Detached,
            },
            _ = winch.recv() => {
                if let Ok((w, h)) = crossterm::terminal::size() {
                    let _ = engine.resize_exec(&session.exec_id, w, h).await;
                }
            },
            _ = health.tick() => {
                // a dead container does not always close the exec stream at once
                if let Ok(Some(st)) = engine.inspect_state(container).await {
                    if st.state != ContainerState::Running || st.started_at != started_at {
                        break Ended::Detached;
                    }
                }
            }
        }
    };
    drop(pump);
    let _ = session.input.shutdown().await;
    let _ = stdout.write_all(RESET);
    let _ = stdout.flush();
    // why did it end: a container that stopped (or died and was restarted by its restart
    // policy) says how. When the session ended by itself, the engine may take a moment to
    // record the container's death: look a few times.
    let looks = if by_key { 1 } else { 8 };
    for look in 0..looks {
        let Ok(Some(st)) = engine.inspect_state(container).await else { break };
        if st.state == ContainerState::Running && st.started_at == started_at {
            if look + 1 < looks {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            continue;
        }
        let oom = if st.oom_killed { ", OOM-killed" } else { "" };
        let code = st.exit_code.unwrap_or(-1);
        if st.state != ContainerState::Running {
            return Ok(Ended::ContainerStopped(format!("the container {} {} (exit code {code}{oom})", st.name, st.state.as_str())));
        }
        return Ok(Ended::ContainerStopped(format!(
            "the container {} died (exit code {code}{oom}) and was restarted by its restart policy",
            st.name
        )));
    }
    Ok(ended)
}

/// What is written when a session ends. It may have been cut mid-screen (our detach key, a dead
/// container) or have left modes set on purpose: first a string terminator (ending an escape
/// string the session left open, so what follows is not swallowed), then off with the scroll
/// region, alternate screen, hidden cursor, colours, mouse, paste and focus reporting,
/// application keypad, the kitty keyboard protocol and xterm's modifyOtherKeys.
pub const RESET: &[u8] = b"\x1b\\\x1b[r\x1b[?1049l\x1b[?25h\x1b[0m\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1004l\x1b[?2004l\x1b[?1l\x1b>\x1b[=0;1u\x1b[<99u\x1b[>4;0m\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_bytes() {
        assert_eq!(detach_byte("ctrl-]"), Some(0x1d));
        assert_eq!(detach_byte("ctrl-q"), Some(0x11));
        assert_eq!(detach_byte("q"), None);
    }

    #[test]
    fn agent_target_creates_the_session_when_absent() {
        let argv = Target::Agent { session: "claude".into() }.argv();
        assert_eq!(&argv[..5], ["tmux", "new-session", "-A", "-s", "claude"]);
        assert!(argv.contains(&"AGENT_SESSION=claude".to_string()) && argv.last().unwrap().contains("secrets.sh"), "{argv:?}");
    }
}
