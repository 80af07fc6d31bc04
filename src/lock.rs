//! A per-project lock file, so two refreshes (two keys, or dashboard and CLI) never run at once.

use std::fs::File;

use anyhow::{Context, Result};

/// Held while a refresh runs; the lock goes when this is dropped (or the process dies).
pub struct ProjectLock {
    _file: File,
}

/// Takes the lock of `project_id` or says who has it. Refuses an id that is not a valid one
/// (see [`crate::domain::project::valid_id`]): it may come from a container label.
pub fn try_lock(project_id: &str) -> Result<ProjectLock> {
    if !crate::domain::project::valid_id(project_id) {
        anyhow::bail!(
            "refusing a lock file for '{}': not a project id agentdock makes",
            crate::domain::text::strip(project_id)
        );
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn an_id_that_is_no_slug_makes_no_lock_file() {
        // the check comes before any path is made, so no data dir is needed
        for bad in ["../../x", "a/b", ""] {
            let e = super::try_lock(bad).err().expect("refused");
            assert!(e.to_string().contains("not a project id"), "{e}");
        }
    }
}
