//! The engines in view, reached side by side: `agentdock engines`, and the connections that
//! `ls`, `stats` and `doctor` share (an engine that does not answer holds up none of the others).

use std::time::Duration;

use serde::Serialize;

use super::{exit, print_json, Failure};
use crate::domain::engines::EngineTarget;
use crate::domain::text::strip;
use crate::engine::{Engine, EngineError};
use crate::ops::Context;

/// How long `engines`, `ls`, `stats` and `doctor` wait for one engine.
const WAIT: Duration = Duration::from_secs(15);

/// One engine in view, connected or not.
pub(super) struct Reached<'a> {
    pub target: &'a EngineTarget,
    pub engine: Result<Engine, EngineError>,
}

/// Connects to every engine in view at once, each within [`WAIT`].
pub(super) async fn reach_all(ctx: &Context) -> Vec<Reached<'_>> {
    let tries = ctx.shown_engines().map(|(_, t)| async move {
        let engine = match tokio::time::timeout(WAIT, Engine::connect_to(t)).await {
            Ok(r) => r,
            Err(_) => Err(EngineError::Unreachable { host: t.host.clone(), reason: format!("no answer within {}s", WAIT.as_secs()) }),
        };
        Reached { target: t, engine }
    });
    futures_util::future::join_all(tries).await
}

/// Engines that answered, with their targets.
pub(super) type Answered<'a> = Vec<(&'a EngineTarget, Engine)>;

/// The engines that answered; a line on stderr for each that did not, and the exit code to
/// end with (an unreachable engine: 3). One engine in view that did not answer is the failure.
pub(super) fn answered(reached: Vec<Reached<'_>>) -> Result<(Answered<'_>, i32), Failure> {
    if reached.len() == 1 {
        let r = reached.into_iter().next().expect("one");
        return Ok((vec![(r.target, r.engine?)], exit::OK));
    }
    let mut code = exit::OK;
    let mut ok = Vec::new();
    for r in reached {
        match r.engine {
            Ok(e) => ok.push((r.target, e)),
            Err(e) => {
                eprintln!("agentdock: engine {}: {e}", r.target.name);
                code = exit::ENGINE_UNREACHABLE;
            }
        }
    }
    Ok((ok, code))
}

#[derive(Serialize)]
struct EngineRow<'a> {
    name: &'a str,
    host: &'a str,
    transport: crate::domain::engines::Transport,
    source: &'a str,
    /// "connected" or "unreachable".
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api: Option<String>,
    /// Round trip of one ping, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    rtt_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    default: bool,
}

pub(super) async fn engines(ctx: &Context, json: bool) -> Result<i32, Failure> {
    let reached = reach_all(ctx).await;
    let mut rows = Vec::new();
    let mut code = exit::OK;
    for r in &reached {
        let t = r.target;
        let mut row = EngineRow {
            name: &t.name,
            host: &t.host,
            transport: t.transport,
            source: &t.source,
            state: "connected",
            version: None,
            api: None,
            rtt_ms: None,
            error: None,
            default: ctx.engines.first().is_some_and(|d| d.name == t.name),
        };
        match &r.engine {
            Ok(e) => {
                row.version = Some(e.server_version().to_string());
                row.api = Some(e.api_version().to_string());
                match e.round_trip().await {
                    Ok(d) => row.rtt_ms = Some((d.as_secs_f64() * 10_000.0).round() / 10.0),
                    Err(err) => row.error = Some(err.to_string()),
                }
            }
            Err(e) => {
                row.state = "unreachable";
                row.error = Some(e.to_string());
                code = exit::ENGINE_UNREACHABLE;
            }
        }
        rows.push(row);
    }
    if json {
        print_json(&rows)?;
        return Ok(code);
    }
    println!("{:<16} {:<12} {:<15} {:<6} {:>8}  HOST", "ENGINE", "STATE", "DOCKER", "API", "RTT");
    for r in &rows {
        let name = if r.default { format!("{} *", r.name) } else { r.name.to_string() };
        let rtt = r.rtt_ms.map(|m| format!("{m:.1}ms")).unwrap_or_else(|| "-".into());
        println!(
            "{name:<16} {:<12} {:<15} {:<6} {rtt:>8}  {} ({})",
            r.state,
            r.version.as_deref().unwrap_or("-"),
            r.api.as_deref().unwrap_or("-"),
            r.host,
            r.source
        );
        if let Some(e) = &r.error {
            println!("    {}", strip(e));
        }
    }
    Ok(code)
}
