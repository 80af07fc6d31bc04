//! What the agent is doing, read on the host with no exec: Claude Code hooks installed into the
//! per-project agent config write one line to `agentdock/status` in that mounted dir, and the
//! image's agent runner writes `agentdock/agent` when the agent starts and exits.

use std::path::Path;

use crate::domain::agent::AgentStatus;
use crate::domain::container::parse_rfc3339;

/// The file the hooks write, relative to the agent config dir.
pub const STATUS_FILE: &str = "agentdock/status";
/// The file the agent runner writes.
pub const AGENT_FILE: &str = "agentdock/agent";

/// The hook command that records `state` ("working", "waiting", "idle") with the time.
pub fn hook_command(state: &str) -> String {
    format!(
        "sh -c 'd=\"${{CLAUDE_CONFIG_DIR:-$HOME/.claude}}/agentdock\"; mkdir -p \"$d\"; echo \"{state} $(date +%s)\" > \"$d/status.tmp\" && mv -f \"$d/status.tmp\" \"$d/status\"' # {MARKER}"
    )
}

/// Marks the hooks agentdock installed, so they are added once.
const MARKER: &str = "agentdock-status";

/// Hook events and the state each one means.
pub const HOOKS: &[(&str, &str)] =
    &[("UserPromptSubmit", "working"), ("PreToolUse", "working"), ("Notification", "waiting"), ("Stop", "idle")];

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
    for (event, state) in HOOKS {
        let list = hooks.entry(*event).or_insert_with(|| serde_json::json!([]));
        if !list.is_array() {
            *list = serde_json::json!([]);
        }
        let list = list.as_array_mut().expect("array");
        // ours are replaced by the current version; the user's own stay as they are
        list.retain(|entry| !entry.to_string().contains(MARKER));
        let mut entry = serde_json::json!({ "hooks": [{ "type": "command", "command": hook_command(state) }] });
        if *event == "PreToolUse" {
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
        "idle" => AgentStatus::Idle { since },
        _ => return None,
    })
}

fn since_of(s: &AgentStatus) -> i64 {
    match s {
        AgentStatus::Working { since } | AgentStatus::Waiting { since } | AgentStatus::Idle { since } => *since,
        AgentStatus::Started { since } => *since,
        _ => 0,
    }
}

/// When the status files last changed: both are replaced by a rename, which changes their
/// directory's modification time, so one stat of the directory tells.
pub fn stamp(agent_dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::symlink_metadata(agent_dir.join("agentdock")).and_then(|m| m.modified()).ok()
}

/// A status file holds one short line: no more than this is read.
const STATUS_MAX: u64 = 256;

/// A status file, written by the container: read only if a regular file, never through a link,
/// never blocking, never more than [`STATUS_MAX`] bytes (see [`crate::untrusted`]). Blocking
/// still (it is disk I/O): the dashboard calls it off its loop's thread.
fn read_status_file(agent_dir: &Path, rel: &str) -> Option<String> {
    let bytes = crate::untrusted::read(agent_dir, rel, STATUS_MAX).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The agent's status from the files in `agent_dir`; None when neither file says anything.
pub fn read(agent_dir: &Path) -> Option<AgentStatus> {
    let hook = read_status_file(agent_dir, STATUS_FILE).and_then(|t| parse_status(t.trim()));
    let runner = read_status_file(agent_dir, AGENT_FILE).and_then(|t| {
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
}
