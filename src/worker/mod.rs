//! The engine worker: owns one engine's connection, runs the app's commands, follows the
//! engine's event stream and collects stats, and sends domain events back over a channel,
//! each tagged with its engine. Nothing is shared with the UI under a lock. The loop is here;
//! stats collection, agent status and command execution have a file each. Each engine has a
//! worker of its own, so a slow or unreachable one holds up none of the others; the default
//! engine's worker (index 0) also watches the tasks and the egress proxy, which live there.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

mod agents;
mod commands;
mod events;
pub mod git;
mod proxy;
mod stats;
mod steer;
mod tasks;

use crate::app::{AgentStatus, Command, EngineEvent};
use crate::domain::container::{ContainerInfo, ContainerState};
use crate::engine::cgroup::CgroupReader;
use crate::engine::Engine;
use crate::ops::Context;

pub struct WorkerHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub task: JoinHandle<()>,
}

/// An engine event, with the index of the engine it comes from (in `Context::engines`).
pub type Tagged = (usize, EngineEvent);

/// A worker's sending end: every event tagged with the worker's engine.
#[derive(Clone)]
pub struct Events {
    engine: usize,
    tx: mpsc::Sender<Tagged>,
}

/// The app is gone (or, for `try_send`, its queue is full): the event was not sent.
#[derive(Debug)]
pub struct NotSent;

impl Events {
    pub fn new(engine: usize, tx: mpsc::Sender<Tagged>) -> Events {
        Events { engine, tx }
    }
    pub async fn send(&self, e: EngineEvent) -> Result<(), NotSent> {
        self.tx.send((self.engine, e)).await.map_err(|_| NotSent)
    }
    pub fn try_send(&self, e: EngineEvent) -> Result<(), NotSent> {
        self.tx.try_send((self.engine, e)).map_err(|_| NotSent)
    }
    pub fn blocking_send(&self, e: EngineEvent) -> Result<(), NotSent> {
        self.tx.blocking_send((self.engine, e)).map_err(|_| NotSent)
    }
}

/// Starts the worker of engine `engine` (an index into `ctx.engines`). `round_trips`: ping it
/// every few seconds (the dashboard shows several engines, each with its round-trip time, and
/// an engine that stops answering is told by its pings).
pub fn spawn(ctx: Arc<Context>, engine: usize, round_trips: bool, events: mpsc::Sender<Tagged>) -> WorkerHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(run(ctx, engine, round_trips, Events::new(engine, events), rx));
    WorkerHandle { commands: tx, task }
}

struct Worker {
    ctx: Arc<Context>,
    /// Its engine: an index into `ctx.engines`; 0 is the default engine.
    engine: usize,
    round_trips: bool,
    events: Events,
    streams: HashMap<u64, JoinHandle<()>>,
    /// agentdock's containers and running ones, by id (see [`kept`])
    containers: HashMap<String, ContainerInfo>,
    cgroups: CgroupReader,
    stats_interval: Duration,
    /// The agent status last sent, per container.
    agents: HashMap<String, AgentStatus>,
    /// The container the detail view shows: its net and block I/O are read too.
    detail: Option<String>,
    /// The dashboard lists the containers agentdock does not manage (their stats are sampled).
    unmanaged_shown: bool,
    /// Each container's main agent status when last looked at: its hooks' status file, with the
    /// CLI's own record of the session over a wait (see `agents::with_record`).
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
    tasks: tasks::TaskWatch,
    proxy: proxy::ProxyWatch,
    /// Each container's agent sessions and their transcripts.
    watch: agents::Watches,
    /// When agents' numbers (turns, tokens, cost) last went out (see [`agents::NUMBERS_EVERY`]).
    numbers_at: Option<std::time::Instant>,
    /// When every transcript was last read.
    transcripts_at: Option<std::time::Instant>,
}

