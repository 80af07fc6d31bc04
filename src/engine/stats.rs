//! Stats, logs and details of containers, mapped to domain types.

use std::path::Path;
use std::time::Duration;

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::{InspectContainerOptions, LogsOptionsBuilder, StatsOptionsBuilder};
use futures_util::{stream, StreamExt};
use serde::Serialize;

use super::cgroup::CgroupReader;
use super::exec::{ExecOptions, OutputStream};
use super::{map_inspect, Engine, EngineError, StateInfo};
use crate::domain::container::{now_unix, ContainerInfo, ContainerState, Health};
use crate::domain::stats::{self, RawStats, StatsSample};

/// Everything `stats` shows of one container.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerStats {
    pub id: String,
    pub name: String,
    pub project_id: Option<String>,
    pub state: ContainerState,
    pub health: Health,
    pub last_health_output: Option<String>,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub age_secs: Option<i64>,
    /// None when the container is not running.
    pub sample: Option<StatsSample>,
    /// Disk use % of the filesystem holding /workspace.
    pub disk_percent: Option<f64>,
}

/// The static facts of a container, for the detail view.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DetailInfo {
    pub image: String,
    pub mounts: Vec<String>,
    pub ports: Vec<String>,
    pub memory_limit: Option<i64>,
    pub nano_cpus: Option<i64>,
    pub pids_limit: Option<i64>,
    pub health_log: Vec<String>,
}

/// Maps the engine's stats answer to the raw counters the domain maths takes.
pub fn raw_from_response(r: &ContainerStatsResponse) -> RawStats {
    let cpu = r.cpu_stats.clone().unwrap_or_default();
    let pre = r.precpu_stats.clone().unwrap_or_default();
    let mem = r.memory_stats.clone().unwrap_or_default();
    let mem_stat = |k: &str| mem.stats.as_ref().and_then(|m| m.get(k).copied());
    let (mut rx, mut tx) = (0, 0);
    for n in r.networks.as_ref().map(|n| n.values().collect::<Vec<_>>()).unwrap_or_default() {
        rx += n.rx_bytes.unwrap_or(0);
        tx += n.tx_bytes.unwrap_or(0);
    }
    let (mut br, mut bw) = (0, 0);
    for e in r.blkio_stats.as_ref().and_then(|b| b.io_service_bytes_recursive.clone()).unwrap_or_default() {
        match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("read") => br += e.value.unwrap_or(0),
            Some("write") => bw += e.value.unwrap_or(0),
            _ => {}
        }
    }
    RawStats {
        cpu_total: cpu.cpu_usage.as_ref().and_then(|u| u.total_usage).unwrap_or(0),
        cpu_system: cpu.system_cpu_usage.unwrap_or(0),
        precpu_total: pre.cpu_usage.as_ref().and_then(|u| u.total_usage).unwrap_or(0),
        precpu_system: pre.system_cpu_usage.unwrap_or(0),
        online_cpus: cpu.online_cpus.unwrap_or(0),
        percpu_len: cpu.cpu_usage.as_ref().and_then(|u| u.percpu_usage.as_ref()).map(Vec::len).unwrap_or(0),
        mem_usage: mem.usage.unwrap_or(0),
        mem_limit: mem.limit.unwrap_or(0),
        mem_total_inactive_file: mem_stat("total_inactive_file"),
        mem_inactive_file: mem_stat("inactive_file"),
        net_rx: rx,
        net_tx: tx,
        blk_read: br,
        blk_write: bw,
        pids: r.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0),
    }
}

/// Bytes received and sent by a container, from its main process's network namespace
/// (/proc/PID/net/dev, loopback left out). Local engines only.
pub fn net_of_pid(pid: i64) -> Option<(u64, u64)> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    let (mut rx, mut tx) = (0, 0);
    for line in text.lines().skip(2) {
        let Some((iface, rest)) = line.split_once(':') else { continue };
        if iface.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        rx += f.first().copied().unwrap_or(0);
        tx += f.get(8).copied().unwrap_or(0);
    }
    Some((rx, tx))
}

/// Disk use % of the filesystem that holds `path` on this host.
pub fn host_disk_percent(path: &Path) -> Option<f64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(stats::disk_percent(s.f_blocks, s.f_bfree, s.f_bavail))
}

