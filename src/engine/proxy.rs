//! The egress proxy's container body and its config file, for `network`.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig, Mount, MountType, NetworkingConfig, RestartPolicy, RestartPolicyNameEnum};

use super::{Engine, EngineError, ExecCommand, ExecOptions};
use crate::domain::network::{self as net, ProxySpec};

/// Writes `networks.conf` into `dir` (readable by the proxy's user) when it differs; true then.
pub(super) fn write_conf(dir: &Path, conf: &str) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    let file = dir.join(net::PROXY_CONF_FILE);
    if std::fs::read_to_string(&file).ok().as_deref() == Some(conf) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    let tmp = dir.join(format!(".{}.{}", net::PROXY_CONF_FILE, std::process::id()));
    std::fs::write(&tmp, conf)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, &file)?;
    Ok(true)
}

/// The host config of agentdock's own services (the proxy, the broker): no capabilities, no
/// new privileges, a read-only root with a small noexec `/tmp`, `memory` bytes and `pids`
/// processes at most, on the `network` given, restarted unless stopped, logs capped.
pub(super) fn service_host_config(mounts: Vec<Mount>, memory: i64, pids: i64, tmp_size: &str, network: &str) -> HostConfig {
    HostConfig {
        mounts: Some(mounts),
        memory: Some(memory),
        pids_limit: Some(pids),
        init: Some(true),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        readonly_rootfs: Some(true),
        tmpfs: Some(HashMap::from([("/tmp".to_string(), format!("rw,noexec,nosuid,size={tmp_size}"))])),
        network_mode: Some(network.to_string()),
        restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::UNLESS_STOPPED), maximum_retry_count: None }),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([("max-size".to_string(), "10m".to_string()), ("max-file".to_string(), "3".to_string())])),
        }),
        ..Default::default()
    }
}

/// The proxy container: squid as Debian's `proxy` user, no capabilities, read-only root, its
/// config dir mounted read-only, on the egress network; restarted unless stopped.
pub(super) fn proxy_body(p: &ProxySpec) -> ContainerCreateBody {
    let secs = |s: u64| (s as i64) * 1_000_000_000;
    let conf = Mount {
        source: Some(p.conf_dir.to_string_lossy().into_owned()),
        target: Some(net::PROXY_CONF_MOUNT.into()),
        typ: Some(MountType::BIND),
        read_only: Some(true),
        ..Default::default()
    };
    let host_config = service_host_config(vec![conf], 512 << 20, 500, "64m", &p.egress);
    ContainerCreateBody {
        image: Some(p.image.clone()),
        labels: Some(p.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        healthcheck: Some(HealthConfig {
            test: Some(vec!["CMD".into(), "/usr/local/bin/agentdock-proxy-healthcheck".into()]),
            interval: Some(secs(p.health_interval_secs)),
            timeout: Some(secs(p.health_timeout_secs)),
            retries: Some(i64::from(p.health_retries)),
            start_period: Some(secs(5)),
            start_interval: None,
        }),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig { endpoints_config: Some(HashMap::from([(p.egress.clone(), EndpointSettings::default())])) }),
        ..Default::default()
    }
}

/// How long a started or reloaded proxy may take to accept connections again.
const LISTEN_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// The inodes of the sockets listening on `port` in lines of `/proc/net/tcp` / `tcp6`
/// (`sl local rem st … uid timeout inode`; state `0A` is LISTEN).
pub(super) fn listeners(proc_net_tcp: &str, port: u16) -> Vec<u64> {
    let port = format!(":{port:04X}");
    proc_net_tcp
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 9 && f[1].ends_with(&port) && f[3] == "0A").then(|| f[9].parse().ok()).flatten()
        })
        .collect()
}

impl Engine {
    /// Makes squid re-read its config, and waits until it accepts connections again: squid
    /// closes its port while it reconfigures, and an agent connecting then is refused.
    pub(super) async fn reload_proxy(&self, id: &str) -> Result<(), EngineError> {
        let before = self.proxy_listeners(id).await?;
        let out = self.exec_capture(id, ExecCommand::Argv(vec!["/usr/local/bin/agentdock-proxy".into(), "--reload".into()]), &Self::proxy_exec()).await?;
        if out.exit_code != 0 {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(EngineError::Failed(format!("the proxy did not take its new config: {}", super::one_line(err.trim()))));
        }
        self.await_proxy_listening(id, &before).await
    }

    /// Waits until the proxy listens on its port with a socket other than those in `before`
    /// (a start: any socket; a reload: the one squid opens anew).
    pub(super) async fn await_proxy_listening(&self, id: &str, before: &[u64]) -> Result<(), EngineError> {
        let deadline = tokio::time::Instant::now() + LISTEN_WAIT;
        loop {
            let now = self.proxy_listeners(id).await?;
            if now.iter().any(|i| !before.contains(i)) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::Failed(format!("the proxy did not accept connections on port {} within {} s; `docker logs {id}` says why", net::PROXY_PORT, LISTEN_WAIT.as_secs())));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The proxy's listening sockets, read from its network namespace (only the listeners'
    /// lines, so that many connections cannot push them past the capture's cap).
    async fn proxy_listeners(&self, id: &str) -> Result<Vec<u64>, EngineError> {
        let pattern = format!(":{:04X} 0+:0000 0A ", net::PROXY_PORT);
        let argv = ["grep", "-hE", &pattern, "/proc/net/tcp", "/proc/net/tcp6"].map(String::from).to_vec();
        let out = self.exec_capture(id, ExecCommand::Argv(argv), &Self::proxy_exec()).await?;
        Ok(listeners(&String::from_utf8_lossy(&out.stdout), net::PROXY_PORT))
    }

    fn proxy_exec() -> ExecOptions {
        ExecOptions { workdir: "/".into(), ..ExecOptions::quick() }
    }
}

#[cfg(test)]
mod tests {
    use super::listeners;

    #[test]
    fn the_listening_sockets_of_a_port_are_found_by_their_inode() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0C38 00000000:0000 0A 00000000:00000000 00:00000000 00000000    13        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0C38 0100007F:9C40 01 00000000:00000000 00:00000000 00000000    13        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000    13        0 4444 1 0000000000000000 100 0 0 10 0
   0: 00000000000000000000000000000000:0C38 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000    13        0 4545 1 0000000000000000 100 0 0 10 0
";
        // the listener on 3128 (v4 and v6), not its connection nor another port's listener
        assert_eq!(listeners(tcp, 3128), vec![4242, 4545]);
        assert_eq!(listeners(tcp, 8080), vec![4444]);
        assert!(listeners("", 3128).is_empty());
        assert!(listeners("garbage line\n", 3128).is_empty());
    }
}
