//! What the agent is doing, read on the host with no exec: Claude Code hooks installed into the
//! per-project agent config write one line to `agentdock/status` in that mounted dir (and the
//! session's transcript path to `agentdock/session`), and the image's agent runner writes
//! `agentdock/agent` when the agent starts and exits. A further agent session of the container
//! writes the same files in `agentdock/<name>/`.

use std::path::Path;

use crate::domain::agent::AgentStatus;
use crate::domain::container::parse_rfc3339;

/// The file the hooks write, relative to the agent config dir.
pub const STATUS_FILE: &str = "agentdock/status";
/// The file the agent runner writes.
pub const AGENT_FILE: &str = "agentdock/agent";

/// The file the SessionStart hook writes (its input: the session's transcript path).
pub const SESSION_FILE: &str = "session";

/// Where the hooks and the runner of one agent session write, relative to the agent config
/// dir: `agentdock` for the container's main agent, `agentdock/<name>` for another one (its
/// session gets `AGENTDOCK_AGENT=<name>`).
pub fn status_sub(extra: Option<&str>) -> String {
    match extra {
        None => "agentdock".into(),
        Some(name) => format!("agentdock/{name}"),
    }
}

/// The shell that picks the session's status dir (`$d`).
const DIR: &str = r#"d="${CLAUDE_CONFIG_DIR:-$HOME/.claude}/agentdock"; [ -n "$AGENTDOCK_AGENT" ] && d="$d/$AGENTDOCK_AGENT"; mkdir -p "$d""#;

