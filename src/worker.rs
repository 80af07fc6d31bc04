//! The engine worker: owns the engine connection, runs the app's commands, follows the
//! engine's event stream and collects stats, and sends domain events back over a channel.
//! Nothing is shared with the UI under a lock.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::app::{AgentStatus, Command, EngineEvent, LiveStats};
use crate::domain::container::{ContainerInfo, ContainerState};
use crate::engine::cgroup::CgroupReader;
use crate::engine::{stats::host_disk_percent, Engine, ExecChunk, ExecOptions, OutputStream};
use crate::ops::{self, Context};

/// Output is sent in batches of at most this many bytes...
const BATCH_BYTES: usize = 64 * 1024;
/// ...or after this long, whichever comes first.
const BATCH_WAIT: Duration = Duration::from_millis(30);

pub struct WorkerHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub task: JoinHandle<()>,
}

pub fn spawn(ctx: Arc<Context>, events: mpsc::Sender<EngineEvent>) -> WorkerHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(ctx, events, rx));
    WorkerHandle { commands: tx, task }
}

struct Worker {
    ctx: Arc<Context>,
    events: mpsc::Sender<EngineEvent>,
    streams: HashMap<u64, JoinHandle<()>>,
    containers: HashMap<String, ContainerInfo>,
    cgroups: CgroupReader,
    stats_interval: Duration,
    /// The agent status last sent, per container.
    agents: HashMap<String, AgentStatus>,
    /// The container the detail view shows: its net and block I/O are read too.
    detail: Option<String>,
    /// What each container's status files said when last read.
    file_status: HashMap<String, Option<AgentStatus>>,
    /// Modification times of each container's status files when last read.
    stamps: HashMap<String, Option<std::time::SystemTime>>,
    /// Disk use % per workspace path and when it was read (disk use moves slowly).
    disks: HashMap<String, (Option<f64>, std::time::Instant)>,
    /// When the pane of an agent without hooks was last sampled (at most every 5 s).
    sampled: HashMap<String, std::time::Instant>,
    /// Pane samples come back here from their own tasks, so no exec holds up the loop.
    samples_tx: mpsc::UnboundedSender<(String, AgentStatus)>,
    samples_rx: Option<mpsc::UnboundedReceiver<(String, AgentStatus)>>,
}

/// The fallback samples an agent's tmux pane no more often than this.
const PANE_SAMPLE_MIN: Duration = Duration::from_secs(5);

async fn run(ctx: Arc<Context>, events: mpsc::Sender<EngineEvent>, mut commands: mpsc::UnboundedReceiver<Command>) {
    let stats_interval = Duration::from_millis(ctx.config().ui.stats_interval_ms.max(250));
    let (samples_tx, samples_rx) = mpsc::unbounded_channel();
    let mut w = Worker {
        ctx,
        events,
        streams: HashMap::new(),
        containers: HashMap::new(),
        cgroups: CgroupReader::default(),
        stats_interval,
        agents: HashMap::new(),
        detail: None,
        file_status: HashMap::new(),
        stamps: HashMap::new(),
        disks: HashMap::new(),
        sampled: HashMap::new(),
        samples_tx,
        samples_rx: Some(samples_rx),
    };
    let mut backoff = Duration::from_millis(500);
    loop {
        match Engine::connect().await {
            Ok(engine) => {
                backoff = Duration::from_millis(500);
                let reason = w.connected(&engine, &mut commands).await;
                match reason {
                    None => return, // the app is gone
                    Some(r) => {
                        w.send(EngineEvent::Disconnected { reason: r, retry_in_ms: backoff.as_millis() as u64 }).await;
                    }
                }
            }
            Err(e) => {
                w.send(EngineEvent::Disconnected { reason: e.to_string(), retry_in_ms: backoff.as_millis() as u64 }).await;
            }
        }
        // wait before retrying, still answering commands (with an error)
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                cmd = commands.recv() => match cmd {
                    None => return,
                    Some(c) => w.refuse(c).await,
                },
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(8));
    }
}

