//! The app's commands, run: lifecycle operations in tasks of their own, streams (command
//! output, logs) forwarded to the app in batches.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::Worker;
use crate::app::{Command, EngineEvent, LiveStats};
use crate::domain::container::ContainerState;
use crate::engine::{Engine, ExecChunk, ExecOptions, OutputStream};
use crate::ops;

/// Output is sent in batches of at most this many bytes...
const BATCH_BYTES: usize = 64 * 1024;
/// ...or after this long, whichever comes first.
const BATCH_WAIT: Duration = Duration::from_millis(30);

impl Worker {
    pub(super) async fn command(&mut self, engine: &Engine, c: Command) {
        let cfg = self.ctx.config().clone();
        match c {
            Command::Up(p) => {
                let (engine, ctx, events) = (engine.clone(), self.ctx.clone(), self.events.clone());
                tokio::spawn(async move {
                    let result = ops::up(&engine, &ctx, &p)
                        .await
                        .map(|e| format!("{}: {}{}", e.name, match e.action {
                            crate::engine::EnsureAction::Created => "created",
                            crate::engine::EnsureAction::Started => "started",
                            crate::engine::EnsureAction::AlreadyRunning => "already running",
                        }, warned(&e.warnings)))
                        .map_err(|e| format!("{}: {e}", p.name));
                    let _ = events.send(EngineEvent::OpDone { project: p.id.clone(), result }).await;
                });
            }
            Command::Refresh { project, reason } => {
                let (engine, ctx, events) = (engine.clone(), self.ctx.clone(), self.events.clone());
                tokio::spawn(async move {
                    let progress_events = events.clone();
                    let pid = project.id.clone();
                    let progress = move |m: &str| {
                        let _ = progress_events.try_send(EngineEvent::OpProgress { project: pid.clone(), text: m.to_string() });
                    };
                    let reason = if reason.is_empty() { "manual".to_string() } else { reason };
                    let result = ops::refresh(&engine, &ctx, &project, &reason, &progress)
                        .await
                        .map(|r| {
                            let short = |s: &str| s[..12.min(s.len())].to_string();
                            format!(
                                "{} refreshed: {} -> {}{}",
                                r.name,
                                r.old_id.as_deref().map(short).unwrap_or_else(|| "none".into()),
                                short(&r.new_id),
                                warned(&r.warnings)
                            )
                        })
                        .map_err(|e| format!("refresh of {}: {e}", project.name));
                    let _ = events.send(EngineEvent::OpDone { project: project.id.clone(), result }).await;
                });
            }
            Command::Remove(p) => {
                let (engine, events) = (engine.clone(), self.events.clone());
                let stop = cfg.refresh.stop_timeout_secs;
                tokio::spawn(async move {
                    let result = ops::remove(&engine, &p, false, stop)
                        .await
                        .map(|names| format!("removed {}", names.join(", ")))
                        .map_err(|e| format!("remove {}: {e}", p.name));
                    let _ = events.send(EngineEvent::OpDone { project: p.id.clone(), result }).await;
                });
            }
            Command::Start(id) | Command::Stop(id) if !self.containers.get(&id).map(|c| c.managed).unwrap_or(false) => {
                self.send(EngineEvent::Error("agentdock does not change containers it does not manage".into())).await;
            }
            Command::Start(id) => {
                let (engine, events) = (engine.clone(), self.events.clone());
                tokio::spawn(async move {
                    if let Err(e) = engine.start(&id).await {
                        let _ = events.send(EngineEvent::Error(e.to_string())).await;
                    }
                });
            }
            Command::Stop(id) => {
                let (engine, events) = (engine.clone(), self.events.clone());
                let t = cfg.refresh.stop_timeout_secs;
                tokio::spawn(async move {
                    if let Err(e) = engine.stop(&id, t).await {
                        let _ = events.send(EngineEvent::Error(e.to_string())).await;
                    }
                });
            }
            Command::Exec { stream, container, cmd } => {
                let opts = ExecOptions {
                    // the container's own user (agentdock made it for that one)
                    user: None,
                    timeout_secs: cfg.exec.timeout_secs,
                    cap_bytes: cfg.exec.output_cap_bytes,
                    ..Default::default()
                };
                let (engine, events) = (engine.clone(), self.events.clone());
                let task = tokio::spawn(async move {
                    let (code, error) = match engine.exec_stream(&container, &cmd, &opts).await {
                        Ok(mut s) => {
                            let err = forward(stream, &events, &mut s.output).await;
                            match err {
                                Some(e) => (None, Some(e)),
                                None => match s.exit_code().await {
                                    Ok(c) => (Some(c), None),
                                    Err(e) => (None, Some(e.to_string())),
                                },
                            }
                        }
                        Err(e) => (None, Some(e.to_string())),
                    };
                    let _ = events.send(EngineEvent::OutputEnd { stream, exit_code: code, error }).await;
                });
                self.track(stream, task);
            }
            Command::Logs { stream, container } => {
                let (engine, events) = (engine.clone(), self.events.clone());
                let tail = cfg.ui.output_lines;
                let task = tokio::spawn(async move {
                    let mut s = engine.logs(&container, true, Some(tail)).await;
                    let error = forward(stream, &events, &mut s).await;
                    let _ = events.send(EngineEvent::OutputEnd { stream, exit_code: None, error }).await;
                });
                self.track(stream, task);
            }
            Command::StopStream(stream) => {
                if let Some(t) = self.streams.remove(&stream) {
                    t.abort();
                }
            }
            Command::Detail(id) => {
                self.detail = Some(id.clone());
                let (engine, events) = (engine.clone(), self.events.clone());
                let workspace = self.containers.get(&id).and_then(|c| c.project_path.clone());
                let running = self.containers.get(&id).map(|c| c.state == ContainerState::Running).unwrap_or(false);
                tokio::spawn(async move {
                    match engine.detail(&id).await {
                        Ok((state, detail)) => {
                            let _ = events.send(EngineEvent::Detail { id: id.clone(), state, detail }).await;
                        }
                        Err(e) => {
                            let _ = events.send(EngineEvent::Error(e.to_string())).await;
                        }
                    }
                    // net and block I/O come from the engine's stats, for this one container
                    if running {
                        if let Ok(sample) = engine.stats_sample(&id).await {
                            let disk = engine.disk_percent(&id, workspace.as_deref()).await;
                            let _ = events.send(EngineEvent::Stats(vec![(id, LiveStats { sample, disk_percent: disk })])).await;
                        }
                    }
                });
            }
            Command::CloseDetail => self.detail = None,
            Command::ShowUnmanaged(on) => self.unmanaged_shown = on,
            Command::RefreshService(name) => {
                let (engine, ctx, events) = (engine.clone(), self.ctx.clone(), self.events.clone());
                tokio::spawn(async move {
                    let ev = match ops::refresh_service(&engine, &ctx, &name).await {
                        Ok(st) => EngineEvent::Message(format!("{name} made anew ({})", &st.id[..12.min(st.id.len())])),
                        Err(e) => EngineEvent::Error(format!("{name}: {e}")),
                    };
                    let _ = events.send(ev).await;
                });
            }
            Command::WatchTasks(shown) => {
                self.tasks.shown = shown;
                self.watch_tasks(engine).await;
            }
            Command::StartTask { project, prompt } => self.start_task(project, prompt),
            Command::CancelTask(id) => self.cancel_task(id),
            Command::TaskRun { stream, id } => self.follow_task(stream, id),
            Command::TaskDiff { stream, id } => self.diff_task(stream, id),
            Command::Steer(s) => self.steer(engine, s),
            Command::Attach { .. } | Command::Shell { .. } | Command::Bell | Command::Notify { .. } | Command::GitNow(_) => {}
        }
    }

