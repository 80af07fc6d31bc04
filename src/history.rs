//! Refresh history: one JSON line per refresh, appended to a file in the data dir.

use std::io::Write;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// Unix seconds when the refresh started.
    pub at: i64,
    pub project: String,
    pub container: String,
    /// Why: "manual", or the policy's reasons.
    pub reason: String,
    /// "ok", or "failed: <error>" (rolled back).
    pub result: String,
    pub old_id: Option<String>,
    pub new_id: Option<String>,
    pub seconds: f64,
}

pub fn append(rec: &RefreshRecord) -> std::io::Result<()> {
    let path = crate::paths::history_file();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let mut line = serde_json::to_vec(rec).map_err(std::io::Error::other)?;
    line.push(b'\n');
    f.write_all(&line)
}

/// The records, oldest first; unreadable lines are skipped.
pub fn read_all() -> Vec<RefreshRecord> {
    std::fs::read_to_string(crate::paths::history_file())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
