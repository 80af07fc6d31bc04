//! The data every view reads: config, projects, containers with their live figures, the long
//! operations under way and the clock. Engine events about containers land here.

use std::collections::{BTreeMap, VecDeque};

use super::message::{AgentStatus, EngineEvent, LiveStats};
use crate::domain::agent::AgentInfo;
use crate::domain::notify::{Alert, Watcher};
use crate::config::Config;
use crate::domain::container::{ContainerInfo, ContainerState, Health};
use crate::domain::policy::{refresh_reasons, Observed, RefreshReason};
use crate::domain::project::Project;
use crate::engine::{DetailInfo, StateInfo};

/// History window of the detail plots.
pub const HISTORY_SECS: i64 = 300;

#[derive(Debug, Clone, Default)]
pub struct ContainerView {
    pub info: ContainerInfo,
    /// The engine it lives on (an index into [`Model::engines`]).
    pub engine: usize,
    pub stats: Option<LiveStats>,
    /// (unix seconds, CPU %) and (unix seconds, memory %), the last 5 minutes.
    pub cpu_hist: VecDeque<(i64, f64)>,
    pub mem_hist: VecDeque<(i64, f64)>,
    /// Boxed, as most of a big host's containers have neither.
    pub state: Option<Box<StateInfo>>,
    pub detail: Option<Box<DetailInfo>>,
    pub agent: Option<AgentStatus>,
    /// What the main agent's transcript says.
    pub agent_info: Option<Box<AgentInfo>>,
    /// Further agent sessions (`+`), by name, with their own status.
    pub extra_agents: BTreeMap<String, AgentInfo>,
    /// Each agent's last status, by session name ("" the main one): what changed is told.
    pub watchers: BTreeMap<String, Watcher>,
    /// The last time its process died: (unix seconds, exit code, OOM-killed).
    pub last_exit: Option<(i64, Option<i64>, bool)>,
    /// The last time a process in it was killed for memory (unix seconds).
    pub oom_at: Option<i64>,
}

/// What applying an engine event changed, for the app to act on.
#[derive(Debug, Default, PartialEq)]
pub struct Applied {
    /// The set of containers or their grouping changed: the list's rows need rebuilding.
    pub rows: bool,
    /// New stats came in (sorting by a figure and auto refresh look again).
    pub stats: bool,
    /// Something to tell the user (the bell rings too when notifications are on), and whether
    /// it is told only when notifications are on.
    pub notice: Option<(String, bool)>,
    /// The project whose agent just finished working: its git state is read again.
    pub git_poke: Option<String>,
    /// A change of an agent worth a notification (`[notify]` says which kinds ring), with
    /// the agent's name.
    pub alert: Option<(Alert, String)>,
}

/// Running and all containers of each kind, and the managed ones unhealthy or needing refresh.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// The projects' containers (running, all); task containers are not among them.
    pub managed: (usize, usize),
    pub task_containers: (usize, usize),
    pub unmanaged: (usize, usize),
    pub unhealthy: usize,
    pub refresh: usize,
}

/// A group's summed figures (a project's containers, a folded group).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub cpu: f64,
    pub mem_used: u64,
    pub mem_limit: u64,
    /// How many of the containers had figures (running, sampled).
    pub with_figures: usize,
    /// One of them has no memory limit: the limits' sum means nothing.
    pub unlimited: bool,
}

/// A memory limit this high is none (cgroup v1 writes 2^63 rounded to a page; v2 "max").
pub const NO_LIMIT: u64 = 1 << 60;

/// A task's one-shot container (`agentdock-task-<id>`, as the worker names and finds them):
/// the Tasks view's, listed in a group of their own.
pub fn is_task_container(info: &ContainerInfo) -> bool {
    info.managed && info.name.starts_with("agentdock-task-")
}

/// This agentdock's own services (the egress proxy, the broker): their role label and the name
/// this agentdock gives them (labels alone are claims any image can make).
pub fn is_service_container(info: &ContainerInfo, services: &[String]) -> bool {
    matches!(info.role.as_deref(), Some("proxy" | "broker")) && services.contains(&info.name)
}