    pub(super) fn track(&mut self, stream: u64, task: JoinHandle<()>) {
        self.streams.retain(|_, t| !t.is_finished());
        self.streams.insert(stream, task);
    }
}

/// Copies a stream's chunks to the app in batches; returns an error text if it failed.
/// The warnings of an operation, after its message.
fn warned(warnings: &[String]) -> String {
    warnings.iter().map(|w| format!("; warning: {w}")).collect()
}

async fn forward(stream: u64, events: &super::Events, source: &mut OutputStream) -> Option<String> {
    let mut buf: Vec<u8> = Vec::new();
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let item = match deadline {
            Some(d) => match tokio::time::timeout_at(d, source.next()).await {
                Ok(item) => item,
                Err(_) => {
                    let data = std::mem::take(&mut buf);
                    deadline = None;
                    if events.send(EngineEvent::Output { stream, data }).await.is_err() {
                        return None;
                    }
                    continue;
                }
            },
            None => source.next().await,
        };
        match item {
            Some(Ok(ExecChunk::Stdout(b) | ExecChunk::Stderr(b))) => {
                buf.extend_from_slice(&b);
                if deadline.is_none() {
                    deadline = Some(tokio::time::Instant::now() + BATCH_WAIT);
                }
                if buf.len() >= BATCH_BYTES {
                    let data = std::mem::take(&mut buf);
                    deadline = None;
                    if events.send(EngineEvent::Output { stream, data }).await.is_err() {
                        return None;
                    }
                }
            }
            Some(Err(e)) => {
                if !buf.is_empty() {
                    let _ = events.send(EngineEvent::Output { stream, data: std::mem::take(&mut buf) }).await;
                }
                return Some(e.to_string());
            }
            None => {
                if !buf.is_empty() {
                    let _ = events.send(EngineEvent::Output { stream, data: buf }).await;
                }
                return None;
            }
        }
    }
}

