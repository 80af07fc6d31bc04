//! The dashboard's state and its update function: messages (keys, mouse, engine events) in,
//! commands for the engine worker out. No I/O and no awaits here, so every behaviour can be
//! driven and checked in a test.

use std::collections::{BTreeMap, VecDeque};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};
use ratatui_textarea::TextArea;

use crate::config::Config;
use crate::domain::container::{now_unix, ContainerInfo, ContainerState, Health};
use crate::domain::output::LineRing;
use crate::domain::policy::{refresh_reasons, Observed, RefreshReason};
use crate::domain::project::Project;
use crate::domain::stats::StatsSample;
use crate::engine::{DetailInfo, StateInfo};
use crate::keymap::{Action, Keymap};

/// What the app asks the engine worker (or the terminal owner) to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Up(Project),
    Refresh { project: Project, reason: String },
    Remove(Project),
    Start(String),
    Stop(String),
    Exec { stream: u64, container: String, cmd: String },
    Logs { stream: u64, container: String },
    StopStream(u64),
    Detail(String),
    /// The detail view closed: no more per-container extras.
    CloseDetail,
    Attach { container: String, project: String },
    Shell { container: String, project: String },
    Bell,
}

/// What the engine worker tells the app.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Connected { host: String, version: String, api: String },
    Disconnected { reason: String, retry_in_ms: u64 },
    Containers(Vec<ContainerInfo>),
    Container(ContainerInfo),
    ContainerGone(String),
    State(StateInfo),
    Stats(Vec<(String, LiveStats)>),
    Detail { id: String, state: StateInfo, detail: DetailInfo },
    Output { stream: u64, data: Vec<u8> },
    OutputEnd { stream: u64, exit_code: Option<i64>, error: Option<String> },
    OpProgress { project: String, text: String },
    OpDone { project: String, result: Result<String, String> },
    Agent { container: String, status: AgentStatus },
    /// The kernel killed a process of the container for going over its memory limit.
    Oom { id: String, name: String },
    /// A container's main process ended (it may be restarted by its policy).
    Died { id: String, name: String, exit_code: Option<i64>, oom_killed: bool },
    Error(String),
}

/// What the agent in a container is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentStatus {
    /// Started, no hook heard yet.
    Started { since: i64 },
    Working { since: i64 },
    Waiting { since: i64 },
    Idle { since: i64 },
    /// The agent exited (the session then holds a shell).
    NotRunning { exit_code: Option<i64>, at: i64 },
    /// From the fallback (no hooks): when the agent's tmux pane last changed.
    Quiet { last_output: i64 },
}