/// Replaces file `name` in `$d` with what `what` prints, by rename (the host sees the change
/// with one stat of the directory).
fn put(name: &str, what: &str) -> String {
    format!(r#"{what} > "$d/{name}.tmp" && mv -f "$d/{name}.tmp" "$d/{name}""#)
}

/// What each hook does.
#[derive(Clone, Copy)]
enum Hook {
    /// Records a state ("working", "waiting", "idle") with the time.
    State(&'static str),
    /// A notification: a permission or a question waits ("waiting" / "input"); the reminder
    /// that the agent is idle changes nothing (it would restart the idle time).
    Notification,
    /// Records the session's hook input, which names its transcript.
    Session,
}

/// Marks the hooks agentdock installed, so they are added once.
const MARKER: &str = "agentdock-status";

/// Hook events and what each one records.
const HOOKS: &[(&str, Hook)] = &[
    ("SessionStart", Hook::Session),
    ("UserPromptSubmit", Hook::State("working")),
    ("PreToolUse", Hook::State("working")),
    ("PostToolUse", Hook::State("working")),
    ("PermissionRequest", Hook::State("waiting")),
    ("Notification", Hook::Notification),
    ("Stop", Hook::State("idle")),
];

/// The hook command for one hook (sh, no single quotes inside).
fn hook_command(hook: Hook) -> String {
    let body = match hook {
        Hook::State(state) => put("status", &format!(r#"echo "{state} $(date +%s)""#)),
        Hook::Notification => format!(
            r#"case "$(head -c 4096)" in *idle_prompt*) exit 0;; *elicitation_dialog*) s=input;; *) s=waiting;; esac; {}"#,
            put("status", r#"echo "$s $(date +%s)""#)
        ),
        // a new session is at its prompt (a compaction mid-turn is not)
        Hook::Session => format!(
            r#"i=$(head -c 8192); {}; case "$i" in *\"source\":\"compact\"*) ;; *) {} ;; esac"#,
            put(SESSION_FILE, r#"printf "%s\n" "$i""#),
            put("status", r#"echo "idle $(date +%s)""#)
        ),
    };
    format!("sh -c '{DIR}; {body}' # {MARKER}")
}

/// Adds agentdock's hooks to a Claude Code settings object (replacing an older version of
/// them), keeping every other hook.
pub fn install_hooks(settings: &mut serde_json::Value) {
    if !settings.is_object() {
        *settings = serde_json::json!({});
    }
    let hooks = settings
        .as_object_mut()
        .expect("object")
        .entry("hooks")
        .or_insert_with(|| serde_json::json!({}));
    if !hooks.is_object() {
        *hooks = serde_json::json!({});
    }
    let hooks = hooks.as_object_mut().expect("object");
    for (event, hook) in HOOKS {
        let list = hooks.entry(*event).or_insert_with(|| serde_json::json!([]));
        if !list.is_array() {
            *list = serde_json::json!([]);
        }
        let list = list.as_array_mut().expect("array");
        // ours are replaced by the current version; the user's own stay as they are
        list.retain(|entry| !entry.to_string().contains(MARKER));
        let mut entry = serde_json::json!({ "hooks": [{ "type": "command", "command": hook_command(*hook) }] });
        if matches!(*event, "PreToolUse" | "PostToolUse" | "PermissionRequest") {
            entry["matcher"] = serde_json::json!("*");
        }
        list.push(entry);
    }
}

fn parse_status(line: &str) -> Option<AgentStatus> {
    let mut it = line.split_whitespace();
    let state = it.next()?;
    let since: i64 = it.next()?.parse().ok()?;
    Some(match state {
        "working" => AgentStatus::Working { since },
        "waiting" => AgentStatus::Waiting { since },
        "input" => AgentStatus::Input { since },
        "idle" => AgentStatus::Idle { since },
        _ => return None,
    })
}

fn since_of(s: &AgentStatus) -> i64 {
    match s {
        AgentStatus::NotRunning { .. } | AgentStatus::Quiet { .. } => 0,
        other => other.since(),
    }
}

/// When the status files last changed: both are replaced by a rename, which changes their
/// directory's modification time, so one stat of the directory tells.
pub fn stamp(agent_dir: &Path) -> Option<std::time::SystemTime> {
    stamp_in(agent_dir, "agentdock")
}

/// The stamp of one session's status dir (see [`status_sub`]).
pub fn stamp_in(agent_dir: &Path, sub: &str) -> Option<std::time::SystemTime> {
    std::fs::symlink_metadata(agent_dir.join(sub)).and_then(|m| m.modified()).ok()
}

/// The transcript of the session whose status dir is `sub`, relative to `agent_dir`, as its
/// SessionStart hook recorded it (see [`crate::transcript::relative_path`]).
pub fn transcript_of(agent_dir: &Path, sub: &str) -> Option<String> {
    let text = read_status_file(agent_dir, &format!("{sub}/{SESSION_FILE}"), 8192)?;
    crate::transcript::relative_path(&text)
}

/// A status file holds one short line: no more than this is read.
const STATUS_MAX: u64 = 256;

/// A status file, written by the container: read only if a regular file, never through a link,
/// never blocking, never more than [`STATUS_MAX`] bytes (see [`crate::untrusted`]). Blocking
/// still (it is disk I/O): the dashboard calls it off its loop's thread.
fn read_status_file(agent_dir: &Path, rel: &str, max: u64) -> Option<String> {
    let bytes = crate::untrusted::read(agent_dir, rel, max).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The agent's status from the files in `agent_dir`; None when neither file says anything.
pub fn read(agent_dir: &Path) -> Option<AgentStatus> {
    read_in(agent_dir, "agentdock")
}

/// One session's status from the files in its status dir `sub` (see [`status_sub`]).
pub fn read_in(agent_dir: &Path, sub: &str) -> Option<AgentStatus> {
    let hook = read_status_file(agent_dir, &format!("{sub}/status"), STATUS_MAX).and_then(|t| parse_status(t.trim()));
    let runner = read_status_file(agent_dir, &format!("{sub}/agent"), STATUS_MAX).and_then(|t| {
        let mut it = t.split_whitespace();
        match (it.next()?, it.next().and_then(parse_rfc3339)) {
            ("started", Some(at)) => Some(AgentStatus::Started { since: at }),
            ("exited", Some(at)) => {
                let code = it.next().and_then(|c| c.parse().ok());
                Some(AgentStatus::NotRunning { exit_code: code, at })
            }
            _ => None,
        }
    });
    match (hook, runner) {
        // the runner's word is newer: the agent (re)started or exited after the last hook
        (Some(h), Some(r)) => {
            let r_at = match &r {
                AgentStatus::NotRunning { at, .. } => *at,
                other => since_of(other),
            };
            if r_at > since_of(&h) {
                Some(r)
            } else {
                Some(h)
            }
        }
        (Some(h), None) => Some(h),
        (None, r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_merge_and_stay_single() {
        let mut v = serde_json::json!({"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "mine"}]}]}, "model": "x"});
        install_hooks(&mut v);
        install_hooks(&mut v);
        assert_eq!(v["model"], "x");
        assert_eq!(v["hooks"]["Stop"].as_array().unwrap().len(), 2, "{v}");
        assert_eq!(v["hooks"]["PreToolUse"][0]["matcher"], "*");
        assert!(v["hooks"]["Notification"][0]["hooks"][0]["command"].as_str().unwrap().contains("waiting"));
    }

    #[test]
    fn reads_the_newest_word() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        assert_eq!(read(d), None);
        std::fs::create_dir_all(d.join("agentdock")).unwrap();
        std::fs::write(d.join(AGENT_FILE), "started 2026-01-01T00:00:00Z\n").unwrap();
        assert!(matches!(read(d), Some(AgentStatus::Started { .. })));
        std::fs::write(d.join(STATUS_FILE), "waiting 1767225700\n").unwrap();
        assert_eq!(read(d), Some(AgentStatus::Waiting { since: 1767225700 }));
        std::fs::write(d.join(AGENT_FILE), "exited 2026-01-01T00:05:00Z 1\n").unwrap();
        assert!(matches!(read(d), Some(AgentStatus::NotRunning { exit_code: Some(1), .. })));
    }

    #[test]
    fn a_fifo_a_device_or_a_link_is_no_status_and_does_not_block() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("agentdock")).unwrap();
        let fifo = rustix::fs::FileType::Fifo;
        rustix::fs::mknodat(rustix::fs::CWD, d.join(STATUS_FILE), fifo, 0o600.into(), 0).unwrap();
        std::os::unix::fs::symlink("/dev/zero", d.join(AGENT_FILE)).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let dir = d.to_path_buf();
        std::thread::spawn(move || tx.send(read(&dir)).unwrap());
        let got = rx.recv_timeout(std::time::Duration::from_secs(5)).expect("the read blocked");
        assert_eq!(got, None);
        // a link to a good file is refused too; a long file is read no further than a line
        std::fs::remove_file(d.join(AGENT_FILE)).unwrap();
        std::fs::write(d.join("elsewhere"), "waiting 1767225700\n").unwrap();
        std::fs::remove_file(d.join(STATUS_FILE)).unwrap();
        std::os::unix::fs::symlink(d.join("elsewhere"), d.join(STATUS_FILE)).unwrap();
        assert_eq!(read(d), None);
        std::fs::remove_file(d.join(STATUS_FILE)).unwrap();
        std::fs::write(d.join(STATUS_FILE), format!("waiting 1767225700 {}", "x".repeat(1 << 20))).unwrap();
        assert_eq!(read(d), Some(AgentStatus::Waiting { since: 1767225700 }));
    }

    /// The hooks as the CLI runs them: sh, the hook's JSON on stdin.
    #[test]
    fn the_hook_commands_write_where_their_session_reads() {
        let tmp = tempfile::tempdir().unwrap();
        let run = |event: &str, stdin: &str, agent: Option<&str>| {
            let mut settings = serde_json::json!({});
            install_hooks(&mut settings);
            let cmd = settings["hooks"][event][0]["hooks"][0]["command"].as_str().unwrap().to_string();
            let mut c = std::process::Command::new("sh");
            c.args(["-c", &cmd]).env("CLAUDE_CONFIG_DIR", tmp.path()).env_remove("AGENTDOCK_AGENT").stdin(std::process::Stdio::piped());
            if let Some(a) = agent {
                c.env("AGENTDOCK_AGENT", a);
            }
            let mut child = c.spawn().unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
            assert!(child.wait().unwrap().success(), "{event}");
        };
        let d = tmp.path();
        run("PermissionRequest", "{}", None);
        assert!(matches!(read(d), Some(AgentStatus::Waiting { .. })));
        run("Stop", "{}", None);
        assert!(matches!(read(d), Some(AgentStatus::Idle { .. })));
        // the idle reminder leaves the idle time as it was; a question is input
        let before = std::fs::read_to_string(d.join(STATUS_FILE)).unwrap();
        run("Notification", r#"{"notification_type":"idle_prompt"}"#, None);
        assert_eq!(std::fs::read_to_string(d.join(STATUS_FILE)).unwrap(), before);
        run("Notification", r#"{"notification_type":"elicitation_dialog"}"#, None);
        assert!(matches!(read(d), Some(AgentStatus::Input { .. })));
        run("Notification", r#"{"notification_type":"permission_prompt"}"#, None);
        assert!(matches!(read(d), Some(AgentStatus::Waiting { .. })));
        // a second agent's hooks write in its own dir
        run("UserPromptSubmit", "{}", Some("claude-2"));
        assert!(matches!(read_in(d, &status_sub(Some("claude-2"))), Some(AgentStatus::Working { .. })));
        assert!(matches!(read(d), Some(AgentStatus::Waiting { .. })));
        run("SessionStart", r#"{"session_id":"abc","transcript_path":"/home/agent/.claude/projects/-workspace/abc.jsonl","source":"startup"}"#, Some("claude-2"));
        assert_eq!(transcript_of(d, "agentdock/claude-2").as_deref(), Some("projects/-workspace/abc.jsonl"));
        assert!(matches!(read_in(d, "agentdock/claude-2"), Some(AgentStatus::Idle { .. })));
        // a compaction mid-turn keeps the state
        run("UserPromptSubmit", "{}", Some("claude-2"));
        run("SessionStart", r#"{"session_id":"abc","transcript_path":"/home/agent/.claude/projects/-workspace/abc.jsonl","source":"compact"}"#, Some("claude-2"));
        assert!(matches!(read_in(d, "agentdock/claude-2"), Some(AgentStatus::Working { .. })));
        assert_eq!(transcript_of(d, "agentdock"), None);
    }
}
