//! What the user's actions do to the selected project or container: create, refresh, start
//! or stop, remove (after a confirmation), attach, logs, commands and the `:` commands.

use crossterm::event::KeyEvent;

use super::{overlay, parse_colon, refresh, App, Command, Confirm, Mode, Row};
use crate::domain::container::{ContainerInfo, ContainerState};
use crate::keymap::Action;

impl App {
    pub(super) fn create_selected(&mut self) {
        match self.selected_project() {
            Some(p) if self.model.ops.contains_key(&p.id) => {
                self.message = Some(format!("{} is busy: {}", p.name, self.model.ops[&p.id]))
            }
            Some(p) => {
                self.model.ops.insert(p.id.clone(), "creating".into());
                self.emit(Command::Up(p));
            }
            None => self.message = Some("select a project".into()),
        }
    }

    pub(super) fn refresh_selected(&mut self) {
        // agentdock's own services are made anew (its proxy after a rebuilt image, say)
        let service = self.selected_container().map(|c| c.info.clone()).filter(|i| super::model::is_service_container(i, &self.model.services()));
        if let Some(s) = service {
            self.message = Some(format!("making {} anew", s.name));
            self.emit(Command::RefreshService(s.name));
            return;
        }
        let Some(p) = self.selected_project() else {
            self.message = Some("agentdock refreshes only the containers it manages".into());
            return;
        };
        match refresh::manual(&mut self.model, p) {
            Ok(cmd) => self.emit(cmd),
            Err(busy) => self.message = Some(busy),
        }
    }

    /// Opt-in automatic refresh (see [`RefreshQueue::auto`]).
    pub fn auto_refresh(&mut self) {
        let (error, cmd) = self.refresh.auto(&mut self.model);
        if error.is_some() {
            self.last_error = error;
        }
        self.emit_some(cmd);
    }

    /// The selected container when agentdock manages it, else None with `none` or `unmanaged`
    /// said on the status line.
    fn managed_selection(&mut self, none: &str, unmanaged: &str) -> Option<ContainerInfo> {
        let found = self.selected_container().map(|c| c.info.clone());
        match found {
            Some(info) if info.managed => return Some(info),
            Some(_) => self.message = Some(unmanaged.into()),
            None => self.message = Some(none.into()),
        }
        None
    }

    pub(super) fn start_stop(&mut self) {
        let unmanaged = "agentdock does not change containers it does not manage";
        let Some(c) = self.managed_selection("no container selected", unmanaged) else { return };
        if c.state == ContainerState::Running {
            self.emit(Command::Stop(c.id));
            self.message = Some("stopping".into());
        } else {
            self.emit(Command::Start(c.id));
            self.message = Some("starting".into());
        }
    }

    pub(super) fn attach(&mut self, shell: bool) {
        let none = "no container selected (c creates one)";
        let Some(c) = self.managed_selection(none, "attach works on containers agentdock manages") else { return };
        if c.state != ContainerState::Running {
            self.message = Some("the container is not running: press s to start it, then attach".into());
            return;
        }
        let session = match self.list.selected_row() {
            Some(super::Row::Agent { name, .. }) => Some(name.clone()),
            _ => None,
        };
        let (container, project) = (c.id, c.project_id.unwrap_or_default());
        self.emit(if shell { Command::Shell { container, project } } else { Command::Attach { container, project, session } });
    }

    pub(super) fn new_stream(&mut self, title: String) -> u64 {
        let (id, replaced) = self.output.new_stream(title);
        self.emit_some(replaced.map(Command::StopStream));
        id
    }

    pub(super) fn follow_logs(&mut self) {
        let Some(c) = self.selected_container() else {
            self.message = Some("no container selected".into());
            return;
        };
        let (id, name) = (c.info.id.clone(), c.info.name.clone());
        let stream = self.new_stream(format!("log: {name}"));
        self.emit(Command::Logs { stream, container: id });
    }

    pub(super) fn run_command(&mut self, cmd: String) {
        let Some(c) = self.selected_container() else { return };
        let (id, name) = (c.info.id.clone(), c.info.name.clone());
        self.cmdline.remember(&cmd);
        let stream = self.new_stream(format!("{name}: {cmd}"));
        self.emit(Command::Exec { stream, container: id, cmd });
    }

    /// Quits, unless an operation is under way (a refresh cut off midway leaves the old
    /// container stopped and renamed aside): then it waits for them to end, saying so; a
    /// second quit leaves at once (the next start repairs what is left).
    pub(super) fn quit_when_idle(&mut self) {
        if self.model.ops.is_empty() || self.quitting {
            self.quit = true;
            return;
        }
        self.quitting = true;
        let what: Vec<String> = self.model.ops.iter().map(|(p, w)| format!("{p}: {w}")).collect();
        self.message = Some(format!("quitting when {} ends (q again quits now; what is cut off is repaired at the next start)", what.join(", ")));
    }

    pub(super) fn on_key_confirm(&mut self, c: Confirm, key: KeyEvent) {
        self.mode = Mode::Normal;
        let project = match c {
            Confirm::Remove { project } => project,
            c @ (Confirm::Interrupt { .. } | Confirm::StopAgent { .. }) => return self.on_agent_confirm(c, overlay::confirms(key)),
            Confirm::CancelTask { id } => {
                if overlay::confirms(key) {
                    self.message = Some(format!("cancelling task {id}…"));
                    self.emit(Command::CancelTask(id));
                } else {
                    self.message = Some("the task goes on".into());
                }
                return;
            }
        };
        if !overlay::confirms(key) {
            self.message = Some("nothing removed".into());
            return;
        }
        let p = self.model.project(&project).cloned().or_else(|| {
            let c = self.model.containers.values().find(|c| c.info.project_id.as_deref() == Some(project.as_str()))?;
            self.model.project_of(c)
        });
        if let Some(p) = p {
            self.model.ops.insert(p.id.clone(), "removing".into());
            self.emit(Command::Remove(p));
        }
    }

    /// `:` commands.
    pub fn run_colon(&mut self, text: &str) {
        let colon = parse_colon(text);
        if let Some(name) = colon.project {
            // select the named project first
            let Some(i) = self.list.rows.iter().position(|r| match r {
                Row::Project { project, .. } => {
                    let p = &self.model.projects[*project];
                    p.id == name || p.name == name
                }
                _ => false,
            }) else {
                self.message = Some(format!("unknown project '{name}'"));
                return;
            };
            self.select(i);
        }
        match colon.verb {
            "" => {}
            "q" | "quit" | "q!" => self.quit = true,
            "refresh" => self.refresh_selected(),
            "refresh-all" => self.do_action(Action::RefreshAll),
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
}
