//! `agentdock net [PROJECT]`: each project's network mode, its network and allowlist, the
//! egress proxy's state, and the requests the proxy refused.

use serde::Serialize;

use super::{connect, exit, print_json, Failure};
use crate::domain::container::now_unix;
use crate::domain::network::{self, Refusal};
use crate::domain::project::Project;
use crate::domain::stats::human_age;
use crate::domain::text::strip;
use crate::engine::{EngineError, NetworkInfo};
use crate::ops::Context;

#[derive(Serialize)]
struct ProxyRow {
    name: String,
    /// "running", "exited"…, or "absent".
    state: String,
    health: String,
    image: String,
}

#[derive(Serialize)]
struct ProjectNet {
    id: String,
    name: String,
    mode: &'static str,
    /// The Docker networks made for it (more than one while a container is yet to be moved).
    networks: Vec<NetworkInfo>,
    allow: Vec<String>,
    refused: Vec<Refusal>,
}

#[derive(Serialize)]
struct Report {
    proxy: ProxyRow,
    projects: Vec<ProjectNet>,
}

fn project_net(nets: &[NetworkInfo], refusals: &[Refusal], p: &Project) -> ProjectNet {
    let networks: Vec<NetworkInfo> = nets.iter().filter(|n| n.project.as_deref() == Some(p.id.as_str())).cloned().collect();
    // its allowlist network, also when it is gone (refusals outlive it in the proxy's log)
    let mine = |r: &&Refusal| networks.iter().any(|n| n.name == r.network) || r.network == network::network_name(crate::config::NetworkMode::Allowlist, &p.id);
    let refused = refusals.iter().filter(mine).cloned().collect();
    ProjectNet { id: p.id.clone(), name: p.name.clone(), mode: p.settings.network.as_str(), networks, allow: p.settings.allow.clone(), refused }
}

pub(super) async fn net(ctx: &Context, key: Option<&str>, json: bool, refresh: bool) -> Result<i32, Failure> {
    let engine = connect(ctx).await?;
    let proxy = network::this_proxy(ctx.config());
    if refresh {
        let st = crate::ops::refresh_proxy(&engine, ctx).await?;
        eprintln!("agentdock: {} made anew ({})", proxy.name, &st.id[..12.min(st.id.len())]);
    }
    let st = engine.proxy_state(&proxy.name).await?;
    let stale = engine.proxy_staleness(&proxy).await;
    let image = match engine.image_exists(&proxy.image).await? {
        true if stale.is_empty() => proxy.image.clone(),
        true => format!("{} (stale: {})", proxy.image, stale.join("; ")),
        false => format!("{} (missing; build it with {})", proxy.image, network::PROXY_BUILD_COMMAND),
    };
    let row = ProxyRow {
        name: proxy.name.clone(),
        state: st.as_ref().map(|s| s.state.as_str().to_string()).unwrap_or_else(|| "absent".into()),
        health: st.as_ref().map(|s| s.health.as_str().to_string()).unwrap_or_else(|| "-".into()),
        image,
    };
    let nets = engine.agent_networks(&proxy.name).await?;
    let refusals = match engine.refusals(&proxy.name, 0).await {
        Ok(r) => r,
        Err(e @ EngineError::Unreachable { .. }) => return Err(e.into()),
        Err(e) => {
            eprintln!("agentdock: warning: cannot read the proxy's log: {e}");
            Vec::new()
        }
    };
    let projects: Vec<Project> = match key {
        Some(k) => {
            let all = engine.list(false).await?;
            vec![ctx.resolve(k, &all).map_err(Failure::usage)?]
        }
        None => ctx.projects.clone(),
    };
    let mut rows = Vec::new();
    for p in &projects {
        rows.push(project_net(&nets, &refusals, p));
    }
    let report = Report { proxy: row, projects: rows };
    if json {
        print_json(&report)?;
        return Ok(exit::OK);
    }
    let p = &report.proxy;
    println!("proxy {}: {} ({}), image {}", p.name, p.state, p.health, p.image);
    let now = now_unix() as f64;
    for r in &report.projects {
        let nets: Vec<String> = r.networks.iter().map(|n| format!("{} {}", n.name, n.subnet.as_deref().unwrap_or("?"))).collect();
        println!(
            "{}  {}  {}{}",
            strip(&r.name),
            r.mode,
            if nets.is_empty() { "no network yet".to_string() } else { nets.join(", ") },
            if r.refused.is_empty() { String::new() } else { format!("  {} refused", r.refused.len()) }
        );
        if key.is_none() {
            continue;
        }
        if r.mode == "allowlist" {
            println!("  allowed: {}", r.allow.join(", "));
        }
        if r.refused.is_empty() {
            println!("  nothing refused");
            continue;
        }
        println!("  {:<8} {:<28} {:<40} WHY", "AGO", "CONTAINER", "HOST:PORT");
        for f in &r.refused {
            let who = f.container.clone().unwrap_or_else(|| format!("{} (gone)", f.client));
            println!("  {:<8} {:<28} {:<40} {}", human_age((now - f.at).max(0.0) as i64), who, format!("{}:{}", f.host, f.port), f.reason.describe());
        }
    }
    Ok(exit::OK)
}
