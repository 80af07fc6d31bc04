//! Stats collection: cgroup files for a local engine (no cost to the engine), the engine's
//! stats API otherwise; disk use of the workspaces, cached.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::task::JoinHandle;

use super::Worker;
use crate::app::{EngineEvent, LiveStats};
use crate::domain::container::{ContainerInfo, ContainerState};
use crate::engine::cgroup::CgroupReader;
use crate::engine::{stats::host_disk_percent, Engine};

/// Whether a running container's stats are sampled: agentdock's (and its services', by their
/// role label), others' only while the dashboard lists them.
fn sampled(c: &ContainerInfo, unmanaged_shown: bool) -> bool {
    c.managed || c.role.is_some() || unmanaged_shown
}

impl Worker {
    /// Samples every running container the dashboard lists (others' only while they are
    /// listed): from its cgroup files when the engine is local (no cost to the engine), else
    /// through the engine's stats API; and the agent status files.
    pub(super) fn collect_stats(&mut self, engine: &Engine) -> JoinHandle<CgroupReader> {
        let running: Vec<ContainerInfo> =
            self.containers.values().filter(|c| c.state == ContainerState::Running && sampled(c, self.unmanaged_shown)).cloned().collect();
        let ids: Vec<String> = running.iter().map(|c| c.id.clone()).collect();
        // disk use of each workspace, read again every 30 s
        let local_engine = engine.is_local();
        let mut disks: HashMap<String, Option<f64>> = HashMap::new();
        for c in &running {
            let Some(p) = c.project_path.clone().filter(|_| local_engine) else { continue };
            let fresh = self.disks.get(&p).filter(|(_, at)| at.elapsed() < Duration::from_secs(30)).map(|(d, _)| *d);
            let d = fresh.unwrap_or_else(|| {
                let d = host_disk_percent(Path::new(&p));
                self.disks.insert(p.clone(), (d, std::time::Instant::now()));
                d
            });
            disks.insert(c.id.clone(), d);
        }
        let mut reader = std::mem::take(&mut self.cgroups);
        reader.retain(&ids);
        let engine = engine.clone();
        let events = self.events.clone();
        let local = engine.is_local();
        let parallel = engine.parallel();
        let detail = self.detail.clone();
        tokio::spawn(async move {
            // the detail view's container also gets its net (by its process) and block I/O
            let detail_pid = match &detail {
                Some(id) if local => engine.inspect_state(id).await.ok().flatten().and_then(|s| s.pid),
                _ => None,
            };
            let mut batch = Vec::with_capacity(running.len());
            let mut remote = Vec::new();
            for c in &running {
                let disk = disks.get(&c.id).copied().flatten();
                match local.then(|| reader.sample(&c.id)).flatten() {
                    Some(mut sample) => {
                        if detail.as_deref() == Some(c.id.as_str()) {
                            (sample.blk_read, sample.blk_write) = reader.block_io(&c.id).unwrap_or_default();
                            if let Some((rx, tx)) = detail_pid.and_then(crate::engine::stats::net_of_pid) {
                                (sample.net_rx, sample.net_tx) = (rx, tx);
                            }
                        }
                        batch.push((c.id.clone(), LiveStats { sample, disk_percent: disk }))
                    }
                    None => remote.push((c.id.clone(), disk)),
                }
            }
            let remote_stats = futures_util::stream::iter(remote.into_iter().map(|(id, disk)| {
                let engine = engine.clone();
                async move { engine.stats_sample(&id).await.ok().map(|sample| (id, LiveStats { sample, disk_percent: disk })) }
            }))
            .buffer_unordered(parallel)
            .filter_map(|x| async move { x })
            .collect::<Vec<_>>()
            .await;
            batch.extend(remote_stats);
            let _ = events.send(EngineEvent::Stats(batch)).await;
            reader
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn others_containers_are_sampled_only_while_listed() {
        let mine = ContainerInfo { managed: true, ..Default::default() };
        let proxy = ContainerInfo { role: Some("proxy".into()), ..Default::default() };
        let other = ContainerInfo::default();
        assert!(sampled(&mine, false) && sampled(&proxy, false));
        assert!(!sampled(&other, false));
        assert!(sampled(&other, true));
    }
}
