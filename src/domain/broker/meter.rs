//! The usage of an answer, read as it passes.

use super::Usage;

/// The longest line of a streamed answer that is read for its usage; longer ones (text the
/// model writes) are passed on unread.
pub(super) const MAX_EVENT_LINE: usize = 256 * 1024;
/// The most of a whole (not streamed) answer kept to read its usage.
const MAX_JSON_BODY: usize = 8 * 1024 * 1024;

/// Reads the usage out of an answer as it passes (the bytes go on untouched): a stream's
/// `message_start` and `message_delta` events, or a whole answer's `usage`.
#[derive(Debug, Default)]
pub struct Meter {
    sse: bool,
    line: Vec<u8>,
    /// The current line is too long to be an event of interest: skipped to its end.
    skipping: bool,
    body: Vec<u8>,
    pub usage: Usage,
    pub model: Option<String>,
    /// The stream's `message_stop` came (or a whole answer was read).
    pub complete: bool,
}

impl Meter {
    /// `content_type`: the answer's; a stream is `text/event-stream`.
    pub fn new(content_type: &str) -> Meter {
        Meter { sse: content_type.trim().to_ascii_lowercase().starts_with("text/event-stream"), ..Default::default() }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if !self.sse {
            let room = MAX_JSON_BODY.saturating_sub(self.body.len());
            self.body.extend_from_slice(&bytes[..bytes.len().min(room)]);
            return;
        }
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            let ends = chunk.last() == Some(&b'\n');
            if !self.skipping {
                if self.line.len() + chunk.len() > MAX_EVENT_LINE {
                    self.line.clear();
                    self.skipping = true;
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            if ends {
                if !self.skipping {
                    let line = std::mem::take(&mut self.line);
                    self.event_line(&line);
                }
                self.skipping = false;
            }
        }
    }

    fn event_line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else { return };
        // only the events that carry usage are parsed
        let interesting = |w: &[u8]| data.windows(w.len()).any(|x| x == w);
        if !(interesting(b"message_start") || interesting(b"message_delta") || interesting(b"message_stop")) {
            return;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
        match v.get("type").and_then(|t| t.as_str()) {
            Some("message_start") => {
                if let Some(m) = v.get("message") {
                    if let Some(model) = m.get("model").and_then(|x| x.as_str()) {
                        self.model = Some(model.to_string());
                    }
                    if let Some(u) = m.get("usage") {
                        self.usage.take(u);
                    }
                }
            }
            Some("message_delta") => {
                if let Some(u) = v.get("usage") {
                    self.usage.take(u);
                }
            }
            Some("message_stop") => self.complete = true,
            _ => {}
        }
    }

    /// The end of the answer (whole or cut): a whole answer is read now.
    pub fn finish(&mut self) {
        if self.sse {
            return;
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.body) {
            if let Some(model) = v.get("model").and_then(|x| x.as_str()) {
                self.model = Some(model.to_string());
            }
            if let Some(u) = v.get("usage") {
                self.usage.take(u);
                self.complete = true;
            }
        }
        self.body = Vec::new();
    }
}

