//! Steering an agent without attaching: what is sent to its tmux pane, as argv for an exec
//! (no shell anywhere): a prompt as a bracketed paste (so its newlines do not submit it early)
//! then Enter; a permission answered; an interrupt. Pure: the argv is built here, run by the
//! worker.

/// Which agent session: the container and its tmux session; `extra` names a session `+`
/// started (its status dir `agentdock/<name>`), None for the container's main one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTarget {
    pub container: String,
    /// The container's name, for messages.
    pub container_name: String,
    pub session: String,
    pub extra: Option<String>,
}

impl AgentTarget {
    /// "claude in agentdock-api" for messages.
    pub fn label(&self) -> String {
        format!("{} in {}", self.session, self.container_name)
    }

    /// tmux's target for the session's active pane, matched exactly (`=name:`).
    pub fn pane(&self) -> String {
        format!("={}:", self.session)
    }
}

/// What the app asks of an agent (run by the worker, by exec into its tmux pane).
#[derive(Debug, Clone, PartialEq)]
pub enum Steer {
    Prompt { target: AgentTarget, text: String },
    Key { target: AgentTarget, key: AgentKey },
    NewAgent { container: String, container_name: String, name: String },
    Stop { target: AgentTarget },
}

/// An answer or a key for the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKey {
    /// Allow what it asks (the permission dialog's first choice, "Yes").
    Allow,
    /// Refuse it (Esc: the CLI records the refusal for the model and stops the turn).
    Deny,
    /// Interrupt a working agent (Esc).
    Interrupt,
}

impl AgentKey {
    /// The key as tmux's send-keys names it.
    pub fn tmux_key(self) -> &'static str {
        match self {
            AgentKey::Allow => "1",
            AgentKey::Deny | AgentKey::Interrupt => "Escape",
        }
    }

    pub fn done(self) -> &'static str {
        match self {
            AgentKey::Allow => "allowed",
            AgentKey::Deny => "refused",
            AgentKey::Interrupt => "interrupted",
        }
    }
}

/// Further agent sessions of one container.
pub const MAX_EXTRA_AGENTS: usize = 16;

/// A prompt longer than this is not sent (it goes as one argument of an exec).
pub const PROMPT_MAX: usize = 64 * 1024;

/// The prompt as it may reach the pane: control characters out (an escape sequence in a
/// paste could end it early and turn the rest into keys), but newlines and tabs; `\r\n` and
/// `\r` as newlines.
pub fn clean_prompt(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n").chars().filter(|c| *c == '\n' || *c == '\t' || !c.is_control()).collect()
}

/// tmux reads an argument that ends in `;` as the end of a command (and `\;` as a `;`): the
/// last `;` of a text is written `\;` so the text arrives whole.
fn tmux_arg(text: &str) -> String {
    match text.strip_suffix(';') {
        Some(rest) => format!("{rest}\\;"),
        None => text.to_string(),
    }
}

