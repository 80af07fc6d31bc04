//! The refresh policy: when a container needs to be made anew (seed 002 "Auto-Refresh Criteria").

use serde::Serialize;

use super::container::Health;
use super::settings::RefreshPolicy;

/// One reason a container needs a refresh.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RefreshReason {
    TooOld { age_hours: f64, max_hours: f64 },
    DiskFull { percent: f64, max_percent: f64 },
    MemoryHigh { percent: f64, max_percent: f64 },
    Unhealthy,
}

impl std::fmt::Display for RefreshReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RefreshReason::TooOld { age_hours, max_hours } => {
                write!(f, "age {age_hours:.0}h > {max_hours:.0}h")
            }
            RefreshReason::DiskFull { percent, max_percent } => {
                write!(f, "disk {percent:.0}% > {max_percent:.0}%")
            }
            RefreshReason::MemoryHigh { percent, max_percent } => {
                write!(f, "mem {percent:.0}% > {max_percent:.0}%")
            }
            RefreshReason::Unhealthy => write!(f, "unhealthy"),
        }
    }
}

/// What the policy looks at; a value not known (no stats yet) is None and never a reason.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observed {
    pub age_secs: Option<i64>,
    pub disk_percent: Option<f64>,
    pub mem_percent: Option<f64>,
    pub health: Option<Health>,
}

pub fn refresh_reasons(policy: &RefreshPolicy, o: &Observed) -> Vec<RefreshReason> {
    let mut reasons = Vec::new();
    if let Some(age) = o.age_secs {
        let hours = age as f64 / 3600.0;
        if hours > policy.max_age_hours {
            reasons.push(RefreshReason::TooOld { age_hours: hours, max_hours: policy.max_age_hours });
        }
    }
    if let Some(d) = o.disk_percent {
        if d > policy.max_disk_percent {
            reasons.push(RefreshReason::DiskFull { percent: d, max_percent: policy.max_disk_percent });
        }
    }
    if let Some(m) = o.mem_percent {
        if m > policy.max_memory_percent {
            reasons.push(RefreshReason::MemoryHigh { percent: m, max_percent: policy.max_memory_percent });
        }
    }
    if policy.when_unhealthy && o.health == Some(Health::Unhealthy) {
        reasons.push(RefreshReason::Unhealthy);
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_container_needs_nothing() {
        let o = Observed {
            age_secs: Some(3600),
            disk_percent: Some(10.0),
            mem_percent: Some(5.0),
            health: Some(Health::Healthy),
        };
        assert!(refresh_reasons(&RefreshPolicy::default(), &o).is_empty());
    }

    #[test]
    fn each_threshold_is_a_reason() {
        let o = Observed {
            age_secs: Some(73 * 3600),
            disk_percent: Some(81.0),
            mem_percent: Some(90.5),
            health: Some(Health::Unhealthy),
        };
        let r = refresh_reasons(&RefreshPolicy::default(), &o);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].to_string(), "age 73h > 72h");
        assert_eq!(r[1].to_string(), "disk 81% > 80%");
        assert_eq!(r[3].to_string(), "unhealthy");
    }

    #[test]
    fn thresholds_are_configurable_and_exclusive() {
        let p = RefreshPolicy { max_disk_percent: 95.0, when_unhealthy: false, ..Default::default() };
        let o = Observed { disk_percent: Some(90.0), health: Some(Health::Unhealthy), ..Default::default() };
        assert!(refresh_reasons(&p, &o).is_empty());
        let at_limit = Observed { disk_percent: Some(95.0), ..Default::default() };
        assert!(refresh_reasons(&p, &at_limit).is_empty());
    }
}