impl Engine {
    /// One stats sample with a CPU figure: the engine's stream gives a first frame without a
    /// previous one, so the second frame (about 1 s later) is taken.
    pub async fn stats_sample(&self, id: &str) -> Result<StatsSample, EngineError> {
        let opts = StatsOptionsBuilder::default().stream(true).one_shot(false).build();
        let mut s = self.docker.stats(id, Some(opts));
        let mut last = None;
        let fut = async {
            for _ in 0..3 {
                match s.next().await {
                    Some(Ok(r)) => {
                        let raw = raw_from_response(&r);
                        let ready = raw.precpu_system != 0;
                        last = Some(raw);
                        if ready {
                            break;
                        }
                    }
                    Some(Err(e)) => return Err(self.err(e)),
                    None => break,
                }
            }
            Ok(())
        };
        tokio::time::timeout(Duration::from_secs(10), fut)
            .await
            .map_err(|_| EngineError::Failed("no stats within 10s".into()))??;
        last.map(|r| stats::sample(&r)).ok_or_else(|| EngineError::Failed("no stats".into()))
    }

    /// Disk use % of /workspace: read on the host when the engine is local (no exec, no cost
    /// to the engine), else by `df` in the container.
    pub async fn disk_percent(&self, id: &str, workspace: Option<&str>) -> Option<f64> {
        if self.is_local() {
            if let Some(p) = workspace.filter(|p| Path::new(p).is_dir()) {
                return host_disk_percent(Path::new(p));
            }
        }
        let out = self.exec_capture(id, "df -P /workspace", &ExecOptions::quick()).await.ok()?;
        stats::parse_df_percent(&String::from_utf8_lossy(&out.stdout))
    }

    /// Stats of many containers at once. With a local engine, read from the containers'
    /// cgroup files (CPU over half a second between two reads), network I/O from their
    /// processes' /proc entries: no cost to the engine, and 50 containers take about as long as
    /// one. Otherwise (or where the files cannot be read) the engine's stats API is asked for
    /// all of them concurrently (its collector ticks once a second for all of them).
    pub async fn stats_many(&self, containers: &[ContainerInfo]) -> Vec<ContainerStats> {
        let states: Vec<Option<StateInfo>> = stream::iter(containers.iter().map(|c| async move {
            self.inspect_state(&c.id).await.ok().flatten()
        }))
        .buffered(self.parallel() * 2)
        .collect()
        .await;
        let running = |c: &ContainerInfo| c.state == ContainerState::Running;
        let mut reader = CgroupReader::default();
        let local: Vec<bool> =
            containers.iter().map(|c| self.is_local() && running(c) && reader.available(&c.id)).collect();
        if local.iter().any(|l| *l) {
            for (c, _) in containers.iter().zip(&local).filter(|(_, l)| **l) {
                reader.sample(&c.id);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let futs = containers.iter().zip(states).zip(local).map(|((c, st), local)| {
            let fast = if local {
                reader.sample(&c.id).map(|mut s| {
                    (s.blk_read, s.blk_write) = reader.block_io(&c.id).unwrap_or_default();
                    if let Some((rx, tx)) = st.as_ref().and_then(|st| st.pid).and_then(net_of_pid) {
                        (s.net_rx, s.net_tx) = (rx, tx);
                    }
                    s
                })
            } else {
                None
            };
            async move {
                let (sample, disk) = if running(c) {
                    let sample = match fast {
                        Some(s) => Some(s),
                        None => self.stats_sample(&c.id).await.ok(),
                    };
                    (sample, self.disk_percent(&c.id, c.project_path.as_deref()).await)
                } else {
                    (None, None)
                };
                stats_of(c, st, sample, disk)
            }
        });
        let mut out: Vec<ContainerStats> = stream::iter(futs).buffer_unordered(64).collect().await;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Follows (or just prints, without `follow`) the container's own log.
    pub async fn logs(&self, id: &str, follow: bool, tail: Option<usize>) -> OutputStream {
        let opts = LogsOptionsBuilder::default()
            .follow(follow)
            .stdout(true)
            .stderr(true)
            .tail(&tail.map(|t| t.to_string()).unwrap_or_else(|| "all".into()))
            .build();
        OutputStream::new(self.clone(), Box::pin(self.docker.logs(id, Some(opts))))
    }

    /// Mounts, ports, limits and health log of a container.
    pub async fn detail(&self, id: &str) -> Result<(StateInfo, DetailInfo), EngineError> {
        let i = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.err(e))?;
        let st = map_inspect(&i);
        let hc = i.host_config.clone().unwrap_or_default();
        let mounts = i
            .mounts
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                format!(
                    "{} -> {}{}",
                    m.source.unwrap_or_default(),
                    m.destination.unwrap_or_default(),
                    if m.rw == Some(false) { " (ro)" } else { "" }
                )
            })
            .collect();
        let mut ports: Vec<String> = i
            .network_settings
            .as_ref()
            .and_then(|n| n.ports.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| match v.and_then(|b| b.into_iter().next()) {
                Some(b) => format!("{}:{} -> {k}", b.host_ip.unwrap_or_default(), b.host_port.unwrap_or_default()),
                None => k,
            })
            .collect();
        ports.sort();
        let health_log = i
            .state
            .as_ref()
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.log.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|r| format!("[{}] {}", r.exit_code.unwrap_or(-1), super::shown(r.output.unwrap_or_default().trim())))
            .collect();
        Ok((
            st,
            DetailInfo {
                image: i.config.as_ref().and_then(|c| c.image.clone()).unwrap_or_default(),
                mounts,
                ports,
                memory_limit: hc.memory,
                nano_cpus: hc.nano_cpus,
                pids_limit: hc.pids_limit,
                health_log,
            },
        ))
    }
}

