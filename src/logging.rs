//! Logging with `tracing` to a file in the data dir, never to the terminal the UI owns.
//! Nothing logged carries a secret: env values are never passed to a log call, and the
//! spec's `Secret` type prints a placeholder even under Debug.

use std::fs::OpenOptions;
use std::sync::Mutex;

/// Starts logging to `paths::log_file()`; level from `AGENTDOCK_LOG` (default `info`).
/// A log file that cannot be opened is no reason to fail: logging is then off.
pub fn init() {
    let path = crate::paths::log_file();
    if let Some(dir) = path.parent() {
        let _ = crate::paths::private_dir(dir);
    }
    let Ok(file) = OpenOptions::new().create(true).append(true).open(&path) else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AGENTDOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,bollard=warn,hyper=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
}
