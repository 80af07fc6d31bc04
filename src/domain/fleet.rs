//! Figures over many tasks: how they ended, how long they took, what they cost.

use serde::{Deserialize, Serialize};

use super::task::{TaskRecord, TaskState};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FleetSummary {
    pub tasks: usize,
    /// Queued, starting or running.
    pub under_way: usize,
    /// Of those, waiting in the queue.
    pub queued: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub cancelled: usize,
    pub output_capped: usize,
    pub budget_exceeded: usize,
    /// Seconds from start to end of the tasks that ended (None when none did).
    pub median_secs: Option<i64>,
    pub p95_secs: Option<i64>,
    pub tokens: u64,
    pub cost_usd: f64,
}

/// The cleanup's last run (`<data>/tasks/.sweep.json`), for the Tasks view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub at: i64,
    /// Running tasks looked at.
    pub checked: usize,
    /// The last run that did something, and what: tasks stopped for their silence, containers
    /// removed (ended task containers left behind, pool containers that no longer fit).
    pub acted_at: Option<i64>,
    pub stopped: Vec<String>,
    pub removed: Vec<String>,
}

/// The pool of one project and image: started containers ready for a task, and those whose
/// agent is still starting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolState {
    pub project: String,
    pub image: String,
    pub ready: usize,
    pub warming: usize,
}

/// What the Tasks view shows besides the tasks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetInfo {
    pub pool: Vec<PoolState>,
    pub sweep: Option<Sweep>,
    /// The runner (queue, cleanup, callbacks, pool) is alive.
    pub runner: bool,
}

/// The value at fraction `q` of sorted `v` (nearest rank).
fn quantile(v: &[i64], q: f64) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

/// The queued tasks in the order they start (FIFO: their place in the queue, then id).
pub fn queue(all: &[TaskRecord]) -> Vec<&TaskRecord> {
    let mut q: Vec<&TaskRecord> = all.iter().filter(|r| r.queued()).collect();
    q.sort_by(|a, b| (a.seq, &a.spec.id).cmp(&(b.seq, &b.spec.id)));
    q
}

/// A queued task's place (1 = next), None when it is not queued.
pub fn position(all: &[TaskRecord], id: &str) -> Option<usize> {
    queue(all).iter().position(|r| r.spec.id == id).map(|i| i + 1)
}

/// The queued tasks to start now, head first: as many as `max_parallel` leaves room for.
pub fn to_start(all: &[TaskRecord], max_parallel: usize) -> Vec<String> {
    let busy = all.iter().filter(|r| r.under_way()).count();
    queue(all).into_iter().take(max_parallel.max(1).saturating_sub(busy)).map(|r| r.spec.id.clone()).collect()
}

/// Whether a running task with its last output at `last_output` (unix seconds) has been quiet
/// longer than `limit_secs` at `now`. An output time in the future (the container set it) counts
/// as now: the task's own time limit still ends it.
pub fn inactive(last_output: i64, now: i64, limit_secs: i64) -> bool {
    limit_secs > 0 && now - last_output.min(now) > limit_secs
}

pub fn summarize(all: &[TaskRecord]) -> FleetSummary {
    let mut s = FleetSummary { tasks: all.len(), ..Default::default() };
    let mut durations = Vec::new();
    for r in all {
        match r.state {
            TaskState::Queued => {
                s.under_way += 1;
                s.queued += 1;
            }
            TaskState::Starting | TaskState::Running => s.under_way += 1,
            TaskState::Succeeded => s.succeeded += 1,
            TaskState::Failed => s.failed += 1,
            TaskState::TimedOut => s.timed_out += 1,
            TaskState::Cancelled => s.cancelled += 1,
            TaskState::OutputCapped => s.output_capped += 1,
            TaskState::BudgetExceeded => s.budget_exceeded += 1,
        }
        if r.state.is_final() {
            if let (Some(a), Some(b)) = (r.started_at, r.ended_at) {
                durations.push((b - a).max(0));
            }
        }
        s.tokens += r.summary.tokens();
        s.cost_usd += r.summary.cost_usd.unwrap_or(0.0);
    }
    durations.sort_unstable();
    s.median_secs = quantile(&durations, 0.5);
    s.p95_secs = quantile(&durations, 0.95);
    s
}

impl FleetSummary {
    /// One line: `12 tasks: 9 succeeded, 2 failed, 1 timed out · median 1m4s, p95 4m50s · 1.2M tokens, $3.41`.
    pub fn line(&self, age: impl Fn(i64) -> String) -> String {
        let mut ended = Vec::new();
        for (n, what) in [
            (self.succeeded, "succeeded"),
            (self.failed, "failed"),
            (self.timed_out, "timed out"),
            (self.cancelled, "cancelled"),
            (self.output_capped, "output capped"),
            (self.budget_exceeded, "budget exceeded"),
            (self.under_way - self.queued, "under way"),
            (self.queued, "queued"),
        ] {
            if n > 0 {
                ended.push(format!("{n} {what}"));
            }
        }
        let word = if self.tasks == 1 { "task" } else { "tasks" };
        let mut line = format!("{} {word}", self.tasks);
        if !ended.is_empty() {
            line.push_str(&format!(": {}", ended.join(", ")));
        }
        if let (Some(m), Some(p)) = (self.median_secs, self.p95_secs) {
            line.push_str(&format!(" · median {}, p95 {}", age(m), age(p)));
        }
        line.push_str(&format!(" · {} tokens, ${:.2}", self.tokens, self.cost_usd));
        line
    }
}

