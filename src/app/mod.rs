//! The dashboard's state and its update function: messages (keys, mouse, engine events) in,
//! commands for the engine worker out. No I/O and no awaits here, so every behaviour can be
//! driven and checked in a test.
//!
//! The pattern, for every view (and the ones to come: tasks, agent detail, engines):
//! - the view is a struct in its own file here that owns its state (`ListView`, `OutputPane`,
//!   `RefreshQueue`, `CommandLine`); what all views read (config, projects, containers, the
//!   operations under way, the clock) is the [`Model`];
//! - the view's key handler and update methods change only its own state (reading the model)
//!   and give back what should happen next: a [`Command`] for the worker, or an outcome enum
//!   that the [`App`] acts on;
//! - the [`App`] routes keys by [`Mode`] and focus, mouse by screen area, engine events to the
//!   model and the views, and collects the commands;
//! - its render is a pure function in `src/ui/` that reads the app; `ui` depends on `app`, never
//!   the reverse;
//! - message types live in `message.rs`.

mod actions;
mod cmdline;
mod engines;
mod jump;
mod layout;
mod list;
mod message;
mod model;
mod mouse;
mod notices;
mod output;
mod overlay;
mod refresh;
mod steer;
mod tasks;

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;

pub use cmdline::{parse_colon, CommandLine, Completion, LineKey};
pub use engines::{EngineView, Route};
pub use layout::PaneLayout;
pub use list::{list_offset, natural_cmp, row_container, FilterKey, Fold, Group, ListView, Row, SortKey};
pub use message::{AgentStatus, Command, EngineEvent, EngineStatus, LiveStats};
pub use model::{Applied, ContainerView, Counts, Model, Totals, HISTORY_SECS};
pub use output::{OutputPane, SearchKey};
pub use overlay::{Confirm, Mode};
pub use refresh::RefreshQueue;
pub use crate::domain::steer::Steer;
pub use steer::SteerView;
pub use tasks::{FormKey, TaskForm, TasksView};

use crate::config::Config;
use crate::domain::container::{now_unix, ContainerState};
use crate::domain::project::Project;
use crate::keymap::{Action, Keymap};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    List,
    Output,
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
    pub model: Model,
    pub keymap: Keymap,
    pub list: ListView,
    pub output: OutputPane,
    /// Whether the output pane shows, and its height.
    pub layout: PaneLayout,
    pub cmdline: CommandLine,
    pub refresh: RefreshQueue,
    pub tasks: TasksView,
    pub steer: SteerView,
    pub focus: Focus,
    pub mode: Mode,
    pub detail_open: bool,
    pub engine: EngineStatus,
    pub last_error: Option<String>,
    pub message: Option<String>,
    pub size: Rect,
    pub tick: u64,
    pub quit: bool,
    /// Quit asked while operations were under way: quit once they end.
    pub quitting: bool,
    pub dirty: bool,
    commands: Vec<Command>,
}

impl App {
    pub fn new(config: Config, projects: Vec<Project>) -> Result<App, String> {
        let keymap = Keymap::new(&config.keys)?;
        let mut app = App {
            keymap,
            list: ListView::new(config.ui.show_unmanaged),
            output: OutputPane::new(config.ui.output_lines, config.ui.output_bytes, config.ui.ansi_colors),
            layout: PaneLayout::default(),
            cmdline: CommandLine::default(),
            refresh: RefreshQueue::default(),
            tasks: TasksView::default(),
            steer: SteerView::default(),
            model: Model {
                config,
                projects,
                containers: Default::default(),
                ops: Default::default(),
                refusals: Default::default(),
                git: Default::default(),
                usage: Default::default(),
                mcp_clients: Vec::new(),
                now: now_unix(),
                engines: vec![EngineView::new(crate::domain::engines::LOCAL)],
            },
            focus: Focus::List,
            mode: Mode::Normal,
            detail_open: false,
            engine: EngineStatus::Connecting,
            last_error: None,
            message: None,
            size: Rect::new(0, 0, 160, 48),
            tick: 0,
            quit: false,
            quitting: false,
            dirty: true,
            commands: Vec::new(),
        };
        app.rebuild_rows();
        Ok(app)
    }

