//! What the agent in a container is doing, as the host learns it: the hook and runner files
//! (fast, coarse), the transcript (the detail: tool, prompt, tokens), the pane's activity for
//! agents without hooks. [`describe`] puts them together into what the list shows.

use super::stats::human_age;
use super::task::cut;
use super::transcript::{Phase, Summary};

/// What the agent in a container is doing, by its hooks and runner.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentStatus {
    /// Started, no hook heard yet.
    Started { since: i64 },
    Working { since: i64 },
    /// Waiting for a permission (the permission dialog is up).
    Waiting { since: i64 },
    /// Waiting for the user's answer to a question of its own.
    Input { since: i64 },
    Idle { since: i64 },
    /// The agent exited (the session then holds a shell).
    NotRunning { exit_code: Option<i64>, at: i64 },
    /// From the fallback (no hooks): when the agent's tmux pane last changed.
    Quiet { last_output: i64 },
}

impl AgentStatus {
    pub fn label(&self, now: i64) -> String {
        let ago = |t: i64| human_age(now - t);
        match self {
            AgentStatus::Started { .. } => "started".into(),
            AgentStatus::Working { .. } => "working".into(),
            AgentStatus::Waiting { since } => format!("waiting {}", ago(*since)),
            AgentStatus::Input { since } => format!("input {}", ago(*since)),
            AgentStatus::Idle { since } => format!("idle {}", ago(*since)),
            AgentStatus::NotRunning { exit_code: Some(c), .. } => format!("exited {c}"),
            AgentStatus::NotRunning { exit_code: None, .. } => "not running".into(),
            AgentStatus::Quiet { last_output } if now - last_output < 10 => "active".into(),
            AgentStatus::Quiet { last_output } => format!("output {} ago", ago(*last_output)),
        }
    }

    /// Since when it has been so (for the newest-word-wins rule).
    pub fn since(&self) -> i64 {
        match self {
            AgentStatus::Started { since }
            | AgentStatus::Working { since }
            | AgentStatus::Waiting { since }
            | AgentStatus::Input { since }
            | AgentStatus::Idle { since } => *since,
            AgentStatus::NotRunning { at, .. } => *at,
            AgentStatus::Quiet { last_output } => *last_output,
        }
    }
}

/// What the host read of one agent session besides its status: its transcript's summary, or
/// why the transcript cannot be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentInfo {
    /// The hooks' and runner's word (for the sessions beyond the main one; the main one's is
    /// the container's `agent`).
    pub status: Option<AgentStatus>,
    pub summary: Option<Summary>,
    pub unreadable: Option<String>,
    /// What its permission dialog asks (its hook's word, before the transcript has it).
    pub asking: Option<crate::domain::task::ToolCall>,
}

/// The states the list tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Working,
    /// Waiting for a permission.
    Waiting,
    /// Waiting for the user's answer.
    Input,
    Idle,
    Exited,
    /// Not logged in, or its key or token refused.
    Auth,
    /// Started, nothing more known yet (or only the pane's activity).
    Other,
}

/// One agent as the list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    pub state: State,
    /// Since when (unix seconds), when known.
    pub since: Option<i64>,
    /// "working 2m", "waiting 5s", "auth".
    pub label: String,
    /// What it does or needs: the tool with its short input, the last prompt, how to fix auth,
    /// why the transcript is unreadable.
    pub doing: String,
}

/// The tool that asks the user a question (its dialog waits for an answer, not a permission).
const ASK_TOOL: &str = "AskUserQuestion";