impl AgentStatus {
    pub fn label(&self, now: i64) -> String {
        let ago = |t: i64| crate::domain::stats::human_age(now - t);
        match self {
            AgentStatus::Started { .. } => "started".into(),
            AgentStatus::Working { .. } => "working".into(),
            AgentStatus::Waiting { since } => format!("waiting {}", ago(*since)),
            AgentStatus::Idle { since } => format!("idle {}", ago(*since)),
            AgentStatus::NotRunning { exit_code: Some(c), .. } => format!("exited {c}"),
            AgentStatus::NotRunning { exit_code: None, .. } => "not running".into(),
            AgentStatus::Quiet { last_output } if now - last_output < 10 => "active".into(),
            AgentStatus::Quiet { last_output } => format!("output {} ago", ago(*last_output)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveStats {
    pub sample: StatsSample,
    pub disk_percent: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EngineStatus {
    Connecting,
    Connected { host: String, version: String, api: String },
    Reconnecting { reason: String, retry_in_ms: u64 },
}

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

#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// A project, with its main container when it has one.
    Project { project: usize, container: Option<String> },
    /// A further container of a project, or a managed container whose project is gone.
    Extra { container: String, orphan: bool },
    /// A container agentdock does not manage.
    Unmanaged { container: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    State,
    Health,
    Cpu,
    Mem,
    Disk,
    Age,
}

impl SortKey {
    pub const ALL: [SortKey; 7] =
        [SortKey::Name, SortKey::State, SortKey::Health, SortKey::Cpu, SortKey::Mem, SortKey::Disk, SortKey::Age];
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Name => "NAME",
            SortKey::State => "STATE",
            SortKey::Health => "HEALTH",
            SortKey::Cpu => "CPU%",
            SortKey::Mem => "MEM",
            SortKey::Disk => "DISK",
            SortKey::Age => "AGE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    List,
    Output,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    Filter,
    Command,
    CommandLine,
    Search,
    Confirm(Confirm),
    Help,
    History,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    Remove { project: String },
}

pub struct OutputPane {
    pub title: String,
    pub lines: LineRing,
    pub stream: Option<u64>,
    pub running: bool,
    /// Lines scrolled up from the end (0: at the end).
    pub scroll: usize,
    pub follow: bool,
    pub wrap: bool,
    pub ansi: bool,
    pub search: String,
    /// Line index of the current search match.
    pub search_hit: Option<usize>,
    pub status: Option<String>,
}

/// Screen areas, computed the same way for drawing and for mouse hits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Areas {
    pub list: Rect,
    pub detail: Option<Rect>,
    pub output: Rect,
    pub prompt: Option<Rect>,
    pub status: Rect,
}

pub struct App {
    pub config: Config,
    pub keymap: Keymap,
    pub projects: Vec<Project>,
    pub containers: BTreeMap<String, ContainerView>,
    pub rows: Vec<Row>,
    pub selected: usize,
    pub focus: Focus,
    pub mode: Mode,
    pub filter: String,
    pub sort: SortKey,
    pub sort_desc: bool,
    pub show_unmanaged: bool,
    pub detail_open: bool,
    pub output: OutputPane,
    pub prompt: TextArea<'static>,
    pub command_history: Vec<String>,
    pub history_pos: Option<usize>,
    pub engine: EngineStatus,
    pub last_error: Option<String>,
    pub message: Option<String>,
    /// Long operations under way, by project id: what they are doing now.
    pub ops: BTreeMap<String, String>,
    /// Projects queued for "refresh all", one at a time.
    pub refresh_queue: VecDeque<String>,
    pub refresh_history: Vec<crate::history::RefreshRecord>,
    /// Automatic refresh tries per project: (tries, unix seconds of the last one).
    pub auto_tries: BTreeMap<String, (u32, i64)>,
    pub size: Rect,
    pub tick: u64,
    pub now: i64,
    pub quit: bool,
    pub dirty: bool,
    next_stream: u64,
    commands: Vec<Command>,
}

impl App {
    pub fn new(config: Config, projects: Vec<Project>) -> Result<App, String> {
        let keymap = Keymap::new(&config.keys)?;
        let output = OutputPane {
            title: "output".into(),
            lines: LineRing::new(config.ui.output_lines),
            stream: None,
            running: false,
            scroll: 0,
            follow: true,
            wrap: false,
            ansi: config.ui.ansi_colors,
            search: String::new(),
            search_hit: None,
            status: None,
        };
        let mut app = App {
            show_unmanaged: config.ui.show_unmanaged,
            config,
            keymap,
            projects,
            containers: BTreeMap::new(),
            rows: Vec::new(),
            selected: 0,
            focus: Focus::List,
            mode: Mode::Normal,
            filter: String::new(),
            sort: SortKey::Name,
            sort_desc: false,
            detail_open: false,
            output,
            prompt: TextArea::default(),
            command_history: Vec::new(),
            history_pos: None,
            engine: EngineStatus::Connecting,
            last_error: None,
            message: None,
            ops: BTreeMap::new(),
            refresh_queue: VecDeque::new(),
            refresh_history: Vec::new(),
            auto_tries: BTreeMap::new(),
            size: Rect::new(0, 0, 160, 48),
            tick: 0,
            now: now_unix(),
            quit: false,
            dirty: true,
            next_stream: 1,
            commands: Vec::new(),
        };
        app.rebuild_rows();
        Ok(app)
    }

    /// The commands produced since the last call.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    fn emit(&mut self, c: Command) {
        self.commands.push(c);
    }

    // ----- derived views -----

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

    pub fn row_container(&self, row: &Row) -> Option<&ContainerView> {
        match row {
            Row::Project { container: Some(id), .. } | Row::Extra { container: id, .. } | Row::Unmanaged { container: id } => {
                self.containers.get(id)
            }
            Row::Project { container: None, .. } => None,
        }
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.selected)
    }

    pub fn selected_container(&self) -> Option<&ContainerView> {
        self.selected_row().and_then(|r| self.row_container(r))
    }

    /// The project of the selected row (a project row, or a managed container's project).
    pub fn selected_project(&self) -> Option<Project> {
        match self.selected_row()? {
            Row::Project { project, .. } => self.projects.get(*project).cloned(),
            Row::Extra { container, .. } => {
                let c = self.containers.get(container)?;
                let id = c.info.project_id.as_deref()?;
                self.projects
                    .iter()
                    .find(|p| p.id == id)
                    .cloned()
                    .or_else(|| crate::domain::project::orphan(&c.info, &self.config))
            }
            Row::Unmanaged { .. } => None,
        }
    }

    /// Sort key of a row: containerless rows after the others (except by name).
    fn sort_value(&self, row: &Row) -> (bool, i64, String) {
        let name = match row {
            Row::Project { project, .. } => self.projects[*project].name.clone(),
            other => self.row_container(other).map(|c| c.info.name.clone()).unwrap_or_default(),
        };
        if self.sort == SortKey::Name {
            return (false, 0, name);
        }
        let Some(c) = self.row_container(row) else { return (true, 0, name) };
        let s = c.stats;
        let v = match self.sort {
            SortKey::Name => 0,
            SortKey::State => c.info.state as i64,
            SortKey::Health => c.info.health as i64,
            SortKey::Cpu => (s.map(|s| s.sample.cpu_percent).unwrap_or(-1.0) * 100.0) as i64,
            SortKey::Mem => s.map(|s| s.sample.mem_used as i64).unwrap_or(-1),
            SortKey::Disk => (s.and_then(|s| s.disk_percent).unwrap_or(-1.0) * 100.0) as i64,
            SortKey::Age => -c.info.created,
        };
        (false, v, name)
    }

    fn matches_filter(&self, text: &str) -> bool {
        self.filter.is_empty() || text.to_lowercase().contains(&self.filter.to_lowercase())
    }

    /// Recomputes the rows from projects, containers, filter and sort; keeps the selection on
    /// the same row when it is still there.
    pub fn rebuild_rows(&mut self) {
        let keep = self.selected_row().cloned();
        let mut groups: Vec<(Row, Vec<Row>)> = Vec::new();
        for (i, p) in self.projects.iter().enumerate() {
            let cs = self.project_containers(&p.id);
            let names_match = self.matches_filter(&p.name) || cs.iter().any(|c| self.matches_filter(&c.info.name));
            if !names_match {
                continue;
            }
            let main = cs.first().map(|c| c.info.id.clone());
            let extras = cs.iter().skip(1).map(|c| Row::Extra { container: c.info.id.clone(), orphan: false }).collect();
            groups.push((Row::Project { project: i, container: main }, extras));
        }
        // managed containers whose project is not among the projects
        for c in self.containers.values() {
            let known = c.info.project_id.as_deref().map(|id| self.projects.iter().any(|p| p.id == id)).unwrap_or(false);
            if c.info.managed && !known && self.matches_filter(&c.info.name) {
                groups.push((Row::Extra { container: c.info.id.clone(), orphan: true }, Vec::new()));
            }
        }
        groups.sort_by(|a, b| {
            let (ka, kb) = (self.sort_value(&a.0), self.sort_value(&b.0));
            // containerless rows stay last whichever the direction
            let o = (ka.1, &ka.2).cmp(&(kb.1, &kb.2));
            ka.0.cmp(&kb.0).then(if self.sort_desc { o.reverse() } else { o })
        });
        let mut rows: Vec<Row> = Vec::new();
        for (head, extras) in groups {
            rows.push(head);
            rows.extend(extras);
        }
        if self.show_unmanaged {
            let mut un: Vec<&ContainerView> =
                self.containers.values().filter(|c| !c.info.managed && self.matches_filter(&c.info.name)).collect();
            un.sort_by(|a, b| a.info.name.cmp(&b.info.name));
            rows.extend(un.into_iter().map(|c| Row::Unmanaged { container: c.info.id.clone() }));
        }
        self.rows = rows;
        if let Some(k) = keep {
            if let Some(i) = self.rows.iter().position(|r| same_row(r, &k)) {
                self.selected = i;
            }
        }
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
        self.dirty = true;
    }

    // ----- areas -----

    pub fn areas(&self) -> Areas {
        let area = self.size;
        let status_h = 1u16;
        let prompt_h = if matches!(self.mode, Mode::CommandLine | Mode::Command | Mode::Filter | Mode::Search) { 3 } else { 0 };
        let body_h = area.height.saturating_sub(status_h + prompt_h);
        let list_h = if self.detail_open { body_h * 2 / 5 } else { body_h / 2 }.max(3.min(body_h));
        let detail_h = if self.detail_open { body_h * 3 / 10 } else { 0 };
        let output_h = body_h.saturating_sub(list_h + detail_h);
        let mut y = area.y;
        let list = Rect::new(area.x, y, area.width, list_h);
        y += list_h;
        let detail = self.detail_open.then(|| Rect::new(area.x, y, area.width, detail_h));
        y += detail_h;
        let output = Rect::new(area.x, y, area.width, output_h);
        y += output_h;
        let prompt = (prompt_h > 0).then(|| Rect::new(area.x, y, area.width, prompt_h));
        y += prompt_h;
        Areas { list, detail, output, prompt, status: Rect::new(area.x, y, area.width, status_h) }
    }

    fn list_page(&self) -> usize {
        (self.areas().list.height as usize).saturating_sub(3).max(1)
    }

    fn output_page(&self) -> usize {
        (self.areas().output.height as usize).saturating_sub(2).max(1)
    }

    // ----- input -----

    pub fn on_resize(&mut self, w: u16, h: u16) {
        self.size = Rect::new(0, 0, w, h);
        self.dirty = true;
    }

    /// The clock: redraws only when something on screen moves with it (spinners, ages under
    /// a minute, the minute turning), so an idle dashboard costs next to nothing.
    pub fn on_tick(&mut self) {
        self.tick += 1;
        let before = self.now;
        self.now = now_unix();
        let animating = !self.ops.is_empty() || self.output.running;
        // ages under a minute are shown in seconds
        let young = self.containers.values().any(|c| c.info.created > 0 && self.now - c.info.created < 61);
        if animating || young || before / 60 != self.now / 60 {
            self.dirty = true;
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) {
        self.dirty = true;
        match self.mode.clone() {
            Mode::Normal => self.on_key_normal(key),
            Mode::Help | Mode::History => {
                if matches!(key.code, KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Enter)
                    || self.keymap.action(key) == Some(Action::History)
                {
                    self.mode = Mode::Normal;
                }
            }
            Mode::Confirm(c) => self.on_key_confirm(c, key),
            Mode::Filter => self.on_key_filter(key),
            Mode::Search => self.on_key_search(key),
            Mode::Command => self.on_key_command(key),
            Mode::CommandLine => self.on_key_cmdline(key),
        }
    }

    fn on_key_normal(&mut self, key: KeyEvent) {
        let Some(action) = self.keymap.action(key) else {
            return; // an unmapped key does nothing
        };
        self.message = None;
        self.do_action(action);
    }

    pub fn do_action(&mut self, action: Action) {
        let on_output = self.focus == Focus::Output;
        match action {
            Action::Quit => self.quit = true,
            Action::Up if on_output => self.scroll_output_up(1),
            Action::Down if on_output => self.scroll_output_down(1),
            Action::PageUp if on_output => self.scroll_output_up(self.output_page()),
            Action::PageDown if on_output => self.scroll_output_down(self.output_page()),
            Action::Top if on_output => {
                self.output.scroll = self.output.lines.len();
                self.output.follow = false;
            }
            Action::Bottom if on_output => {
                self.output.scroll = 0;
                self.output.follow = true;
            }
            Action::Up => self.select(self.selected.saturating_sub(1)),
            Action::Down => self.select(self.selected + 1),
            Action::PageUp => self.select(self.selected.saturating_sub(self.list_page())),
            Action::PageDown => self.select(self.selected + self.list_page()),
            Action::Top => self.select(0),
            Action::Bottom => self.select(self.rows.len().saturating_sub(1)),
            Action::ToggleDetail => {
                self.detail_open = !self.detail_open;
                if self.detail_open {
                    self.request_detail();
                } else {
                    self.emit(Command::CloseDetail);
                }
            }
            Action::FocusNext => {
                self.focus = if self.focus == Focus::List { Focus::Output } else { Focus::List };
            }
            Action::Create => self.create_selected(),
            Action::CommandLine => match self.selected_container() {
                Some(c) if !c.info.managed => {
                    self.message = Some("agentdock runs commands only in the containers it manages".into())
                }
                Some(c) if c.info.state == ContainerState::Running => {
                    self.mode = Mode::CommandLine;
                    self.prompt = TextArea::default();
                    self.history_pos = None;
                }
                Some(_) => self.message = Some("the container is not running (s starts it)".into()),
                None => self.message = Some("no container selected (c creates one)".into()),
            },
            Action::Logs => self.follow_logs(),
            Action::Refresh => self.refresh_selected(),
            Action::RefreshAll => self.refresh_all(),
            Action::Remove => match self.selected_project() {
                Some(p) if !self.project_containers(&p.id).is_empty() => {
                    self.mode = Mode::Confirm(Confirm::Remove { project: p.id.clone() });
                }
                Some(_) => self.message = Some("nothing to remove".into()),
                None => self.message = Some("agentdock removes only the containers it manages".into()),
            },
            Action::StartStop => self.start_stop(),
            Action::Filter if on_output => {
                self.mode = Mode::Search;
                self.output.search.clear();
            }
            Action::Filter => self.mode = Mode::Filter,
            Action::CommandMode => {
                self.mode = Mode::Command;
                self.prompt = TextArea::default();
            }
            Action::Help => self.mode = Mode::Help,
            Action::History => {
                self.refresh_history = crate::history::read_all();
                self.mode = Mode::History;
            }
            Action::ToggleUnmanaged => {
                self.show_unmanaged = !self.show_unmanaged;
                self.rebuild_rows();
            }
            Action::SortNext => {
                let i = SortKey::ALL.iter().position(|k| *k == self.sort).unwrap_or(0);
                self.sort = SortKey::ALL[(i + 1) % SortKey::ALL.len()];
                self.rebuild_rows();
            }
            Action::SortReverse => {
                self.sort_desc = !self.sort_desc;
                self.rebuild_rows();
            }
            Action::ToggleFollow => {
                self.output.follow = !self.output.follow;
                if self.output.follow {
                    self.output.scroll = 0;
                }
            }
            Action::ToggleWrap => self.output.wrap = !self.output.wrap,
            Action::ToggleAnsi => self.output.ansi = !self.output.ansi,
            Action::SearchNext => self.search_step(true),
            Action::SearchPrev => self.search_step(false),
            Action::Attach | Action::Shell => self.attach(action == Action::Shell),
            Action::Cancel => {
                if self.output.running {
                    if let Some(s) = self.output.stream {
                        self.emit(Command::StopStream(s));
                        self.output.status = Some("cancelled".into());
                        self.output.running = false;
                    }
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                    self.rebuild_rows();
                }
            }
        }
    }

    fn select(&mut self, i: usize) {
        let i = i.min(self.rows.len().saturating_sub(1));
        if i != self.selected {
            self.selected = i;
            self.request_detail();
        }
    }

    fn request_detail(&mut self) {
        if self.detail_open {
            if let Some(id) = self.selected_container().map(|c| c.info.id.clone()) {
                self.emit(Command::Detail(id));
            }
        }
    }

    fn create_selected(&mut self) {
        match self.selected_project() {
            Some(p) if self.ops.contains_key(&p.id) => self.message = Some(format!("{} is busy: {}", p.name, self.ops[&p.id])),
            Some(p) => {
                self.ops.insert(p.id.clone(), "creating".into());
                self.emit(Command::Up(p));
            }
            None => self.message = Some("select a project".into()),
        }
    }

    fn refresh_selected(&mut self) {
        let Some(p) = self.selected_project() else {
            self.message = Some("agentdock refreshes only the containers it manages".into());
            return;
        };
        if let Some(what) = self.ops.get(&p.id) {
            self.message = Some(format!("{} is busy: {what}", p.name));
            return;
        }
        let reasons = self.project_reasons(&p.id);
        let reason = if reasons.is_empty() { "manual".to_string() } else { format!("manual: {}", reasons.join(", ")) };
        self.ops.insert(p.id.clone(), "refreshing".into());
        self.emit(Command::Refresh { project: p, reason });
    }

    fn refresh_all(&mut self) {
        let mut queued = 0;
        for p in self.projects.clone() {
            let needs = !self.project_reasons(&p.id).is_empty();
            if needs && !self.ops.contains_key(&p.id) && !self.refresh_queue.contains(&p.id) {
                self.refresh_queue.push_back(p.id.clone());
                queued += 1;
            }
        }
        self.message = Some(if queued == 0 {
            "no container needs a refresh".into()
        } else {
            format!("refreshing {queued} container(s), one at a time")
        });
        self.next_queued_refresh();
    }

    /// Opt-in automatic refresh: a project whose container needs it is queued, at most
    /// `max_tries` times, `cooldown_minutes` apart; then it stops and says so. A project whose
    /// container no longer needs a refresh starts again from zero tries.
    pub fn auto_refresh(&mut self) {
        let mut queue = Vec::new();
        for p in &self.projects {
            let policy = &p.settings.refresh;
            if !policy.auto {
                continue;
            }
            let needs = !self.project_reasons(&p.id).is_empty();
            if !needs {
                self.auto_tries.remove(&p.id);
                continue;
            }
            if self.ops.contains_key(&p.id) || self.refresh_queue.contains(&p.id) {
                continue;
            }
            let (tries, last) = self.auto_tries.get(&p.id).copied().unwrap_or((0, 0));
            if tries >= policy.max_tries {
                if tries == policy.max_tries {
                    self.last_error = Some(format!("auto refresh of {} stopped after {tries} tries; r tries again", p.name));
                    self.auto_tries.insert(p.id.clone(), (tries + 1, last));
                }
                continue;
            }
            if tries > 0 && self.now - last < policy.cooldown_minutes as i64 * 60 {
                continue;
            }
            self.auto_tries.insert(p.id.clone(), (tries + 1, self.now));
            queue.push(p.id.clone());
        }
        if !queue.is_empty() {
            self.refresh_queue.extend(queue);
            self.next_queued_refresh();
        }
    }

    /// Starts the next queued refresh when none of the queue runs.
    fn next_queued_refresh(&mut self) {
        if self.refresh_queue.iter().any(|id| self.ops.contains_key(id)) {
            return;
        }
        while let Some(id) = self.refresh_queue.front().cloned() {
            let Some(p) = self.projects.iter().find(|p| p.id == id).cloned() else {
                self.refresh_queue.pop_front();
                continue;
            };
            let reasons = self.project_reasons(&id);
            self.ops.insert(id.clone(), "refreshing".into());
            self.emit(Command::Refresh { project: p, reason: reasons.join(", ") });
            return;
        }
    }

    fn start_stop(&mut self) {
        let Some(c) = self.selected_container() else {
            self.message = Some("no container selected".into());
            return;
        };
        if !c.info.managed {
            self.message = Some("agentdock does not change containers it does not manage".into());
            return;
        }
        let id = c.info.id.clone();
        if c.info.state == ContainerState::Running {
            self.emit(Command::Stop(id));
            self.message = Some("stopping".into());
        } else {
            self.emit(Command::Start(id));
            self.message = Some("starting".into());
        }
    }

    fn attach(&mut self, shell: bool) {
        let Some(c) = self.selected_container() else {
            self.message = Some("no container selected (c creates one)".into());
            return;
        };
        if !c.info.managed {
            self.message = Some("attach works on containers agentdock manages".into());
            return;
        }
        if c.info.state != ContainerState::Running {
            self.message = Some("the container is not running: press s to start it, then attach".into());
            return;
        }
        let container = c.info.id.clone();
        let project = c.info.project_id.clone().unwrap_or_default();
        self.emit(if shell { Command::Shell { container, project } } else { Command::Attach { container, project } });
    }

    fn new_stream(&mut self, title: String) -> u64 {
        if let (true, Some(old)) = (self.output.running, self.output.stream) {
            self.emit(Command::StopStream(old));
        }
        let id = self.next_stream;
        self.next_stream += 1;
        self.output.stream = Some(id);
        self.output.running = true;
        self.output.title = title;
        self.output.lines.clear();
        self.output.scroll = 0;
        self.output.follow = true;
        self.output.status = None;
        self.output.search_hit = None;
        id
    }

    fn follow_logs(&mut self) {
        let Some(c) = self.selected_container() else {
            self.message = Some("no container selected".into());
            return;
        };
        let (id, name) = (c.info.id.clone(), c.info.name.clone());
        let stream = self.new_stream(format!("log: {name}"));
        self.emit(Command::Logs { stream, container: id });
    }

    fn run_command(&mut self, cmd: String) {
        let Some(c) = self.selected_container() else { return };
        let (id, name) = (c.info.id.clone(), c.info.name.clone());
        if self.command_history.last() != Some(&cmd) {
            self.command_history.push(cmd.clone());
        }
        let stream = self.new_stream(format!("{name}: {cmd}"));
        self.emit(Command::Exec { stream, container: id, cmd });
    }

    fn scroll_output_up(&mut self, n: usize) {
        let max = self.output.lines.len().saturating_sub(1);
        self.output.scroll = (self.output.scroll + n).min(max);
        self.output.follow = false;
    }

    fn scroll_output_down(&mut self, n: usize) {
        self.output.scroll = self.output.scroll.saturating_sub(n);
        if self.output.scroll == 0 {
            self.output.follow = true;
        }
    }

    fn search_step(&mut self, forward: bool) {
        let needle = self.output.search.to_lowercase();
        if needle.is_empty() {
            return;
        }
        let n = self.output.lines.len();
        if n == 0 {
            return;
        }
        let start = self.output.search_hit.unwrap_or(if forward { n - 1 } else { 0 });
        for step in 1..=n {
            let i = if forward { (start + step) % n } else { (start + n - step % n) % n };
            if self.output.lines.get(i).map(|l| strip_ansi(l).to_lowercase().contains(&needle)).unwrap_or(false) {
                self.output.search_hit = Some(i);
                // show the hit: scroll so it is in view
                self.output.scroll = n.saturating_sub(i + 1).saturating_sub(self.output_page() / 2);
                self.output.follow = self.output.scroll == 0;
                return;
            }
        }
        self.output.search_hit = None;
        self.message = Some(format!("'{}' not found in the output", self.output.search));
    }

    fn on_key_confirm(&mut self, c: Confirm, key: KeyEvent) {
        match (c, key.code) {
            (Confirm::Remove { project }, KeyCode::Char('y') | KeyCode::Char('Y')) => {
                self.mode = Mode::Normal;
                let p = self.projects.iter().find(|p| p.id == project).cloned().or_else(|| {
                    let c = self.containers.values().find(|c| c.info.project_id.as_deref() == Some(project.as_str()))?;
                    crate::domain::project::orphan(&c.info, &self.config)
                });
                if let Some(p) = p {
                    self.ops.insert(p.id.clone(), "removing".into());
                    self.emit(Command::Remove(p));
                }
            }
            _ => {
                self.mode = Mode::Normal;
                self.message = Some("nothing removed".into());
            }
        }
    }

    fn on_key_filter(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Esc => {
                self.filter.clear();
                self.mode = Mode::Normal;
            }
            KeyCode::Enter => self.mode = Mode::Normal,
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => self.filter.push(c),
            _ => return,
        }
        self.selected = 0;
        self.rebuild_rows();
    }

    fn on_key_search(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Esc => {
                self.output.search.clear();
                self.output.search_hit = None;
                self.mode = Mode::Normal;
            }
            KeyCode::Enter => {
                self.mode = Mode::Normal;
                self.output.search_hit = None;
                self.search_step(false);
            }
            KeyCode::Backspace => {
                self.output.search.pop();
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => self.output.search.push(c),
            _ => {}
        }
    }

    fn prompt_text(&self) -> String {
        self.prompt.lines().join(" ").trim().to_string()
    }

    fn on_key_command(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Esc => self.mode = Mode::Normal,
            KeyCode::Enter => {
                let text = self.prompt_text();
                self.mode = Mode::Normal;
                self.run_colon(&text);
            }
            _ => {
                self.prompt.input(key);
            }
        }
    }

    /// `:` commands.
    pub fn run_colon(&mut self, text: &str) {
        let mut words = text.split_whitespace();
        let verb = words.next().unwrap_or("");
        let arg = words.next();
        if let Some(name) = arg {
            // select the named project first
            let Some(i) = self.rows.iter().position(|r| match r {
                Row::Project { project, .. } => {
                    let p = &self.projects[*project];
                    p.id == name || p.name == name
                }
                _ => false,
            }) else {
                self.message = Some(format!("unknown project '{name}'"));
                return;
            };
            self.select(i);
        }
        match verb {
            "" => {}
            "q" | "quit" | "q!" => self.quit = true,
            "refresh" => self.refresh_selected(),
            "refresh-all" => self.refresh_all(),
            "rm" | "remove" => self.do_action(Action::Remove),
            "up" | "create" => self.create_selected(),
            "start" | "stop" => self.start_stop(),
            "logs" => self.follow_logs(),
            "attach" => self.attach(false),
            "shell" => self.attach(true),
            "help" => self.mode = Mode::Help,
            "history" => self.do_action(Action::History),
            "unmanaged" => self.do_action(Action::ToggleUnmanaged),
            other => self.message = Some(format!("unknown command ':{other}' (try :help)")),
        }
    }

    fn on_key_cmdline(&mut self, key: KeyEvent) {
        match key.code {
            KeyCode::Esc => self.mode = Mode::Normal,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                if self.output.running {
                    self.do_action(Action::Cancel);
                } else {
                    self.mode = Mode::Normal;
                }
            }
            KeyCode::Enter => {
                let text = self.prompt_text();
                if text.is_empty() {
                    return; // an empty command line does nothing
                }
                self.prompt = TextArea::default();
                self.history_pos = None;
                self.run_command(text);
            }
            KeyCode::Up | KeyCode::Down => {
                if self.command_history.is_empty() {
                    return;
                }
                let last = self.command_history.len() - 1;
                let pos = match (self.history_pos, key.code) {
                    (None, KeyCode::Up) => Some(last),
                    (Some(p), KeyCode::Up) => Some(p.saturating_sub(1)),
                    (Some(p), KeyCode::Down) if p < last => Some(p + 1),
                    _ => None,
                };
                self.history_pos = pos;
                let text = pos.map(|p| self.command_history[p].clone()).unwrap_or_default();
                self.prompt = TextArea::new(vec![text]);
                self.prompt.move_cursor(ratatui_textarea::CursorMove::End);
            }
            _ => {
                self.prompt.input(key);
            }
        }
    }

