//! What agentdock knows of a container, in its own types (never bollard's).

use serde::Serialize;

/// Label keys agentdock puts on what it creates (reverse-DNS, per Docker's convention).
pub mod labels {
    pub const MANAGED: &str = "dev.agentdock.managed";
    pub const PROJECT: &str = "dev.agentdock.project";
    pub const PROJECT_NAME: &str = "dev.agentdock.project-name";
    pub const PROJECT_PATH: &str = "dev.agentdock.project-path";
    pub const ROLE: &str = "dev.agentdock.role";
    pub const SESSION: &str = "dev.agentdock.session";
    pub const AGENT_DIR: &str = "dev.agentdock.agent-dir";
    /// The task a one-shot container runs (its id).
    pub const TASK: &str = "dev.agentdock.task";
    /// A pre-warmed pool container: the image it was made from (by name), and its slot.
    pub const POOL: &str = "dev.agentdock.pool";
    pub const POOL_SLOT: &str = "dev.agentdock.pool-slot";
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Running,
    Restarting,
    Paused,
    Created,
    Removing,
    Exited,
    Dead,
    #[default]
    Unknown,
}

impl ContainerState {
    pub fn parse(s: &str) -> ContainerState {
        match s {
            "running" => ContainerState::Running,
            "restarting" => ContainerState::Restarting,
            "paused" => ContainerState::Paused,
            "created" => ContainerState::Created,
            "removing" => ContainerState::Removing,
            "exited" => ContainerState::Exited,
            "dead" => ContainerState::Dead,
            _ => ContainerState::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Running => "running",
            ContainerState::Restarting => "restarting",
            ContainerState::Paused => "paused",
            ContainerState::Created => "created",
            ContainerState::Removing => "removing",
            ContainerState::Exited => "exited",
            ContainerState::Dead => "dead",
            ContainerState::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// The container has no health check.
    #[default]
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn parse(s: &str) -> Health {
        match s {
            "starting" => Health::Starting,
            "healthy" => Health::Healthy,
            "unhealthy" => Health::Unhealthy,
            _ => Health::None,
        }
    }

    /// Health as the engine's list status text shows it: "Up 5 minutes (healthy)".
    pub fn from_status_text(status: &str) -> Health {
        if status.contains("(healthy)") {
            Health::Healthy
        } else if status.contains("(unhealthy)") {
            Health::Unhealthy
        } else if status.contains("(health: starting)") {
            Health::Starting
        } else {
            Health::None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::None => "-",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// One container as listed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: ContainerState,
    /// The engine's status text ("Up 3 hours (healthy)").
    pub status: String,
    pub health: Health,
    /// Unix seconds.
    pub created: i64,
    /// Project id from the label; None for containers agentdock does not manage.
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub project_path: Option<String>,
    /// The host's agent config dir mounted into it (managed containers).
    pub agent_dir: Option<String>,
    pub managed: bool,
}

impl ContainerInfo {
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }
}

/// Container name agentdock gives a project's main container.
pub fn container_name(project_id: &str) -> String {
    format!("agentdock-{project_id}")
}

/// Unix seconds of an RFC 3339 time as the engine writes it ("2026-11-22T22:11:44.86Z",
/// or with an offset). None for the zero time or anything unreadable.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if y <= 1 {
        return None;
    }
    // days from civil (Howard Hinnant's algorithm)
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let mut t = days * 86400 + h * 3600 + mi * 60 + se;
    // offset: the last "+hh:mm" / "-hh:mm" after the seconds
    let rest = &s[19..];
    if let Some(pos) = rest.rfind(['+', '-']) {
        let off = &rest[pos..];
        if off.len() == 6 {
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let oh: i64 = off[1..3].parse().ok()?;
            let om: i64 = off[4..6].parse().ok()?;
            t -= sign * (oh * 3600 + om * 60);
        }
    }
    Some(t)
}

/// Unix seconds now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-11-22T22:11:44.861993911Z"), Some(1_795_385_504));
        assert_eq!(parse_rfc3339("2026-11-22T23:11:44+01:00"), Some(1_795_385_504));
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("junk"), None);
    }

    #[test]
    fn health_from_status_text() {
        assert_eq!(Health::from_status_text("Up 2 minutes (healthy)"), Health::Healthy);
        assert_eq!(Health::from_status_text("Up 1 second (health: starting)"), Health::Starting);
        assert_eq!(Health::from_status_text("Exited (1) 3 seconds ago"), Health::None);
    }
}
