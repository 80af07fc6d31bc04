//! The broker's state dir (`<data dir>/broker`, mounted in its container): its config and the
//! capabilities, written by agentdock; the usage and refusal records, appended by the broker.
//! The records are read back bounded and line by line (a bad line is skipped, never fatal).

use std::io::{BufRead, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::domain::broker::{self as b, BrokerConfig, Capability, Caps, RefusalLine, Refused, Spent, UsageLine, UsageReport};

/// Unix seconds now, with milliseconds.
pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| (d.as_millis() as f64) / 1000.0).unwrap_or(0.0)
}

/// `<data dir>/broker`.
pub fn state_dir() -> PathBuf {
    crate::paths::data_dir().join("broker")
}

/// The most of a capabilities file read.
const CAPS_MAX: u64 = 16 << 20;

pub fn read_config(dir: &Path) -> anyhow::Result<BrokerConfig> {
    let file = dir.join(b::CONFIG_FILE);
    let text = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

/// The capabilities, read again when their file changed (agentdock replaces it whole).
#[derive(Debug, Default)]
pub struct CapsCache {
    pub caps: Caps,
    stamp: Option<(u64, i64, i64, u64)>,
}

impl CapsCache {
    pub fn reload(&mut self, dir: &Path) {
        let file = dir.join(b::CAPS_FILE);
        let stamp = std::fs::metadata(&file).ok().map(|m| (m.ino(), m.mtime(), m.mtime_nsec(), m.len()));
        if stamp == self.stamp {
            return;
        }
        self.stamp = stamp;
        self.caps = match stamp {
            Some((.., len)) if len <= CAPS_MAX => read_caps(dir),
            _ => Caps::default(),
        };
    }
}

fn read_caps(dir: &Path) -> Caps {
    std::fs::read(dir.join(b::CAPS_FILE)).ok().and_then(|t| serde_json::from_slice(&t).ok()).unwrap_or_default()
}

/// The broker's records, appended one line at a time.
pub struct Records {
    usage: std::fs::File,
    refused: std::fs::File,
}

fn append(dir: &Path, name: &str) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().create(true).append(true).mode(0o640).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32).open(dir.join(name))
}

impl Records {
    pub fn open(dir: &Path) -> anyhow::Result<Records> {
        let open = |n: &str| append(dir, n).map_err(|e| anyhow::anyhow!("cannot open {}: {e}", dir.join(n).display()));
        Ok(Records { usage: open(b::USAGE_FILE)?, refused: open(b::REFUSED_FILE)? })
    }

    pub fn usage(&mut self, l: &UsageLine) {
        if let Ok(mut s) = serde_json::to_string(l) {
            s.push('\n');
            if let Err(e) = self.usage.write_all(s.as_bytes()) {
                tracing::error!("cannot record usage: {e}");
            }
        }
    }

    pub fn refused(&mut self, l: &RefusalLine) {
        if let Ok(mut s) = serde_json::to_string(l) {
            s.push('\n');
            if let Err(e) = self.refused.write_all(s.as_bytes()) {
                tracing::error!("cannot record a refusal: {e}");
            }
        }
    }
}

/// Each line of a record file that parses, read line by line (a line longer than 1 MiB, or
/// one that does not parse, is skipped).
fn lines_of<T: serde::de::DeserializeOwned>(file: &Path, from: u64) -> (Vec<T>, u64) {
    let Ok((f, len)) = crate::untrusted::open(file.parent().unwrap_or(Path::new(".")), &file.file_name().unwrap_or_default().to_string_lossy()) else {
        return (Vec::new(), from);
    };
    let mut r = std::io::BufReader::new(f);
    if from > len || std::io::Seek::seek(&mut r, std::io::SeekFrom::Start(from)).is_err() {
        return (Vec::new(), 0);
    }
    let mut out = Vec::new();
    let mut at = from;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.by_ref().take(1 << 20).read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                // a line still being written is read next time
                if buf.last() != Some(&b'\n') {
                    if n >= 1 << 20 {
                        // too long to be ours: skip to its end
                        let mut rest = Vec::new();
                        let m = r.read_until(b'\n', &mut rest).unwrap_or(0);
                        at += (n + m) as u64;
                        continue;
                    }
                    break;
                }
                at += n as u64;
                if let Ok(v) = serde_json::from_slice(&buf) {
                    out.push(v);
                }
            }
        }
    }
    (out, at)
}

