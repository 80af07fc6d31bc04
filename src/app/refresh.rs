//! Refreshes from the dashboard: the selected one, "refresh all" one at a time, and the opt-in
//! automatic refresh with its cooldown and tries.

use std::collections::{BTreeMap, VecDeque};

use super::message::Command;
use super::model::Model;
use crate::domain::project::Project;
use crate::history::RefreshRecord;

#[derive(Default)]
pub struct RefreshQueue {
    /// Projects queued for "refresh all", one at a time.
    pub queue: VecDeque<String>,
    pub history: Vec<RefreshRecord>,
    /// Automatic refresh tries per project: (tries, unix seconds of the last one).
    pub auto_tries: BTreeMap<String, (u32, i64)>,
}

/// Starts a refresh of `p` now (the caller has checked it is not busy).
pub fn start(m: &mut Model, p: Project, reason: String) -> Command {
    m.ops.insert(p.id.clone(), "refreshing".into());
    Command::Refresh { project: p, reason }
}

/// The refresh of the project the user picked: refused while it is busy.
pub fn manual(m: &mut Model, p: Project) -> Result<Command, String> {
    if let Some(what) = m.ops.get(&p.id) {
        return Err(format!("{} is busy: {what}", p.name));
    }
    let reasons = m.project_reasons(&p.id);
    let reason = if reasons.is_empty() { "manual".to_string() } else { format!("manual: {}", reasons.join(", ")) };
    Ok(start(m, p, reason))
}

impl RefreshQueue {
    /// Queues every project whose container needs a refresh; says how many.
    pub fn queue_all(&mut self, m: &mut Model) -> (String, Option<Command>) {
        let mut queued = 0;
        for p in &m.projects {
            let needs = !m.project_reasons(&p.id).is_empty();
            if needs && !m.ops.contains_key(&p.id) && !self.queue.contains(&p.id) {
                self.queue.push_back(p.id.clone());
                queued += 1;
            }
        }
        let message = if queued == 0 {
            "no container needs a refresh".into()
        } else {
            format!("refreshing {queued} container(s), one at a time")
        };
        (message, self.next(m))
    }

    /// Opt-in automatic refresh: a project whose container needs it is queued, at most
    /// `max_tries` times, `cooldown_minutes` apart; then it stops and says so (the error).
    /// A project whose container no longer needs a refresh starts again from zero tries.
    pub fn auto(&mut self, m: &mut Model) -> (Option<String>, Option<Command>) {
        let mut queue = Vec::new();
        let mut error = None;
        for p in &m.projects {
            let policy = &p.settings.refresh;
            if !policy.auto {
                continue;
            }
            let needs = !m.project_reasons(&p.id).is_empty();
            if !needs {
                self.auto_tries.remove(&p.id);
                continue;
            }
            if m.ops.contains_key(&p.id) || self.queue.contains(&p.id) {
                continue;
            }
            let (tries, last) = self.auto_tries.get(&p.id).copied().unwrap_or((0, 0));
            if tries >= policy.max_tries {
                if tries == policy.max_tries {
                    error = Some(format!("auto refresh of {} stopped after {tries} tries; r tries again", p.name));
                    self.auto_tries.insert(p.id.clone(), (tries + 1, last));
                }
                continue;
            }
            if tries > 0 && m.now - last < policy.cooldown_minutes as i64 * 60 {
                continue;
            }
            self.auto_tries.insert(p.id.clone(), (tries + 1, m.now));
            queue.push(p.id.clone());
        }
        if queue.is_empty() {
            return (error, None);
        }
        self.queue.extend(queue);
        (error, self.next(m))
    }

    /// An operation on `project` ended: the queue moves on.
    pub fn done(&mut self, m: &mut Model, project: &str) -> Option<Command> {
        if self.queue.front().map(String::as_str) == Some(project) {
            self.queue.pop_front();
        }
        self.next(m)
    }

    /// Starts the next queued refresh when none of the queue runs.
    fn next(&mut self, m: &mut Model) -> Option<Command> {
        if self.queue.iter().any(|id| m.ops.contains_key(id)) {
            return None;
        }
        while let Some(id) = self.queue.front().cloned() {
            let Some(p) = m.project(&id).cloned() else {
                self.queue.pop_front();
                continue;
            };
            let reasons = m.project_reasons(&id);
            return Some(start(m, p, reasons.join(", ")));
        }
        None
    }
}