pub struct Model {
    pub config: Config,
    pub projects: Vec<Project>,
    pub containers: BTreeMap<String, ContainerView>,
    /// Long operations under way, by project id: what they are doing now.
    pub ops: BTreeMap<String, String>,
    /// What the egress proxy refused, by container name.
    pub refusals: BTreeMap<String, crate::domain::network::RefusalCount>,
    /// Tokens and cost as the broker recorded them (exact, not estimated), by container, task,
    /// project and model.
    pub usage: crate::domain::broker::UsageReport,
    /// Each project's workspace git state, by project id (absent: not read yet, or off).
    pub git: std::collections::HashMap<String, crate::domain::gitstate::GitRead>,
    /// MCP clients connected (shown in the status line and the task list).
    pub mcp_clients: Vec<crate::domain::task::McpClient>,
    pub now: i64,
    /// The engines shown, the default first (one unless `[[engine]]` entries add more).
    pub engines: Vec<super::engines::EngineView>,
}

impl Model {
    pub fn project_containers(&self, project_id: &str) -> Vec<&ContainerView> {
        let main = crate::domain::container::container_name(project_id);
        let mut v: Vec<&ContainerView> =
            self.containers.values().filter(|c| c.info.project_id.as_deref() == Some(project_id)).collect();
        v.sort_by_key(|c| (c.info.name != main, c.info.created));
        v
    }

    /// Refresh reasons of a container under its project's policy.
    pub fn reasons(&self, c: &ContainerView) -> Vec<RefreshReason> {
        if !c.info.managed {
            return Vec::new();
        }
        let policy = c
            .info
            .project_id
            .as_deref()
            .and_then(|id| self.projects.iter().find(|p| p.id == id))
            .map(|p| &p.settings.refresh)
            .unwrap_or(&self.config.refresh);
        let created = c.state.as_ref().and_then(|s| s.created).unwrap_or(c.info.created);
        let o = Observed {
            age_secs: (created > 0).then(|| self.now - created),
            disk_percent: c.stats.and_then(|s| s.disk_percent),
            mem_percent: c.stats.map(|s| s.sample.mem_percent),
            health: Some(c.info.health),
        };
        refresh_reasons(policy, &o)
    }