fn stats_of(c: &ContainerInfo, st: Option<StateInfo>, sample: Option<StatsSample>, disk: Option<f64>) -> ContainerStats {
    let now = now_unix();
    let st = st.as_ref();
    ContainerStats {
        id: c.id.clone(),
        name: c.name.clone(),
        project_id: c.project_id.clone(),
        state: st.map(|s| s.state).unwrap_or(c.state),
        health: st.map(|s| s.health).unwrap_or(c.health),
        last_health_output: st.and_then(|s| s.last_health_output.clone()),
        exit_code: st.and_then(|s| s.exit_code),
        oom_killed: st.map(|s| s.oom_killed).unwrap_or(false),
        age_secs: Some(now - st.and_then(|s| s.created).unwrap_or(c.created)),
        sample,
        disk_percent: disk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats, ContainerNetworkStats};
    use std::collections::HashMap;

    #[test]
    fn maps_a_hand_built_engine_answer() {
        let r = ContainerStatsResponse {
            cpu_stats: Some(ContainerCpuStats {
                cpu_usage: Some(ContainerCpuUsage { total_usage: Some(3_000), percpu_usage: None, ..Default::default() }),
                system_cpu_usage: Some(20_000),
                online_cpus: Some(4),
                ..Default::default()
            }),
            precpu_stats: Some(ContainerCpuStats {
                cpu_usage: Some(ContainerCpuUsage { total_usage: Some(1_000), ..Default::default() }),
                system_cpu_usage: Some(10_000),
                ..Default::default()
            }),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(1000),
                limit: Some(4000),
                stats: Some(HashMap::from([("total_inactive_file".to_string(), 200u64)])),
                ..Default::default()
            }),
            networks: Some(HashMap::from([
                ("eth0".to_string(), ContainerNetworkStats { rx_bytes: Some(5), tx_bytes: Some(7), ..Default::default() }),
                ("eth1".to_string(), ContainerNetworkStats { rx_bytes: Some(1), tx_bytes: Some(1), ..Default::default() }),
            ])),
            ..Default::default()
        };
        let s = stats::sample(&raw_from_response(&r));
        // 2000 / 10000 * 4 CPUs
        assert!((s.cpu_percent - 80.0).abs() < 1e-9);
        assert_eq!(s.mem_used, 800);
        assert!((s.mem_percent - 20.0).abs() < 1e-9);
        assert_eq!((s.net_rx, s.net_tx), (6, 8));
    }
}
