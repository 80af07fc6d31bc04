//! The queue, on disk so it outlives any agentdock: every task is saved `queued` first, with its
//! place (`seq`, a counter beside the lock); whoever drains it (the `task run` that queued it,
//! the runner process, the dashboard) takes the queue lock, counts the tasks under way and marks
//! the next ones `starting` while holding each one's start lock for as long as it starts it.
//! A `starting` task whose start lock is free lost its starter (killed): the next drain looks
//! at its container and either takes it as started or puts it back in its place, so nothing
//! starts twice.
//!
//! The runner (`agentdock task runner`, one per data dir by its lock) drains the queue, collects
//! ended tasks, sends their callbacks, stops inactive ones and keeps the pool; any task command
//! and the dashboard start it when there is work and it is not there ([`ensure_runner`]).

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use super::store;

/// The queue lock, held while the queue is read and changed (never while a task starts).
pub struct Held {
    _file: File,
}

fn lock_file(name: &str) -> std::io::Result<File> {
    let dir = store::tasks_dir();
    crate::paths::private_dir(&dir)?;
    File::options().create(true).truncate(false).read(true).write(true).open(dir.join(name))
}

/// Waits for the queue lock (it is held for milliseconds at a time).
pub async fn lock() -> std::io::Result<Held> {
    let f = lock_file(".queue.lock")?;
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(Held { _file: f }),
            Err(std::fs::TryLockError::WouldBlock) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

impl Held {
    /// The next place in the queue.
    pub fn next_seq(&self) -> std::io::Result<u64> {
        let path = store::tasks_dir().join(".seq");
        let mut text = String::new();
        if let Ok(mut f) = File::open(&path) {
            let _ = f.read_to_string(&mut text);
        }
        let next = text.trim().parse::<u64>().unwrap_or(0) + 1;
        let tmp = store::tasks_dir().join(format!(".seq.{}.tmp", std::process::id()));
        File::create(&tmp)?.write_all(next.to_string().as_bytes())?;
        std::fs::rename(&tmp, &path)?;
        Ok(next)
    }
}

/// The lock a task's starter holds while it starts it: None when someone else holds it.
pub fn start_lock(id: &str) -> Option<File> {
    let dir = store::task_dir(id);
    let f = File::options().create(true).truncate(false).write(true).open(dir.join(".start.lock")).ok()?;
    f.try_lock().ok().map(|()| f)
}

fn runner_pid_file() -> PathBuf {
    store::tasks_dir().join(".runner.pid")
}

/// The runner's lock, when this process can take it (no runner is alive).
pub fn runner_lock() -> Option<File> {
    let f = lock_file(".runner.lock").ok()?;
    f.try_lock().ok()?;
    let _ = std::fs::write(runner_pid_file(), std::process::id().to_string());
    Some(f)
}

/// The live runner's pid, if one holds the lock.
pub fn runner_pid() -> Option<u32> {
    let f = lock_file(".runner.lock").ok()?;
    if f.try_lock().is_ok() {
        return None;
    }
    std::fs::read_to_string(runner_pid_file()).ok()?.trim().parse().ok()
}

/// Starts the runner (`agentdock task runner`, detached, in a process group of its own so a
/// Ctrl-C at the terminal does not reach it) unless one is alive. It inherits this process's
/// environment and config; it ends by itself when nothing is left to do.
pub fn ensure_runner(config: Option<&std::path::Path>) {
    if runner_pid().is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut c = std::process::Command::new(exe);
    if let Some(p) = config {
        c.arg("--config").arg(p);
    }
    c.args(["task", "runner"]).stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    match c.spawn() {
        // reaped by a thread of its own: it outlives this process as often as not
        Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
        Err(e) => tracing::warn!(error = %e, "cannot start the task runner"),
    }
}
