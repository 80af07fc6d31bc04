//! What an interactive agent's transcript says, line by line: Claude Code writes each session
//! as JSON lines (`projects/<cwd>/<session>.jsonl` in its config dir). Pure: the lines come in,
//! a summary comes out (the tool running now with its short input, the last prompt, turns,
//! tokens and cost today, context use, the last few turns, an auth error). The transcript is
//! the container's, so every line is untrusted: unknown or broken lines are counted and passed
//! over, text is made safe to show and cut short, and nothing grows without bound.

use std::collections::VecDeque;

use serde::Deserialize;
use serde_json::Value;

use super::pricing::{context_window, price_of, Tokens};
use super::task::{cut, ToolCall};

/// Lines of the last turns kept for the detail view.
pub const RECENT_LINES: usize = 40;
/// Characters kept of a line of text.
const LINE_CHARS: usize = 240;

/// Seconds in a day: "today" is the UTC day.
pub const DAY: i64 = 86_400;

/// Where the agent's turn is, as its transcript tells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Phase {
    /// Nothing yet (a new session).
    #[default]
    Fresh,
    /// A prompt came; the turn is under way since then.
    Working { since: i64 },
    /// The turn ended (answered, interrupted or failed).
    Idle { since: i64 },
}

/// A model error the transcript recorded (the CLI's own message, cut short).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub at: i64,
    pub status: Option<u64>,
    /// The key or token was refused (401, 403 or the CLI's `authentication_failed`).
    pub auth: bool,
    pub message: String,
}

/// What a transcript said so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub model: Option<String>,
    /// Prompts of the user.
    pub turns: u64,
    pub last_prompt: Option<String>,
    /// The tool called and not answered yet (its id, the call, since when).
    pub pending: Option<(String, ToolCall, i64)>,
    pub last_tool: Option<ToolCall>,
    /// The last tool call was refused by the user.
    pub refused: bool,
    pub phase: Phase,
    /// The UTC day (unix seconds / 86400) the sums below are of.
    pub day: i64,
    pub tokens: Tokens,
    pub cost: f64,
    /// An answer today was of a model without a price: the cost is a floor.
    pub cost_partial: bool,
    /// Tokens in the context at the last answer, and the model's window.
    pub context: Option<(u64, u64)>,
    /// The newest model error; cleared by a good answer after it.
    pub error: Option<ApiError>,
    /// The last lines of the conversation, readable (newest last).
    pub recent: VecDeque<String>,
    /// Time of the newest line that had one.
    pub last_at: i64,
    pub lines: u64,
    /// Lines that were not JSON objects of a kind known here.
    pub bad_lines: u64,
    /// The message whose usage was counted last (an answer comes in several lines), with what
    /// was counted for it.
    pub counted: Option<(String, Tokens, f64)>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: Option<String>,
    timestamp: Option<String>,
    #[serde(rename = "isSidechain", default)]
    sidechain: bool,
    #[serde(rename = "isMeta", default)]
    meta: bool,
    #[serde(rename = "isApiErrorMessage", default)]
    api_error: bool,
    #[serde(rename = "apiErrorStatus")]
    api_error_status: Option<Value>,
    error: Option<Value>,
    #[serde(rename = "rowSource")]
    row_source: Option<String>,
    subtype: Option<String>,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    id: Option<String>,
    model: Option<String>,
    content: Option<Content>,
    usage: Option<Usage>,
    stop_reason: Option<String>,
}

