//! Projects and their containers: ls, up, refresh, rm.

use std::io::IsTerminal;

use serde::Serialize;

use super::{connect, exit, print_json, project_and_containers, Failure};
use crate::domain::container::ContainerInfo;
use crate::ops::{self, Context};

#[derive(Serialize)]
struct LsRow<'a> {
    id: &'a str,
    name: &'a str,
    path: String,
    exists: bool,
    orphaned: bool,
    containers: Vec<&'a ContainerInfo>,
}

pub(super) async fn ls(ctx: &Context, json: bool) -> Result<i32, Failure> {
    let engine = connect().await?;
    let containers = engine.list(false).await?;
    let mut rows: Vec<LsRow> = ctx
        .projects
        .iter()
        .map(|p| LsRow {
            id: &p.id,
            name: &p.name,
            path: p.path.display().to_string(),
            exists: p.exists,
            orphaned: false,
            containers: containers.iter().filter(|c| c.project_id.as_deref() == Some(p.id.as_str())).collect(),
        })
        .collect();
    // Containers whose project is no longer configured or whose directory is gone.
    for c in &containers {
        let known = rows.iter().any(|r| Some(r.id) == c.project_id.as_deref());
        if !known {
            let id = c.project_id.as_deref().unwrap_or("?");
            if let Some(r) = rows.iter_mut().find(|r| r.id == id) {
                r.containers.push(c);
                continue;
            }
            let path = c.project_path.clone().unwrap_or_default();
            rows.push(LsRow {
                id,
                name: c.project_name.as_deref().unwrap_or(id),
                exists: std::path::Path::new(&path).is_dir(),
                path,
                orphaned: true,
                containers: vec![c],
            });
        }
    }
    for r in &mut rows {
        if !r.exists && !r.containers.is_empty() {
            r.orphaned = true;
        }
    }
    if json {
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    println!("{:<24} {:<14} {:<10} {:<10} PATH", "PROJECT", "CONTAINER", "STATE", "HEALTH");
    for r in &rows {
        let note = if r.orphaned { "  (orphaned: directory gone)" } else { "" };
        if r.containers.is_empty() {
            println!("{:<24} {:<14} {:<10} {:<10} {}{note}", r.name, "-", "none", "-", r.path);
        }
        for c in &r.containers {
            let state = if r.orphaned { "orphaned" } else { c.state.as_str() };
            println!("{:<24} {:<14} {:<10} {:<10} {}{note}", r.name, c.short_id(), state, c.health.as_str(), r.path);
        }
    }
    if rows.is_empty() {
        println!("(no projects: add roots or [[project]] entries to {})", ctx.loaded.path.display());
    }
    Ok(exit::OK)
}

pub(super) async fn up(ctx: &Context, key: &str, json: bool) -> Result<i32, Failure> {
    let (engine, p, _) = project_and_containers(ctx, key).await?;
    let done = ops::up(&engine, ctx, &p).await?;
    done.warnings.iter().for_each(|w| eprintln!("agentdock: warning: {w}"));
    if json {
        print_json(&done)?;
    } else {
        let what = match done.action {
            crate::engine::EnsureAction::Created => "created and started",
            crate::engine::EnsureAction::Started => "started",
            crate::engine::EnsureAction::AlreadyRunning => "already running",
        };
        println!("{} {} ({what})", done.name, &done.id[..12.min(done.id.len())]);
    }
    Ok(exit::OK)
}

pub(super) async fn refresh(ctx: &Context, key: &str, json: bool) -> Result<i32, Failure> {
    let (engine, p, _) = project_and_containers(ctx, key).await?;
    let progress = |m: &str| eprintln!("agentdock: {m}");
    let done = ops::refresh(&engine, ctx, &p, "manual", &progress).await?;
    done.warnings.iter().for_each(|w| eprintln!("agentdock: warning: {w}"));
    if json {
        print_json(&done)?;
    } else {
        let old = done.old_id.as_deref().map(|o| &o[..12.min(o.len())]).unwrap_or("none");
        println!("{} refreshed: {old} -> {}", done.name, &done.new_id[..12.min(done.new_id.len())]);
    }
    Ok(exit::OK)
}

pub(super) async fn rm(ctx: &Context, key: &str, purge: bool, yes: bool) -> Result<i32, Failure> {
    let (engine, p, containers) = project_and_containers(ctx, key).await?;
    if containers.is_empty() && !purge {
        println!("{} has no container", p.name);
        return Ok(exit::OK);
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::usage("rm asks for confirmation: pass --yes when not at a terminal"));
        }
        let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
        eprint!(
            "Remove {}{} of {}? [y/N] ",
            names.join(", "),
            if purge { " and its agent config" } else { "" },
            p.name
        );
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).map_err(|e| Failure::failed(e.to_string()))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("nothing removed");
            return Ok(exit::OK);
        }
    }
    let removed = ops::remove(&engine, &p, purge, ctx.config().refresh.stop_timeout_secs).await?;
    for n in &removed {
        println!("removed {n}");
    }
    if purge {
        println!("purged the agent config of {}", p.name);
    }
    Ok(exit::OK)
}