/// Puts the hooks' word and the transcript's together: the newer one says where the turn is
/// (an interrupt, say, writes the transcript and no hook); the transcript adds the tool, the
/// prompt and an auth error.
pub fn describe(status: Option<&AgentStatus>, info: Option<&AgentInfo>, now: i64) -> Described {
    let summary = info.and_then(|i| i.summary.as_ref());
    let pending = summary.and_then(|s| s.pending.as_ref());
    let asking = info.and_then(|i| i.asking.as_ref());
    let tool = pending.map(|(_, call, _)| call.short());
    let prompt = summary.and_then(|s| s.last_prompt.as_deref()).map(|p| format!("› {}", cut(p, 120)));
    let since_label = |word: &str, since: i64| format!("{word} {}", human_age(now - since));
    let mut d = match status {
        Some(AgentStatus::NotRunning { exit_code, at }) => Described {
            state: State::Exited,
            since: Some(*at),
            label: status.map(|s| s.label(now)).unwrap_or_default(),
            doing: exit_code.map(|c| format!("the agent exited with code {c}; the session holds a shell (a attaches)")).unwrap_or_default(),
        },
        _ => {
            // the newer word wins; on a tie the hooks' (they say "waiting", the transcript not)
            let hook = status.filter(|s| !matches!(s, AgentStatus::Started { .. } | AgentStatus::Quiet { .. }));
            let from_transcript = summary.and_then(|s| match s.phase {
                Phase::Working { since } => Some(AgentStatus::Working { since }),
                Phase::Idle { since } => Some(AgentStatus::Idle { since }),
                Phase::Fresh => None,
            });
            let word = match (hook, from_transcript) {
                (Some(h), Some(t)) if t.since() > h.since() => Some(t),
                (Some(h), _) => Some(h.clone()),
                (None, t) => t,
            };
            match word {
                Some(AgentStatus::Waiting { since }) if pending.map(|(_, c, _)| c).or(asking).is_some_and(|c| c.name == ASK_TOOL) => {
                    Described { state: State::Input, since: Some(since), label: since_label("input", since), doing: prompt.clone().unwrap_or_default() }
                }
                Some(AgentStatus::Waiting { since }) => Described {
                    state: State::Waiting,
                    since: Some(since),
                    label: since_label("waiting", since),
                    doing: asking
                        .map(|c| c.short())
                        .or(tool.clone())
                        .map(|t| format!("allow {t}? y / n"))
                        .unwrap_or_else(|| "needs you (a attaches)".into()),
                },
                Some(AgentStatus::Input { since }) => {
                    Described { state: State::Input, since: Some(since), label: since_label("input", since), doing: prompt.clone().unwrap_or_default() }
                }
                Some(AgentStatus::Working { since }) => Described {
                    state: State::Working,
                    since: Some(since),
                    label: since_label("working", since),
                    doing: tool.clone().or(prompt.clone()).unwrap_or_default(),
                },
                Some(AgentStatus::Idle { since }) => {
                    Described { state: State::Idle, since: Some(since), label: since_label("idle", since), doing: prompt.clone().unwrap_or_default() }
                }
                _ => Described {
                    state: State::Other,
                    since: status.map(AgentStatus::since),
                    label: status.map(|s| s.label(now)).unwrap_or_else(|| "-".into()),
                    doing: String::new(),
                },
            }
        }
    };
    // auth: a refused key after the last good answer, or no login at all (until it works)
    let error = summary.and_then(|s| s.error.as_ref()).filter(|e| e.auth);
    if d.state != State::Exited {
        if let Some(e) = error {
            let what = match e.status {
                _ if e.message.contains("Not logged in") => "not logged in",
                Some(403) => "the key or token is not allowed (403)",
                _ => "the API key or login was refused (401: expired or revoked)",
            };
            d = Described { state: State::Auth, since: Some(e.at), label: "auth".into(), doing: format!("{what}: {AUTH_FIX}") };
        }
    }
    if let Some(why) = info.and_then(|i| i.unreadable.as_deref()) {
        d.doing = format!("transcript unreadable: {why}");
    }
    d
}

/// Whether a newer look at an agent changes what its row says (its state, since when, what it
/// does or needs, an error) rather than only its numbers (turns, tokens, cost, context) and
/// the detail view's last lines. The first goes to the screen at once; the second may wait for
/// the next round of numbers, so that agents writing a line a second do not redraw the list
/// each second. `status`: the main session's word (a further one's is in its info).
pub fn changes_the_row(sent: &AgentInfo, new: &AgentInfo, status: Option<&AgentStatus>, now: i64) -> bool {
    let word = |i: &AgentInfo| status.or(i.status.as_ref()).cloned();
    let error = |i: &AgentInfo| i.summary.as_ref().and_then(|s| s.error.clone());
    word(sent) != word(new)
        || sent.unreadable != new.unreadable
        || sent.asking != new.asking
        || sent.summary.is_some() != new.summary.is_some()
        || error(sent) != error(new)
        || describe(word(sent).as_ref(), Some(sent), now) != describe(word(new).as_ref(), Some(new), now)
}

