//! Modes and overlays: which prompt or pop-up (help, refresh history, a confirmation) has the
//! keys, and how each one is left.

use crossterm::event::{KeyCode, KeyEvent};

use super::App;
use crate::keymap::{Action, Keymap};

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
    /// The new task's prompt.
    NewTask,
    /// A prompt for the selected agent.
    Prompt,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    Remove { project: String },
    CancelTask { id: String },
    /// Interrupt a working agent.
    Interrupt { target: crate::domain::steer::AgentTarget },
    /// End an agent session `+` started.
    StopAgent { target: crate::domain::steer::AgentTarget },
}

/// A pop-up (help, history) closes on Esc, q, ?, Enter or its own key.
pub fn closes_popup(keymap: &Keymap, key: KeyEvent) -> bool {
    matches!(key.code, KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Enter)
        || keymap.action(key) == Some(Action::History)
}

/// A confirmation is given by y or Y; any other key declines.
pub fn confirms(key: KeyEvent) -> bool {
    matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y'))
}

impl App {
    /// Pasted text goes into the prompt that is open (one line where the prompt has one); with
    /// none open it is dropped: a paste is never taken as keys.
    pub fn on_paste(&mut self, text: &str) {
        let one_line = || text.split(['\r', '\n']).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ").replace(|c: char| c.is_control(), "");
        match self.mode {
            Mode::NewTask => self.tasks.form.paste(text),
            Mode::Prompt => {
                self.steer.form.insert_str(crate::domain::steer::clean_prompt(text));
            }
            Mode::CommandLine | Mode::Command => {
                self.cmdline.prompt.insert_str(one_line());
            }
            Mode::Filter => {
                self.list.filter.push_str(&one_line());
                self.rebuild_rows();
            }
            Mode::Search => self.output.search.push_str(&one_line()),
            _ => return,
        }
        self.dirty = true;
    }
}
