//! `agentdock cp` and `agentdock mcp`.

use super::{connect, exit, Failure};
use crate::files::cp::{self, Side};
use crate::files::untar::Limits;
use crate::ops::Context;

/// Copies between the host and a managed container, one side `KEY:PATH`.
pub(super) async fn cp(ctx: &Context, src: &str, dst: &str, limits: Limits) -> Result<i32, Failure> {
    let done = match (cp::side(src), cp::side(dst)) {
        (Side::Container { key, path }, Side::Host(dest)) => {
            let engine = connect(ctx).await?;
            let t = crate::files::resolve(&engine, ctx, &key).await.map_err(Failure::failed)?;
            cp::from_container(&engine, &t, &path, &dest, limits).await.map_err(Failure::failed)?
        }
        (Side::Host(from), Side::Container { key, path }) => {
            let engine = connect(ctx).await?;
            let t = crate::files::resolve(&engine, ctx, &key).await.map_err(Failure::failed)?;
            cp::to_container(&engine, &t, &from, &path).await.map_err(Failure::failed)?
        }
        (Side::Container { .. }, Side::Container { .. }) => {
            return Err(Failure::usage("copying between two containers is not supported: copy to the host, then on"))
        }
        (Side::Host(_), Side::Host(_)) => {
            return Err(Failure::usage("one side must be a container: PROJECT:PATH (or a task id or container name before the colon)"))
        }
    };
    let u = &done.unpacked;
    if done.to != "-" {
        eprintln!(
            "copied {} file{}, {} director{}, {} link{} ({} bytes) to {}",
            u.files,
            if u.files == 1 { "" } else { "s" },
            u.dirs,
            if u.dirs == 1 { "y" } else { "ies" },
            u.links,
            if u.links == 1 { "" } else { "s" },
            u.bytes,
            done.to
        );
    }
    for s in &u.skipped {
        eprintln!("agentdock: not copied: {s}");
    }
    Ok(exit::OK)
}

/// Serves MCP on stdio, or on HTTP with `port`.
pub(super) async fn mcp(ctx: Context, http: bool, port: u16) -> Result<i32, Failure> {
    let served = if http { crate::mcp::http::serve(ctx, port).await } else { crate::mcp::serve_stdio(ctx).await };
    served.map(|()| exit::OK).map_err(Failure::usage)
}
