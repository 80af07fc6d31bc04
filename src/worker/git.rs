//! The git state of the projects' workspaces, read on the blocking pool every
//! `ui.git_interval_secs` when something says the workspace may have changed, and when the app
//! asks (an agent finished a turn); sent to the app when it changed. Host files only: no
//! engine, so it runs beside the engine worker(s).
//!
//! Running git costs a few milliseconds of CPU a process, so a tick first looks at a few stamps
//! (one `lstat` each, no link followed): the workspace's top dir, its `.git` (a commit, an add
//! or a checkout takes a lock there), the index, the branch refs, `FETCH_HEAD`, and the agent's
//! status dir (its hooks write there at each tool call). When none moved, git runs only every
//! [`FULL_EVERY`] ticks (staggered over the projects), which catches an edit deep in the tree
//! that nothing else told of.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::app::EngineEvent;
use crate::gitstate::GitRead;

/// With no stamp moved, a workspace is read again every this many ticks.
pub const FULL_EVERY: u32 = 6;

pub struct GitWatch {
    /// Project ids to read again now.
    pub poke: mpsc::UnboundedSender<String>,
}

/// A project to watch: its id, its workspace and its agent's config dir (on the host).
#[derive(Debug, Clone)]
pub struct Watched {
    pub id: String,
    pub workspace: PathBuf,
    pub agent_dir: PathBuf,
}

type Stamp = Option<(u64, i64, u64)>;

/// The stamps a tick looks at before running git (see the module's text).
fn stamps(w: &Watched) -> Vec<Stamp> {
    let look = |p: PathBuf| std::fs::symlink_metadata(p).ok().map(|m| (m.ino(), m.mtime() * 1_000_000_000 + m.mtime_nsec(), m.size()));
    let g = w.workspace.join(".git");
    let mut v = vec![look(w.workspace.clone()), look(g.clone()), look(w.agent_dir.join("agentdock"))];
    for sub in ["index", "HEAD", "FETCH_HEAD", "refs/heads", "refs/remotes"] {
        v.push(look(g.join(sub)));
    }
    v
}

/// What the watch knows of a project between ticks.
#[derive(Default)]
struct Seen {
    stamps: Option<Vec<Stamp>>,
    /// Ticks since git last ran for it.
    idle: u32,
}

/// Whether a tick reads the project: its stamps moved, or it went [`FULL_EVERY`] ticks
/// without a read; `idle` counts the ticks.
fn due(seen: &mut Seen, now: Vec<Stamp>) -> bool {
    seen.idle += 1;
    let first = seen.stamps.is_none();
    let moved = seen.stamps.as_ref() != Some(&now);
    seen.stamps = Some(now);
    if seen.idle >= FULL_EVERY || (moved && !first) {
        seen.idle = 0;
        return true;
    }
    // the first read keeps the project's place in the stagger
    first
}

