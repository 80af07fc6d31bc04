//! The egress proxy's container body and its config file, for `network`.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig, Mount, MountType, NetworkingConfig, RestartPolicy, RestartPolicyNameEnum};

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

/// The proxy container: squid as Debian's `proxy` user, no capabilities, read-only root, its
/// config dir mounted read-only, on the egress network; restarted unless stopped.
pub(super) fn proxy_body(p: &ProxySpec) -> ContainerCreateBody {
    let secs = |s: u64| (s as i64) * 1_000_000_000;
    let host_config = HostConfig {
        mounts: Some(vec![Mount {
            source: Some(p.conf_dir.to_string_lossy().into_owned()),
            target: Some(net::PROXY_CONF_MOUNT.into()),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            ..Default::default()
        }]),
        memory: Some(512 << 20),
        pids_limit: Some(500),
        init: Some(true),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        readonly_rootfs: Some(true),
        tmpfs: Some(HashMap::from([("/tmp".to_string(), "rw,noexec,nosuid,size=64m".to_string())])),
        network_mode: Some(p.egress.clone()),
        restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::UNLESS_STOPPED), maximum_retry_count: None }),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([("max-size".to_string(), "10m".to_string()), ("max-file".to_string(), "3".to_string())])),
        }),
        ..Default::default()
    };
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

