//! Notifications about agents: which changes of an agent's status are worth a bell (it starts
//! waiting, a long turn ends, it dies), and the bytes that ring it: BEL, then a desktop
//! notification as OSC 9 (iTerm2, kitty, WezTerm, Windows Terminal…) and OSC 777 (rxvt,
//! foot, Ghostty, VTE…); a terminal that knows neither ignores them.

use super::agent::AgentStatus;

/// A change worth telling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// It waits for a permission or an answer.
    Waiting,
    /// A turn ended, after this many seconds.
    TurnDone { secs: i64 },
    /// The agent exited.
    Died,
}

/// One agent's last status and when its turn started, to tell what changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Watcher {
    last: Option<AgentStatus>,
    turn_start: Option<i64>,
}

fn waits(s: &AgentStatus) -> bool {
    matches!(s, AgentStatus::Waiting { .. } | AgentStatus::Input { .. })
}

impl Watcher {
    /// Takes the agent's new status; what changed that is worth telling. The first status
    /// heard of an agent tells nothing (the dashboard just started).
    pub fn see(&mut self, now: &AgentStatus) -> Option<Alert> {
        let before = self.last.replace(now.clone());
        match now {
            AgentStatus::Working { since } | AgentStatus::Waiting { since } | AgentStatus::Input { since } if self.turn_start.is_none() => {
                self.turn_start = Some(*since);
            }
            _ => {}
        }
        let before = before?;
        match now {
            _ if before == *now => None,
            s if waits(s) && !waits(&before) => Some(Alert::Waiting),
            AgentStatus::Idle { since } => self.turn_start.take().map(|start| Alert::TurnDone { secs: since - start }),
            AgentStatus::NotRunning { .. } if !matches!(before, AgentStatus::NotRunning { .. }) => {
                self.turn_start = None;
                Some(Alert::Died)
            }
            _ => None,
        }
    }
}

/// Text safe inside an OSC string: no control characters (nor escapes), no `;` (OSC 777
/// separates its fields with it), at most 200 characters.
fn osc_text(s: &str) -> String {
    let plain = super::text::strip(s).replace(';', ",");
    super::task::cut(&plain, 200)
}

/// The bytes that ring the terminal: BEL, and with `desktop` the notification.
pub fn ring(title: &str, body: &str, desktop: bool) -> Vec<u8> {
    let mut out = b"\x07".to_vec();
    if desktop {
        let (t, b) = (osc_text(title), osc_text(body));
        out.extend(format!("\x1b]9;{t}: {b}\x07\x1b]777;notify;{t};{b}\x07").into_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_worth_telling() {
        let mut w = Watcher::default();
        assert_eq!(w.see(&AgentStatus::Idle { since: 0 }), None, "the first word tells nothing");
        assert_eq!(w.see(&AgentStatus::Working { since: 10 }), None);
        assert_eq!(w.see(&AgentStatus::Working { since: 50 }), None, "another tool, the same turn");
        assert_eq!(w.see(&AgentStatus::Waiting { since: 60 }), Some(Alert::Waiting));
        assert_eq!(w.see(&AgentStatus::Waiting { since: 60 }), None);
        assert_eq!(w.see(&AgentStatus::Working { since: 70 }), None);
        assert_eq!(w.see(&AgentStatus::Idle { since: 610 }), Some(Alert::TurnDone { secs: 600 }));
        assert_eq!(w.see(&AgentStatus::Idle { since: 620 }), None);
        assert_eq!(w.see(&AgentStatus::NotRunning { exit_code: Some(1), at: 700 }), Some(Alert::Died));
        assert_eq!(w.see(&AgentStatus::NotRunning { exit_code: Some(1), at: 700 }), None);
    }

    #[test]
    fn the_bell_and_a_notification_nothing_of_the_containers_escapes() {
        assert_eq!(ring("agentdock", "x", false), b"\x07");
        let bytes = String::from_utf8(ring("agentdock", "api\x1b]0;evil\x07 waits; \u{202e}", true)).unwrap();
        assert_eq!(bytes, "\x07\x1b]9;agentdock: api waits, \x07\x1b]777;notify;agentdock;api waits, \x07");
    }
}