    /// Why the project's main container needs a refresh (empty: it does not, or has none).
    pub fn project_reasons(&self, project_id: &str) -> Vec<String> {
        self.project_containers(project_id)
            .first()
            .map(|c| self.reasons(c).iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    pub fn project(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }

    /// The project of a managed container: a known one, else rebuilt from its labels (orphan).
    pub fn project_of(&self, c: &ContainerView) -> Option<Project> {
        let id = c.info.project_id.as_deref()?;
        self.project(id).cloned().or_else(|| crate::domain::project::orphan(&c.info, &self.config))
    }

    /// The names of this agentdock's own services (see [`is_service_container`]).
    pub fn services(&self) -> Vec<String> {
        crate::domain::network::service_names(&crate::domain::network::this_proxy(&self.config))
    }

    /// Counts for the list's title and the status line, each saying what it counts: the
    /// projects' containers, the task containers and the unmanaged ones apart.
    pub fn counts(&self) -> Counts {
        let mut n = Counts::default();
        let services = self.services();
        for c in self.containers.values().filter(|c| !is_service_container(&c.info, &services)) {
            let running = usize::from(c.info.state == ContainerState::Running);
            let group = if !c.info.managed {
                &mut n.unmanaged
            } else if is_task_container(&c.info) {
                &mut n.task_containers
            } else {
                &mut n.managed
            };
            group.0 += running;
            group.1 += 1;
            if c.info.managed {
                n.unhealthy += usize::from(c.info.health == Health::Unhealthy);
                n.refresh += usize::from(!self.reasons(c).is_empty());
            }
        }
        n
    }

    /// Summed CPU % and memory (used, limit) of the given containers that have figures, and
    /// how many had them.
    pub fn totals<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> Totals {
        let mut t = Totals::default();
        for c in ids.into_iter().filter_map(|id| self.containers.get(id)) {
            if let Some(s) = c.stats.filter(|_| c.info.state == ContainerState::Running) {
                t.cpu += s.sample.cpu_percent;
                t.mem_used = t.mem_used.saturating_add(s.sample.mem_used);
                // a container without a memory limit reads as the host's huge "no limit"
                t.unlimited |= s.sample.mem_limit >= NO_LIMIT;
                t.mem_limit = t.mem_limit.saturating_add(s.sample.mem_limit);
                t.with_figures += 1;
            }
        }
        t
    }

    /// Why the cells of a container's row that show "-" have no figure, by column.
    pub fn blanks(&self, c: &ContainerView) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        let running = c.info.state == ContainerState::Running;
        let every = self.config.ui.stats_interval_ms as f64 / 1000.0;
        if c.info.health == Health::None {
            v.push(("HEALTH", "the container has no health check".to_string()));
        }
        if !running {
            v.push(("CPU% MEM DISK", format!("the container is {}: figures are read only while it runs", c.info.state.as_str())));
        } else if c.stats.is_none() {
            v.push(("CPU% MEM DISK", format!("the first sample is on its way (one every {every:.0} s)")));
        } else if c.stats.and_then(|s| s.disk_percent).is_none() {
            let why = if c.info.project_path.is_none() {
                "no workspace to measure (not a project's container)"
            } else {
                "its workspace is not on this host (a remote engine) or could not be read"
            };
            v.push(("DISK", why.to_string()));
        }
        let created = c.state.as_ref().and_then(|s| s.created).unwrap_or(c.info.created);
        if created <= 0 {
            v.push(("AGE", "the engine gave no creation time".to_string()));
        }
        if c.agent.is_none() {
            let why = if !c.info.managed {
                "agentdock reads agent status only in the containers it manages".to_string()
            } else if is_task_container(&c.info) {
                "a task's agent runs headless: t shows the task".to_string()
            } else if !running {
                "no agent runs while the container is stopped".to_string()
            } else {
                format!(
                    "no status yet: the agent's hooks write one when it starts; agents without hooks are sampled every {} s",
                    self.config.ui.pane_sample_secs.max(5)
                )
            };
            v.push(("AGENT", why));
        }
        v
    }

    /// Whether the projects' git state is read (the dashboard's git watch runs).
    pub fn git_on(&self) -> bool {
        let ui = &self.config.ui;
        let n = self.projects.iter().filter(|p| p.exists).count();
        ui.git_interval_secs > 0 && n > 0 && n <= ui.git_max_projects
    }

    /// Ids of running containers whose stats are on screen (all running: the list shows each).
    pub fn running_ids(&self) -> Vec<String> {
        self.containers.values().filter(|c| c.info.state == ContainerState::Running).map(|c| c.info.id.clone()).collect()
    }

    /// Applies an engine event about containers (from the default engine); other events
    /// change nothing here.
    pub fn apply(&mut self, ev: EngineEvent) -> Applied {
        self.apply_from(0, ev)
    }

    /// Applies an event from engine `engine`: its full list replaces that engine's containers
    /// only.
    pub fn apply_from(&mut self, engine: usize, ev: EngineEvent) -> Applied {
        let mut out = Applied::default();
        // another name of an engine listed already: its containers are that one's
        if self.engines.get(engine).is_some_and(|e| e.same_as.is_some()) || self.same_daemon(engine, &ev) {
            out.rows = true;
            return out;
        }
        match ev {
            EngineEvent::Containers(list) => {
                let (others, mut old): (BTreeMap<_, _>, BTreeMap<_, _>) =
                    std::mem::take(&mut self.containers).into_iter().partition(|(_, v)| v.engine != engine);
                self.containers = others;
                for info in list {
                    let mut v = old.remove(&info.id).unwrap_or_default();
                    v.info = info;
                    v.engine = engine;
                    self.containers.insert(v.info.id.clone(), v);
                }
                out.rows = true;
            }
            EngineEvent::Container(info) => {
                let v = self.containers.entry(info.id.clone()).or_default();
                v.engine = engine;
                let was_unhealthy = v.info.health == Health::Unhealthy;
                let was_running = v.info.state == ContainerState::Running;
                let name = info.name.clone();
                let now_unhealthy = info.health == Health::Unhealthy;
                let now_stopped = info.state != ContainerState::Running;
                let first = v.info.id.is_empty();
                if info.state != ContainerState::Running {
                    v.stats = None;
                }
                v.info = info;
                if !first && ((!was_unhealthy && now_unhealthy) || (was_running && now_stopped)) {
                    let what = if now_unhealthy { "unhealthy" } else { "no longer running" };
                    out.notice = Some((format!("{name} is {what}"), true));
                }
                out.rows = true;
            }
            EngineEvent::ContainerGone(id) => {
                self.containers.remove(&id);
                out.rows = true;
            }
            EngineEvent::State(st) => {
                if let Some(v) = self.containers.get_mut(&st.id) {
                    v.state = Some(Box::new(st));
                }
            }
            EngineEvent::Stats(batch) => {
                let now = self.now;
                for (id, s) in batch {
                    if let Some(v) = self.containers.get_mut(&id) {
                        v.stats = Some(s);
                        push_hist(&mut v.cpu_hist, now, s.sample.cpu_percent);
                        push_hist(&mut v.mem_hist, now, s.sample.mem_percent);
                    }
                }
                out.stats = true;
            }
            EngineEvent::Detail { id, state, detail } => {
                if let Some(v) = self.containers.get_mut(&id) {
                    v.state = Some(Box::new(state));
                    v.detail = Some(Box::new(detail));
                }
            }
            EngineEvent::Agent { container, status } => {
                if let Some(v) = self.containers.get_mut(&container) {
                    let was_waiting = matches!(v.agent, Some(AgentStatus::Waiting { .. }));
                    let waiting = matches!(status, AgentStatus::Waiting { .. });
                    let known = v.agent.is_some();
                    let was_working = matches!(v.agent, Some(AgentStatus::Working { .. }));
                    if was_working && !matches!(status, AgentStatus::Working { .. }) {
                        out.git_poke = v.info.project_id.clone();
                    }
                    let who = format!("the agent in {}", v.info.name);
                    out.alert = v.watchers.entry(String::new()).or_default().see(&status).map(|a| (a, who));
                    v.agent = Some(status);
                    if known && waiting && !was_waiting {
                        out.notice = Some((format!("the agent in {} is waiting for you", v.info.name), true));
                    }
                }
            }
            EngineEvent::AgentInfo { container, extra, info } => {
                if let Some(v) = self.containers.get_mut(&container) {
                    match extra {
                        None => v.agent_info = Some(info),
                        Some(name) => {
                            let was_waiting = v.extra_agents.get(&name).is_some_and(|i| matches!(i.status, Some(AgentStatus::Waiting { .. })));
                            let waiting = matches!(info.status, Some(AgentStatus::Waiting { .. }));
                            if waiting && !was_waiting {
                                out.notice = Some((format!("the agent {name} in {} is waiting for you", v.info.name), true));
                            }
                            out.rows |= !v.extra_agents.contains_key(&name);
                            if let Some(s) = &info.status {
                                let who = format!("agent {name} in {}", v.info.name);
                                out.alert = v.watchers.entry(name.clone()).or_default().see(s).map(|a| (a, who));
                            }
                            v.extra_agents.insert(name, *info);
                        }
                    }
                }
            }
            EngineEvent::AgentGone { container, extra } => {
                if let Some(v) = self.containers.get_mut(&container) {
                    out.rows |= v.extra_agents.remove(&extra).is_some();
                }
            }
            EngineEvent::Oom { id, name } => {
                if let Some(v) = self.containers.get_mut(&id) {
                    v.oom_at = Some(self.now);
                    let limit = v.stats.map(|s| crate::domain::stats::human_bytes(s.sample.mem_limit)).unwrap_or_default();
                    let text = format!("{name}: out of memory, a process was OOM-killed (limit {limit})");
                    out.notice = Some((text, false));
                }
            }
            EngineEvent::Git(reads) => self.git.extend(reads),
            EngineEvent::Died { id, name, exit_code, oom_killed } => {
                if let Some(v) = self.containers.get_mut(&id) {
                    v.last_exit = Some((self.now, exit_code, oom_killed));
                }
                let code = exit_code.map(|c| format!(" with code {c}")).unwrap_or_default();
                let oom = if oom_killed { " (OOM-killed)" } else { "" };
                let managed = self.containers.get(&id).map(|c| c.info.managed).unwrap_or(false);
                // a clean stop (code 0) is no news; a crash, a kill or an OOM is
                if managed && (exit_code != Some(0) || oom_killed) {
                    out.notice = Some((format!("{name} exited{code}{oom}"), false));
                    out.alert = Some((Alert::Died, format!("{name} (its container exited{code}{oom})")));
                }
            }
            EngineEvent::Usage(report) => self.usage = *report,
            EngineEvent::McpClients(v) => self.mcp_clients = v,
            _ => {}
        }
        out
    }
}

fn push_hist(h: &mut VecDeque<(i64, f64)>, now: i64, v: f64) {
    h.push_back((now, v));
    while h.front().map(|(t, _)| now - t > HISTORY_SECS).unwrap_or(false) {
        h.pop_front();
    }
    // at most one point per second is kept, whatever the interval
    while h.len() > HISTORY_SECS as usize + 1 {
        h.pop_front();
    }
}
