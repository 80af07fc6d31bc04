//! The output pane: one stream at a time (a command's output or a container's log), bounded,
//! with scroll, follow, wrap, colours and search.

use crossterm::event::KeyEvent;

use super::cmdline::{edit_line, LineEdit};
use crate::domain::output::LineRing;
use crate::domain::text::strip;

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
    next_stream: u64,
}

/// What a key typed into the search prompt did.
#[derive(Debug, PartialEq)]
pub enum SearchKey {
    Typing,
    /// Enter: find the text (from the end, backwards).
    Find,
    Closed,
}

impl OutputPane {
    pub fn new(max_lines: usize, max_bytes: usize, ansi: bool) -> OutputPane {
        OutputPane {
            title: "output".into(),
            lines: LineRing::new(max_lines).with_byte_cap(max_bytes),
            stream: None,
            running: false,
            scroll: 0,
            follow: true,
            wrap: false,
            ansi,
            search: String::new(),
            search_hit: None,
            status: None,
            next_stream: 1,
        }
    }

    /// Starts showing a new stream; gives its id and the stream it replaces, if one still runs.
    pub fn new_stream(&mut self, title: String) -> (u64, Option<u64>) {
        let replaced = if self.running { self.stream } else { None };
        let id = self.next_stream;
        self.next_stream += 1;
        self.stream = Some(id);
        self.running = true;
        self.title = title;
        self.lines.clear();
        self.scroll = 0;
        self.follow = true;
        self.status = None;
        self.search_hit = None;
        (id, replaced)
    }

    /// Cancels the running stream: gives its id to stop.
    pub fn cancel(&mut self) -> Option<u64> {
        if !self.running {
            return None;
        }
        let s = self.stream?;
        self.status = Some("cancelled".into());
        self.running = false;
        Some(s)
    }

    pub fn push(&mut self, stream: u64, data: &[u8]) {
        if self.stream != Some(stream) {
            return;
        }
        let before = self.lines.len();
        self.lines.push_bytes(data);
        if !self.follow {
            // keep the view still while new lines come in below
            let added = self.lines.len().saturating_sub(before);
            self.scroll = (self.scroll + added).min(self.lines.len().saturating_sub(1));
        }
    }

    pub fn end(&mut self, stream: u64, exit_code: Option<i64>, error: Option<String>) {
        if self.stream != Some(stream) {
            return;
        }
        self.lines.flush();
        self.running = false;
        self.status = Some(match (exit_code, error) {
            (_, Some(e)) => format!("error: {e}"),
            (Some(c), None) => format!("exit {c}"),
            (None, None) => "ended".into(),
        });
    }

    pub fn scroll_up(&mut self, n: usize) {
        let max = self.lines.len().saturating_sub(1);
        self.scroll = (self.scroll + n).min(max);
        self.follow = false;
    }

    pub fn scroll_down(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_sub(n);
        if self.scroll == 0 {
            self.follow = true;
        }
    }

    pub fn top(&mut self) {
        self.scroll = self.lines.len();
        self.follow = false;
    }

    pub fn bottom(&mut self) {
        self.scroll = 0;
        self.follow = true;
    }

    pub fn toggle_follow(&mut self) {
        self.follow = !self.follow;
        if self.follow {
            self.scroll = 0;
        }
    }

    /// Moves to the next (or previous) line holding the search text, keeping it in view of a
    /// pane `page` lines high; false when no line holds it.
    pub fn search_step(&mut self, forward: bool, page: usize) -> bool {
        let needle = self.search.to_lowercase();
        if needle.is_empty() {
            return true;
        }
        let n = self.lines.len();
        if n == 0 {
            return true;
        }
        let start = self.search_hit.unwrap_or(if forward { n - 1 } else { 0 });
        for step in 1..=n {
            let i = if forward { (start + step) % n } else { (start + n - step % n) % n };
            if self.lines.get(i).map(|l| strip(l).to_lowercase().contains(&needle)).unwrap_or(false) {
                self.search_hit = Some(i);
                // show the hit: scroll so it is in view
                self.scroll = n.saturating_sub(i + 1).saturating_sub(page / 2);
                self.follow = self.scroll == 0;
                return true;
            }
        }
        self.search_hit = None;
        false
    }

    pub fn on_search_key(&mut self, key: KeyEvent) -> SearchKey {
        match edit_line(&mut self.search, key) {
            LineEdit::Esc => {
                self.search.clear();
                self.search_hit = None;
                SearchKey::Closed
            }
            LineEdit::Enter => {
                self.search_hit = None;
                SearchKey::Find
            }
            LineEdit::Edited | LineEdit::Other => SearchKey::Typing,
        }
    }
}