impl Worker {
    async fn send(&self, e: EngineEvent) {
        let _ = self.events.send(e).await;
    }

    async fn refuse(&self, c: Command) {
        let project = match &c {
            Command::Up(p) | Command::Remove(p) | Command::Refresh { project: p, .. } => Some(p.id.clone()),
            _ => None,
        };
        let msg = "the engine is not connected; try again when it is back".to_string();
        match (project, c) {
            (Some(project), _) => self.send(EngineEvent::OpDone { project, result: Err(msg) }).await,
            (None, Command::Exec { stream, .. } | Command::Logs { stream, .. }) => {
                self.send(EngineEvent::OutputEnd { stream, exit_code: None, error: Some(msg) }).await
            }
            _ => self.send(EngineEvent::Error(msg)).await,
        }
    }

    /// Runs while the engine answers; returns why it stopped (None: the app closed).
    async fn connected(&mut self, engine: &Engine, commands: &mut mpsc::UnboundedReceiver<Command>) -> Option<String> {
        // Subscribe before listing, so no change between the two is missed.
        let mut events = Box::pin(engine.container_events());
        let list = match engine.list(true).await {
            Ok(l) => l,
            Err(e) => return Some(e.to_string()),
        };
        self.send(EngineEvent::Connected {
            host: engine.host().to_string(),
            version: engine.server_version().to_string(),
            api: engine.api_version().to_string(),
        })
        .await;
        self.containers = list.iter().map(|c| (c.id.clone(), c.clone())).collect();
        self.send(EngineEvent::Containers(list)).await;
        for id in self.exited_ids() {
            self.send_state(engine, &id).await;
        }
        let mut tick = tokio::time::interval(self.stats_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut stats_task: Option<JoinHandle<CgroupReader>> = None;
        let mut agent_tick = tokio::time::interval(Duration::from_secs(1));
        agent_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut samples = self.samples_rx.take().expect("samples receiver");
        let why = loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => break None,
                    Some(c) => self.command(engine, c).await,
                },
                ev = events.next() => match ev {
                    Some(Ok(ev)) => self.container_event(engine, &ev.id, &ev.action).await,
                    Some(Err(e)) => break Some(e.to_string()),
                    None => break Some("the engine closed its event stream".into()),
                },
                Some((id, status)) = samples.recv() => self.agent_changed(id, status).await,
                _ = agent_tick.tick() => self.agent_statuses(engine).await,
                _ = tick.tick() => {
                    // one collection at a time; a slow one is skipped over, not queued
                    if let Some(t) = &stats_task {
                        if !t.is_finished() { continue; }
                    }
                    if let Some(t) = stats_task.take() {
                        if let Ok(r) = t.await { self.cgroups = r; }
                    }
                    stats_task = Some(self.collect_stats(engine));
                }
            }
        };
        self.samples_rx = Some(samples);
        why
    }

    async fn agent_changed(&mut self, id: String, status: AgentStatus) {
        if self.agents.get(&id) != Some(&status) {
            self.agents.insert(id.clone(), status.clone());
            self.send(EngineEvent::Agent { container: id, status }).await;
        }
    }

    fn exited_ids(&self) -> Vec<String> {
        self.containers
            .values()
            .filter(|c| c.managed && matches!(c.state, ContainerState::Exited | ContainerState::Dead))
            .map(|c| c.id.clone())
            .collect()
    }

    async fn send_state(&self, engine: &Engine, id: &str) {
        if let Ok(Some(st)) = engine.inspect_state(id).await {
            self.send(EngineEvent::State(st)).await;
        }
    }

    async fn container_event(&mut self, engine: &Engine, id: &str, action: &str) {
        if id.is_empty() || action.starts_with("exec_") || action == "top" || action.starts_with("resize") {
            return;
        }
        match engine.list_one(id).await {
            Ok(Some(info)) => {
                let name = info.name.clone();
                self.containers.insert(id.to_string(), info.clone());
                self.send(EngineEvent::Container(info)).await;
                if action == "oom" {
                    self.send(EngineEvent::Oom { id: id.to_string(), name }).await;
                }
                if action == "die" || action == "oom" || action == "start" {
                    if let Ok(Some(st)) = engine.inspect_state(id).await {
                        if action == "die" {
                            let name = st.name.clone();
                            let (exit_code, oom_killed) = (st.exit_code, st.oom_killed);
                            self.send(EngineEvent::Died { id: id.to_string(), name, exit_code, oom_killed }).await;
                        }
                        self.send(EngineEvent::State(st)).await;
                    }
                }
            }
            Ok(None) => {
                self.containers.remove(id);
                self.send(EngineEvent::ContainerGone(id.to_string())).await;
            }
            Err(e) => self.send(EngineEvent::Error(e.to_string())).await,
        }
    }

    /// Reads each running managed container's agent status files (host files, no exec; read
    /// again only when they change) and sends what changed. An agent that never reports through
    /// hooks gets its tmux pane's last activity sampled instead, by exec, in a task of its own,
    /// at most every `ui.pane_sample_secs` (never under 5 s).
    async fn agent_statuses(&mut self, engine: &Engine) {
        let session = self.ctx.config().session_name.clone();
        let every = Duration::from_secs(self.ctx.config().ui.pane_sample_secs).max(PANE_SAMPLE_MIN);
        let running: Vec<(String, Option<String>)> = self
            .containers
            .values()
            .filter(|c| c.managed && c.state == ContainerState::Running)
            .map(|c| (c.id.clone(), c.agent_dir.clone()))
            .collect();
        let alive = |id: &String| running.iter().any(|(r, _)| r == id);
        self.agents.retain(|id, _| alive(id));
        self.stamps.retain(|id, _| alive(id));
        self.file_status.retain(|id, _| alive(id));
        for (id, dir) in &running {
            let Some(dir) = dir else { continue };
            let stamp = crate::agent_status::stamp(Path::new(dir));
            if self.stamps.get(id) != Some(&stamp) {
                self.stamps.insert(id.clone(), stamp);
                self.file_status.insert(id.clone(), crate::agent_status::read(Path::new(dir)));
            }
            let Some(Some(status)) = self.file_status.get(id).cloned() else { continue };
            if !matches!(status, AgentStatus::Started { .. }) {
                self.sampled.remove(id);
                self.agent_changed(id.clone(), status).await;
                continue;
            }
            // no hook has spoken: fall back to the pane's activity
            if !self.agents.contains_key(id) {
                self.agent_changed(id.clone(), status).await;
            }
            if self.sampled.get(id).map(|t| t.elapsed() < every).unwrap_or(false) {
                continue;
            }
            self.sampled.insert(id.clone(), std::time::Instant::now());
            let (engine, tx, id) = (engine.clone(), self.samples_tx.clone(), id.clone());
            let cmd = format!("tmux display-message -p -t {session} '#{{window_activity}}'");
            tokio::spawn(async move {
                if let Ok(out) = engine.exec_capture(&id, &cmd, &ExecOptions::quick()).await {
                    if let Ok(at) = String::from_utf8_lossy(&out.stdout).trim().parse::<i64>() {
                        // the label ages with the clock: "active" now, "output 3m ago" later
                        let _ = tx.send((id, AgentStatus::Quiet { last_output: at }));
                    }
                }
            });
        }
    }

    /// Samples every running container: from its cgroup files when the engine is local (no
    /// cost to the engine), else through the engine's stats API; and the agent status files.
    fn collect_stats(&mut self, engine: &Engine) -> JoinHandle<CgroupReader> {
        let running: Vec<ContainerInfo> =
            self.containers.values().filter(|c| c.state == ContainerState::Running).cloned().collect();
        let ids: Vec<String> = running.iter().map(|c| c.id.clone()).collect();
        // disk use of each workspace, read again every 30 s
        let local_engine = engine.is_local();
        let mut disks: HashMap<String, Option<f64>> = HashMap::new();
        for c in &running {
            let Some(p) = c.project_path.clone().filter(|_| local_engine) else { continue };
            let fresh = self.disks.get(&p).filter(|(_, at)| at.elapsed() < Duration::from_secs(30)).map(|(d, _)| *d);
            let d = fresh.unwrap_or_else(|| {
                let d = host_disk_percent(Path::new(&p));
                self.disks.insert(p.clone(), (d, std::time::Instant::now()));
                d
            });
            disks.insert(c.id.clone(), d);
        }
        let mut reader = std::mem::take(&mut self.cgroups);
        reader.retain(&ids);
        let engine = engine.clone();
        let events = self.events.clone();
        let local = engine.is_local();
        let detail = self.detail.clone();
        tokio::spawn(async move {
            // the detail view's container also gets its net (by its process) and block I/O
            let detail_pid = match &detail {
                Some(id) if local => engine.inspect_state(id).await.ok().flatten().and_then(|s| s.pid),
                _ => None,
            };
            let mut batch = Vec::with_capacity(running.len());
            let mut remote = Vec::new();
            for c in &running {
                let disk = disks.get(&c.id).copied().flatten();
                match local.then(|| reader.sample(&c.id)).flatten() {
                    Some(mut sample) => {
                        if detail.as_deref() == Some(c.id.as_str()) {
                            (sample.blk_read, sample.blk_write) = reader.block_io(&c.id).unwrap_or_default();
                            if let Some((rx, tx)) = detail_pid.and_then(crate::engine::stats::net_of_pid) {
                                (sample.net_rx, sample.net_tx) = (rx, tx);
                            }
                        }
                        batch.push((c.id.clone(), LiveStats { sample, disk_percent: disk }))
                    }
                    None => remote.push((c.id.clone(), disk)),
                }
            }
            let remote_stats = futures_util::stream::iter(remote.into_iter().map(|(id, disk)| {
                let engine = engine.clone();
                async move { engine.stats_sample(&id).await.ok().map(|sample| (id, LiveStats { sample, disk_percent: disk })) }
            }))
            .buffer_unordered(32)
            .filter_map(|x| async move { x })
            .collect::<Vec<_>>()
            .await;
            batch.extend(remote_stats);
            let _ = events.send(EngineEvent::Stats(batch)).await;
            reader
        })
    }

    async fn command(&mut self, engine: &Engine, c: Command) {
        let cfg = self.ctx.config().clone();
        match c {
            Command::Up(p) => {
                let (engine, ctx, events) = (engine.clone(), self.ctx.clone(), self.events.clone());
                tokio::spawn(async move {
                    let result = ops::up(&engine, &ctx, &p)
                        .await
                        .map(|e| format!("{}: {}", e.name, match e.action {
                            crate::engine::EnsureAction::Created => "created",
                            crate::engine::EnsureAction::Started => "started",
                            crate::engine::EnsureAction::AlreadyRunning => "already running",
                        }))
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
                                "{} refreshed: {} -> {}",
                                r.name,
                                r.old_id.as_deref().map(short).unwrap_or_else(|| "none".into()),
                                short(&r.new_id)
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
                    user: self.containers.get(&container).filter(|c| c.managed).map(|_| cfg.user.clone()),
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
            Command::Attach { .. } | Command::Shell { .. } | Command::Bell => {}
        }
    }

    fn track(&mut self, stream: u64, task: JoinHandle<()>) {
        self.streams.retain(|_, t| !t.is_finished());
        self.streams.insert(stream, task);
    }
}

/// Copies a stream's chunks to the app in batches; returns an error text if it failed.
async fn forward(stream: u64, events: &mpsc::Sender<EngineEvent>, source: &mut OutputStream) -> Option<String> {
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

