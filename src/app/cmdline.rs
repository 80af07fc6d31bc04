//! The command line (`e`: a command for the selected container, with history) and the `:`
//! prompt (dashboard commands), both on one text area.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

#[derive(Default)]
pub struct CommandLine {
    pub prompt: TextArea<'static>,
    pub history: Vec<String>,
    pub history_pos: Option<usize>,
    /// Tab's completions of the `:` prompt's last word, shown under it while Tab is pressed.
    pub completion: Option<Completion>,
}

/// The `:` commands (`go` jumps; a lone word that is none of them jumps too).
pub const COLON_VERBS: &[&str] = &[
    "attach", "go", "help", "history", "logs", "q", "refresh", "refresh-all", "rm", "shell", "start", "stop", "unmanaged", "up",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The text before the word being completed.
    pub base: String,
    /// What the word may be, in natural order.
    pub matches: Vec<String>,
    /// The match put in by the last Tab when cycling through them.
    pub at: Option<usize>,
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
        self.completion = None;
    }

    fn set_text(&mut self, text: String) {
        self.prompt = TextArea::new(vec![text]);
        self.prompt.move_cursor(ratatui_textarea::CursorMove::End);
    }

    /// Tab in the `:` prompt: completes the last word (a command or a name when it is the
    /// first, a name after a command) as far as the candidates agree; a further Tab puts in
    /// each candidate in turn. False when nothing fits.
    pub fn complete(&mut self, names: &[String]) -> bool {
        let text = self.prompt.lines().join(" ");
        if let Some(c) = self.completion.as_mut().filter(|c| !c.matches.is_empty()) {
            let at = c.at.map(|i| (i + 1) % c.matches.len()).unwrap_or(0);
            let same = c.at.map(|i| format!("{}{}", c.base, c.matches[i]) == text).unwrap_or(text.starts_with(&c.base));
            if same {
                c.at = Some(at);
                let text = format!("{}{}", c.base, c.matches[at]);
                let keep = self.completion.take();
                self.set_text(text);
                self.completion = keep;
                return true;
            }
        }
        let split = text.rfind(' ').map(|i| i + 1).unwrap_or(0);
        let (base, word) = (text[..split].to_string(), text[split..].to_lowercase());
        let first = base.trim().is_empty();
        let mut matches: Vec<String> = names
            .iter()
            .map(String::as_str)
            .chain(COLON_VERBS.iter().copied().filter(|_| first))
            .filter(|n| n.to_lowercase().starts_with(&word))
            .map(str::to_string)
            .collect();
        matches.sort_by(|a, b| super::list::natural_cmp(a, b));
        matches.dedup();
        let Some(first_match) = matches.first().cloned() else {
            self.completion = None;
            return false;
        };
        // the longest prefix all the matches share (without regard to case)
        let mut common = first_match.chars().count();
        for m in &matches[1..] {
            common = common.min(first_match.chars().zip(m.chars()).take_while(|(a, b)| a.to_lowercase().eq(b.to_lowercase())).count());
        }
        let prefix: String = first_match.chars().take(common).collect();
        let at = (matches.len() == 1).then_some(0);
        self.set_text(format!("{base}{prefix}"));
        self.completion = Some(Completion { base, matches, at });
        true
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
        self.completion = None;
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
