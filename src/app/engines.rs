//! Several engines in one dashboard: each one's state (connected, reconnecting, its version and
//! round-trip time) in the model, the engine each command goes to, and the engine filter (`E`).
//! With one engine nothing here shows: the list has no engine rows.

use super::message::{Command, EngineEvent, EngineStatus};
use super::model::Model;
use super::App;
use crate::domain::project::Project;

/// One engine as the dashboard knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineView {
    pub name: String,
    pub status: EngineStatus,
    /// Its last ping's round trip (pinged only when several engines show).
    pub rtt_micros: Option<u64>,
    /// In view (`--engine NAME` shows one alone).
    pub shown: bool,
    /// Another engine (an index) reaches the same daemon (they list the same containers, whose
    /// ids are the daemon's own): its containers are listed there only, not twice.
    pub same_as: Option<usize>,
}

impl EngineView {
    pub fn new(name: &str) -> EngineView {
        EngineView { name: name.to_string(), status: EngineStatus::Connecting, rtt_micros: None, shown: true, same_as: None }
    }
}

/// Where a command goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The worker of this engine.
    Engine(usize),
    /// Every engine's worker.
    All,
}

impl Model {
    /// More than one engine: the list shows a row per engine, with its containers under it.
    pub fn several_engines(&self) -> bool {
        self.engines.iter().filter(|e| e.shown).count() > 1
    }

    /// Whether engine `i`'s rows show: in view, and the one the filter (`E`) picked if any.
    pub fn engine_shown(&self, i: usize, filter: Option<usize>) -> bool {
        self.engines.get(i).is_some_and(|e| e.shown) && filter.is_none_or(|f| f == i)
    }

    /// The engine a project's containers live on (an index into `engines`): the one it is
    /// pinned to, else the default (0).
    pub fn project_engine(&self, p: &Project) -> usize {
        p.settings.engine.as_deref().and_then(|n| self.engines.iter().position(|e| e.name == n)).unwrap_or(0)
    }

    /// Where the containers of project `id` are: the engine of the first one found (an orphan
    /// lives where its container is), else the one the project is pinned to.
    pub fn engine_of_project_id(&self, id: &str) -> usize {
        self.project_containers(id).first().map(|c| c.engine).or_else(|| self.project(id).map(|p| self.project_engine(p))).unwrap_or(0)
    }

    /// Engine `engine` tells of a container that another engine lists: one daemon under two
    /// names. The later of the two is marked the same as the first, and lists none; true when
    /// that is `engine` (its event is dropped).
    pub(super) fn same_daemon(&mut self, engine: usize, ev: &EngineEvent) -> bool {
        let elsewhere = |id: &str| self.containers.get(id).map(|c| c.engine).filter(|&j| j != engine);
        let other = match ev {
            EngineEvent::Containers(list) => list.iter().find_map(|c| elsewhere(&c.id)),
            EngineEvent::Container(info) => elsewhere(&info.id),
            _ => None,
        };
        let Some(other) = other else { return false };
        let (first, later) = (other.min(engine), other.max(engine));
        if let Some(e) = self.engines.get_mut(later) {
            e.same_as = Some(first);
        }
        self.containers.retain(|_, c| c.engine != later);
        engine == later
    }

    /// Running and all of the projects' containers on engine `i` (task containers are not
    /// among them, as in the list's title).
    pub fn engine_counts(&self, i: usize) -> (usize, usize) {
        let on = self.containers.values().filter(|c| c.engine == i && c.info.managed && !super::model::is_task_container(&c.info));
        on.fold((0, 0), |(run, all), c| (run + usize::from(c.info.state == crate::domain::container::ContainerState::Running), all + 1))
    }
}

impl App {
    /// The engines by name, the default first, and the ones in view (indexes).
    pub fn set_engines(&mut self, names: &[String], shown: &[usize]) {
        self.model.engines = names.iter().map(|n| EngineView::new(n)).collect();
        if self.model.engines.is_empty() {
            self.model.engines.push(EngineView::new(crate::domain::engines::LOCAL));
        }
        for (i, e) in self.model.engines.iter_mut().enumerate() {
            e.shown = shown.is_empty() || shown.contains(&i);
        }
        self.rebuild_rows();
    }

    /// The worker a command goes to: the engine of the container or project it names; tasks
    /// to the default engine, where they live.
    pub fn route(&self, cmd: &Command) -> Route {
        let container = |id: &str| Route::Engine(self.model.containers.get(id).map(|c| c.engine).unwrap_or(0));
        match cmd {
            Command::Up(p) | Command::Remove(p) | Command::Refresh { project: p, .. } => Route::Engine(self.model.engine_of_project_id(&p.id)),
            Command::Start(id) | Command::Stop(id) | Command::Detail(id) => container(id),
            Command::Exec { container: id, .. } | Command::Logs { container: id, .. } => container(id),
            Command::Attach { container: id, .. } | Command::Shell { container: id, .. } => container(id),
            Command::Steer(st) => match st {
                crate::domain::steer::Steer::Prompt { target, .. } | crate::domain::steer::Steer::Key { target, .. } | crate::domain::steer::Steer::Stop { target } => {
                    container(&target.container)
                }
                crate::domain::steer::Steer::NewAgent { container: id, .. } => container(id),
            },
            Command::CloseDetail | Command::StopStream(_) | Command::ShowUnmanaged(_) => Route::All,
            // the dashboard's own (never sent to a worker); services live on the default engine
            Command::Notify { .. } | Command::RefreshService(_)
            | Command::Bell
            | Command::GitNow(_)
            | Command::WatchTasks(_)
            | Command::StartTask { .. }
            | Command::CancelTask(_)
            | Command::TaskRun { .. }
            | Command::TaskDiff { .. } => Route::Engine(0),
        }
    }

    /// An engine's connection changed or its round trip was measured; true when `ev` was one
    /// of those. The status line's engine is the default one.
    pub(super) fn on_engine_status(&mut self, engine: usize, ev: &EngineEvent) -> bool {
        let status = match ev {
            EngineEvent::Connected { host, version, api } => EngineStatus::Connected { host: host.clone(), version: version.clone(), api: api.clone() },
            EngineEvent::Disconnected { reason, retry_in_ms } => EngineStatus::Reconnecting { reason: reason.clone(), retry_in_ms: *retry_in_ms },
            EngineEvent::RoundTrip { micros } => {
                if let Some(e) = self.model.engines.get_mut(engine) {
                    e.rtt_micros = Some(*micros);
                }
                return true;
            }
            _ => return false,
        };
        if engine == 0 {
            self.engine = status.clone();
        }
        if let Some(e) = self.model.engines.get_mut(engine) {
            if !matches!(status, EngineStatus::Connected { .. }) {
                e.rtt_micros = None;
            }
            e.status = status;
        }
        true
    }

    /// `E`: the list shows the next engine alone, then all again.
    pub(super) fn cycle_engine_filter(&mut self) {
        if !self.model.several_engines() {
            self.message = Some("one engine only ([[engine]] entries in the config add more)".into());
            return;
        }
        let shown: Vec<usize> = (0..self.model.engines.len()).filter(|&i| self.model.engines[i].shown).collect();
        self.list.engine_filter = match self.list.engine_filter.and_then(|f| shown.iter().position(|&i| i == f)) {
            None => shown.first().copied(),
            Some(at) => shown.get(at + 1).copied(),
        };
        self.message = Some(match self.list.engine_filter {
            Some(i) => format!("engine {} only (E: the next)", self.model.engines[i].name),
            None => "every engine".to_string(),
        });
        self.list.selected = 0;
        self.rebuild_rows();
    }
}