/// A message's content: a string or a list of blocks (anything else is passed over). Read
/// straight from the line by its first token, not buffered and tried shape by shape (serde's
/// `untagged`), which cost more than the rest of a line's parse.
enum Content {
    Text(String),
    Blocks(Vec<Block>),
    Other,
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Content, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Content;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a message's content")
            }
            fn visit_str<E>(self, s: &str) -> Result<Content, E> {
                Ok(Content::Text(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Content, E> {
                Ok(Content::Text(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Content, A::Error> {
                let mut blocks = Vec::new();
                while let Some(b) = a.next_element::<Block>()? {
                    blocks.push(b);
                }
                Ok(Content::Blocks(blocks))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Content, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Content::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Content, E> {
                Ok(Content::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Content, E> {
                Ok(Content::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Content, E> {
                Ok(Content::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Content, E> {
                Ok(Content::Other)
            }
            fn visit_unit<E>(self) -> Result<Content, E> {
                Ok(Content::Other)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
    id: Option<String>,
    name: Option<String>,
    input: Option<Value>,
    tool_use_id: Option<String>,
    #[serde(default)]
    is_error: bool,
    content: Option<Value>,
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
}

/// Text made safe and short for one line of a list.
fn clean(s: &str, max: usize) -> String {
    let spaced: String = s.chars().map(|c| if c.is_whitespace() { ' ' } else { c }).collect();
    let flat = super::text::strip(&spaced).split_whitespace().collect::<Vec<_>>().join(" ");
    cut(&flat, max)
}

/// A tool's input in one short line: the command of a Bash call, the path of a file tool, else
/// the JSON.
pub fn tool_input(input: Option<&Value>) -> String {
    let Some(input) = input else { return String::new() };
    for key in ["command", "file_path", "path", "pattern", "url", "query", "description"] {
        if let Some(s) = input.get(key).and_then(Value::as_str) {
            return clean(s, 200);
        }
    }
    clean(&input.to_string(), 200)
}

fn result_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}

impl Summary {
    /// Whether `other` says the same of where the agent is (its phase, the tool it runs with
    /// its input, the last prompt, an error): what its row shows beside the numbers. A new call
    /// of the same command is the same row.
    pub fn same_row(&self, other: &Summary) -> bool {
        fn call(s: &Summary) -> Option<&ToolCall> {
            s.pending.as_ref().map(|(_, c, _)| c)
        }
        self.phase == other.phase && call(self) == call(other) && self.last_prompt == other.last_prompt && self.error == other.error
    }

    /// Tokens and cost of the UTC day of `now` (nothing when the last answer was on another day).
    pub fn today(&self, now: i64) -> (Tokens, f64) {
        if self.day == now.div_euclid(DAY) {
            (self.tokens, self.cost)
        } else {
            (Tokens::default(), 0.0)
        }
    }

    /// Context use in percent of the window.
    pub fn context_percent(&self) -> Option<f64> {
        self.context.filter(|(_, w)| *w > 0).map(|(used, w)| used as f64 * 100.0 / w as f64)
    }

    fn remember(&mut self, line: String) {
        self.recent.push_back(line);
        while self.recent.len() > RECENT_LINES {
            self.recent.pop_front();
        }
    }

    /// Takes one line of the transcript.
    pub fn push_line(&mut self, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        self.lines += 1;
        let Ok(e) = serde_json::from_slice::<Entry>(line) else {
            self.bad_lines += 1;
            return;
        };
        let at = e.timestamp.as_deref().and_then(super::container::parse_rfc3339);
        if let Some(t) = at {
            self.last_at = self.last_at.max(t);
        }
        let at = at.unwrap_or(self.last_at);
        // a sub-agent's lines cost tokens too, but say nothing of where the session is
        match e.kind.as_deref() {
            Some("user") if !e.sidechain => self.user(e, at),
            Some("assistant") => self.assistant(e, at),
            Some("system") if !e.sidechain && e.subtype.as_deref() == Some("turn_duration") => {
                self.pending = None;
                self.phase = Phase::Idle { since: at };
            }
            Some(_) => {}
            None => self.bad_lines += 1,
        }
    }

    fn user(&mut self, e: Entry, at: i64) {
        let Some(content) = e.message.and_then(|m| m.content) else { return };
        let text = match content {
            Content::Text(t) => Some(t),
            Content::Blocks(blocks) => {
                let mut text = None;
                for b in blocks {
                    match b.kind.as_deref() {
                        Some("tool_result") => {
                            if self.pending.as_ref().is_some_and(|(id, _, _)| Some(id) == b.tool_use_id.as_ref()) {
                                self.pending = None;
                            }
                            let body = result_text(b.content.as_ref());
                            self.refused = b.is_error && body.contains("doesn't want to proceed");
                            let mark = if self.refused { "refused" } else if b.is_error { "error" } else { "" };
                            let first = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                            self.remember(format!("  ⎿ {mark}{}{}", if mark.is_empty() { "" } else { ": " }, clean(first, LINE_CHARS)));
                        }
                        Some("text") => text = b.text.or(text),
                        _ => {}
                    }
                }
                text
            }
            Content::Other => None,
        };
        let Some(text) = text else { return };
        if text.starts_with("[Request interrupted") {
            self.pending = None;
            self.phase = Phase::Idle { since: at };
            self.remember("  ⎿ interrupted".into());
            return;
        }
        // the CLI's own notes (slash command output, reminders) are not prompts
        if e.meta || e.row_source.as_deref() == Some("harness") || text.starts_with("<command-") || text.starts_with("<local-command") {
            return;
        }
        self.turns += 1;
        self.refused = false;
        self.pending = None;
        self.phase = Phase::Working { since: at };
        let prompt = clean(&text, 500);
        self.remember(format!("› {}", cut(&prompt, LINE_CHARS)));
        self.last_prompt = Some(prompt);
    }

    fn assistant(&mut self, e: Entry, at: i64) {
        let Some(msg) = e.message else { return };
        let model = msg.model.as_deref().unwrap_or("");
        let synthetic = model.starts_with('<');
        if e.api_error || synthetic {
            let status = e.api_error_status.as_ref().and_then(Value::as_u64);
            let kind = e.error.as_ref().and_then(Value::as_str).unwrap_or("");
            let text = match &msg.content {
                Some(Content::Blocks(b)) => b.iter().filter_map(|b| b.text.as_deref()).collect::<Vec<_>>().join(" "),
                Some(Content::Text(t)) => t.clone(),
                _ => String::new(),
            };
            if e.api_error || status.is_some() || !kind.is_empty() {
                let auth = matches!(status, Some(401 | 403)) || kind == "authentication_failed" || kind == "oauth_org_not_allowed";
                self.error = Some(ApiError { at, status, auth, message: clean(&text, 200) });
            }
            if !e.sidechain {
                self.remember(format!("  ! {}", clean(&text, LINE_CHARS)));
                self.phase = Phase::Idle { since: at };
                self.pending = None;
            }
            return;
        }
        if !e.sidechain {
            self.model = Some(clean(model, 60));
            self.error = None;
        }
        if let (Some(u), Some(id)) = (&msg.usage, &msg.id) {
            self.count(id, u, model, at, !e.sidechain);
        }
        if e.sidechain {
            return;
        }
        if let Some(Content::Blocks(blocks)) = msg.content {
            for b in blocks {
                match b.kind.as_deref() {
                    Some("text") => {
                        let text = b.text.unwrap_or_default();
                        if let Some(first) = text.lines().find(|l| !l.trim().is_empty()) {
                            self.remember(format!("● {}", clean(first, LINE_CHARS)));
                        }
                    }
                    Some("tool_use") => {
                        let call = ToolCall { name: clean(b.name.as_deref().unwrap_or("?"), 40), input: tool_input(b.input.as_ref()) };
                        self.remember(format!("→ {}", call.short()));
                        self.pending = Some((cut(b.id.as_deref().unwrap_or(""), 80), call.clone(), at));
                        self.last_tool = Some(call);
                        self.refused = false;
                    }
                    _ => {}
                }
            }
        }
        match msg.stop_reason.as_deref() {
            Some("end_turn") | Some("stop_sequence") | Some("max_tokens") | Some("refusal") => {
                self.pending = None;
                self.phase = Phase::Idle { since: at };
            }
            _ if matches!(self.phase, Phase::Fresh | Phase::Idle { .. }) => self.phase = Phase::Working { since: at },
            _ => {}
        }
    }

    /// Counts an answer's usage once per message (its lines repeat it) into the sums of its day.
    fn count(&mut self, id: &str, u: &Usage, model: &str, at: i64, main: bool) {
        let t = Tokens { input: u.input_tokens, output: u.output_tokens, cache_write: u.cache_creation_input_tokens, cache_read: u.cache_read_input_tokens };
        let price = price_of(model);
        let cost = price.map(|p| t.cost(&p)).unwrap_or(0.0);
        let day = at.div_euclid(DAY);
        if day != self.day {
            // a new day starts the sums again (lines come in time order)
            if day < self.day {
                return;
            }
            self.day = day;
            self.tokens = Tokens::default();
            self.cost = 0.0;
            self.cost_partial = false;
            self.counted = None;
        }
        if let Some((cid, ct, cc)) = &self.counted {
            if cid == id {
                self.tokens.sub(ct);
                self.cost -= cc;
            }
        }
        self.tokens.add(&t);
        self.cost += cost;
        self.cost_partial |= price.is_none() && t.total() > 0;
        self.counted = Some((cut(id, 80), t, cost));
        if main {
            self.context = Some((t.total(), context_window(model)));
        }
    }
}

/// "1.2k", "3.4M": a count in a few characters.
pub fn human_count(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..=999_999_999 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// "$0.42", "$12", "<$0.01".
pub fn human_cost(c: f64) -> String {
    if c <= 0.0 {
        "$0".into()
    } else if c < 0.01 {
        "<$0.01".into()
    } else if c < 100.0 {
        format!("${c:.2}")
    } else {
        format!("${c:.0}")
    }
}

#[cfg(test)]
mod tests;
