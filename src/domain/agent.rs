//! What the agent in a container is doing, as the host learns it (hook files, pane activity).

/// What the agent in a container is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentStatus {
    /// Started, no hook heard yet.
    Started { since: i64 },
    Working { since: i64 },
    Waiting { since: i64 },
    Idle { since: i64 },
    /// The agent exited (the session then holds a shell).
    NotRunning { exit_code: Option<i64>, at: i64 },
    /// From the fallback (no hooks): when the agent's tmux pane last changed.
    Quiet { last_output: i64 },
}

impl AgentStatus {
    pub fn label(&self, now: i64) -> String {
        let ago = |t: i64| super::stats::human_age(now - t);
        match self {
            AgentStatus::Started { .. } => "started".into(),
            AgentStatus::Working { .. } => "working".into(),
            AgentStatus::Waiting { since } => format!("waiting {}", ago(*since)),
            AgentStatus::Idle { since } => format!("idle {}", ago(*since)),
            AgentStatus::NotRunning { exit_code: Some(c), .. } => format!("exited {c}"),
            AgentStatus::NotRunning { exit_code: None, .. } => "not running".into(),
            AgentStatus::Quiet { last_output } if now - last_output < 10 => "active".into(),
            AgentStatus::Quiet { last_output } => format!("output {} ago", ago(*last_output)),
        }
    }
}