/// The usage recorded from byte `from` on, and where it ends (read again from there).
pub fn usage_since_offset(dir: &Path, from: u64) -> (Vec<UsageLine>, u64) {
    lines_of(&dir.join(b::USAGE_FILE), from)
}

/// Every refusal recorded.
pub fn refusals(dir: &Path) -> Vec<RefusalLine> {
    lines_of(&dir.join(b::REFUSED_FILE), 0).0
}

/// What was spent so far (the broker starts from it).
pub fn spent_so_far(dir: &Path) -> Spent {
    let mut s = Spent::default();
    for l in usage_since_offset(dir, 0).0 {
        s.add(&l);
    }
    s
}

/// The recorded usage from unix time `since` on, summed.
pub fn report(dir: &Path, since: f64) -> UsageReport {
    let mut r = UsageReport::default();
    for l in usage_since_offset(dir, 0).0.into_iter().filter(|l| l.at >= since) {
        r.add(&l);
    }
    r
}

/// Why task `task` was stopped by a budget, if it was (the broker's message).
pub fn budget_stop(dir: &Path, task: &str) -> Option<String> {
    refusals(dir).into_iter().rev().find(|r| r.why == Refused::Budget && r.task.as_deref() == Some(task)).map(|r| r.message)
}

/// The uid:gid the broker runs as: agentdock's own, or, when agentdock is root, an unprivileged
/// one of its own (its files are given to it).
pub fn broker_user() -> (u32, u32) {
    let euid = rustix::process::geteuid();
    if euid.is_root() {
        (BROKER_UID, BROKER_UID)
    } else {
        (euid.as_raw(), rustix::process::getegid().as_raw())
    }
}

/// The broker's uid when agentdock runs as root.
pub const BROKER_UID: u32 = 65532;

/// The state dir made (0700, the broker's), its config written.
pub fn prepare(dir: &Path, config: &BrokerConfig) -> std::io::Result<()> {
    let (uid, gid) = broker_user();
    std::fs::create_dir_all(dir)?;
    let m = std::fs::symlink_metadata(dir)?;
    if !m.is_dir() {
        return Err(std::io::Error::other(format!("{} is not a directory", dir.display())));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    if m.uid() != uid {
        std::os::unix::fs::lchown(dir, Some(uid), Some(gid))?;
    }
    let text = serde_json::to_vec_pretty(config).map_err(std::io::Error::other)?;
    replace(dir, b::CONFIG_FILE, &text)?;
    // the records, made now so that they are the broker's
    for f in [b::USAGE_FILE, b::REFUSED_FILE] {
        let file = append(dir, f)?;
        if file.metadata()?.uid() != uid {
            std::os::unix::fs::lchown(dir.join(f), Some(uid), Some(gid))?;
        }
    }
    Ok(())
}

/// `name` in `dir` replaced whole (a temp file renamed), readable by the broker only.
fn replace(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let fd = crate::untrusted::open_dir(dir)?;
    let (uid, gid) = broker_user();
    let owner = rustix::process::geteuid().is_root().then_some((uid, gid));
    crate::untrusted::replace_at(std::os::fd::AsFd::as_fd(&fd), name, data, 0o600, owner)
}

/// Held while the capabilities file is changed (by any agentdock process).
fn caps_lock(dir: &Path) -> Option<std::fs::File> {
    let locks = crate::paths::lock_dir();
    std::fs::create_dir_all(&locks).ok()?;
    let _ = dir;
    let f = std::fs::File::options().create(true).truncate(false).write(true).open(locks.join("broker-caps.lock")).ok()?;
    f.lock().ok()?;
    Some(f)
}

fn edit_caps(dir: &Path, f: impl FnOnce(&mut Caps)) -> std::io::Result<()> {
    let _lock = caps_lock(dir);
    let mut caps = read_caps(dir);
    let before = caps.clone();
    f(&mut caps);
    if caps == before {
        return Ok(());
    }
    let text = serde_json::to_vec(&caps).map_err(std::io::Error::other)?;
    replace(dir, b::CAPS_FILE, &text)
}

/// Who a capability is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub container: String,
    pub project: String,
    pub task: Option<String>,
    pub subnet: Option<String>,
    pub task_budget_usd: f64,
    pub project_daily_budget_usd: f64,
}

