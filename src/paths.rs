//! Where agentdock keeps its files: config dir and data dir from `directories`, each
//! overridable by an environment variable (tests and packagers use these).

use std::path::{Path, PathBuf};

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "agentdock", "agentdock")
}

/// `$AGENTDOCK_CONFIG_DIR`, else the platform config dir (Linux: `~/.config/agentdock`).
pub fn config_dir() -> PathBuf {
    if let Ok(p) = std::env::var("AGENTDOCK_CONFIG_DIR") {
        return PathBuf::from(p);
    }
    project_dirs()
        .map(|d| d.config_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".agentdock"))
}

/// `$AGENTDOCK_DATA_DIR`, else the platform data dir (Linux: `~/.local/share/agentdock`).
pub fn data_dir() -> PathBuf {
    if let Ok(p) = std::env::var("AGENTDOCK_DATA_DIR") {
        return PathBuf::from(p);
    }
    project_dirs()
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".agentdock"))
}

/// The user's home directory (`$HOME`).
pub fn home_dir() -> PathBuf {
    directories::BaseDirs::new()
        .map(|d| d.home_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Per-project agent config dir on the host, mounted as the container user's `~/.claude`.
pub fn agent_config_dir(project_id: &str) -> PathBuf {
    data_dir().join("agents").join(project_id)
}

/// Log file of the dashboard and CLI.
pub fn log_file() -> PathBuf {
    data_dir().join("agentdock.log")
}

/// Lock files that keep two refreshes of one project apart, across processes.
pub fn lock_dir() -> PathBuf {
    data_dir().join("locks")
}

/// Refresh history, one JSON line per refresh.
pub fn history_file() -> PathBuf {
    data_dir().join("history.jsonl")
}

/// Makes `dir` (and missing parents) with only its owner let in (0700), as agentdock's own
/// dirs are; an existing one of this user's that lets others in is closed.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        other => other?,
    }
    let meta = std::fs::metadata(dir)?;
    if meta.is_dir() && meta.uid() == rustix::process::geteuid().as_raw() && meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
