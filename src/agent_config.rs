//! The per-project agent config dir on the host, mounted read-write as the container user's
//! `~/.claude`. It is first filled from the host's Claude config files (never from its
//! conversation history) in a private dir of the host's, given to the container user and moved
//! into place whole. From then on everything in it is the container's: agentdock only keeps its
//! status hooks in `settings.json` and its `agentdock/` dir there, by descriptor and never
//! through a link (see [`crate::untrusted`]), and changes no owner in it again.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context, Result};

use crate::untrusted;

/// Top-level entries of the host's `~/.claude` that are configuration (copied on first fill).
/// Everything else there (projects/, history.jsonl, todos/, shell snapshots…) is history.
const CONFIG_ENTRIES: &[&str] = &[
    CREDENTIALS,
    SETTINGS,
    "settings.local.json",
    "CLAUDE.md",
    "agents",
    "commands",
    "hooks",
    "skills",
    "output-styles",
];

const CREDENTIALS: &str = ".credentials.json";
const SETTINGS: &str = "settings.json";
/// The CLI's own state file (onboarding, trusted dirs, approved keys), in the config dir as
/// `$CLAUDE_CONFIG_DIR/.claude.json`.
const CLAUDE_JSON: &str = ".claude.json";
/// A `.claude.json` larger than this is left as it is (the CLI keeps it small; a history of
/// every project is what the host's own holds).
const CLAUDE_JSON_MAX: u64 = 16 << 20;
/// A settings file larger than this is not read (nor kept).
const SETTINGS_MAX: u64 = 1 << 20;
/// The host's `~/.claude.json` (which holds every project's history) is read up to this.
const HOST_JSON_MAX: u64 = 256 << 20;

/// The image's user: the owner when `config.user` names one instead of giving a uid.
const CONTAINER_UID: u32 = 1000;

/// Makes `dir` ready for a container of `user` (`config.user`, "uid:gid"): first filled from
/// `host_home`'s Claude config when missing, then its status hooks in place. The dir is 0700,
/// what agentdock writes 0600, owned by the container user when agentdock runs as root. Files
/// already there are never overwritten; a `settings.json` that cannot be used (not valid JSON,
/// a link, a FIFO…) is set aside. Returns what the user should hear of (also logged).
pub fn prepare(dir: &Path, host_home: &Path, user: &str) -> Result<Vec<String>> {
    let owner = owner(user);
    if std::fs::symlink_metadata(dir).is_err() {
        first_fill(dir, host_home, owner)?;
    }
    let fd = untrusted::open_dir(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    // made before agentdock kept it private
    if rustix::fs::fstat(&fd)?.st_mode & 0o077 != 0 {
        if let Err(e) = rustix::fs::fchmod(&fd, rustix::fs::Mode::from_raw_mode(0o700)) {
            tracing::warn!(dir = %dir.display(), "cannot make the agent config private: {e}");
        }
    }
    status_dir(fd.as_fd(), owner);
    let warnings = install_status_hooks(fd.as_fd(), owner).with_context(|| format!("cannot install the status hooks in {}", dir.display()))?;
    let mut warnings = warnings;
    let key = std::env::var("ANTHROPIC_API_KEY").ok();
    warnings.extend(onboard(fd.as_fd(), owner, key.as_deref()).with_context(|| format!("cannot write {CLAUDE_JSON} in {}", dir.display()))?);
    for w in &warnings {
        tracing::warn!(dir = %dir.display(), "{w}");
    }
    Ok(warnings)
}

/// Makes the agent start into a usable session: onboarding done, the workspace trusted and
/// the API key agentdock passes approved (see [`crate::domain::onboarding`]), in the CLI's
/// `.claude.json`, keeping everything else in it. Written only when something changes. One
/// that cannot be used (a link, a FIFO, not JSON) is set aside; one over the size bound is
/// left alone (the CLI may ask its questions then).
fn onboard(dir: BorrowedFd, owner: Option<(u32, u32)>, api_key: Option<&str>) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let mut value = match untrusted::open_file_at(dir, CLAUDE_JSON) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Ok((_, len)) if len > CLAUDE_JSON_MAX => {
            return Ok(vec![format!("the agent's {CLAUDE_JSON} is over {CLAUDE_JSON_MAX} bytes: left as it is (the agent may show its first-run questions)")]);
        }
        opened => {
            let parsed = opened
                .and_then(|(f, _)| untrusted::read_at_most(f, CLAUDE_JSON_MAX))
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| format!("not valid JSON ({e})")))
                .and_then(|v| if v.is_object() { Ok(v) } else { Err("not a JSON object".into()) });
            match parsed {
                Ok(v) => v,
                Err(why) => {
                    let aside = untrusted::set_aside(dir, CLAUDE_JSON).with_context(|| format!("cannot set {CLAUDE_JSON} aside"))?;
                    warnings.push(format!("the agent's {CLAUDE_JSON} was {why}: set aside as {aside}, and a new one written"));
                    serde_json::json!({})
                }
            }
        }
    };
    if crate::domain::onboarding::apply(&mut value, api_key) || !warnings.is_empty() {
        untrusted::replace_at(dir, CLAUDE_JSON, &serde_json::to_vec_pretty(&value)?, 0o600, owner)?;
    }
    Ok(warnings)
}

