//! Tasks: a prompt run headless by an agent in a container of its own, on a branch of its own.
//! Here the pure parts: ids, states, and what the agent's stream (Claude Code's `stream-json`
//! lines) says: turns, tool calls, tokens, cost, the final text. The stream comes from the
//! container, so it is untrusted: every line is parsed on its own, bad or unknown lines are
//! counted and kept out of the way, never fatal.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    #[default]
    Queued,
    Starting,
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Cancelled,
    OutputCapped,
}

impl TaskState {
    pub fn is_final(self) -> bool {
        !matches!(self, TaskState::Queued | TaskState::Starting | TaskState::Running)
    }

    pub fn label(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::TimedOut => "timed out",
            TaskState::Cancelled => "cancelled",
            TaskState::OutputCapped => "output capped",
        }
    }

    /// The state word the runner in the container writes (`succeeded`, `timed_out`, …).
    pub fn from_runner(word: &str) -> Option<TaskState> {
        Some(match word.trim() {
            "running" => TaskState::Running,
            "succeeded" => TaskState::Succeeded,
            "failed" => TaskState::Failed,
            "timed_out" => TaskState::TimedOut,
            "cancelled" => TaskState::Cancelled,
            "output_capped" => TaskState::OutputCapped,
            _ => return None,
        })
    }
}

/// What a task was asked to do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub id: String,
    pub project_id: String,
    pub project_name: String,
    /// The repository the task branch ends up in (the project's, or agentdock's clone of
    /// `--repo`).
    pub repo_dir: std::path::PathBuf,
    pub repo_url: Option<String>,
    /// What the task started from, as asked (`HEAD`, a branch) and as resolved.
    pub base_ref: String,
    pub base_commit: String,
    pub branch: String,
    pub timeout_secs: u64,
    pub max_output: u64,
    pub model: Option<String>,
    pub permission_mode: String,
    pub image: String,
    /// Its container's name: `agentdock-task-<id>`, or the pool container it was handed.
    pub container: String,
    pub created_at: i64,
    /// Attempts of one prompt (`task run --attempts N`) share a group (the first one's id);
    /// `attempt` counts from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// `tasks.webhook_url` was set when it was queued: its end is POSTed there.
    #[serde(default)]
    pub callback: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DiffStat {
    pub files: u64,
    pub insertions: u64,
    pub deletions: u64,
}

/// A task and how it stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub spec: TaskSpec,
    pub state: TaskState,
    pub reason: Option<String>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// The result was read and the branch fetched: nothing more to do.
    pub collected: bool,
    pub diffstat: Option<DiffStat>,
    pub head: Option<String>,
    pub summary: Summary,
    /// Its place in the queue: tasks start in this order (FIFO), whoever starts them.
    #[serde(default)]
    pub seq: u64,
    /// When it was queued (every task is, first).
    #[serde(default)]
    pub queued_at: Option<i64>,
    /// Why agentdock stopped it (no output for `tasks.inactive_minutes`): it ends timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// It started in a pre-warmed pool container.
    #[serde(default)]
    pub from_pool: bool,
    /// The callback (`tasks.webhook_url`) of its end, when one is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<Webhook>,
}

/// Where a task's callback stands. The URL is not kept here (it may hold a token).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// `pending`, `sent` or `failed`.
    pub state: String,
    pub tries: u32,
    pub error: Option<String>,
    pub at: Option<i64>,
}

impl TaskRecord {
    pub fn elapsed(&self, now: i64) -> Option<i64> {
        self.started_at.map(|s| self.ended_at.unwrap_or(now) - s)
    }

    /// It holds (or is about to hold) a place of `tasks.max_parallel`.
    pub fn under_way(&self) -> bool {
        matches!(self.state, TaskState::Starting | TaskState::Running) && !self.collected
    }

    pub fn queued(&self) -> bool {
        self.state == TaskState::Queued && !self.collected
    }
}

/// A task id is safe in paths, labels and branch names: lower-case letters, digits and `-`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The branch a task works on.
pub fn branch_of(id: &str) -> String {
    format!("agentdock/task-{id}")
}

/// One tool call of the agent, with its input made short for a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub name: String,
    pub input: String,
}

impl ToolCall {
    /// `Bash(npm test)`.
    pub fn short(&self) -> String {
        format!("{}({})", self.name, cut(&self.input, 60))
    }
}

