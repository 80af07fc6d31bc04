//! Agent status: the hook and runner files in each container's mounted agent dir, read on the
//! host when they change; the tmux pane's activity, sampled by exec, for agents without hooks.

use std::path::PathBuf;
use std::time::Duration;

use super::Worker;
use crate::app::AgentStatus;
use crate::domain::container::ContainerState;
use crate::engine::{Engine, ExecOptions};

/// The fallback samples an agent's tmux pane no more often than this.
const PANE_SAMPLE_MIN: Duration = Duration::from_secs(5);

type Stamp = Option<std::time::SystemTime>;

/// Each agent dir's stamp, and its status files read again where the stamp moved.
fn look_at_files(dirs: Vec<(String, PathBuf, Option<Stamp>)>) -> Vec<(String, Stamp, Option<Option<AgentStatus>>)> {
    dirs.into_iter()
        .map(|(id, dir, before)| {
            let stamp = crate::agent_status::stamp(&dir);
            let status = (before != Some(stamp)).then(|| crate::agent_status::read(&dir));
            (id, stamp, status)
        })
        .collect()
}

impl Worker {
    /// Where a container's status files are: its configured project's agent config dir, never
    /// a directory its labels name (any image can carry agentdock's labels).
    fn status_dir(&self, c: &crate::domain::container::ContainerInfo) -> Option<String> {
        // another machine's engine: its containers' files are not here
        if !self.ctx.engines[self.engine].is_local() {
            return None;
        }
        let id = c.project_id.as_deref()?;
        let path = c.project_path.as_deref()?;
        let p = self.ctx.projects.iter().find(|p| p.id == id && p.path.to_str() == Some(path))?;
        Some(crate::paths::agent_config_dir(&p.id).to_string_lossy().into_owned())
    }

    /// Reads each running managed container's agent status files (host files, no exec; read
    /// again only when they change) and sends what changed. An agent that never reports through
    /// hooks gets its tmux pane's last activity sampled instead, by exec, in a task of its own,
    /// at most every `ui.pane_sample_secs` (never under 5 s).
    pub(super) async fn agent_statuses(&mut self, engine: &Engine) {
        let session = self.ctx.config().session_name.clone();
        let every = Duration::from_secs(self.ctx.config().ui.pane_sample_secs).max(PANE_SAMPLE_MIN);
        let running: Vec<(String, Option<String>)> = self
            .containers
            .values()
            .filter(|c| c.managed && c.state == ContainerState::Running)
            .map(|c| (c.id.clone(), self.status_dir(c)))
            .collect();
        let alive = |id: &String| running.iter().any(|(r, _)| r == id);
        self.agents.retain(|id, _| alive(id));
        self.stamps.retain(|id, _| alive(id));
        self.file_status.retain(|id, _| alive(id));
        self.sampled.retain(|id, _| alive(id));
        // the files are the container's: looked at off the loop's thread, which serves the keys
        let dirs: Vec<_> = running
            .iter()
            .filter_map(|(id, dir)| Some((id.clone(), PathBuf::from(dir.as_ref()?), self.stamps.get(id).cloned())))
            .collect();
        if !dirs.is_empty() {
            let looked = tokio::task::spawn_blocking(move || look_at_files(dirs)).await.unwrap_or_default();
            for (id, stamp, status) in looked {
                self.stamps.insert(id.clone(), stamp);
                if let Some(status) = status {
                    self.file_status.insert(id, status);
                }
            }
        }
        // on another machine's engine there are no files to read: every agent is sampled
        if !engine.is_local() {
            for (id, _) in &running {
                self.sample_pane(engine, id, every, &session);
            }
        }
        for (id, _) in running.iter().filter(|(_, dir)| dir.is_some()) {
            let Some(Some(status)) = self.file_status.get(id).cloned() else { continue };
            if !matches!(status, AgentStatus::Started { .. }) {
                self.sampled.remove(id);
                self.agent_changed(id.clone(), status).await;
                continue;
            }
            // no hook has spoken: fall back to the pane's activity
            if !self.agents.contains_key(id) {
                self.agent_changed(id.clone(), status).await;
            }
            self.sample_pane(engine, id, every, &session);
        }
    }

    /// Samples an agent's tmux pane for its last activity, by exec in a task of its own, at
    /// most every `every`.
    fn sample_pane(&mut self, engine: &Engine, id: &str, every: Duration, session: &str) {
        if self.sampled.get(id).map(|t| t.elapsed() < every).unwrap_or(false) {
            return;
        }
        self.sampled.insert(id.to_string(), std::time::Instant::now());
        let (engine, tx, id) = (engine.clone(), self.samples_tx.clone(), id.to_string());
        let cmd = format!("tmux display-message -p -t {session} '#{{window_activity}}'");
        tokio::spawn(async move {
            if let Ok(out) = engine.exec_capture(&id, &cmd, &ExecOptions::quick()).await {
                if let Ok(at) = String::from_utf8_lossy(&out.stdout).trim().parse::<i64>() {
                    // the label ages with the clock: "active" now, "output 3m ago" later
                    let _ = tx.send((id, AgentStatus::Quiet { last_output: at }));
                }
            }
        });
    }
}