/// uid and gid of `config.user` when agentdock runs as root (a name is the image's uid 1000);
/// None otherwise: nothing is given away.
fn owner(user: &str) -> Option<(u32, u32)> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    Some(crate::domain::spec::uid_gid(user).unwrap_or((CONTAINER_UID, CONTAINER_UID)))
}

/// Fills a new dir next to `dir` that no container sees, gives it to the container user and
/// renames it into place.
fn first_fill(dir: &Path, host_home: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        anyhow::bail!("{} is no place for an agent config", dir.display());
    };
    crate::paths::private_dir(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = parent.join(format!(".{}.new-{}", name.to_string_lossy(), std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp); // left by a run of ours that died
    std::fs::DirBuilder::new().mode(0o700).create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let filled = fill(&tmp, host_home)
        .and_then(|()| match owner {
            Some((uid, gid)) => untrusted::chown_tree(&tmp, uid, gid).with_context(|| format!("cannot chown {}", tmp.display())),
            None => Ok(()),
        })
        .and_then(|()| std::fs::rename(&tmp, dir).with_context(|| format!("cannot create {}", dir.display())));
    if filled.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
        // another agentdock filled it first
        if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir()) {
            return Ok(());
        }
    }
    filled
}

/// The host's config into `to`. With `CLAUDE_CODE_OAUTH_TOKEN` set (it goes to the container
/// in its environment) the host's refresh-token credentials are not copied: two copies of a
/// refresh token drift apart, and one of them stops working.
fn fill(to: &Path, host_home: &Path) -> Result<()> {
    fill_with(to, host_home, std::env::var_os("CLAUDE_CODE_OAUTH_TOKEN").is_some_and(|v| !v.is_empty()))
}

fn fill_with(to: &Path, host_home: &Path, token: bool) -> Result<()> {
    let host_claude = host_home.join(".claude");
    for name in CONFIG_ENTRIES.iter().filter(|n| !(token && **n == CREDENTIALS)) {
        copy_tree(&host_claude.join(name), &to.join(name))?;
    }
    copy_claude_json(&host_home.join(".claude.json"), &to.join(".claude.json"))?;
    std::fs::DirBuilder::new().mode(0o700).create(to.join("agentdock"))?;
    Ok(())
}

/// The `agentdock/` dir the hooks write to, made (and given to the container user) if missing;
/// whatever the container put there instead is its own business.
fn status_dir(dir: BorrowedFd, owner: Option<(u32, u32)>) {
    let made = rustix::fs::mkdirat(dir, "agentdock", rustix::fs::Mode::from_raw_mode(0o700));
    if let (Ok(()), Some((uid, gid))) = (made, owner) {
        let given = untrusted::open_subdir(dir, "agentdock").and_then(|d| {
            rustix::fs::fchown(&d, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid))).map_err(Into::into)
        });
        if let Err(e) = given {
            tracing::warn!("cannot give the agent's status dir to {uid}: {e}");
        }
    }
}

/// Adds the agent status hooks to the agent's settings (keeping the user's own). A settings file
/// that cannot be used is set aside (renamed, never followed) and a new one written.
fn install_status_hooks(dir: BorrowedFd, owner: Option<(u32, u32)>) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    let mut value = match usable_settings(dir) {
        Ok(v) => v,
        Err(why) => {
            let aside = untrusted::set_aside(dir, SETTINGS).with_context(|| format!("cannot set {SETTINGS} aside"))?;
            warnings.push(format!("the agent's {SETTINGS} was {why}: set aside as {aside}, and a new one written with agentdock's status hooks"));
            serde_json::json!({})
        }
    };
    let before = value.clone();
    crate::agent_status::install_hooks(&mut value);
    if value != before || !warnings.is_empty() {
        untrusted::replace_at(dir, SETTINGS, &serde_json::to_vec_pretty(&value)?, 0o600, owner)?;
    }
    Ok(warnings)
}

