//! Logging with `tracing` to a file in the data dir, never to the terminal the UI owns.
//! Nothing logged carries a secret: env values are never passed to a log call, and the
//! spec's `Secret` type prints a placeholder even under Debug.

use std::fs::OpenOptions;
use std::sync::Mutex;

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Starts logging to `paths::log_file()`; levels from `AGENTDOCK_LOG`: a level and
/// `target=level` pairs, comma-separated (`debug`, `info,agentdock::tasks=debug`; default
/// `info,bollard=warn,hyper=warn`). A log file that cannot be opened is no reason to fail:
/// logging is then off.
pub fn init() {
    let path = crate::paths::log_file();
    if let Some(dir) = path.parent() {
        let _ = crate::paths::private_dir(dir);
    }
    let Ok(file) = OpenOptions::new().create(true).append(true).open(&path) else {
        return;
    };
    // by target only (no span or field filters: no regex engine in the binary for a log level)
    let filter: Targets = std::env::var("AGENTDOCK_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(Level::INFO).with_target("bollard", Level::WARN).with_target("hyper", Level::WARN));
    let fmt = tracing_subscriber::fmt::layer().with_ansi(false).with_writer(Mutex::new(file));
    let _ = tracing_subscriber::registry().with(fmt.with_filter(filter)).try_init();
}