/// What the stream said so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub session_id: Option<String>,
    pub model: Option<String>,
    /// Assistant turns (the result's count when it came).
    pub turns: u64,
    pub tool_calls: Vec<ToolCall>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cost_usd: Option<f64>,
    /// The final text (`result` of the last line), or the error it reports.
    pub final_text: Option<String>,
    /// The result line's `is_error`; None until it came.
    pub is_error: Option<bool>,
    pub lines: u64,
    /// The last assistant message whose usage was counted (a message comes in several lines).
    #[serde(default, skip_serializing)]
    pub counted_message: Option<String>,
    /// Lines that were not JSON objects, and objects of a type this version does not know.
    pub bad_lines: u64,
    pub unknown_events: u64,
}

impl Summary {
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_creation_tokens
    }

    pub fn last_tool(&self) -> Option<&ToolCall> {
        self.tool_calls.last()
    }

    /// Takes one line of the stream.
    pub fn push_line(&mut self, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        self.lines += 1;
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            self.bad_lines += 1;
            return;
        };
        match v.get("type").and_then(Value::as_str) {
            Some("system") => {
                if let Some(s) = v.get("session_id").and_then(Value::as_str) {
                    self.session_id = Some(cut(s, 80));
                }
                if let Some(m) = v.get("model").and_then(Value::as_str) {
                    self.model = Some(cut(m, 80));
                }
            }
            Some("assistant") => {
                self.turns += 1;
                // tokens so far, until the result gives the totals
                let msg = v.get("message");
                let mid = msg.and_then(|m| m.get("id")).and_then(Value::as_str).map(|s| cut(s, 80));
                if let (Some(u), true) = (msg.and_then(|m| m.get("usage")), mid.is_some() && mid != self.counted_message) {
                    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
                    self.input_tokens += n("input_tokens");
                    self.output_tokens += n("output_tokens");
                    self.cache_read_tokens += n("cache_read_input_tokens");
                    self.cache_creation_tokens += n("cache_creation_input_tokens");
                    self.counted_message = mid;
                }
                for block in content(&v) {
                    if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                        let name = block.get("name").and_then(Value::as_str).unwrap_or("?");
                        self.tool_calls.push(ToolCall { name: cut(name, 40), input: tool_input(block.get("input")) });
                    }
                }
                // keep at most the newest 1,000 calls: a runaway agent must not grow this
                if self.tool_calls.len() > 1000 {
                    self.tool_calls.drain(..self.tool_calls.len() - 1000);
                }
            }
            Some("user") => {}
            Some("result") => {
                self.is_error = v.get("is_error").and_then(Value::as_bool);
                self.final_text = v.get("result").and_then(Value::as_str).map(|s| cut(s, 64 * 1024));
                if let Some(n) = v.get("num_turns").and_then(Value::as_u64) {
                    self.turns = n;
                }
                self.cost_usd = v.get("total_cost_usd").and_then(Value::as_f64);
                if let Some(u) = v.get("usage") {
                    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
                    self.input_tokens = n("input_tokens");
                    self.output_tokens = n("output_tokens");
                    self.cache_read_tokens = n("cache_read_input_tokens");
                    self.cache_creation_tokens = n("cache_creation_input_tokens");
                }
            }
            _ => self.unknown_events += 1,
        }
    }
}

fn content(v: &Value) -> impl Iterator<Item = &Value> {
    v.get("message").and_then(|m| m.get("content")).and_then(Value::as_array).into_iter().flatten()
}

/// A tool's input in one short line: the command of a Bash call, the path of a file tool, else
/// the JSON.
fn tool_input(input: Option<&Value>) -> String {
    let Some(input) = input else { return String::new() };
    for key in ["command", "file_path", "path", "pattern", "url", "description"] {
        if let Some(s) = input.get(key).and_then(Value::as_str) {
            return one_line(s, 200);
        }
    }
    one_line(&input.to_string(), 200)
}

/// At most `max` characters (on a character boundary), with `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn one_line(s: &str, max: usize) -> String {
    cut(&s.split_whitespace().collect::<Vec<_>>().join(" "), max)
}