/// Starts the watch over `projects`; None when it is off.
pub fn spawn(projects: Vec<Watched>, every: Duration, events: super::Events) -> GitWatch {
    let (poke, mut asked) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut last: HashMap<String, GitRead> = HashMap::new();
        // staggered: the fallback reads of many idle projects fall on different ticks
        let mut seen: HashMap<String, Seen> =
            projects.iter().enumerate().map(|(i, p)| (p.id.clone(), Seen { stamps: None, idle: i as u32 % FULL_EVERY })).collect();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let (which, check): (Vec<Watched>, bool) = tokio::select! {
                _ = tick.tick() => (projects.clone(), true),
                id = asked.recv() => {
                    let Some(id) = id else { return };
                    // a burst of asks is one read
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let mut ids = vec![id];
                    while let Ok(more) = asked.try_recv() {
                        ids.push(more);
                    }
                    (projects.iter().filter(|p| ids.contains(&p.id)).cloned().collect(), false)
                }
            };
            let mut seen_now = std::mem::take(&mut seen);
            let done = tokio::task::spawn_blocking(move || {
                let mut reads = Vec::new();
                for p in which {
                    let s = seen_now.entry(p.id.clone()).or_default();
                    let now = stamps(&p);
                    if !check {
                        // an asked read: the stamps as they are now, the count from here
                        s.stamps = Some(now);
                        s.idle = 0;
                    } else if !due(s, now) {
                        continue;
                    }
                    reads.push((p.id.clone(), crate::gitstate::read(&p.workspace)));
                }
                (reads, seen_now)
            })
            .await;
            // a read that failed (a panic on the pool) is no read: the next tick starts over
            let Ok((reads, seen_now)) = done else { continue };
            seen = seen_now;
            let changed: Vec<(String, GitRead)> = reads.into_iter().filter(|(id, r)| last.get(id) != Some(r)).collect();
            if changed.is_empty() {
                continue;
            }
            for (id, r) in &changed {
                last.insert(id.clone(), r.clone());
            }
            if events.send(EngineEvent::Git(changed)).await.is_err() {
                return;
            }
        }
    });
    GitWatch { poke }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sh(dir: &Path, line: &str) {
        let ok = std::process::Command::new("sh").arg("-c").arg(line).current_dir(dir).status().unwrap().success();
        assert!(ok, "{line}");
    }

    /// Git runs again when a commit, a new file at the top or an agent's hook moved a stamp,
    /// else only every FULL_EVERY ticks.
    #[test]
    fn a_tick_reads_a_workspace_when_a_stamp_moved_or_after_full_every() {
        let ws = tempfile::tempdir().unwrap();
        let agent = tempfile::tempdir().unwrap();
        std::fs::create_dir(agent.path().join("agentdock")).unwrap();
        sh(ws.path(), "git init -q -b main && mkdir -p sub && echo a > sub/a && git add -A && git -c user.name=t -c user.email=t@t commit -q -m one");
        let w = Watched { id: "p".into(), workspace: ws.path().to_path_buf(), agent_dir: agent.path().to_path_buf() };
        let mut s = Seen::default();
        assert!(due(&mut s, stamps(&w)), "the first tick reads");
        s.idle = 0;
        // an edit deep in the tree moves no stamp: read at the FULL_EVERY-th tick
        std::fs::write(ws.path().join("sub/a"), "changed\n").unwrap();
        let quiet: Vec<bool> = (0..FULL_EVERY).map(|_| due(&mut s, stamps(&w))).collect();
        assert_eq!(quiet.iter().filter(|d| **d).count(), 1, "{quiet:?}");
        assert!(*quiet.last().unwrap(), "{quiet:?}");
        let mut moved = |what: &dyn Fn()| {
            std::thread::sleep(Duration::from_millis(20));
            what();
            due(&mut s, stamps(&w))
        };
        assert!(moved(&|| std::fs::write(ws.path().join("new.txt"), "x").unwrap()), "a new file at the top");
        assert!(moved(&|| sh(ws.path(), "git add -A && git -c user.name=t -c user.email=t@t commit -q -m two")), "a commit");
        assert!(moved(&|| std::fs::write(agent.path().join("agentdock/status"), "working 1\n").unwrap()), "a hook wrote");
        assert!(!moved(&|| ()), "nothing moved");
    }

    /// Many idle projects do not all run git on the same tick.
    #[test]
    fn the_fallback_reads_of_idle_projects_are_staggered() {
        let ws = tempfile::tempdir().unwrap();
        let w = Watched { id: "p".into(), workspace: ws.path().to_path_buf(), agent_dir: ws.path().join("agent") };
        let mut seen: Vec<Seen> = (0..12).map(|i| Seen { stamps: None, idle: i % FULL_EVERY }).collect();
        assert!(seen.iter_mut().all(|s| due(s, stamps(&w))), "all are read at first");
        for _ in 0..3 * FULL_EVERY {
            let reads = seen.iter_mut().map(|s| due(s, stamps(&w))).filter(|d| *d).count();
            assert_eq!(reads, 12 / FULL_EVERY as usize);
        }
    }
}