/// The agent's settings, or why they cannot be used.
fn usable_settings(dir: BorrowedFd) -> Result<serde_json::Value, String> {
    let f = match untrusted::open_file_at(dir, SETTINGS) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(serde_json::json!({})),
        Err(e) => return Err(e.to_string()),
        Ok((_, len)) if len > SETTINGS_MAX => return Err(format!("over {SETTINGS_MAX} bytes")),
        Ok((f, _)) => f,
    };
    let bytes = untrusted::read_at_most(f, SETTINGS_MAX).map_err(|e| format!("unreadable ({e})"))?;
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err("not a JSON object".into()),
        Err(e) => Err(format!("not valid JSON ({e})")),
    }
}

/// Opens a file of the host's config, not through a link at its last step (the home may be
/// another user's).
fn open_host_file(src: &Path) -> std::io::Result<std::fs::File> {
    let flags = (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32;
    let f = std::fs::OpenOptions::new().read(true).custom_flags(flags).open(src)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::ErrorKind::InvalidInput.into());
    }
    Ok(f)
}

/// `~/.claude.json` holds the login and settings, and per-project history under "projects":
/// the copy leaves that key out.
fn copy_claude_json(src: &Path, dst: &Path) -> Result<()> {
    let mut text = Vec::new();
    let Ok(_) = open_host_file(src).and_then(|f| f.take(HOST_JSON_MAX).read_to_end(&mut text)) else {
        return Ok(());
    };
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return Ok(());
    };
    if let Some(obj) = value.as_object_mut() {
        obj.remove("projects");
    }
    write_new(dst, &serde_json::to_vec_pretty(&value)?, 0o600)
}

fn write_new(dst: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(dst)?;
    f.write_all(data).with_context(|| format!("cannot write {}", dst.display()))
}

/// Copies a file or a tree of the host's config (links are not copied); files are 0600 (0700
/// when the owner could run them), dirs 0700.
fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(src) else { return Ok(()) };
    if meta.is_dir() {
        std::fs::DirBuilder::new().mode(0o700).create(dst)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_tree(&entry.path(), &dst.join(entry.file_name()))?;
        }
    } else if meta.is_file() {
        let copied = open_host_file(src).and_then(|mut f| {
            let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600 | (meta.mode() & 0o100)).open(dst)?;
            std::io::copy(&mut f, &mut out)
        });
        copied.with_context(|| format!("cannot copy {}", src.display()))?;
    }
    Ok(())
}

