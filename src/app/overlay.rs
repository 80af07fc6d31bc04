//! Modes and overlays: which prompt or pop-up (help, refresh history, a confirmation) has the
//! keys, and how each one is left.

use crossterm::event::{KeyCode, KeyEvent};

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
}

#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    Remove { project: String },
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
