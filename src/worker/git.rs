//! The git state of the projects' workspaces, read on the blocking pool every
//! `ui.git_interval_secs` and when the app asks (an agent finished a turn), sent to the app
//! when it changed. Host files only: no engine, so it runs beside the engine worker(s).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::app::EngineEvent;
use crate::gitstate::GitRead;

pub struct GitWatch {
    /// Project ids to read again now.
    pub poke: mpsc::UnboundedSender<String>,
}

/// Starts the watch over `projects` (id, workspace); None when it is off.
pub fn spawn(projects: Vec<(String, PathBuf)>, every: Duration, events: super::Events) -> GitWatch {
    let (poke, mut asked) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let mut last: HashMap<String, GitRead> = HashMap::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let which: Vec<(String, PathBuf)> = tokio::select! {
                _ = tick.tick() => projects.clone(),
                id = asked.recv() => {
                    let Some(id) = id else { return };
                    // a burst of asks is one read
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let mut ids = vec![id];
                    while let Ok(more) = asked.try_recv() {
                        ids.push(more);
                    }
                    projects.iter().filter(|(p, _)| ids.contains(p)).cloned().collect()
                }
            };
            let reads = tokio::task::spawn_blocking(move || {
                which.into_iter().map(|(id, dir)| (id, crate::gitstate::read(&dir))).collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
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
