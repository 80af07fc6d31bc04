//! The engine's container events: each looked up once, a burst merged into one listing.

use super::Worker;
use crate::app::EngineEvent;
use crate::engine::{ContainerEvent, Engine};

/// Events taken at once from the stream.
pub(super) const MAX_BATCH: usize = 1024;
/// A further event within this gap joins the batch...
pub(super) const BURST_GAP: std::time::Duration = std::time::Duration::from_millis(15);
/// ...for at most this long after the first.
pub(super) const BURST_MAX: std::time::Duration = std::time::Duration::from_millis(100);
/// More containers than this in one batch: one listing of all instead of one per container.
const LIST_ALL_OVER: usize = 16;
/// Deaths and OOMs looked into per batch (each an inspect); a burst beyond is only listed.
const MAX_INSPECTS: usize = 64;

/// Actions that tell something beyond the container's new listing.
fn notable(action: &str) -> bool {
    matches!(action, "die" | "oom" | "start")
}

fn ignored(ev: &ContainerEvent) -> bool {
    ev.id.is_empty() || ev.action.starts_with("exec_") || ev.action == "top" || ev.action.starts_with("resize")
}

impl Worker {
    pub(super) async fn container_events(&mut self, engine: &Engine, batch: Vec<ContainerEvent>) {
        let batch: Vec<ContainerEvent> = batch.into_iter().filter(|e| !ignored(e)).collect();
        let mut ids: Vec<&str> = batch.iter().map(|e| e.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() > LIST_ALL_OVER {
            match engine.list(true).await {
                Ok(list) => {
                    self.containers = super::kept(&list);
                    self.send(EngineEvent::Containers(list)).await;
                }
                Err(e) => self.send(EngineEvent::Error(e.to_string())).await,
            }
            for ev in batch.iter().filter(|e| e.action == "die" || e.action == "oom").take(MAX_INSPECTS) {
                if let Some(name) = self.containers.get(&ev.id).filter(|c| c.managed).map(|c| c.name.clone()) {
                    self.notable_event(engine, &ev.id, &name, &ev.action).await;
                }
            }
            return;
        }
        for (i, ev) in batch.iter().enumerate() {
            // a plain change of a container that changes again later in the batch: the later
            // one lists it
            let again = batch[i + 1..].iter().any(|e| e.id == ev.id);
            if again && !notable(&ev.action) {
                continue;
            }
            self.container_event(engine, &ev.id, &ev.action).await;
        }
    }

    async fn container_event(&mut self, engine: &Engine, id: &str, action: &str) {
        match engine.list_one(id).await {
            Ok(Some(info)) => {
                let name = info.name.clone();
                if super::worth_keeping(&info) {
                    self.containers.insert(id.to_string(), info.clone());
                } else {
                    self.containers.remove(id);
                }
                self.send(EngineEvent::Container(info)).await;
                if notable(action) {
                    self.notable_event(engine, id, &name, action).await;
                }
            }
            Ok(None) => {
                self.containers.remove(id);
                self.send(EngineEvent::ContainerGone(id.to_string())).await;
            }
            Err(e) => self.send(EngineEvent::Error(e.to_string())).await,
        }
    }

    /// A container died, ran out of memory or started: its state, and the notice.
    async fn notable_event(&mut self, engine: &Engine, id: &str, name: &str, action: &str) {
        if action == "oom" {
            self.send(EngineEvent::Oom { id: id.to_string(), name: name.to_string() }).await;
        }
        if let Ok(Some(st)) = engine.inspect_state(id).await {
            if action == "die" {
                let name = st.name.clone();
                let (exit_code, oom_killed) = (st.exit_code, st.oom_killed);
                self.send(EngineEvent::Died { id: id.to_string(), name, exit_code, oom_killed }).await;
            }
            self.send(EngineEvent::State(st)).await;
        }
    }
}