    pub fn on_mouse(&mut self, m: MouseEvent) {
        let a = self.areas();
        let pos = Position::new(m.column, m.row);
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                if a.list.contains(pos) {
                    self.focus = Focus::List;
                    // 1 border line + 1 header line
                    let y = m.row.saturating_sub(a.list.y + 2) as usize;
                    if m.row >= a.list.y + 2 {
                        let visible = a.list.height.saturating_sub(3) as usize;
                        let i = crate::ui::list_offset(self.selected, visible) + y;
                        if i < self.rows.len() {
                            self.select(i);
                        }
                    }
                } else if a.output.contains(pos) {
                    self.focus = Focus::Output;
                }
                self.dirty = true;
            }
            MouseEventKind::ScrollUp => {
                if a.output.contains(pos) {
                    self.scroll_output_up(3);
                } else {
                    self.select(self.selected.saturating_sub(1));
                }
                self.dirty = true;
            }
            MouseEventKind::ScrollDown => {
                if a.output.contains(pos) {
                    self.scroll_output_down(3);
                } else {
                    self.select(self.selected + 1);
                }
                self.dirty = true;
            }
            _ => {}
        }
    }

    // ----- engine events -----

    pub fn on_engine(&mut self, ev: EngineEvent) {
        self.dirty = true;
        match ev {
            EngineEvent::Connected { host, version, api } => {
                self.engine = EngineStatus::Connected { host, version, api };
            }
            EngineEvent::Disconnected { reason, retry_in_ms } => {
                self.engine = EngineStatus::Reconnecting { reason, retry_in_ms };
            }
            EngineEvent::Containers(list) => {
                let mut old = std::mem::take(&mut self.containers);
                for info in list {
                    let mut v = old.remove(&info.id).unwrap_or_default();
                    v.info = info;
                    self.containers.insert(v.info.id.clone(), v);
                }
                self.rebuild_rows();
            }
            EngineEvent::Container(info) => {
                let notify = self.config.ui.notifications;
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
                if notify && !first && ((!was_unhealthy && now_unhealthy) || (was_running && now_stopped)) {
                    self.emit(Command::Bell);
                    self.message = Some(format!("{name} is {}", if now_unhealthy { "unhealthy" } else { "no longer running" }));
                }
                self.rebuild_rows();
            }
            EngineEvent::ContainerGone(id) => {
                self.containers.remove(&id);
                self.rebuild_rows();
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
                if matches!(self.sort, SortKey::Cpu | SortKey::Mem | SortKey::Disk) {
                    self.rebuild_rows();
                }
                self.auto_refresh();
            }
            EngineEvent::Detail { id, state, detail } => {
                if let Some(v) = self.containers.get_mut(&id) {
                    v.state = Some(state);
                    v.detail = Some(detail);
                }
            }
            EngineEvent::Output { stream, data } => {
                if self.output.stream == Some(stream) {
                    let before = self.output.lines.len();
                    self.output.lines.push_bytes(&data);
                    if !self.output.follow {
                        // keep the view still while new lines come in below
                        let added = self.output.lines.len().saturating_sub(before);
                        self.output.scroll = (self.output.scroll + added).min(self.output.lines.len().saturating_sub(1));
                    }
                }
            }
            EngineEvent::OutputEnd { stream, exit_code, error } => {
                if self.output.stream == Some(stream) {
                    self.output.lines.flush();
                    self.output.running = false;
                    self.output.status = Some(match (exit_code, error) {
                        (_, Some(e)) => format!("error: {e}"),
                        (Some(c), None) => format!("exit {c}"),
                        (None, None) => "ended".into(),
                    });
                }
            }
            EngineEvent::OpProgress { project, text } => {
                self.ops.insert(project, text);
            }
            EngineEvent::OpDone { project, result } => {
                self.ops.remove(&project);
                match result {
                    Ok(m) => self.message = Some(m),
                    Err(e) => self.last_error = Some(e),
                }
                if self.refresh_queue.front() == Some(&project) {
                    self.refresh_queue.pop_front();
                }
                self.next_queued_refresh();
            }
            EngineEvent::Agent { container, status } => {
                let notify = self.config.ui.notifications;
                if let Some(v) = self.containers.get_mut(&container) {
                    let was_waiting = matches!(v.agent, Some(AgentStatus::Waiting { .. }));
                    let waiting = matches!(status, AgentStatus::Waiting { .. });
                    let name = v.info.name.clone();
                    let known = v.agent.is_some();
                    v.agent = Some(status);
                    if notify && known && waiting && !was_waiting {
                        self.emit(Command::Bell);
                        self.message = Some(format!("the agent in {name} is waiting for you"));
                    }
                }
            }
            EngineEvent::Oom { id, name } => {
                let now = self.now;
                if let Some(v) = self.containers.get_mut(&id) {
                    v.oom_at = Some(now);
                    let limit = v.stats.map(|s| crate::domain::stats::human_bytes(s.sample.mem_limit)).unwrap_or_default();
                    self.message = Some(format!("{name}: out of memory, a process was OOM-killed (limit {limit})"));
                    if self.config.ui.notifications {
                        self.emit(Command::Bell);
                    }
                }
            }
            EngineEvent::Died { id, name, exit_code, oom_killed } => {
                let now = self.now;
                if let Some(v) = self.containers.get_mut(&id) {
                    v.last_exit = Some((now, exit_code, oom_killed));
                }
                let code = exit_code.map(|c| format!(" with code {c}")).unwrap_or_default();
                let oom = if oom_killed { " (OOM-killed)" } else { "" };
                let managed = self.containers.get(&id).map(|c| c.info.managed).unwrap_or(false);
                // a clean stop (code 0) is no news; a crash, a kill or an OOM is
                if managed && (exit_code != Some(0) || oom_killed) {
                    self.message = Some(format!("{name} exited{code}{oom}"));
                    if self.config.ui.notifications {
                        self.emit(Command::Bell);
                    }
                }
            }
            EngineEvent::Error(e) => self.last_error = Some(e),
        }
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
}

fn same_row(a: &Row, b: &Row) -> bool {
    match (a, b) {
        (Row::Project { project: x, .. }, Row::Project { project: y, .. }) => x == y,
        (Row::Extra { container: x, .. }, Row::Extra { container: y, .. }) => x == y,
        (Row::Unmanaged { container: x }, Row::Unmanaged { container: y }) => x == y,
        _ => false,
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

/// Text without ANSI escape sequences or other control characters.
pub fn strip_ansi(s: &str) -> String {
    crate::ui::ansi::strip(s)
}

#[cfg(test)]
mod tests;
