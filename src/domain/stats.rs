//! Stats maths: the numbers the engine reports turned into what a person reads, by the same
//! formulas as the Docker CLI (`docker stats`).

use serde::Serialize;

/// The raw counters of one stats sample, as the engine reports them (engine-neutral).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawStats {
    pub cpu_total: u64,
    pub cpu_system: u64,
    pub precpu_total: u64,
    pub precpu_system: u64,
    /// `online_cpus`, or 0 when the engine did not say.
    pub online_cpus: u32,
    /// Length of `percpu_usage`, the fallback for `online_cpus` (cgroup v1).
    pub percpu_len: usize,
    pub mem_usage: u64,
    pub mem_limit: u64,
    /// cgroup v1 `total_inactive_file`.
    pub mem_total_inactive_file: Option<u64>,
    /// cgroup v2 `inactive_file`.
    pub mem_inactive_file: Option<u64>,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub pids: u64,
}

/// One sample as shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StatsSample {
    pub cpu_percent: f64,
    pub mem_used: u64,
    pub mem_limit: u64,
    pub mem_percent: f64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub pids: u64,
}

/// CPU % as the Docker CLI computes it: the container's share of the host's CPU time between
/// two samples, times the number of CPUs (so 2 busy cores read 200 %).
pub fn cpu_percent(r: &RawStats) -> f64 {
    let cpu_delta = r.cpu_total.saturating_sub(r.precpu_total) as f64;
    let system_delta = r.cpu_system.saturating_sub(r.precpu_system) as f64;
    // A first sample has no previous one: the engine sends zeros there.
    if r.precpu_system == 0 || system_delta <= 0.0 || cpu_delta <= 0.0 {
        return 0.0;
    }
    let cpus = if r.online_cpus > 0 { r.online_cpus as f64 } else { r.percpu_len.max(1) as f64 };
    cpu_delta / system_delta * cpus * 100.0
}

/// Memory in use without the page cache (the Docker CLI subtracts inactive file pages).
pub fn mem_used(r: &RawStats) -> u64 {
    let cache = r.mem_total_inactive_file.or(r.mem_inactive_file).unwrap_or(0);
    if cache < r.mem_usage {
        r.mem_usage - cache
    } else {
        r.mem_usage
    }
}

pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64 * 100.0
    }
}

pub fn sample(r: &RawStats) -> StatsSample {
    let used = mem_used(r);
    StatsSample {
        cpu_percent: cpu_percent(r),
        mem_used: used,
        mem_limit: r.mem_limit,
        mem_percent: percent(used, r.mem_limit),
        net_rx: r.net_rx,
        net_tx: r.net_tx,
        blk_read: r.blk_read,
        blk_write: r.blk_write,
        pids: r.pids,
    }
}

/// Disk use % as `df` shows it: used / (used + available to unprivileged users), rounded up.
pub fn disk_percent(total_blocks: u64, free_blocks: u64, avail_blocks: u64) -> f64 {
    let used = total_blocks.saturating_sub(free_blocks);
    let denom = used + avail_blocks;
    if denom == 0 {
        0.0
    } else {
        (used as f64 * 100.0 / denom as f64).ceil()
    }
}

/// Parses the use % column of `df -P` output ("... 42% /workspace").
pub fn parse_df_percent(out: &str) -> Option<f64> {
    out.lines()
        .nth(1)?
        .split_whitespace()
        .nth(4)?
        .trim_end_matches('%')
        .parse()
        .ok()
}

/// 1536 -> "1.5KiB".
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b}B")
    } else if v >= 100.0 {
        format!("{v:.0}{}", UNITS[u])
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

/// 90061 -> "1d1h".
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86400 {
        format!("{}h{}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d{}h", s / 86400, (s % 86400) / 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawStats {
        RawStats {
            cpu_total: 400_000_000,
            precpu_total: 200_000_000,
            cpu_system: 2_000_000_000,
            precpu_system: 1_000_000_000,
            online_cpus: 2,
            mem_usage: 600,
            mem_limit: 1000,
            mem_total_inactive_file: Some(100),
            ..Default::default()
        }
    }

    #[test]
    fn cpu_by_docker_formula() {
        // 0.2e9 of 1e9 system ns on 2 CPUs: 20 % * 2
        assert!((cpu_percent(&raw()) - 40.0).abs() < 1e-9);
    }

    #[test]
    fn cpu_falls_back_to_percpu_len() {
        let r = RawStats { online_cpus: 0, percpu_len: 4, ..raw() };
        assert!((cpu_percent(&r) - 80.0).abs() < 1e-9);
    }

    #[test]
    fn first_sample_reads_zero() {
        let r = RawStats { precpu_system: 0, precpu_total: 0, ..raw() };
        assert_eq!(cpu_percent(&r), 0.0);
    }

    #[test]
    fn memory_without_page_cache() {
        assert_eq!(mem_used(&raw()), 500);
        let v2 = RawStats { mem_total_inactive_file: None, mem_inactive_file: Some(200), ..raw() };
        assert_eq!(mem_used(&v2), 400);
        let odd = RawStats { mem_total_inactive_file: Some(9999), ..raw() };
        assert_eq!(mem_used(&odd), 600);
        assert!((sample(&raw()).mem_percent - 50.0).abs() < 1e-9);
    }

    #[test]
    fn disk_like_df() {
        // 100 blocks, 40 free, 30 available to users: used 60 / (60 + 30)
        assert_eq!(disk_percent(100, 40, 30), 67.0);
        assert_eq!(disk_percent(0, 0, 0), 0.0);
        let df = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 100 42 58 42% /workspace\n";
        assert_eq!(parse_df_percent(df), Some(42.0));
        assert_eq!(parse_df_percent("garbage"), None);
    }

    #[test]
    fn humans() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.5KiB");
        assert_eq!(human_bytes(8 * 1024 * 1024 * 1024), "8.0GiB");
        assert_eq!(human_age(59), "59s");
        assert_eq!(human_age(90061), "1d1h");
    }
}