async fn run(ctx: Arc<Context>, engine: usize, round_trips: bool, events: Events, mut commands: mpsc::UnboundedReceiver<Command>) {
    let stats_interval = Duration::from_millis(ctx.config().ui.stats_interval_ms.max(250));
    let (samples_tx, samples_rx) = mpsc::unbounded_channel();
    let unmanaged_shown = ctx.config().ui.show_unmanaged;
    let mut w = Worker {
        ctx,
        engine,
        round_trips,
        events,
        streams: HashMap::new(),
        containers: HashMap::new(),
        cgroups: CgroupReader::default(),
        stats_interval,
        agents: HashMap::new(),
        detail: None,
        unmanaged_shown,
        file_status: HashMap::new(),
        stamps: HashMap::new(),
        disks: HashMap::new(),
        sampled: HashMap::new(),
        samples_tx,
        samples_rx: Some(samples_rx),
        tasks: tasks::TaskWatch::new(),
        proxy: Default::default(),
        watch: Default::default(),
        numbers_at: None,
        transcripts_at: None,
    };
    let mut backoff = Duration::from_millis(500);
    loop {
        let Some(connected) = w.connect(&mut commands).await else { return };
        match connected {
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

/// How often an engine is pinged when the dashboard shows several (its round-trip time)...
const PING_EVERY: Duration = Duration::from_secs(5);
/// ...and how long it may take to answer before it counts as gone.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

/// Debug builds only: `AGENTDOCK_FAULT=worker-panic` makes the first worker panic once it is
/// connected, so a test can check that the dashboard survives it.
fn fault_injection() {
    #[cfg(debug_assertions)]
    {
        static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if std::env::var("AGENTDOCK_FAULT").as_deref() == Ok("worker-panic") && !DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
            panic!("injected fault: worker-panic");
        }
    }
}

/// What the worker keeps of a listing (the list shows them all): agentdock's containers and
/// running ones (their stats). A host's thousand stopped containers of others are nothing for
/// the worker to do and not kept twice.
fn kept(list: &[ContainerInfo]) -> HashMap<String, ContainerInfo> {
    list.iter().filter(|c| worth_keeping(c)).map(|c| (c.id.clone(), c.clone())).collect()
}

fn worth_keeping(c: &ContainerInfo) -> bool {
    c.managed || c.state == ContainerState::Running
}

impl Worker {
    async fn send(&self, e: EngineEvent) {
        let _ = self.events.send(e).await;
    }

    /// Connects to the worker's engine, answering commands (with an error) meanwhile; an
    /// engine that takes its connection but does not answer is said to be reconnecting after
    /// a few seconds, while the wait goes on. None: the app is gone.
    async fn connect(&mut self, commands: &mut mpsc::UnboundedReceiver<Command>) -> Option<Result<Engine, crate::engine::EngineError>> {
        let target = self.ctx.engines[self.engine].clone();
        let connecting = Engine::connect_to(&target);
        tokio::pin!(connecting);
        let slow = tokio::time::sleep(crate::engine::CONNECT_TIMEOUT);
        tokio::pin!(slow);
        let mut told = false;
        loop {
            tokio::select! {
                r = &mut connecting => return Some(r),
                _ = &mut slow, if !told => {
                    told = true;
                    let reason = format!("{}: no answer yet, still waiting", target.host);
                    self.send(EngineEvent::Disconnected { reason, retry_in_ms: 0 }).await;
                }
                cmd = commands.recv() => match cmd {
                    None => return None,
                    Some(c) => self.refuse(c).await,
                },
            }
        }
    }

    async fn refuse(&mut self, c: Command) {
        let project = match &c {
            Command::Up(p) | Command::Remove(p) | Command::Refresh { project: p, .. } => Some(p.id.clone()),
            _ => None,
        };
        let msg = "the engine is not connected; try again when it is back".to_string();
        match (project, c) {
            (Some(project), _) => self.send(EngineEvent::OpDone { project, result: Err(msg) }).await,
            (None, Command::CloseDetail) => self.detail = None,
            (None, Command::WatchTasks(shown)) => self.tasks.shown = shown,
            (None, Command::ShowUnmanaged(on)) => self.unmanaged_shown = on,
            (None, Command::Exec { stream, .. } | Command::Logs { stream, .. } | Command::TaskRun { stream, .. } | Command::TaskDiff { stream, .. }) => {
                self.send(EngineEvent::OutputEnd { stream, exit_code: None, error: Some(msg) }).await
            }
            _ => self.send(EngineEvent::Error(msg)).await,
        }
    }

    /// Runs while the engine answers; returns why it stopped (None: the app closed).
    async fn connected(&mut self, engine: &Engine, commands: &mut mpsc::UnboundedReceiver<Command>) -> Option<String> {
        // Subscribe before listing, so no change between the two is missed.
        let mut events = Box::pin(engine.container_events());
        // the projects' containers first: the engine lists a thousand others in ~400 ms, its
        // label filter answers in ~15 ms, so the projects are on screen before the rest
        let managed = match engine.list(false).await {
            Ok(l) => l,
            Err(e) => return Some(e.to_string()),
        };
        self.send(EngineEvent::Connected {
            host: engine.host().to_string(),
            version: engine.server_version().to_string(),
            api: engine.api_version().to_string(),
        })
        .await;
        self.send(EngineEvent::Containers(managed)).await;
        let list = match engine.list(true).await {
            Ok(l) => l,
            Err(e) => return Some(e.to_string()),
        };
        fault_injection();
        self.containers = kept(&list);
        self.tasks.look_again();
        self.send(EngineEvent::Containers(list)).await;
        for id in self.exited_ids() {
            self.send_state(engine, &id).await;
        }
        self.repair_interrupted(engine).await;
        let mut tick = tokio::time::interval(self.stats_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut stats_task: Option<JoinHandle<CgroupReader>> = None;
        let mut agent_tick = tokio::time::interval(Duration::from_secs(1));
        agent_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut samples = self.samples_rx.take().expect("samples receiver");
        let mut ping_tick = tokio::time::interval(PING_EVERY);
        ping_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut ping: Option<(std::time::Instant, JoinHandle<Result<Duration, crate::engine::EngineError>>)> = None;
        let why = loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => break None,
                    Some(c) => self.command(engine, c).await,
                },
                ev = events.next() => match ev {
                    Some(Ok(ev)) => {
                        // a burst (many containers made or removed at once) is taken whole: what
                        // follows within a short gap joins the batch (the engine's answer comes
                        // in chunks of a dozen events, a burst in several)
                        let mut batch = vec![ev];
                        let mut failed = None;
                        let cap = tokio::time::Instant::now() + events::BURST_MAX;
                        while batch.len() < events::MAX_BATCH {
                            let until = cap.min(tokio::time::Instant::now() + events::BURST_GAP);
                            match tokio::time::timeout_at(until, events.next()).await {
                                Ok(Some(Ok(e))) => batch.push(e),
                                Ok(Some(Err(e))) => {
                                    failed = Some(e.to_string());
                                    break;
                                }
                                _ => break,
                            }
                        }
                        self.container_events(engine, batch).await;
                        if let Some(e) = failed {
                            break Some(e);
                        }
                    }
                    Some(Err(e)) => break Some(e.to_string()),
                    None => break Some("the engine closed its event stream".into()),
                },
                Some((id, status)) = samples.recv() => self.agent_changed(id, status).await,
                _ = agent_tick.tick() => {
                    self.agent_statuses(engine).await;
                    // tasks, the egress proxy and the broker live on the default engine
                    if self.engine == 0 {
                        self.watch_tasks(engine).await;
                        self.watch_proxy(engine).await;
                        self.watch_usage().await;
                    }
                }
                _ = ping_tick.tick(), if self.round_trips => {
                    if let Some(why) = self.round_trip(engine, &mut ping).await {
                        break Some(why);
                    }
                }
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
        if let Some((_, p)) = ping {
            p.abort();
        }
        why
    }

    /// The last ping's round trip, told to the app, and the next ping sent (in a task of its
    /// own); an engine that took longer than [`PING_TIMEOUT`] to answer is given up on.
    async fn round_trip(&self, engine: &Engine, ping: &mut Option<(std::time::Instant, JoinHandle<Result<Duration, crate::engine::EngineError>>)>) -> Option<String> {
        if let Some((sent, task)) = ping.take() {
            if !task.is_finished() {
                if sent.elapsed() >= PING_TIMEOUT {
                    task.abort();
                    return Some(format!("{}: no answer to a ping for {}s", engine.host(), sent.elapsed().as_secs()));
                }
                *ping = Some((sent, task));
                return None;
            }
            match task.await {
                Ok(Ok(rtt)) => self.send(EngineEvent::RoundTrip { micros: rtt.as_micros().min(u64::MAX as u128) as u64 }).await,
                Ok(Err(e)) => return Some(e.to_string()),
                Err(_) => {}
            }
        }
        let e = engine.clone();
        *ping = Some((std::time::Instant::now(), tokio::spawn(async move { e.round_trip().await })));
        None
    }

    async fn agent_changed(&mut self, id: String, status: AgentStatus) {
        if self.agents.get(&id) != Some(&status) {
            self.agents.insert(id.clone(), status.clone());
            self.send(EngineEvent::Agent { container: id, status }).await;
        }
    }

    /// A refresh cut short (agentdock killed, the machine down) leaves the old container
    /// renamed aside: finished here, at start, as `up` would.
    async fn repair_interrupted(&self, engine: &Engine) {
        for p in self.ctx.projects.iter().filter(|p| self.ctx.engine_index(p) == self.engine) {
            let aside = format!("{}-old-", crate::domain::container::container_name(&p.id));
            if !self.containers.values().any(|c| c.managed && c.name.starts_with(&aside)) {
                continue;
            }
            let (engine, ctx, events, p) = (engine.clone(), self.ctx.clone(), self.events.clone(), p.clone());
            self.send(EngineEvent::OpProgress { project: p.id.clone(), text: "repairing an interrupted refresh".into() }).await;
            tokio::spawn(async move {
                let result = match crate::ops::repair(&engine, &ctx, &p).await {
                    Ok(done) => Ok(format!("{}: {}", p.name, done.unwrap_or_else(|| "nothing to repair".into()))),
                    Err(e) => Err(format!("repair of {}: {e}", p.name)),
                };
                let _ = events.send(EngineEvent::OpDone { project: p.id.clone(), result }).await;
            });
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
}