    /// The commands produced since the last call.
    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }

    /// Lists the containers agentdock does not manage or not; the workers are told (they
    /// sample those containers' stats only while listed).
    fn show_unmanaged(&mut self, on: bool) {
        if self.list.show_unmanaged != on {
            self.list.show_unmanaged = on;
            self.emit(Command::ShowUnmanaged(on));
        }
    }

    fn emit(&mut self, c: Command) {
        self.commands.push(c);
    }

    fn emit_some(&mut self, c: Option<Command>) {
        self.commands.extend(c);
    }

    // ----- derived views -----

    pub fn selected_container(&self) -> Option<&ContainerView> {
        self.list.selected_row().and_then(|r| row_container(&self.model, r))
    }

    /// The project of the selected row (a project row, or a managed container's project).
    pub fn selected_project(&self) -> Option<Project> {
        match self.list.selected_row()? {
            Row::Project { project, .. } => self.model.projects.get(*project).cloned(),
            Row::Extra { container, .. } | Row::Agent { container, .. } => self.model.project_of(self.model.containers.get(container)?),
            Row::Group(_) | Row::Member { .. } | Row::Engine(_) => None,
        }
    }

    pub fn rebuild_rows(&mut self) {
        self.list.screenful = self.list_page();
        self.list.rebuild(&self.model);
        self.dirty = true;
    }

    // ----- areas -----

    pub fn areas(&self) -> Areas {
        self.compute_areas()
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
        let before = self.model.now;
        let now = now_unix();
        self.model.now = now;
        let animating = !self.model.ops.is_empty() || self.output.running;
        // ages under a minute are shown in seconds
        let young = self.model.containers.values().any(|c| c.info.created > 0 && now - c.info.created < 61);
        if animating || young || before / 60 != now / 60 {
            self.dirty = true;
        }
    }

    pub fn on_key(&mut self, key: KeyEvent) {
        self.dirty = true;
        match self.mode.clone() {
            Mode::Normal => {
                let in_tasks = self.tasks.shown && self.focus == Focus::List;
                let action = if in_tasks { self.keymap.task_action(key) } else { self.keymap.action(key) };
                // an unmapped key does nothing
                if let Some(action) = action {
                    self.message = None;
                    if !(in_tasks && self.on_task_action(action) || self.agent_action(action)) {
                        self.do_action(action);
                    }
                }
            }
            Mode::NewTask => self.on_task_form_key(key),
            Mode::Prompt => self.on_prompt_key(key),
            Mode::Help | Mode::History => {
                if overlay::closes_popup(&self.keymap, key) {
                    self.mode = Mode::Normal;
                }
            }
            Mode::Confirm(c) => self.on_key_confirm(c, key),
            Mode::Filter => match self.list.on_filter_key(key) {
                FilterKey::Ignored => {}
                done_or_changed => {
                    if done_or_changed == FilterKey::Done {
                        self.mode = Mode::Normal;
                    }
                    self.list.selected = 0;
                    self.rebuild_rows();
                }
            },
            Mode::Search => match self.output.on_search_key(key) {
                SearchKey::Typing => {}
                SearchKey::Closed => self.mode = Mode::Normal,
                SearchKey::Find => {
                    self.mode = Mode::Normal;
                    self.search_step(false);
                }
            },
            Mode::Command if key.code == crossterm::event::KeyCode::Tab => self.complete_colon(),
            Mode::Command => match self.cmdline.on_colon_key(key) {
                Some(LineKey::Run(text)) => {
                    self.mode = Mode::Normal;
                    if !self.colon_jump(&text) {
                        self.run_colon(&text);
                    }
                }
                Some(_) => self.mode = Mode::Normal,
                None => {}
            },
            Mode::CommandLine => match self.cmdline.on_key(key) {
                LineKey::Typing => {}
                LineKey::Close => self.mode = Mode::Normal,
                LineKey::Interrupt if self.output.running => self.do_action(Action::Cancel),
                LineKey::Interrupt => self.mode = Mode::Normal,
                LineKey::Run(cmd) => self.run_command(cmd),
            },
        }
    }

    pub fn do_action(&mut self, action: Action) {
        let on_output = self.focus == Focus::Output;
        match action {
            Action::Quit => self.quit_when_idle(),
            Action::Up if on_output => self.output.scroll_up(1),
            Action::Down if on_output => self.output.scroll_down(1),
            Action::PageUp if on_output => self.output.scroll_up(self.output_page()),
            Action::PageDown if on_output => self.output.scroll_down(self.output_page()),
            Action::Top if on_output => self.output.top(),
            Action::Bottom if on_output => self.output.bottom(),
            Action::Up => self.select(self.list.selected.saturating_sub(1)),
            Action::Down => self.select(self.list.selected + 1),
            Action::PageUp => self.select(self.list.selected.saturating_sub(self.list_page())),
            Action::PageDown => self.select(self.list.selected + self.list_page()),
            Action::Top => self.select(0),
            Action::Bottom => self.select(self.list.rows.len().saturating_sub(1)),
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
                    self.cmdline.open();
                }
                Some(_) => self.message = Some("the container is not running (s starts it)".into()),
                None => self.message = Some("no container selected (c creates one)".into()),
            },
            Action::Logs => self.follow_logs(),
            Action::Refresh => self.refresh_selected(),
            Action::RefreshAll => {
                let (message, cmd) = self.refresh.queue_all(&mut self.model);
                self.message = Some(message);
                self.emit_some(cmd);
            }
            Action::Remove => match self.selected_project() {
                Some(p) if self.model.ops.contains_key(&p.id) => {
                    self.message = Some(format!("{}: wait until what is under way ends", p.name));
                }
                Some(p) if !self.model.project_containers(&p.id).is_empty() => {
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
                self.cmdline.open();
            }
            Action::Help => self.mode = Mode::Help,
            Action::History => {
                self.refresh.history = crate::history::read_all();
                self.mode = Mode::History;
            }
            Action::EngineFilter => self.cycle_engine_filter(),
            Action::ToggleUnmanaged => {
                self.show_unmanaged(!self.list.show_unmanaged);
                self.rebuild_rows();
            }
            Action::SortNext => {
                self.list.next_sort();
                self.rebuild_rows();
            }
            Action::SortReverse => {
                self.list.sort_desc = !self.list.sort_desc;
                self.rebuild_rows();
            }
            Action::ToggleFold => self.toggle_fold(),
            Action::ToggleOutput => self.toggle_output(),
            Action::OutputTaller => self.resize_output(true),
            Action::OutputShorter => self.resize_output(false),
            Action::ToggleFollow => self.output.toggle_follow(),
            Action::ToggleWrap => self.output.wrap = !self.output.wrap,
            Action::ToggleAnsi => self.output.ansi = !self.output.ansi,
            Action::SearchNext => self.search_step(true),
            Action::SearchPrev => self.search_step(false),
            Action::Attach | Action::Shell => self.attach(action == Action::Shell),
            Action::Tasks => self.toggle_tasks(),
            // taken by agent_action
            Action::Prompt | Action::Allow | Action::StopAgent => {}
            Action::NewTask | Action::OpenRun | Action::TaskDiff | Action::CancelTask => {
                self.message = Some("t shows the tasks".into());
            }
            Action::Cancel => {
                if self.output.running {
                    if let Some(s) = self.output.cancel() {
                        self.emit(Command::StopStream(s));
                    }
                } else if !self.list.filter.is_empty() {
                    self.list.filter.clear();
                    self.rebuild_rows();
                }
            }
        }
    }

    fn select(&mut self, i: usize) {
        if self.list.select(i) {
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

    fn search_step(&mut self, forward: bool) {
        if !self.output.search_step(forward, self.output_page()) {
            self.message = Some(format!("'{}' not found in the output", self.output.search));
        }
    }

    // ----- engine events -----

    /// An event of the default engine.
    pub fn on_engine(&mut self, ev: EngineEvent) {
        self.on_engine_from(0, ev)
    }

    /// An event of engine `engine` (an index into the model's engines).
    pub fn on_engine_from(&mut self, engine: usize, ev: EngineEvent) {
        self.dirty = true;
        if self.on_engine_status(engine, &ev) {
            return;
        }
        match ev {
            EngineEvent::Output { stream, data } => self.output.push(stream, &data),
            EngineEvent::OutputEnd { stream, exit_code, error } => self.output.end(stream, exit_code, error),
            EngineEvent::OpProgress { project, text } => {
                self.model.ops.insert(project, text);
            }
            EngineEvent::OpDone { project, result } => {
                self.model.ops.remove(&project);
                if self.quitting && self.model.ops.is_empty() && self.refresh.queue.len() <= 1 {
                    self.quit = true;
                }
                match result {
                    Ok(m) => self.message = Some(m),
                    Err(e) => self.last_error = Some(e),
                }
                let cmd = self.refresh.done(&mut self.model, &project);
                self.emit_some(cmd);
            }
            EngineEvent::Error(e) => self.last_error = Some(e),
            EngineEvent::Message(m) => self.message = Some(m),
            EngineEvent::Refusals { counts, first } => self.on_refusals(counts, first),
            EngineEvent::Tasks(all, fleet) => self.tasks.set(all, fleet),
            EngineEvent::TaskStarted(Ok(rec)) => {
                self.message = Some(format!("task {} {} on {} (branch {})", rec.spec.id, tasks::verb(&rec), rec.spec.project_name, rec.spec.branch));
                self.tasks.started(*rec);
            }
            EngineEvent::TaskStarted(Err(e)) => self.last_error = Some(format!("task not started: {e}")),
            container_event => {
                let mut applied = self.model.apply_from(engine, container_event);
                if let Some((alert, who)) = applied.alert.take() {
                    self.on_alert(alert, who);
                }
                self.emit_some(applied.git_poke.clone().map(Command::GitNow));
                if let Some((text, only_when_notifying)) = applied.notice {
                    let notify = self.model.config.ui.notifications;
                    if notify || !only_when_notifying {
                        self.message = Some(text);
                    }
                    if notify {
                        self.emit(Command::Bell);
                    }
                }
                let by_figure = matches!(self.list.sort, SortKey::Cpu | SortKey::Mem | SortKey::Disk);
                if applied.rows || (applied.stats && by_figure) {
                    self.rebuild_rows();
                }
                if applied.stats {
                    self.auto_refresh();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