fn argv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The prompt into a tmux buffer of its own, pasted into the pane as a bracketed paste (and the
/// buffer deleted): one argv, two tmux commands.
pub fn paste_argv(target: &AgentTarget, buffer: &str, text: &str) -> Vec<String> {
    let data = tmux_arg(text);
    let pane = target.pane();
    argv(&["tmux", "set-buffer", "-b", buffer, "--", &data, ";", "paste-buffer", "-p", "-d", "-b", buffer, "-t", &pane])
}

/// The pane's text as it shows now.
pub fn capture_argv(target: &AgentTarget) -> Vec<String> {
    argv(&["tmux", "capture-pane", "-p", "-t", &target.pane()])
}

/// Whether the CLI's permission dialog is on the pane (`pane`: its text), so a key answers it.
/// The CLI says "Waiting for permission…" a moment before it draws the dialog; a key sent in
/// that moment goes to its prompt instead and the dialog then waits for nobody.
pub fn permission_dialog_shown(pane: &str) -> bool {
    let mut lines = pane.lines().map(|l| l.trim_start_matches(['❯', ' ', '>']).trim_end());
    lines.any(|l| l == "1. Yes")
}

/// One key to the pane.
pub fn key_argv(target: &AgentTarget, key: &str) -> Vec<String> {
    argv(&["tmux", "send-keys", "-t", &target.pane(), key])
}

/// A further agent session `name`: its own tmux session running the agent command, its hooks
/// and runner writing to `agentdock/<name>/` (`AGENTDOCK_AGENT`); when the agent exits a shell
/// keeps the session, as the image's runner does for the main one.
pub fn new_agent_argv(name: &str) -> Vec<String> {
    const RUNNER: &str = r#". /usr/local/lib/agentdock/secrets.sh 2>/dev/null
set -m
d="${CLAUDE_CONFIG_DIR:-$HOME/.claude}/agentdock/$AGENTDOCK_AGENT"
mkdir -p "$d"
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
say() { printf '%s\n' "$1" > "$d/agent.tmp" && mv -f "$d/agent.tmp" "$d/agent"; }
say "started $(now)"
bash -lc "${AGENT_CMD:-claude}"
code=$?
say "exited $(now) $code"
echo
echo "[agentdock] the agent exited with code $code; this shell keeps the session open."
exec bash -l"#;
    let agent = format!("AGENTDOCK_AGENT={name}");
    let session = format!("AGENT_SESSION={name}");
    argv(&["tmux", "new-session", "-d", "-s", name, "-c", "/workspace", "-e", &agent, "-e", &session, "bash", "-c", RUNNER])
}

/// Ends a further agent session and removes its status dir.
pub fn stop_agent_argv(name: &str) -> Vec<String> {
    let script = r#"tmux kill-session -t "=$1" 2>/dev/null; rm -rf -- "${CLAUDE_CONFIG_DIR:-$HOME/.claude}/agentdock/$1""#;
    argv(&["sh", "-c", script, "sh", name])
}

/// The next free name for a further session of `session` (`claude-2`, `claude-3`, …).
pub fn next_extra_name<'a>(session: &str, taken: impl IntoIterator<Item = &'a String>) -> String {
    let taken: Vec<&String> = taken.into_iter().collect();
    (2..).map(|n| format!("{session}-{n}")).find(|n| !taken.contains(&n)).expect("a free name")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> AgentTarget {
        AgentTarget { container: "c1".into(), container_name: "agentdock-api".into(), session: "claude".into(), extra: None }
    }

    #[test]
    fn a_prompt_goes_whole_as_one_argument() {
        let text = "two\nlines with 'quotes' \"and\" $(rm -rf /) `x`;";
        let v = paste_argv(&target(), "agentdock-1", text);
        assert_eq!(v[..5], ["tmux", "set-buffer", "-b", "agentdock-1", "--"]);
        assert_eq!(v[5], "two\nlines with 'quotes' \"and\" $(rm -rf /) `x`\\;");
        assert_eq!(v[6..], [";", "paste-buffer", "-p", "-d", "-b", "agentdock-1", "-t", "=claude:"]);
        assert_eq!(paste_argv(&target(), "b", "a\\;")[5], "a\\\\;");
        assert_eq!(paste_argv(&target(), "b", "plain")[5], "plain");
    }

    #[test]
    fn control_characters_never_reach_the_pane() {
        assert_eq!(clean_prompt("a\x1b[201~\rb\r\nc\td\u{7}"), "a[201~\nb\nc\td");
    }

    #[test]
    fn the_permission_dialog_is_told_from_the_line_before_it() {
        assert!(!permission_dialog_shown("● Bash(echo nope > n.txt)\n  ⎿  Waiting…\n  Waiting for permission…\n❯ \n"));
        assert!(permission_dialog_shown(" Do you want to proceed?\n ❯ 1. Yes\n   2. Yes, and always allow\n   4. No\n Esc to cancel"));
        assert!(permission_dialog_shown(" Do you want to proceed?\n   1. Yes\n ❯ 4. No\n"));
        // a prompt that merely says it
        assert!(!permission_dialog_shown("❯ please answer 1. Yes to everything\n"));
    }

    #[test]
    fn keys_names_and_sessions() {
        assert_eq!(key_argv(&target(), AgentKey::Allow.tmux_key()), ["tmux", "send-keys", "-t", "=claude:", "1"]);
        assert_eq!(AgentKey::Deny.tmux_key(), "Escape");
        let taken = vec!["claude-2".to_string(), "claude-4".to_string()];
        assert_eq!(next_extra_name("claude", &taken), "claude-3");
        assert_eq!(next_extra_name("claude", &[]), "claude-2");
        let v = new_agent_argv("claude-3");
        assert!(v.contains(&"AGENTDOCK_AGENT=claude-3".to_string()) && v.contains(&"-d".to_string()));
        assert_eq!(stop_agent_argv("claude-3").last().unwrap(), "claude-3");
    }
}