/// A task this many seconds old is starting.
const STARTING_SECS: i64 = 2;

/// Whether one of `open` is starting (from the pool, likely: its agent is starting): the pool's
/// fills wait for it, as a fill (a container, a clone, a CLI start) would take half of a small
/// machine from it.
pub fn a_task_is_starting(open: &[TaskRecord], now: i64) -> bool {
    open.iter().any(|r| r.started_at.is_some_and(|t| now - t < STARTING_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(state: TaskState, secs: i64, tokens: u64, cost: Option<f64>) -> TaskRecord {
        let id = "20261125-000000".to_string();
        TaskRecord {
            spec: crate::domain::task::TaskSpec {
                id: id.clone(),
                project_id: "p".into(),
                project_name: "p".into(),
                repo_dir: "/p".into(),
                repo_url: None,
                base_ref: "HEAD".into(),
                base_commit: "0".into(),
                branch: format!("agentdock/task-{id}"),
                timeout_secs: 300,
                max_output: 1024,
                model: None,
                permission_mode: "bypassPermissions".into(),
                image: "i".into(),
                container: format!("agentdock-task-{id}"),
                created_at: 0,
                ..Default::default()
            },
            state,
            reason: None,
            started_at: Some(100),
            ended_at: state.is_final().then_some(100 + secs),
            collected: state.is_final(),
            diffstat: None,
            head: None,
            summary: crate::domain::task::Summary { output_tokens: tokens, cost_usd: cost, ..Default::default() },
            ..Default::default()
        }
    }

    fn queued(id: &str, seq: u64) -> TaskRecord {
        let mut r = rec(TaskState::Queued, 0, 0, None);
        r.spec.id = id.into();
        r.seq = seq;
        r.started_at = None;
        r
    }

    #[test]
    fn the_queue_starts_in_order_up_to_the_limit() {
        let mut running = rec(TaskState::Running, 0, 0, None);
        running.collected = false;
        let ended = rec(TaskState::Succeeded, 5, 0, None);
        let all = vec![queued("c", 3), running, queued("a", 1), ended, queued("b", 2)];
        assert_eq!(to_start(&all, 3), ["a", "b"]);
        assert_eq!(to_start(&all, 1), Vec::<String>::new());
        assert_eq!(to_start(&all, 10), ["a", "b", "c"]);
        assert_eq!(position(&all, "c"), Some(3));
        assert_eq!(position(&all, "zz"), None);
        let s = summarize(&all);
        assert_eq!((s.under_way, s.queued), (4, 3));
        assert!(s.line(|x| format!("{x}s")).contains("1 under way, 3 queued"), "{}", s.line(|x| format!("{x}s")));
    }

    #[test]
    fn quiet_too_long_is_inactive_and_a_future_time_is_now() {
        assert!(inactive(0, 1801, 1800));
        assert!(!inactive(1, 1801, 1800));
        assert!(!inactive(10_000, 5_000, 1800), "a time in the future is no reason");
        assert!(!inactive(0, 100_000, 0), "0 turns it off");
    }

    #[test]
    fn a_fleet_is_summed_up_with_its_durations() {
        let all = vec![
            rec(TaskState::Succeeded, 60, 100, Some(0.5)),
            rec(TaskState::Succeeded, 120, 100, Some(0.25)),
            rec(TaskState::Failed, 10, 50, None),
            rec(TaskState::TimedOut, 300, 10, Some(1.0)),
            rec(TaskState::Running, 0, 5, None),
        ];
        let s = summarize(&all);
        assert_eq!((s.tasks, s.succeeded, s.failed, s.timed_out, s.under_way), (5, 2, 1, 1, 1));
        assert_eq!(s.median_secs, Some(60));
        assert_eq!(s.p95_secs, Some(300));
        assert_eq!(s.tokens, 265);
        assert!((s.cost_usd - 1.75).abs() < 1e-9);
        let line = s.line(|x| format!("{x}s"));
        assert_eq!(line, "5 tasks: 2 succeeded, 1 failed, 1 timed out, 1 under way · median 60s, p95 300s · 265 tokens, $1.75");
        assert_eq!(summarize(&[]).line(|x| format!("{x}s")), "0 tasks · 0 tokens, $0.00");
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<i64> = (1..=20).collect();
        assert_eq!(quantile(&v, 0.5), Some(10));
        assert_eq!(quantile(&v, 0.95), Some(19));
        assert_eq!(quantile(&[7], 0.95), Some(7));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn a_task_started_in_the_last_two_seconds_is_starting_a_queued_one_is_not() {
        let running = rec(TaskState::Running, 0, 0, None); // started at 100
        assert!(a_task_is_starting(std::slice::from_ref(&running), 101));
        assert!(!a_task_is_starting(std::slice::from_ref(&running), 102));
        assert!(!a_task_is_starting(&[queued("a", 1)], 100));
        assert!(!a_task_is_starting(&[], 100));
    }
}