/// One stream line made readable for `task logs` and the Tasks view: assistant text, tool calls
/// with their input, results cut to a few lines. None for lines with nothing to show.
pub fn render_line(line: &str, result_lines: usize) -> Option<Vec<String>> {
    let v: Value = serde_json::from_str(line.trim()).ok()?;
    let mut out = Vec::new();
    match v.get("type").and_then(Value::as_str)? {
        "system" => {
            // hooks and other notes of the CLI are not part of the run
            if v.get("subtype").and_then(Value::as_str) != Some("init") {
                return None;
            }
            let model = v.get("model").and_then(Value::as_str).unwrap_or("?");
            out.push(format!("· session started ({})", cut(model, 60)));
        }
        "assistant" => {
            for block in content(&v) {
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                        out.extend(text.lines().map(|l| format!("  {}", cut(l, 500))));
                    }
                    Some("tool_use") => {
                        let name = block.get("name").and_then(Value::as_str).unwrap_or("?");
                        out.push(format!("→ {}({})", cut(name, 40), tool_input(block.get("input"))));
                    }
                    _ => {}
                }
            }
        }
        "user" => {
            for block in content(&v) {
                if block.get("type").and_then(Value::as_str) != Some("tool_result") {
                    continue;
                }
                let text = match block.get("content") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(parts)) => {
                        parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
                    }
                    _ => String::new(),
                };
                let err = block.get("is_error").and_then(Value::as_bool).unwrap_or(false);
                let lines: Vec<&str> = text.lines().collect();
                let mark = if err { "✗" } else { "←" };
                for (i, l) in lines.iter().take(result_lines).enumerate() {
                    out.push(format!("{} {}", if i == 0 { mark } else { " " }, cut(l, 300)));
                }
                if lines.len() > result_lines {
                    out.push(format!("  … {} more lines", lines.len() - result_lines));
                }
                if lines.is_empty() {
                    out.push(format!("{mark} (no output)"));
                }
            }
        }
        "result" => {
            let err = v.get("is_error").and_then(Value::as_bool).unwrap_or(false);
            let text = v.get("result").and_then(Value::as_str).unwrap_or("");
            out.push(format!("{} {}", if err { "✗ error:" } else { "✓ done:" }, cut(&one_line(text, 500), 500)));
        }
        _ => return None,
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = r#"{"type":"system","subtype":"init","session_id":"s1","model":"claude-x","tools":["Bash"]}
{"type":"assistant","message":{"content":[{"type":"text","text":"I will look."},{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls -la\necho hi"}}]}}
{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"t1","content":"a\nb\nc\nd\ne","is_error":false}]}}
{"type":"rate_limit_event","whatever":1}
not json at all
{"type":"assistant","message":{"content":[{"type":"text","text":"Done."}]}}
{"type":"result","subtype":"success","is_error":false,"result":"All done.","num_turns":2,"total_cost_usd":0.0123,"usage":{"input_tokens":100,"output_tokens":20,"cache_read_input_tokens":5,"cache_creation_input_tokens":1}}
"#;

    #[test]
    fn tokens_count_while_running_once_per_message_then_the_result_decides() {
        let line = |id: &str, out: u64| {
            format!(r#"{{"type":"assistant","message":{{"id":"{id}","content":[],"usage":{{"input_tokens":10,"output_tokens":{out}}}}}}}"#)
        };
        let mut s = Summary::default();
        s.push_line(&line("m1", 5));
        s.push_line(&line("m1", 5)); // the same message, its next block
        assert_eq!(s.tokens(), 15);
        s.push_line(&line("m2", 7));
        assert_eq!(s.tokens(), 32);
        s.push_line(r#"{"type":"result","is_error":false,"result":"ok","usage":{"input_tokens":1,"output_tokens":2}}"#);
        assert_eq!(s.tokens(), 3);
    }

    #[test]
    fn a_stream_is_summed_up() {
        let mut s = Summary::default();
        STREAM.lines().for_each(|l| s.push_line(l));
        assert_eq!(s.session_id.as_deref(), Some("s1"));
        assert_eq!(s.turns, 2);
        assert_eq!(s.tool_calls, vec![ToolCall { name: "Bash".into(), input: "ls -la echo hi".into() }]);
        assert_eq!(s.last_tool().unwrap().short(), "Bash(ls -la echo hi)");
        assert_eq!(s.tokens(), 126);
        assert_eq!(s.cost_usd, Some(0.0123));
        assert_eq!(s.final_text.as_deref(), Some("All done."));
        assert_eq!(s.is_error, Some(false));
        assert_eq!((s.bad_lines, s.unknown_events), (1, 1));
    }

    #[test]
    fn lines_render_readably_and_results_are_cut() {
        let shown: Vec<String> = STREAM.lines().filter_map(|l| render_line(l, 3)).flatten().collect();
        assert_eq!(
            shown,
            vec![
                "· session started (claude-x)",
                "  I will look.",
                "→ Bash(ls -la echo hi)",
                "← a",
                "  b",
                "  c",
                "  … 2 more lines",
                "  Done.",
                "✓ done: All done.",
            ]
        );
    }

    #[test]
    fn ids_and_states() {
        assert!(valid_id("20261125-ab12"));
        assert!(!valid_id("../x") && !valid_id("") && !valid_id("A"));
        assert_eq!(branch_of("x1"), "agentdock/task-x1");
        assert_eq!(TaskState::from_runner("timed_out\n"), Some(TaskState::TimedOut));
        assert!(TaskState::Cancelled.is_final() && !TaskState::Running.is_final());
        assert_eq!(cut("héllo", 2), "hé…");
    }
}
