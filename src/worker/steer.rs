//! Steering an agent: a prompt pasted into its tmux pane, a permission answered, an interrupt,
//! another agent session started or ended, each by exec (argv, no shell of ours) into a
//! managed container of a configured project. An answer must show within 2 s (a hook ran,
//! the transcript grew or the CLI's own session record moved), else the user hears it did not
//! take.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::Worker;
use crate::agent_status::{marks, status_sub, Marks};
use crate::app::{EngineEvent, Steer};
use crate::domain::container::ContainerState;
use crate::domain::steer::{capture_argv, key_argv, new_agent_argv, paste_argv, permission_dialog_shown, stop_agent_argv, AgentKey, AgentTarget};
use crate::engine::{Engine, ExecCommand, ExecOptions};

/// How long an agent has to show it took a key or a prompt.
const TAKE_WITHIN: Duration = Duration::from_secs(2);

/// Runs `argv` in the container; its stderr (or the engine's error) when it fails.
async fn run(engine: &Engine, container: &str, argv: Vec<String>) -> Result<(), String> {
    let out = engine.exec_capture(container, ExecCommand::Argv(argv), &ExecOptions::quick()).await.map_err(|e| e.to_string())?;
    if out.exit_code == 0 {
        Ok(())
    } else {
        let err = crate::domain::text::strip(String::from_utf8_lossy(&out.stderr).trim());
        Err(format!("exit {}{}", out.exit_code, if err.is_empty() { String::new() } else { format!(": {}", crate::domain::task::cut(&err, 200)) }))
    }
}

/// Waits up to [`TAKE_WITHIN`] for the CLI to draw its permission dialog (it says it waits a
/// moment before): an answer sent before would go to its prompt. False when it never showed.
async fn dialog_up(engine: &Engine, target: &AgentTarget) -> bool {
    let end = Instant::now() + TAKE_WITHIN;
    loop {
        let opts = ExecOptions::quick();
        if let Ok(out) = engine.exec_capture(&target.container, ExecCommand::Argv(capture_argv(target)), &opts).await {
            if out.exit_code == 0 && permission_dialog_shown(&String::from_utf8_lossy(&out.stdout)) {
                return true;
            }
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The session's marks, read off the loop's thread.
async fn marks_of(dir: Option<PathBuf>, target: &AgentTarget) -> Option<Marks> {
    let dir = dir?;
    let (sub, session) = (status_sub(target.extra.as_deref()), target.session.clone());
    tokio::task::spawn_blocking(move || marks(&dir, &sub, &session)).await.ok()
}

/// Whether the session showed a change from `before` within [`TAKE_WITHIN`] (None: nothing to
/// look at, so it cannot be told).
async fn took(dir: Option<PathBuf>, target: &AgentTarget, before: Option<Marks>) -> Option<bool> {
    let before = before?;
    let end = Instant::now() + TAKE_WITHIN;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if marks_of(dir.clone(), target).await.is_some_and(|now| now != before) {
            return Some(true);
        }
        if Instant::now() >= end {
            return Some(false);
        }
    }
}

impl Worker {
    pub(super) fn steer(&mut self, engine: &Engine, s: Steer) {
        let container = match &s {
            Steer::Prompt { target, .. } | Steer::Key { target, .. } | Steer::Stop { target } => target.container.clone(),
            Steer::NewAgent { container, .. } => container.clone(),
        };
        let events = self.events.clone();
        let Some(c) = self.containers.get(&container).filter(|c| c.managed && c.state == ContainerState::Running) else {
            tokio::spawn(async move {
                let _ = events.send(EngineEvent::Error("the agent's container is not running".into())).await;
            });
            return;
        };
        // only a configured project's container: its agent dir is agentdock's, never a label's
        let dir = self.status_dir(c).map(PathBuf::from);
        let engine = engine.clone();
        tokio::spawn(async move {
            let said = match s {
                Steer::Prompt { target, text } => {
                    let before = marks_of(dir.clone(), &target).await;
                    let buffer = format!("agentdock-{}", std::process::id());
                    let sent = async {
                        run(&engine, &target.container, paste_argv(&target, &buffer, &text)).await?;
                        // the paste first, then Enter on its own, once the CLI has had time to
                        // take the paste in (an Enter read with it, or before it, is lost)
                        tokio::time::sleep(Duration::from_millis(400)).await;
                        run(&engine, &target.container, key_argv(&target, "Enter")).await
                    };
                    match sent.await {
                        Err(e) => Err(format!("the prompt could not be sent to {}: {e}", target.label())),
                        Ok(()) => match took(dir, &target, before).await {
                            Some(false) => Err(format!("the prompt did not take: {} showed no change within 2 s (a attaches to look)", target.label())),
                            _ => Ok(format!("prompt sent to {}", target.label())),
                        },
                    }
                }
                Steer::Key { target, key } => {
                    // an answer waits for the dialog it answers (sent anyway if it never shows),
                    // and a moment more: the CLI draws it before it listens to keys
                    if matches!(key, AgentKey::Allow | AgentKey::Deny) {
                        if dialog_up(&engine, &target).await {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        } else {
                            tracing::warn!(agent = %target.label(), "no permission dialog on the pane; the key is sent anyway");
                        }
                    }
                    // a refusal that did not take is sent once more (Esc twice is harmless;
                    // a second "1" would be typed into the prompt, so an allow is sent once)
                    let tries = if key == AgentKey::Deny { 2 } else { 1 };
                    let mut said = Err(String::new());
                    for _ in 0..tries {
                        let before = marks_of(dir.clone(), &target).await;
                        said = match run(&engine, &target.container, key_argv(&target, key.tmux_key())).await {
                            Err(e) => Err(format!("{}: the key could not be sent: {e}", target.label())),
                            Ok(()) => match took(dir.clone(), &target, before).await {
                                Some(false) => Err(format!("{}: it did not take, nothing changed within 2 s (a attaches to look)", target.label())),
                                _ => Ok(format!("{}: {}", target.label(), key.done())),
                            },
                        };
                        if said.is_ok() {
                            break;
                        }
                    }
                    said
                }
                Steer::NewAgent { container, container_name, name } => match run(&engine, &container, new_agent_argv(&name)).await {
                    Ok(()) => Ok(format!("agent {name} started in {container_name} (a on its row attaches)")),
                    Err(e) => Err(format!("agent {name} could not start in {container_name}: {e}")),
                },
                Steer::Stop { target } => {
                    let name = target.extra.clone().unwrap_or_default();
                    match run(&engine, &target.container, stop_agent_argv(&name)).await {
                        Ok(()) => Ok(format!("{} ended", target.label())),
                        Err(e) => Err(format!("{} could not be ended: {e}", target.label())),
                    }
                }
            };
            let _ = events.send(match said {
                Ok(m) => EngineEvent::Message(m),
                Err(e) => EngineEvent::Error(e),
            })
            .await;
        });
    }
}