/// A new capability for `h`: its token (given to the container, never kept here), its hash
/// recorded. One container name holds one capability: an older one of that name is revoked.
pub fn issue(dir: &Path, h: &Holder) -> std::io::Result<String> {
    let token = b::new_token().ok_or_else(|| std::io::Error::other("no randomness for a capability"))?;
    let cap = Capability {
        hash: b::token_hash(&token),
        container: h.container.clone(),
        project: h.project.clone(),
        task: h.task.clone(),
        subnet: h.subnet.clone(),
        task_budget_usd: h.task_budget_usd,
        project_daily_budget_usd: h.project_daily_budget_usd,
        issued_at: crate::domain::container::now_unix(),
    };
    edit_caps(dir, |c| {
        c.caps.retain(|x| x.container != h.container);
        c.caps.push(cap);
    })?;
    Ok(token)
}

/// The capability of `container` (a pool container handed a task) now names `task` and holds
/// it to `budget_usd`.
pub fn assign(dir: &Path, container: &str, task: &str, budget_usd: f64) -> std::io::Result<()> {
    if !dir.join(b::CAPS_FILE).exists() {
        return Ok(());
    }
    edit_caps(dir, |c| {
        for x in c.caps.iter_mut().filter(|x| x.container == container) {
            x.task = Some(task.to_string());
            x.task_budget_usd = budget_usd;
        }
    })
}

/// The capabilities of these containers revoked.
pub fn revoke(dir: &Path, containers: &[String]) -> std::io::Result<()> {
    if !dir.join(b::CAPS_FILE).exists() {
        return Ok(());
    }
    edit_caps(dir, |c| c.caps.retain(|x| !containers.contains(&x.container)))
}

/// The capabilities of containers the engine no longer has revoked (but those issued in the
/// last `grace` seconds: their container may be on its way).
pub fn sweep(dir: &Path, existing: &[String], grace: i64) -> std::io::Result<Vec<String>> {
    if !dir.join(b::CAPS_FILE).exists() {
        return Ok(Vec::new());
    }
    let now = crate::domain::container::now_unix();
    let mut gone = Vec::new();
    edit_caps(dir, |c| {
        c.caps.retain(|x| {
            let keep = existing.contains(&x.container) || now - x.issued_at < grace;
            if !keep {
                gone.push(x.container.clone());
            }
            keep
        })
    })?;
    Ok(gone)
}

/// The capabilities issued now.
pub fn issued(dir: &Path) -> Caps {
    read_caps(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_line_by_line_and_from_where_they_stopped() {
        let d = tempfile::tempdir().unwrap();
        let line = |at: f64| UsageLine {
            at,
            container: "c".into(),
            project: "p".into(),
            task: Some("7".into()),
            model: "m".into(),
            usage: Default::default(),
            cost_usd: 1.0,
            status: 200,
            complete: true,
        };
        let mut r = Records::open(d.path()).unwrap();
        r.usage(&line(1.0));
        r.usage(&line(2.0));
        let (v, at) = usage_since_offset(d.path(), 0);
        assert_eq!(v.len(), 2);
        // a half-written line waits; junk is skipped
        std::fs::OpenOptions::new().append(true).open(d.path().join(b::USAGE_FILE)).unwrap().write_all(b"junk\n{\"at\":3").unwrap();
        let (v2, at2) = usage_since_offset(d.path(), at);
        assert!(v2.is_empty());
        assert_eq!(at2, at + 5);
        assert_eq!(spent_so_far(d.path()).by_task["7"], 2.0);
        r.refused(&RefusalLine { at: 1.0, peer: "1.2.3.4".into(), why: Refused::Budget, container: None, project: None, task: Some("7".into()), message: "agentdock: budget of $1.00 for task 7 reached".into() });
        assert_eq!(budget_stop(d.path(), "7").as_deref(), Some("agentdock: budget of $1.00 for task 7 reached"));
        assert_eq!(budget_stop(d.path(), "8"), None);
    }
}
