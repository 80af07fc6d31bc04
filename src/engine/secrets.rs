//! Secrets reach a container as files, never as environment variables: one directory per
//! container on a tmpfs (never the disk), mounted read-only at [`MOUNT`], each value a 0400
//! file of the container's user. `docker inspect`, the engine's stored container config and
//! commands exec'd into the container then hold no secret; the image's entrypoint exports them
//! to the processes it starts (the agent's session, a task's runner), and the git askpass
//! helper reads its token from the file.

use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::domain::spec::{uid_gid, ContainerSpec};

/// Where the secrets are in the container.
pub const MOUNT: &str = "/run/agentdock/secrets";

/// The directory of every container's secrets: `$XDG_RUNTIME_DIR/agentdock/secrets` (the
/// user's own tmpfs), else `/dev/shm/agentdock-<uid>/secrets`.
pub fn base() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|d| d.is_absolute() && d.is_dir()) {
        Some(d) => d.join("agentdock").join("secrets"),
        None => PathBuf::from(format!("/dev/shm/agentdock-{}", rustix::process::geteuid().as_raw())).join("secrets"),
    }
}

pub fn dir_for(container: &str) -> PathBuf {
    base().join(container)
}

/// The spec's variables that are secrets.
pub fn of(spec: &ContainerSpec) -> impl Iterator<Item = &crate::domain::spec::EnvVar> {
    spec.env.iter().filter(|e| !e.shown)
}

/// A directory of ours: made 0700 when missing; refused when it is a link, not a directory, or
/// someone else's (`/dev/shm` is shared: another user could have planted it).
fn own_dir(p: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(p) {
        Ok(()) => std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700))?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let m = std::fs::symlink_metadata(p)?;
    if !m.is_dir() || m.uid() != rustix::process::geteuid().as_raw() {
        return Err(std::io::Error::other(format!("{} is not a directory of this user; not putting secrets there", p.display())));
    }
    Ok(())
}

/// Writes the spec's secrets into its directory (replacing what was there), readable by the
/// container's user only. Nothing is written, and no directory made, when it has none.
pub fn write(spec: &ContainerSpec) -> std::io::Result<()> {
    let secrets: Vec<_> = of(spec).collect();
    if secrets.is_empty() {
        return Ok(());
    }
    let base = base();
    let parent = base.parent().expect("base has a parent");
    if let Some(grand) = parent.parent() {
        std::fs::create_dir_all(grand)?;
    }
    own_dir(parent)?;
    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))?;
    own_dir(&base)?;
    let dir = base.join(&spec.name);
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| !m.is_dir()) {
        std::fs::remove_file(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    // the container's user reads them; when agentdock is root they become that user's; when it
    // is not and that user is another, readable by all, behind the 0700 directories on the host
    let euid = rustix::process::geteuid();
    let user = uid_gid(&spec.user);
    let ids = user.filter(|_| euid.is_root());
    let mode = if ids.is_none() && user.is_some_and(|(uid, _)| uid != euid.as_raw()) { 0o444 } else { 0o400 };
    let fd = crate::untrusted::open_dir(&dir)?;
    let mut names = Vec::new();
    for s in &secrets {
        crate::untrusted::replace_at(fd.as_fd(), &s.name, s.value.expose().as_bytes(), mode, ids)?;
        names.push(s.name.clone());
    }
    // values no longer asked for go
    for e in std::fs::read_dir(&dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !names.contains(&name) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    if let Some((uid, gid)) = ids {
        std::os::unix::fs::lchown(&dir, Some(uid), Some(gid))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500))?;
    } else {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// Removes a container's secrets (a task that ended).
pub fn remove(container: &str) {
    let dir = dir_for(container);
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        let _ = std::fs::remove_dir_all(&dir);
    }
}


/// Where a queued task's secrets wait for its start: the values of the environment it was
/// queued from (so whoever starts it later passes the queuer's, not its own), on the same tmpfs.
fn stash_file(task_id: &str) -> PathBuf {
    base().with_file_name("queued").join(format!("{task_id}.json"))
}

/// Keeps `env` (names and values) for task `task_id` until it starts: 0600, in a 0700
/// directory of this user's on the tmpfs.
pub fn stash(task_id: &str, env: &std::collections::BTreeMap<String, String>) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let file = stash_file(task_id);
    let dir = file.parent().expect("a parent");
    if let Some(grand) = dir.parent() {
        std::fs::create_dir_all(grand)?;
        own_dir(grand)?;
    }
    own_dir(dir)?;
    let tmp = dir.join(format!(".{task_id}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(&serde_json::to_vec(env)?)?;
    std::fs::rename(&tmp, &file)
}

/// The environment task `task_id` was queued with (None: none kept, e.g. after a reboot).
pub fn stashed(task_id: &str) -> Option<std::collections::BTreeMap<String, String>> {
    let (f, _) = crate::untrusted::open(stash_file(task_id).parent()?, &format!("{task_id}.json")).ok()?;
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(f, 1 << 20), &mut text).ok()?;
    serde_json::from_slice(&text).ok()
}

pub fn unstash(task_id: &str) {
    let _ = std::fs::remove_file(stash_file(task_id));
}
