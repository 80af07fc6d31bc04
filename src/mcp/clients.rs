//! Which MCP clients are connected, for the dashboard: each serving `agentdock mcp` keeps one
//! small file in `<data>/mcp/clients/` (its pid, the client's name, the transport, since when),
//! removed when it ends; a file whose process is gone is stale and removed by the next reader.

use std::path::PathBuf;

pub use crate::domain::task::McpClient as Connected;

fn dir() -> PathBuf {
    crate::paths::data_dir().join("mcp").join("clients")
}

/// This process's entry; removed when dropped.
#[derive(Debug)]
pub struct Registration {
    path: PathBuf,
}

impl Registration {
    /// Writes the entry (None when the data dir cannot take it: the dashboard then does not
    /// show this client, nothing else changes).
    pub fn new(client: &str, transport: &str) -> Option<Registration> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let d = dir();
        std::fs::create_dir_all(&d).ok()?;
        let pid = std::process::id();
        let path = d.join(format!("{pid}-{}.json", N.fetch_add(1, Ordering::Relaxed)));
        let entry = Connected { pid, client: client.to_string(), transport: transport.to_string(), since: crate::domain::container::now_unix() };
        std::fs::write(&path, serde_json::to_vec(&entry).ok()?).ok()?;
        Some(Registration { path })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The clients connected now, oldest first.
pub fn connected() -> Vec<Connected> {
    let Ok(entries) = std::fs::read_dir(dir()) else { return Vec::new() };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let Some(c) = crate::untrusted::read(&dir(), &e.file_name().to_string_lossy(), 4096)
            .ok()
            .and_then(|b| serde_json::from_slice::<Connected>(&b).ok())
        else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{}", c.pid)).exists() {
            out.push(Connected { client: crate::domain::text::strip(&c.client), ..c });
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
    out.sort_by_key(|c| c.since);
    out
}