/// How to fix an agent's login, in one line.
pub const AUTH_FIX: &str = "set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN and refresh (r), or attach (a) and /login";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::task::ToolCall;
    use crate::domain::transcript::ApiError;

    const NOW: i64 = 1_800_000_000;

    fn info(phase: Phase, pending: Option<&str>) -> AgentInfo {
        let summary = Summary {
            phase,
            pending: pending.map(|cmd| ("t1".to_string(), ToolCall { name: "Bash".into(), input: cmd.into() }, NOW - 5)),
            last_prompt: Some("fix the tests".into()),
            model: Some("claude-opus-5-5".into()),
            ..Default::default()
        };
        AgentInfo { summary: Some(summary), ..Default::default() }
    }

    #[test]
    fn waiting_shows_the_tool_and_the_keys() {
        let d = describe(Some(&AgentStatus::Waiting { since: NOW - 3 }), Some(&info(Phase::Working { since: NOW - 5 }, Some("npm test"))), NOW);
        assert_eq!((d.state, d.label.as_str(), d.doing.as_str()), (State::Waiting, "waiting 3s", "allow Bash(npm test)? y / n"));
        let d = describe(Some(&AgentStatus::Working { since: NOW - 65 }), Some(&info(Phase::Working { since: NOW - 70 }, Some("npm test"))), NOW);
        assert_eq!((d.state, d.label.as_str(), d.doing.as_str()), (State::Working, "working 1m", "Bash(npm test)"));
        let d = describe(Some(&AgentStatus::Idle { since: NOW - 7200 }), Some(&info(Phase::Idle { since: NOW - 7200 }, None)), NOW);
        assert_eq!((d.state, d.label.as_str(), d.doing.as_str()), (State::Idle, "idle 2h0m", "› fix the tests"));
    }

    #[test]
    fn the_newer_word_wins() {
        // an interrupt writes the transcript, and no hook
        let d = describe(Some(&AgentStatus::Working { since: NOW - 30 }), Some(&info(Phase::Idle { since: NOW - 2 }, None)), NOW);
        assert_eq!(d.state, State::Idle);
        // agents without hooks: the transcript alone
        let d = describe(Some(&AgentStatus::Started { since: NOW - 100 }), Some(&info(Phase::Working { since: NOW - 4 }, None)), NOW);
        assert_eq!((d.state, d.label.as_str()), (State::Working, "working 4s"));
        // an exit is an exit
        let d = describe(Some(&AgentStatus::NotRunning { exit_code: Some(1), at: NOW }), Some(&info(Phase::Working { since: NOW }, None)), NOW);
        assert_eq!((d.state, d.label.as_str()), (State::Exited, "exited 1"));
        // a question of the agent's own is input, not a permission
        let mut i = info(Phase::Working { since: NOW - 5 }, None);
        i.summary.as_mut().unwrap().pending = Some(("t".into(), ToolCall { name: ASK_TOOL.into(), input: "which?".into() }, NOW));
        assert_eq!(describe(Some(&AgentStatus::Waiting { since: NOW }), Some(&i), NOW).state, State::Input);
        assert_eq!(describe(None, None, NOW).label, "-");
    }

    #[test]
    fn auth_says_how_to_fix_it_and_unreadable_says_why() {
        let mut i = info(Phase::Idle { since: NOW - 1 }, None);
        i.summary.as_mut().unwrap().error = Some(ApiError { at: NOW - 1, status: Some(401), auth: true, message: "Please run /login".into() });
        let d = describe(Some(&AgentStatus::Idle { since: NOW - 1 }), Some(&i), NOW);
        assert_eq!(d.state, State::Auth);
        assert!(d.doing.starts_with("the API key or login was refused (401") && d.doing.contains("ANTHROPIC_API_KEY"), "{}", d.doing);
        let mut i = info(Phase::Idle { since: NOW - 1 }, None);
        i.summary.as_mut().unwrap().error = Some(ApiError { at: NOW - 1, status: None, auth: true, message: "Not logged in · Please run /login".into() });
        let d = describe(Some(&AgentStatus::Idle { since: NOW - 1 }), Some(&i), NOW);
        assert!(d.state == State::Auth && d.doing.starts_with("not logged in"), "{d:?}");
        let i = AgentInfo { unreadable: Some("a FIFO".into()), ..info(Phase::Idle { since: NOW }, None) };
        assert_eq!(describe(None, Some(&i), NOW).doing, "transcript unreadable: a FIFO");
    }

    #[test]
    fn numbers_alone_do_not_change_the_row_but_a_new_tool_a_state_or_an_error_does() {
        let working = AgentStatus::Working { since: NOW - 30 };
        let sent = info(Phase::Working { since: NOW - 30 }, Some("npm test"));
        // more turns, tokens, lines, a new call of the same tool: only numbers
        let mut more = sent.clone();
        let s = more.summary.as_mut().unwrap();
        s.turns += 1;
        s.lines += 40;
        s.cost += 0.5;
        s.tokens.output += 900;
        s.recent.push_back("● Running the tests again.".into());
        s.pending = Some(("t2".into(), ToolCall { name: "Bash".into(), input: "npm test".into() }, NOW - 1));
        assert!(!changes_the_row(&sent, &more, Some(&working), NOW));
        // another tool, the agent waiting, an error, the file unreadable: the row changes
        let mut other = more.clone();
        other.summary.as_mut().unwrap().pending = Some(("t3".into(), ToolCall { name: "Bash".into(), input: "cargo build".into() }, NOW));
        assert!(changes_the_row(&sent, &other, Some(&working), NOW));
        let mut idle = more.clone();
        idle.summary.as_mut().unwrap().phase = Phase::Idle { since: NOW };
        idle.summary.as_mut().unwrap().pending = None;
        assert!(changes_the_row(&sent, &idle, Some(&working), NOW));
        let mut err = more.clone();
        err.summary.as_mut().unwrap().error = Some(ApiError { at: NOW, status: Some(529), auth: false, message: "Overloaded".into() });
        assert!(changes_the_row(&sent, &err, Some(&working), NOW));
        let unreadable = AgentInfo { unreadable: Some("a FIFO".into()), ..more.clone() };
        assert!(changes_the_row(&sent, &unreadable, Some(&working), NOW));
        // a further session's own word
        let (mut a, mut b) = (sent.clone(), more.clone());
        a.status = Some(working.clone());
        b.status = Some(AgentStatus::Waiting { since: NOW });
        assert!(changes_the_row(&a, &b, None, NOW));
        b.status = Some(working);
        assert!(!changes_the_row(&a, &b, None, NOW));
    }
}
