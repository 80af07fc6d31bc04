//! A per-project lock file, so two refreshes (two keys, or dashboard and CLI) never run at once.

use std::fs::File;

use anyhow::{Context, Result};

/// Held while a refresh runs; the lock goes when this is dropped (or the process dies).
pub struct ProjectLock {
    _file: File,
}

/// Takes the lock of `project_id` or says who has it.
pub fn try_lock(project_id: &str) -> Result<ProjectLock> {
    let dir = crate::paths::lock_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{project_id}.lock"));
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(ProjectLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => {
            anyhow::bail!("a refresh of {project_id} is already running; try again when it ends")
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).context("cannot lock"),
    }
}
