//! The data every view reads: config, projects, containers with their live figures, the long
//! operations under way and the clock. Engine events about containers land here.

use std::collections::{BTreeMap, VecDeque};

use super::message::{AgentStatus, EngineEvent, LiveStats};
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
    pub stats: Option<LiveStats>,
    /// (unix seconds, CPU %) and (unix seconds, memory %), the last 5 minutes.
    pub cpu_hist: VecDeque<(i64, f64)>,
    pub mem_hist: VecDeque<(i64, f64)>,
    pub state: Option<StateInfo>,
    pub detail: Option<DetailInfo>,
    pub agent: Option<AgentStatus>,
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
}

pub struct Model {
    pub config: Config,
    pub projects: Vec<Project>,
    pub containers: BTreeMap<String, ContainerView>,
    /// Long operations under way, by project id: what they are doing now.
    pub ops: BTreeMap<String, String>,
    pub now: i64,
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

    /// Counts for the status line: running, unhealthy, needing refresh.
    pub fn counts(&self) -> (usize, usize, usize) {
        let managed = self.containers.values().filter(|c| c.info.managed);
        let (mut running, mut unhealthy, mut refresh) = (0, 0, 0);
        for c in managed {
            running += usize::from(c.info.state == ContainerState::Running);
            unhealthy += usize::from(c.info.health == Health::Unhealthy);
            refresh += usize::from(!self.reasons(c).is_empty());
        }
        (running, unhealthy, refresh)
    }

    /// Ids of running containers whose stats are on screen (all running: the list shows each).
    pub fn running_ids(&self) -> Vec<String> {
        self.containers.values().filter(|c| c.info.state == ContainerState::Running).map(|c| c.info.id.clone()).collect()
    }

    /// Applies an engine event about containers; other events change nothing here.
    pub fn apply(&mut self, ev: EngineEvent) -> Applied {
        let mut out = Applied::default();
        match ev {
            EngineEvent::Containers(list) => {
                let mut old = std::mem::take(&mut self.containers);
                for info in list {
                    let mut v = old.remove(&info.id).unwrap_or_default();
                    v.info = info;
                    self.containers.insert(v.info.id.clone(), v);
                }
                out.rows = true;
            }
            EngineEvent::Container(info) => {
                let v = self.containers.entry(info.id.clone()).or_default();
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
                    v.state = Some(st);
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
                    v.state = Some(state);
                    v.detail = Some(detail);
                }
            }
            EngineEvent::Agent { container, status } => {
                if let Some(v) = self.containers.get_mut(&container) {
                    let was_waiting = matches!(v.agent, Some(AgentStatus::Waiting { .. }));
                    let waiting = matches!(status, AgentStatus::Waiting { .. });
                    let known = v.agent.is_some();
                    v.agent = Some(status);
                    if known && waiting && !was_waiting {
                        out.notice = Some((format!("the agent in {} is waiting for you", v.info.name), true));
                    }
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
                }
            }
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
