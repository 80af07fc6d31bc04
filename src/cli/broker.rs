//! `agentdock broker`: the credential broker's state (never its credential), the capabilities
//! it takes and what it refused; `agentdock usage`: tokens and cost as it recorded them. And
//! the broker's own process (`broker serve`, `broker health`), run in its container.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use super::{connect, exit, print_json, Failure};
use crate::broker::store;
use crate::domain::broker::{self as b, usd, Refused, UsageTotals};
use crate::domain::container::now_unix;
use crate::domain::stats::human_age;
use crate::domain::text::strip;
use crate::ops::Context;

#[derive(Debug, Clone, Subcommand)]
pub enum BrokerCommand {
    /// Run the broker (in its container: agentdock starts it)
    #[command(hide = true)]
    Serve {
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        #[arg(long, value_name = "FILE")]
        credential: PathBuf,
        #[arg(long, default_value = "0.0.0.0:8080")]
        listen: SocketAddr,
    },
    /// Exit 0 when the broker answers (its container's health check)
    #[command(hide = true)]
    Health {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
}

/// The broker's own process.
pub(super) async fn inside(cmd: BrokerCommand) -> Result<i32, Failure> {
    match cmd {
        BrokerCommand::Serve { state, credential, listen } => {
            crate::broker::server::serve(crate::broker::server::ServeOptions { state_dir: state, credential_file: credential, listen })
                .await
                .map_err(|e| Failure::failed(format!("broker: {e:#}")))?;
            Ok(exit::OK)
        }
        BrokerCommand::Health { listen } => Ok(crate::broker::server::health(listen).await),
    }
}

#[derive(Serialize)]
struct Status {
    name: String,
    /// "running", "exited"…, "absent", or "off" (no credential given).
    state: String,
    health: String,
    /// Where the credential comes from and what kind it is (never its value).
    credential: Option<String>,
    kind: Option<b::CredentialKind>,
    upstream: String,
    daily_budget_usd: f64,
    project_daily_budget_usd: f64,
    task_budget_usd: f64,
    capabilities: Vec<CapRow>,
    refused: Vec<b::RefusalLine>,
    today: UsageTotals,
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct CapRow {
    container: String,
    project: String,
    task: Option<String>,
    issued_at: i64,
}

pub(super) async fn status(ctx: &Context, json: bool, refresh: bool) -> Result<i32, Failure> {
    let cfg = ctx.config();
    let proxy = crate::domain::network::this_proxy(cfg);
    let name = b::broker_name(&proxy.name);
    let Some(link) = crate::ops::broker_link(ctx) else {
        if json {
            print_json(&serde_json::json!({"name": name, "state": "off"}))?;
        } else {
            println!("no broker: each agent uses its own login (made in its container) or the key passed in.");
            println!("Give the broker the credential instead (broker.credential_file = PATH to an API key or a `claude setup-token`");
            println!("token, or broker.from_env = true): agents then get a capability only the broker takes, never the key,");
            println!("and every request is metered and held to budgets (see `agentdock usage`).");
        }
        return Ok(exit::OK);
    };
    let engine = connect(ctx).await?;
    if refresh {
        let st = engine.refresh_broker(&link).await?;
        eprintln!("agentdock: {name} made anew ({})", &st.id[..12.min(st.id.len())]);
    }
    let st = engine.inspect_state(&name).await?;
    let kind = crate::engine::broker::read_credential(&link.credential);
    let mut warnings = engine.broker_staleness(&link.broker).await;
    if let Err(e) = &kind {
        warnings.push(e.to_string());
    }
    let dir = &link.broker.state_dir;
    let caps = store::issued(dir);
    let today = (now_unix() / 86_400 * 86_400) as f64;
    let report = store::report(dir, today);
    let s = Status {
        name: name.clone(),
        state: st.as_ref().map(|s| s.state.as_str().to_string()).unwrap_or_else(|| "absent".into()),
        health: st.as_ref().map(|s| s.health.as_str().to_string()).unwrap_or_else(|| "-".into()),
        credential: Some(link.credential.describe()),
        kind: kind.as_ref().ok().map(|(_, k)| *k),
        upstream: link.broker.upstream.clone(),
        daily_budget_usd: cfg.broker.daily_budget_usd,
        project_daily_budget_usd: cfg.broker.project_daily_budget_usd,
        task_budget_usd: cfg.tasks.budget_usd,
        capabilities: caps.caps.iter().map(|c| CapRow { container: c.container.clone(), project: c.project.clone(), task: c.task.clone(), issued_at: c.issued_at }).collect(),
        refused: store::refusals(dir),
        today: report.total,
        warnings,
    };
    if json {
        print_json(&s)?;
        return Ok(exit::OK);
    }
    println!("broker {}: {} ({}), holding {} from {}", s.name, s.state, s.health, s.kind.map(|k| k.describe()).unwrap_or("no usable credential"), s.credential.as_deref().unwrap_or("-"));
    println!("upstream {}", s.upstream);
    let budget = |v: f64| if v > 0.0 { usd(v) } else { "none".into() };
    println!("budgets: all agents {} a day, each project {} a day, each task {}", budget(s.daily_budget_usd), budget(s.project_daily_budget_usd), budget(s.task_budget_usd));
    println!("today (UTC): {} requests, {} tokens, {}", s.today.requests, s.today.tokens(), usd(s.today.cost_usd));
    println!("{} capabilities issued{}", s.capabilities.len(), if s.capabilities.is_empty() { String::new() } else { format!(": {}", s.capabilities.iter().map(|c| strip(&c.container)).collect::<Vec<_>>().join(", ")) });
    if !s.refused.is_empty() {
        let now = now_unix() as f64;
        println!("refused {}:", s.refused.len());
        for r in s.refused.iter().rev().take(20) {
            let why = match r.why {
                Refused::NoCapability => "no capability",
                Refused::UnknownCapability => "unknown or revoked capability",
                Refused::WrongNetwork => "from another network",
                Refused::Budget => "budget reached",
            };
            println!("  {:<8} {:<16} {:<28} {}", human_age((now - r.at).max(0.0) as i64), r.peer, why, strip(r.container.as_deref().unwrap_or("-")));
        }
    }
    for w in &s.warnings {
        println!("warning: {w}");
    }
    Ok(exit::OK)
}

/// `7d` ago, or a day `2026-11-25` (UTC), as unix seconds.
fn since_of(s: &str) -> Result<f64, String> {
    if let Some(t) = crate::domain::container::parse_rfc3339(&format!("{}T00:00:00Z", s.trim())) {
        return Ok(t as f64);
    }
    let age = super::prune::parse_age(s).map_err(|e| format!("--since: {e}, or a day like 2026-11-25"))?;
    Ok((now_unix() - age) as f64)
}

pub(super) async fn usage(ctx: &Context, since: Option<&str>, json: bool) -> Result<i32, Failure> {
    let _ = ctx;
    let from = match since {
        Some(s) => since_of(s).map_err(Failure::usage)?,
        None => 0.0,
    };
    let report = store::report(&store::state_dir(), from);
    if json {
        print_json(&report)?;
        return Ok(exit::OK);
    }
    if report.total.requests == 0 {
        println!("no usage recorded{} (the broker records it: see `agentdock broker`)", since.map(|s| format!(" since {s}")).unwrap_or_default());
        return Ok(exit::OK);
    }
    let table = |title: &str, rows: &std::collections::BTreeMap<String, UsageTotals>| {
        println!("{:<40} {:>8} {:>10} {:>10} {:>12} {:>12} {:>10}", title, "REQUESTS", "INPUT", "OUTPUT", "CACHE READ", "CACHE WRITE", "COST");
        for (k, t) in rows {
            let u = &t.usage;
            println!(
                "{:<40} {:>8} {:>10} {:>10} {:>12} {:>12} {:>10}",
                strip(k),
                t.requests,
                u.input_tokens,
                u.output_tokens,
                u.cache_read_input_tokens,
                u.cache_creation_input_tokens,
                usd(t.cost_usd)
            );
        }
        println!();
    };
    table("PROJECT", &report.by_project);
    if !report.by_task.is_empty() {
        table("TASK", &report.by_task);
    }
    table("MODEL", &report.by_model);
    println!("{} requests, {} tokens, {} in all", report.total.requests, report.total.tokens(), usd(report.total.cost_usd));
    Ok(exit::OK)
}
