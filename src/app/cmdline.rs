//! The command line (`e`: a command for the selected container, with history) and the `:`
//! prompt (dashboard commands), both on one text area.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

#[derive(Default)]
pub struct CommandLine {
    pub prompt: TextArea<'static>,
    pub history: Vec<String>,
    pub history_pos: Option<usize>,
}

/// What a key typed into the command line asks for.
#[derive(Debug, PartialEq)]
pub enum LineKey {
    Typing,
    Close,
    /// Ctrl-C: cancel the running command, or close when none runs.
    Interrupt,
    Run(String),
}

/// What a key did to a one-line text (the filter, the output search).
#[derive(Debug, PartialEq)]
pub enum LineEdit {
    Edited,
    Enter,
    Esc,
    Other,
}

/// Typing into a one-line text: characters (not control ones) and backspace edit it.
pub fn edit_line(text: &mut String, key: KeyEvent) -> LineEdit {
    match key.code {
        KeyCode::Esc => LineEdit::Esc,
        KeyCode::Enter => LineEdit::Enter,
        KeyCode::Backspace => {
            text.pop();
            LineEdit::Edited
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            text.push(c);
            LineEdit::Edited
        }
        _ => LineEdit::Other,
    }
}

/// A `:` command: its verb and the project it names, if any.
#[derive(Debug, PartialEq)]
pub struct Colon<'a> {
    pub verb: &'a str,
    pub project: Option<&'a str>,
}

pub fn parse_colon(text: &str) -> Colon<'_> {
    let mut words = text.split_whitespace();
    Colon { verb: words.next().unwrap_or(""), project: words.next() }
}

impl CommandLine {
    /// A fresh, empty prompt.
    pub fn open(&mut self) {
        self.prompt = TextArea::default();
        self.history_pos = None;
    }

    /// Keeps a command that ran in the history (once when repeated).
    pub fn remember(&mut self, cmd: &str) {
        if self.history.last().map(String::as_str) != Some(cmd) {
            self.history.push(cmd.to_string());
        }
    }

    pub fn text(&self) -> String {
        self.prompt.lines().join(" ").trim().to_string()
    }

    /// Keys of the `:` prompt: Some(text) when Enter runs it.
    pub fn on_colon_key(&mut self, key: KeyEvent) -> Option<LineKey> {
        match key.code {
            KeyCode::Esc => Some(LineKey::Close),
            KeyCode::Enter => Some(LineKey::Run(self.text())),
            _ => {
                self.prompt.input(key);
                None
            }
        }
    }

    /// Keys of the command line: history on ↑/↓, an empty line does nothing.
    pub fn on_key(&mut self, key: KeyEvent) -> LineKey {
        match key.code {
            KeyCode::Esc => LineKey::Close,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => LineKey::Interrupt,
            KeyCode::Enter => {
                let text = self.text();
                if text.is_empty() {
                    return LineKey::Typing; // an empty command line does nothing
                }
                self.open();
                LineKey::Run(text)
            }
            KeyCode::Up | KeyCode::Down => {
                if self.history.is_empty() {
                    return LineKey::Typing;
                }
                let last = self.history.len() - 1;
                let pos = match (self.history_pos, key.code) {
                    (None, KeyCode::Up) => Some(last),
                    (Some(p), KeyCode::Up) => Some(p.saturating_sub(1)),
                    (Some(p), KeyCode::Down) if p < last => Some(p + 1),
                    _ => None,
                };
                self.history_pos = pos;
                let text = pos.map(|p| self.history[p].clone()).unwrap_or_default();
                self.prompt = TextArea::new(vec![text]);
                self.prompt.move_cursor(ratatui_textarea::CursorMove::End);
                LineKey::Typing
            }
            _ => {
                self.prompt.input(key);
                LineKey::Typing
            }
        }
    }
}
