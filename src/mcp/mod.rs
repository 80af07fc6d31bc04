//! `agentdock mcp`: an MCP server (the official Rust SDK, `rmcp`) over stdio, or streamable
//! HTTP on a loopback port behind a bearer token, through which an orchestrating agent starts,
//! waits on and collects tasks, runs commands and moves files in managed containers: with the
//! same limits, records and dashboard as a person gets. Tasks it starts are ordinary tasks,
//! marked with the client's name.
//!
//! Guard rails (`[mcp]` in the config): the projects a client may use, a cap on the tasks one
//! client has under way, and no serving inside an agent container unless `nested` (then up to
//! `max_depth`), so a task's agent cannot fan out without bound.

pub mod clients;
pub mod http;
mod params;
mod server;
mod tools_files;
mod tools_tasks;

use crate::ops::Context;

pub use server::Server;

/// How deep this process is: 0 on the host; inside an agent container (which agentdock marks
/// with `AGENTDOCK_NETWORK`) at least 1, or what `AGENTDOCK_DEPTH` says.
pub fn depth_here() -> u32 {
    let said = std::env::var("AGENTDOCK_DEPTH").ok().and_then(|d| d.trim().parse::<u32>().ok());
    let inside = std::env::var_os("AGENTDOCK_NETWORK").is_some();
    match said {
        Some(d) => d.max(u32::from(inside)),
        None => u32::from(inside),
    }
}

/// Refuses to serve where the config says no: inside an agent container unless
/// `mcp.nested`, and never at or past `mcp.max_depth`.
pub fn check_depth(ctx: &Context, depth: u32) -> Result<(), String> {
    let m = &ctx.config().mcp;
    if depth == 0 {
        return Ok(());
    }
    if !m.nested {
        return Err("agentdock mcp does not serve inside an agent container (set mcp.nested = true to let a task's agent start tasks)".into());
    }
    if depth >= m.max_depth.saturating_add(1) {
        return Err(format!("agentdock mcp is {depth} deep here; mcp.max_depth = {} allows no deeper", m.max_depth));
    }
    Ok(())
}

/// Serves one client on stdin and stdout until it goes.
pub async fn serve_stdio(ctx: Context) -> Result<(), String> {
    use rmcp::ServiceExt;
    let depth = depth_here();
    check_depth(&ctx, depth)?;
    let server = Server::new(std::sync::Arc::new(ctx), depth, "stdio");
    let running = server.serve(rmcp::transport::stdio()).await.map_err(|e| format!("the MCP session did not start: {e}"))?;
    let quit = running.waiting().await;
    tracing::info!(?quit, "MCP client gone");
    Ok(())
}