/// Gives `dir` and everything under it to `uid:gid` when agentdock runs as root (else does
/// nothing); links are neither followed nor changed (see [`untrusted::chown_tree`]).
pub fn chown_tree(dir: &Path, uid: u32, gid: u32) -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    untrusted::chown_tree(dir, uid, gid).with_context(|| format!("cannot chown {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(path: &Path) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o777
    }

    fn host_home(tmp: &Path) -> std::path::PathBuf {
        let home = tmp.join("home");
        std::fs::create_dir_all(home.join(".claude/projects/x")).unwrap();
        std::fs::create_dir_all(home.join(".claude/commands")).unwrap();
        std::fs::write(home.join(".claude/settings.json"), "{}").unwrap();
        std::fs::write(home.join(".claude/.credentials.json"), r#"{"claudeAiOauth":{}}"#).unwrap();
        std::fs::write(home.join(".claude/commands/a.md"), "cmd").unwrap();
        std::fs::write(home.join(".claude/history.jsonl"), "secret talk").unwrap();
        std::fs::write(home.join(".claude/projects/x/c.jsonl"), "secret talk").unwrap();
        std::fs::write(home.join(".claude.json"), r#"{"oauthAccount":{"a":1},"projects":{"/x":{}}}"#).unwrap();
        home
    }

    #[test]
    fn fills_config_but_not_history_and_keeps_existing() {
        let tmp = tempfile::tempdir().unwrap();
        let home = host_home(tmp.path());
        let dir = tmp.path().join("agents/p");
        assert!(prepare(&dir, &home, "1000:1000").unwrap().is_empty());
        assert!(dir.join("settings.json").is_file());
        assert!(dir.join("commands/a.md").is_file());
        assert!(!dir.join("history.jsonl").exists());
        assert!(!dir.join("projects").exists());
        let claude = json(&dir.join(".claude.json"));
        // the host's history of its projects stays out; the workspace is trusted
        assert!(claude.get("oauthAccount").is_some() && claude["projects"].as_object().unwrap().keys().collect::<Vec<_>>() == ["/workspace"]);
        assert_eq!(claude["hasCompletedOnboarding"], true);
        // private: dirs 0700, files 0600, nothing left of the fill
        for (p, m) in [("", 0o700), ("commands", 0o700), ("agentdock", 0o700), (".claude.json", 0o600), ("settings.json", 0o600), (".credentials.json", 0o600), ("commands/a.md", 0o600)] {
            assert_eq!(mode(&dir.join(p)), m, "{p}");
        }
        assert_eq!(mode(&tmp.path().join("agents")), 0o700);
        assert_eq!(std::fs::read_dir(tmp.path().join("agents")).unwrap().count(), 1);

        // the status hooks are in the settings
        assert!(json(&dir.join("settings.json"))["hooks"]["Stop"].is_array());
        // a second prepare keeps what the agent changed
        std::fs::write(dir.join("settings.json"), "{\"changed\":true}").unwrap();
        std::fs::write(dir.join("CLAUDE.md"), "mine").unwrap();
        prepare(&dir, &home, "1000:1000").unwrap();
        let settings = json(&dir.join("settings.json"));
        assert_eq!(settings["changed"], true);
        assert!(settings["hooks"]["Stop"].is_array());
        assert_eq!(std::fs::read_to_string(dir.join("CLAUDE.md")).unwrap(), "mine");
    }

    #[test]
    fn with_an_oauth_token_the_refresh_token_is_not_copied() {
        let tmp = tempfile::tempdir().unwrap();
        let home = host_home(tmp.path());
        let dir = tmp.path().join("p");
        std::fs::create_dir(&dir).unwrap();
        fill_with(&dir, &home, true).unwrap();
        assert!(!dir.join(".credentials.json").exists());
        assert!(dir.join("settings.json").is_file() && dir.join(".claude.json").is_file());
    }

    #[test]
    fn a_settings_file_that_is_a_link_a_fifo_or_not_json_is_set_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let home = host_home(tmp.path());
        let dir = tmp.path().join("agents/p");
        prepare(&dir, &home, "1000:1000").unwrap();
        let victim = tmp.path().join("victim.json");
        std::fs::write(&victim, r#"{"victim":true}"#).unwrap();
        let settings = dir.join("settings.json");
        let plant: [(&str, &dyn Fn()); 4] = [
            ("a symbolic link", &|| std::os::unix::fs::symlink(&victim, &settings).unwrap()),
            ("a FIFO", &|| rustix::fs::mknodat(rustix::fs::CWD, &settings, rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap()),
            ("not valid JSON", &|| std::fs::write(&settings, "{\"hooks\": ").unwrap()),
            ("not a JSON object", &|| std::fs::write(&settings, "[1]").unwrap()),
        ];
        for (why, plant) in plant {
            std::fs::remove_file(&settings).unwrap();
            plant();
            let warnings = prepare(&dir, &home, "1000:1000").unwrap();
            assert_eq!(warnings.len(), 1, "{why}: {warnings:?}");
            assert!(warnings[0].contains(why) && warnings[0].contains("set aside as settings.json.invalid-"), "{warnings:?}");
            let aside = warnings[0].split("set aside as ").nth(1).unwrap().split(',').next().unwrap();
            assert!(std::fs::symlink_metadata(dir.join(aside)).is_ok(), "{aside}");
            std::fs::remove_file(dir.join(aside)).unwrap();
            assert!(std::fs::symlink_metadata(&settings).unwrap().is_file());
            assert!(json(&settings)["hooks"]["Stop"].is_array());
            assert_eq!(std::fs::read_to_string(&victim).unwrap(), r#"{"victim":true}"#);
        }
        // and a good one is left alone
        assert!(prepare(&dir, &home, "1000:1000").unwrap().is_empty());
    }

    #[test]
    fn onboarding_is_written_once_and_a_planted_claude_json_is_set_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        std::fs::create_dir(&dir).unwrap();
        let fd = untrusted::open_dir(&dir).unwrap();
        let path = dir.join(CLAUDE_JSON);
        assert!(onboard(fd.as_fd(), None, Some("sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789")).unwrap().is_empty());
        let v = json(&path);
        assert_eq!(v["customApiKeyResponses"]["approved"][0], "qrstuvwxyz0123456789");
        assert_eq!(mode(&path), 0o600);
        // unchanged: not written again (the CLI may be writing it)
        let stamp = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        onboard(fd.as_fd(), None, Some("sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789")).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), stamp);
        // a link to a file of the host's is set aside, never written through
        let victim = tmp.path().join("victim.json");
        std::fs::write(&victim, "{}").unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let w = onboard(fd.as_fd(), None, None).unwrap();
        assert!(w.len() == 1 && w[0].contains("set aside"), "{w:?}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "{}");
        assert_eq!(json(&path)["hasCompletedOnboarding"], true);
        // a FIFO does not block
        std::fs::remove_file(&path).unwrap();
        rustix::fs::mknodat(rustix::fs::CWD, &path, rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap();
        assert_eq!(onboard(fd.as_fd(), None, None).unwrap().len(), 1);
        assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
    }
}
