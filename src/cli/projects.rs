//! Projects and their containers: ls, up, refresh, rm.

use std::io::IsTerminal;
use std::path::Path;

use serde::Serialize;

use super::{exit, print_json, project_and_containers, Failure};
use crate::domain::container::ContainerInfo;
use crate::domain::project::Orphaned;
use crate::domain::text::strip;
use crate::ops::{self, Context};

#[derive(Serialize)]
struct LsRow<'a> {
    id: &'a str,
    name: &'a str,
    path: String,
    /// The engine its containers live on.
    engine: &'a str,
    exists: bool,
    orphaned: bool,
    /// Why the project is orphaned (absent when it is not).
    #[serde(skip_serializing_if = "Option::is_none")]
    orphan_reason: Option<&'static str>,
    containers: Vec<&'a ContainerInfo>,
}

pub(super) async fn ls(ctx: &Context, json: bool) -> Result<i32, Failure> {
    let (reached, mut code) = super::engines::answered(super::engines::reach_all(ctx).await)?;
    // each engine's managed containers, by engine name
    let mut lists: Vec<(&str, Vec<ContainerInfo>)> = Vec::new();
    for (t, engine) in &reached {
        match engine.list(false).await {
            Ok(l) => lists.push((t.name.as_str(), l)),
            Err(e) if reached.len() == 1 => return Err(e.into()),
            Err(e) => {
                eprintln!("agentdock: engine {}: {e}", t.name);
                code = exit::ENGINE_UNREACHABLE;
            }
        }
    }
    one_daemon_once(ctx, &mut lists);
    let mut rows: Vec<LsRow> = ctx
        .projects
        .iter()
        .filter_map(|p| Some((p, ctx.engine_in_view(p).ok()?)))
        .map(|(p, t)| LsRow {
            id: &p.id,
            name: &p.name,
            path: p.path.display().to_string(),
            engine: &t.name,
            exists: p.exists,
            orphaned: false,
            orphan_reason: None,
            containers: lists
                .iter()
                .filter(|(e, _)| *e == t.name)
                .flat_map(|(_, l)| l.iter())
                .filter(|c| c.project_id.as_deref() == Some(p.id.as_str()))
                .collect(),
        })
        .collect();
    let configured = rows.len();
    // Containers whose project is not configured (on that engine): all agentdock knows of them
    // is their labels, which are not trusted (shown, never used).
    for (engine, list) in &lists {
        for c in list {
            let id = c.project_id.as_deref().unwrap_or("?");
            if let Some(r) = rows.iter_mut().find(|r| r.id == id && r.engine == *engine) {
                if !r.containers.iter().any(|k| k.id == c.id) {
                    r.containers.push(c);
                }
                continue;
            }
            let path = c.project_path.clone().unwrap_or_default();
            let why = Orphaned::of(id, Path::new(&path), ctx.config(), &crate::paths::home_dir());
            rows.push(LsRow {
                id,
                name: c.project_name.as_deref().unwrap_or(id),
                exists: !path.is_empty() && Path::new(&path).is_dir(),
                path,
                engine,
                orphaned: true,
                orphan_reason: Some(why.describe()),
                containers: vec![c],
            });
        }
    }
    for r in &mut rows[..configured] {
        if !r.exists && !r.containers.is_empty() {
            r.orphaned = true;
            r.orphan_reason = Some(Orphaned::DirectoryGone.describe());
        }
    }
    if json {
        print_json(&rows)?;
        return Ok(code);
    }
    let several = ctx.shown.len() > 1;
    if several {
        println!("{:<24} {:<12} {:<14} {:<10} {:<10} PATH", "PROJECT", "ENGINE", "CONTAINER", "STATE", "HEALTH");
    } else {
        println!("{:<24} {:<14} {:<10} {:<10} PATH", "PROJECT", "CONTAINER", "STATE", "HEALTH");
    }
    for r in &rows {
        // label values may hold anything: shown without escapes or control characters
        let (name, path) = (strip(r.name), strip(&r.path));
        let note = r.orphan_reason.map(|w| format!("  (orphaned: {w})")).unwrap_or_default();
        let name = if several { format!("{name:<24} {:<12}", r.engine) } else { format!("{name:<24}") };
        if r.containers.is_empty() {
            println!("{name} {:<14} {:<10} {:<10} {path}{note}", "-", "none", "-");
        }
        for c in &r.containers {
            let state = if r.orphaned { "orphaned" } else { c.state.as_str() };
            println!("{name} {:<14} {state:<10} {:<10} {path}{note}", c.short_id(), c.health.as_str());
        }
    }
    if rows.is_empty() {
        println!("(no projects: add roots or [[project]] entries to {})", ctx.loaded.path.display());
    }
    Ok(code)
}

/// Two names for one daemon list the same containers (a container's id is its daemon's own):
/// each is kept on the engine its project is pinned to, else on the first that listed it.
pub(super) fn one_daemon_once(ctx: &Context, lists: &mut [(&str, Vec<ContainerInfo>)]) {
    let mut owner: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, (engine, list)) in lists.iter().enumerate() {
        for c in list {
            let pinned_here = c.project_id.as_deref().and_then(|id| ctx.projects.iter().find(|p| p.id == id)).is_some_and(|p| ctx.engine_of(p).name == *engine);
            let e = owner.entry(c.id.clone()).or_insert(i);
            if pinned_here {
                *e = i;
            }
        }
    }
    for (i, (_, list)) in lists.iter_mut().enumerate() {
        list.retain(|c| owner.get(&c.id) == Some(&i));
    }
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
    // an orphan's name is a label: shown plain
    let name = strip(&p.name);
    if containers.is_empty() && !purge {
        println!("{name} has no container");
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
            name
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
        println!("purged the agent config of {name}");
    }
    Ok(exit::OK)
}
