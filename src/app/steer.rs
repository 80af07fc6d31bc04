//! Steering the selected agent from the list: `p` a prompt (a text area, sent as a paste),
//! `y` / `n` answering a permission it waits for, `Esc` interrupting it after a confirm, `+`
//! another agent session in the same container (a child row), `x` ending one of those.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use super::list::Row;
use super::overlay::{Confirm, Mode};
use super::{App, Command, Focus};
use crate::domain::agent::{describe, State};
use crate::domain::container::ContainerState;
use crate::domain::steer::{clean_prompt, next_extra_name, AgentKey, AgentTarget, Steer, PROMPT_MAX};
use crate::keymap::Action;

/// The prompt form, kept (with its draft) while closed.
#[derive(Default)]
pub struct SteerView {
    pub form: TextArea<'static>,
    /// The agent the open form sends to.
    pub target: Option<AgentTarget>,
}

impl App {
    /// The agent of the selected row: a project's or container's main agent, or a further
    /// session's row; with its state now.
    pub fn selected_agent(&self) -> Option<(AgentTarget, State)> {
        let row = self.list.selected_row()?;
        let c = super::row_container(&self.model, row).filter(|c| c.info.managed && !super::model::is_task_container(&c.info))?;
        let session = self.model.config.session_name.clone();
        let base = AgentTarget { container: c.info.id.clone(), container_name: c.info.name.clone(), session, extra: None };
        let now = self.model.now;
        match row {
            Row::Agent { name, .. } => {
                let info = c.extra_agents.get(name);
                let state = describe(info.and_then(|i| i.status.as_ref()), info, now).state;
                Some((AgentTarget { session: name.clone(), extra: Some(name.clone()), ..base }, state))
            }
            _ => Some((base, describe(c.agent.as_ref(), c.agent_info.as_deref(), now).state)),
        }
    }

    /// The agent keys, and the keys that mean something else elsewhere but act on an agent
    /// when the list has the focus (`n` refuses a permission, `+` starts another agent beside
    /// one, `Esc` interrupts one). True when the key was taken.
    pub(super) fn agent_action(&mut self, action: Action) -> bool {
        let on_list = self.focus == Focus::List && !self.tasks.shown;
        let agent = self.selected_agent();
        let waiting = matches!(agent, Some((_, State::Waiting | State::Input)));
        match action {
            Action::Prompt => self.open_prompt(agent),
            Action::Allow => match agent {
                Some((target, State::Waiting)) => self.emit(Command::Steer(Steer::Key { target, key: AgentKey::Allow })),
                Some((t, _)) => self.message = Some(format!("{} is not waiting for a permission", t.label())),
                None => self.message = Some("no agent selected".into()),
            },
            Action::SearchNext if on_list && waiting => {
                let (target, _) = agent.expect("waiting");
                self.emit(Command::Steer(Steer::Key { target, key: AgentKey::Deny }));
            }
            Action::Cancel if on_list && !self.output.running && self.list.filter.is_empty() && matches!(agent, Some((_, State::Working))) => {
                let (target, _) = agent.expect("working");
                self.mode = Mode::Confirm(Confirm::Interrupt { target });
            }
            // + on an agent's row: another agent; elsewhere the output pane grows
            Action::OutputTaller if on_list && self.selected_container().is_some_and(|c| c.agent.is_some() || c.agent_info.is_some()) => {
                self.new_agent()
            }
            Action::StopAgent => match agent {
                Some((target, _)) if target.extra.is_some() => self.mode = Mode::Confirm(Confirm::StopAgent { target }),
                Some(_) => self.message = Some("the main agent runs as long as its container (s stops it); x ends the sessions + started".into()),
                None => self.message = Some("no agent selected".into()),
            },
            _ => return false,
        }
        true
    }

    fn open_prompt(&mut self, agent: Option<(AgentTarget, State)>) {
        match agent {
            Some((target, _)) if self.selected_container().is_some_and(|c| c.info.state == ContainerState::Running) => {
                self.steer.target = Some(target);
                self.mode = Mode::Prompt;
            }
            Some(_) => self.message = Some("the container is not running (s starts it)".into()),
            None => self.message = Some("no agent selected: p sends a prompt to a project's agent".into()),
        }
    }

    fn new_agent(&mut self) {
        let Some(c) = self.selected_container().filter(|c| c.info.managed && !super::model::is_task_container(&c.info)) else {
            self.message = Some("+ starts another agent in a project's container: select one".into());
            return;
        };
        if c.info.state != ContainerState::Running {
            self.message = Some("the container is not running (s starts it)".into());
            return;
        }
        if c.extra_agents.len() >= crate::domain::steer::MAX_EXTRA_AGENTS {
            self.message = Some(format!("{} runs {} agents already", c.info.name, c.extra_agents.len() + 1));
            return;
        }
        let name = next_extra_name(&self.model.config.session_name, c.extra_agents.keys());
        let (container, container_name) = (c.info.id.clone(), c.info.name.clone());
        self.message = Some(format!("starting agent {name} in {container_name}…"));
        self.emit(Command::Steer(Steer::NewAgent { container, container_name, name }));
    }

    /// Keys of the prompt form: Ctrl-S (or Alt-Enter) sends, Enter is a new line, Esc closes
    /// and keeps the draft.
    pub(super) fn on_prompt_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => self.mode = Mode::Normal,
            KeyCode::Char('s') if ctrl => self.send_prompt(),
            KeyCode::Enter if key.modifiers.contains(KeyModifiers::ALT) => self.send_prompt(),
            _ => {
                self.steer.form.input(key);
            }
        }
    }

    fn send_prompt(&mut self) {
        let text = clean_prompt(&self.steer.form.lines().join("\n"));
        if text.trim().is_empty() {
            self.message = Some("the prompt is empty".into());
            return;
        }
        if text.len() > PROMPT_MAX {
            self.message = Some(format!("the prompt is over {} KiB: attach (a) to paste it", PROMPT_MAX / 1024));
            return;
        }
        let Some(target) = self.steer.target.clone() else { return };
        self.mode = Mode::Normal;
        self.steer.form = TextArea::default();
        self.message = Some(format!("sending the prompt to {}…", target.label()));
        self.emit(Command::Steer(Steer::Prompt { target, text }));
    }

    /// A confirmation about an agent was answered.
    pub(super) fn on_agent_confirm(&mut self, c: Confirm, yes: bool) {
        match (c, yes) {
            (Confirm::Interrupt { target }, true) => self.emit(Command::Steer(Steer::Key { target, key: AgentKey::Interrupt })),
            (Confirm::StopAgent { target }, true) => {
                self.message = Some(format!("ending {}…", target.label()));
                self.emit(Command::Steer(Steer::Stop { target }));
            }
            (Confirm::Interrupt { target } | Confirm::StopAgent { target }, false) => {
                self.message = Some(format!("{} goes on", target.label()));
            }
            _ => {}
        }
    }
}
