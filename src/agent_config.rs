//! The per-project agent config dir on the host, mounted as the container user's `~/.claude`.
//! First filled from the host's Claude config files, never from its conversation history.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Top-level entries of the host's `~/.claude` that are configuration (copied on first fill).
/// Everything else there (projects/, history.jsonl, todos/, shell snapshots…) is history.
const CONFIG_ENTRIES: &[&str] = &[
    ".credentials.json",
    "settings.json",
    "settings.local.json",
    "CLAUDE.md",
    "agents",
    "commands",
    "hooks",
    "skills",
    "output-styles",
];

/// Owner of what the container writes: its user is uid 1000.
const CONTAINER_UID: u32 = 1000;

/// Makes `dir` ready for a container: created, first filled from `host_home`'s Claude config,
/// and owned by the container user when agentdock runs as root. Existing files are never
/// overwritten, so what the agent wrote survives.
pub fn prepare(dir: &Path, host_home: &Path) -> Result<()> {
    let fresh = !dir.exists();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if fresh {
        let host_claude = host_home.join(".claude");
        for name in CONFIG_ENTRIES {
            let src = host_claude.join(name);
            if src.exists() {
                copy_tree(&src, &dir.join(name))?;
            }
        }
        copy_claude_json(&host_home.join(".claude.json"), &dir.join(".claude.json"))?;
    }
    std::fs::create_dir_all(dir.join("agentdock"))?;
    install_status_hooks(&dir.join("settings.json"))?;
    chown_for_container(dir)?;
    Ok(())
}

/// Adds the agent status hooks to the agent's settings (keeping the user's own).
fn install_status_hooks(settings: &Path) -> Result<()> {
    let mut value: serde_json::Value = match std::fs::read_to_string(settings) {
        Ok(t) => serde_json::from_str(&t).with_context(|| format!("{} is not valid JSON", settings.display()))?,
        Err(_) => serde_json::json!({}),
    };
    let before = value.clone();
    crate::agent_status::install_hooks(&mut value);
    if value != before {
        std::fs::write(settings, serde_json::to_vec_pretty(&value)?)?;
    }
    Ok(())
}

/// `~/.claude.json` holds the login and settings, and per-project history under "projects":
/// the copy leaves that key out.
fn copy_claude_json(src: &Path, dst: &Path) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(src) else {
        return Ok(());
    };
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(());
    };
    if let Some(obj) = value.as_object_mut() {
        obj.remove("projects");
    }
    std::fs::write(dst, serde_json::to_vec_pretty(&value)?)?;
    Ok(())
}

fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(src)?;
    if meta.is_dir() {
        std::fs::create_dir_all(dst)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_tree(&entry.path(), &dst.join(entry.file_name()))?;
        }
    } else if meta.is_file() && !dst.exists() {
        std::fs::copy(src, dst).with_context(|| format!("cannot copy {}", src.display()))?;
    }
    Ok(())
}

fn chown_for_container(dir: &Path) -> Result<()> {
    chown_tree(dir, CONTAINER_UID, CONTAINER_UID)
}

/// Gives `dir` and everything under it to `uid:gid` when agentdock runs as root (else does
/// nothing); symlinks are neither followed nor changed.
pub fn chown_tree(dir: &Path, uid: u32, gid: u32) -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let uid = rustix::process::Uid::from_raw(uid);
    let gid = rustix::process::Gid::from_raw(gid);
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        rustix::fs::chown(&p, Some(uid), Some(gid)).with_context(|| format!("cannot chown {}", p.display()))?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(&p)? {
                stack.push(entry?.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_config_but_not_history_and_keeps_existing() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join(".claude/projects/x")).unwrap();
        std::fs::create_dir_all(home.join(".claude/commands")).unwrap();
        std::fs::write(home.join(".claude/settings.json"), "{}").unwrap();
        std::fs::write(home.join(".claude/commands/a.md"), "cmd").unwrap();
        std::fs::write(home.join(".claude/history.jsonl"), "secret talk").unwrap();
        std::fs::write(home.join(".claude/projects/x/c.jsonl"), "secret talk").unwrap();
        std::fs::write(home.join(".claude.json"), r#"{"oauthAccount":{"a":1},"projects":{"/x":{}}}"#).unwrap();

        let dir = tmp.path().join("agents/p");
        prepare(&dir, &home).unwrap();
        assert!(dir.join("settings.json").is_file());
        assert!(dir.join("commands/a.md").is_file());
        assert!(!dir.join("history.jsonl").exists());
        assert!(!dir.join("projects").exists());
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(".claude.json")).unwrap()).unwrap();
        assert!(json.get("oauthAccount").is_some() && json.get("projects").is_none());

        // the status hooks are in the settings
        let settings: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("settings.json")).unwrap()).unwrap();
        assert!(settings["hooks"]["Stop"].is_array());
        // a second prepare keeps what the agent changed
        std::fs::write(dir.join("settings.json"), "{\"changed\":true}").unwrap();
        std::fs::write(dir.join("CLAUDE.md"), "mine").unwrap();
        prepare(&dir, &home).unwrap();
        let settings: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("settings.json")).unwrap()).unwrap();
        assert_eq!(settings["changed"], true);
        assert_eq!(std::fs::read_to_string(dir.join("CLAUDE.md")).unwrap(), "mine");
    }
}
