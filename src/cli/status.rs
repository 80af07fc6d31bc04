//! How things stand: stats and doctor.


use serde::Serialize;

use super::{exit, print_json, Failure};
use crate::domain::container::Health;
use crate::domain::policy::{refresh_reasons, Observed, RefreshReason};
use crate::domain::spec::SECRET_ENV;
use crate::domain::stats::{human_age, human_bytes};
use crate::engine::{ContainerStats, Engine, EngineError};
use crate::ops::Context;

#[derive(Serialize)]
struct StatsRow {
    #[serde(flatten)]
    stats: ContainerStats,
    /// The engine the container lives on.
    engine: String,
    needs_refresh: Vec<RefreshReason>,
}

pub(super) async fn stats(ctx: &Context, key: Option<&str>, json: bool) -> Result<i32, Failure> {
    let mut all = Vec::new();
    let mut code = exit::OK;
    if let Some(k) = key {
        let (engine, _, containers) = super::project_and_containers(ctx, k).await?;
        all.extend(engine.stats_many(&containers).await.into_iter().map(|s| (engine.name().to_string(), s)));
    } else {
        let (reached, c) = super::engines::answered(super::engines::reach_all(ctx).await)?;
        code = c;
        let mut lists = Vec::new();
        let mut engines = Vec::new();
        for (t, engine) in &reached {
            match engine.list(false).await {
                Ok(containers) => {
                    lists.push((t.name.as_str(), containers));
                    engines.push(engine);
                }
                Err(e) if reached.len() == 1 => return Err(e.into()),
                Err(e) => {
                    eprintln!("agentdock: engine {}: {e}", t.name);
                    code = exit::ENGINE_UNREACHABLE;
                }
            }
        }
        super::projects::one_daemon_once(ctx, &mut lists);
        for ((name, containers), engine) in lists.iter().zip(engines) {
            all.extend(engine.stats_many(containers).await.into_iter().map(|s| (name.to_string(), s)));
        }
    }
    let several = ctx.shown.len() > 1;
    let rows: Vec<StatsRow> = all
        .into_iter()
        .map(|(engine, s)| {
            let policy = s
                .project_id
                .as_deref()
                .and_then(|id| ctx.projects.iter().find(|p| p.id == id))
                .map(|p| p.settings.refresh.clone())
                .unwrap_or_else(|| ctx.config().refresh.clone());
            let observed = Observed {
                age_secs: s.age_secs,
                disk_percent: s.disk_percent,
                mem_percent: s.sample.map(|x| x.mem_percent),
                health: Some(s.health),
            };
            StatsRow { needs_refresh: refresh_reasons(&policy, &observed), stats: s, engine }
        })
        .collect();
    if json {
        print_json(&rows)?;
        return Ok(code);
    }
    println!(
        "{:<28} {:<9} {:<10} {:>7} {:>22} {:>6} {:>5} {:>7}  REFRESH",
        "NAME", "STATE", "HEALTH", "CPU%", "MEM USED / LIMIT", "DISK", "PIDS", "AGE"
    );
    for r in &rows {
        let s = &r.stats;
        let (cpu, mem, pids) = match &s.sample {
            Some(x) => (
                format!("{:.1}", x.cpu_percent),
                format!("{} / {} {:.0}%", human_bytes(x.mem_used), human_bytes(x.mem_limit), x.mem_percent),
                x.pids.to_string(),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let disk = s.disk_percent.map(|d| format!("{d:.0}%")).unwrap_or_else(|| "-".into());
        let reasons: Vec<String> = r.needs_refresh.iter().map(ToString::to_string).collect();
        let name = if several { format!("{}@{}", s.name, r.engine) } else { s.name.clone() };
        println!(
            "{:<28} {:<9} {:<10} {:>7} {:>22} {:>6} {:>5} {:>7}  {}",
            name,
            s.state.as_str(),
            s.health.as_str(),
            cpu,
            mem,
            disk,
            pids,
            s.age_secs.map(human_age).unwrap_or_default(),
            if reasons.is_empty() { "-".to_string() } else { reasons.join(", ") }
        );
        if s.health == Health::Unhealthy {
            if let Some(o) = &s.last_health_output {
                println!("    last health check: {o}");
            }
        }
    }
    Ok(code)
}

#[derive(Serialize)]
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

pub(super) async fn doctor(ctx: &Context, json: bool) -> Result<i32, Failure> {
    let mut checks = Vec::new();
    let cfg = ctx.config();
    let reached = super::engines::reach_all(ctx).await;
    let mut unreachable = false;
    let several = reached.len() > 1;
    for r in &reached {
        let on = if several { format!("{}: ", r.target.name) } else { String::new() };
        match &r.engine {
            Ok(e) => checks.push(Check {
                name: "engine",
                ok: true,
                detail: format!("{on}{} (Docker {}, API {})", e.host(), e.server_version(), e.api_version()),
            }),
            Err(e) => {
                unreachable |= matches!(e, EngineError::Unreachable { .. });
                checks.push(Check { name: "engine", ok: false, detail: format!("{on}{e}") })
            }
        }
        // the images its projects need (the default engine: the configured one too)
        let default = ctx.engines[0].name == r.target.name;
        let mut images: Vec<&str> = if default { vec![cfg.image.as_str()] } else { Vec::new() };
        images.extend(ctx.projects.iter().filter(|p| ctx.engine_of(p).name == r.target.name).map(|p| p.settings.image.as_str()));
        images.sort();
        images.dedup();
        for image in images {
            let check = match &r.engine {
                Ok(e) => match e.image_size(image).await {
                    Ok(Some(size)) => {
                        // what it was built with (node, npm, Claude Code), as the image says
                        let versions = e.image_versions(image).await.ok().flatten().map(|v| format!(" · {}{}", v, old_node(&v))).unwrap_or_default();
                        Check { name: "image", ok: true, detail: format!("{on}{image} ({}){versions}", human_bytes(size as u64)) }
                    }
                    Ok(None) => Check {
                        name: "image",
                        ok: false,
                        detail: format!("{on}{image} is missing; build it with: {}", crate::config::BUILD_COMMAND),
                    },
                    Err(err) => Check { name: "image", ok: false, detail: format!("{on}{err}") },
                },
                Err(_) => Check { name: "image", ok: false, detail: format!("{on}{image}: engine unreachable") },
            };
            checks.push(check);
        }
    }
    // the network's proxy lives on the default engine
    let engine = reached.iter().find(|r| r.target.name == ctx.engines[0].name).map(|r| &r.engine);
    checks.push(Check {
        name: "config",
        ok: true,
        detail: if ctx.loaded.from_file {
            format!("{}", ctx.loaded.path.display())
        } else {
            format!("{} (no file: defaults in use)", ctx.loaded.path.display())
        },
    });
    let missing: Vec<&str> = ctx.projects.iter().filter(|p| !p.exists).map(|p| p.name.as_str()).collect();
    checks.push(Check {
        name: "projects",
        ok: missing.is_empty(),
        detail: if missing.is_empty() {
            format!("{} found (roots: {})", ctx.projects.len(), cfg.roots.join(", "))
        } else {
            format!("{} found; directory missing: {}", ctx.projects.len(), missing.join(", "))
        },
    });
    // each project's agent must be able to write its workspace, as the user it would run as
    let mut unwritable = Vec::new();
    for p in ctx.projects.iter().filter(|p| p.exists && ctx.engine_of(p).is_local()) {
        let host = crate::domain::spec::HostContext::gather(p, crate::paths::agent_config_dir(&p.id));
        match crate::domain::spec::container_user(cfg, p, &host) {
            Ok(user) => unwritable.extend(crate::domain::spec::write_warning(&user, &p.path, &host).map(|w| format!("{}: {w}", p.name))),
            Err(e) => unwritable.push(format!("{}: {e}", p.name)),
        }
    }
    checks.push(Check {
        name: "workspaces",
        ok: unwritable.is_empty(),
        detail: if unwritable.is_empty() { format!("each agent can write its workspace (user = \"{}\")", cfg.user) } else { unwritable.join("; ") },
    });
    checks.push(git_check(ctx));
    if let Some(Ok(e)) = engine {
        checks.extend(network_checks(e, ctx).await);
        checks.push(broker_check(e, ctx).await);
    }
    checks.push(Check { name: "data", ok: true, detail: crate::paths::data_dir().display().to_string() });
    let secrets: Vec<String> = SECRET_ENV
        .iter()
        .map(|n| format!("{n} {}", if std::env::var(n).map(|v| !v.is_empty()).unwrap_or(false) { "set" } else { "not set" }))
        .collect();
    checks.push(Check { name: "secrets", ok: true, detail: secrets.join(", ") });

    let all_ok = checks.iter().all(|c| c.ok);
    if json {
        print_json(&checks)?;
    } else {
        for c in &checks {
            println!("{:<9} {:<4} {}", c.name, if c.ok { "ok" } else { "FAIL" }, c.detail);
        }
    }
    Ok(if unreachable {
        exit::ENGINE_UNREACHABLE
    } else if all_ok {
        exit::OK
    } else {
        exit::FAILED
    })
}

/// The credential broker: off (what it would add), or its state and the kind of credential it
/// holds (never the value).
async fn broker_check(engine: &Engine, ctx: &Context) -> Check {
    let Some(link) = crate::ops::broker_link(ctx) else {
        return Check {
            name: "broker",
            ok: true,
            detail: "off: each agent uses its own login or the key passed in; with broker.credential_file (or broker.from_env) the key stays out of every container, each agent is metered and budgets hold".into(),
        };
    };
    let kind = match crate::engine::broker::read_credential(&link.credential) {
        Ok((_, k)) => k.describe().to_string(),
        Err(e) => return Check { name: "broker", ok: false, detail: e.to_string() },
    };
    let st = engine.inspect_state(&link.broker.name).await.ok().flatten();
    let running = st.as_ref().is_some_and(|s| s.state == crate::domain::container::ContainerState::Running && s.health != Health::Unhealthy);
    let stale = engine.broker_staleness(&link.broker).await;
    Check {
        name: "broker",
        ok: st.is_none() || running,
        detail: format!(
            "{} {}, holding {kind} from {}, upstream {}{}",
            link.broker.name,
            match &st {
                None => "not made yet (the first `agentdock up` makes it)".to_string(),
                Some(s) => format!("{} ({})", s.state.as_str(), s.health.as_str()),
            },
            link.credential.describe(),
            link.broker.upstream,
            stale.iter().map(|s| format!("; warning: {s}")).collect::<String>()
        ),
    }
}

/// The workspaces' git dirs: one the container could have redirected (a `.git/commondir`, a
/// `.git` link or a `.git` file naming a git dir inside the workspace) fails, and nested
/// repositories just under the top are named: both are the container's work, as untrusted as
/// any repository you did not make.
fn git_check(ctx: &Context) -> Check {
    let mut bad = Vec::new();
    let mut nested = Vec::new();
    for p in ctx.projects.iter().filter(|p| p.exists && ctx.engine_of(p).is_local()) {
        if let crate::gitstate::GitRead::Unreadable(why) = crate::gitstate::read(&p.path) {
            bad.push(format!("{}: {why}", p.name));
        }
        let Ok(entries) = std::fs::read_dir(&p.path) else { continue };
        for e in entries.flatten().take(10_000) {
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir && e.file_name() != ".git" && std::fs::symlink_metadata(e.path().join(".git")).is_ok() {
                nested.push(format!("{}/{}", p.name, e.file_name().to_string_lossy()));
            }
        }
    }
    let mut detail = if bad.is_empty() { "every workspace's .git is its own".to_string() } else { bad.join("; ") };
    if !nested.is_empty() {
        nested.sort();
        let more = if nested.len() > 5 { format!(" and {} more", nested.len() - 5) } else { String::new() };
        nested.truncate(5);
        detail.push_str(&format!("; nested repositories (untrusted, look before you run git in them): {}{more}", nested.join(", ")));
    }
    Check { name: "git", ok: bad.is_empty(), detail: crate::domain::text::strip(&detail) }
}

/// Each project's network mode (and a container made for other network settings, which its
/// next refresh moves), and the egress proxy's state.
async fn network_checks(engine: &Engine, ctx: &Context) -> Vec<Check> {
    use crate::domain::network;
    use crate::config::NetworkMode;
    let cfg = ctx.config();
    let proxy = network::this_proxy(cfg);
    let mut modes = Vec::new();
    let mut moved = Vec::new();
    let containers = engine.list(false).await.unwrap_or_default();
    for p in &ctx.projects {
        modes.push(format!("{} {}", p.name, p.settings.network.as_str()));
        let spec = network::network_spec(cfg, &p.id, p.settings.network, &p.settings.allow, proxy.clone());
        for c in containers.iter().filter(|c| c.project_id.as_deref() == Some(p.id.as_str()) && c.name == crate::domain::container::container_name(&p.id)) {
            if let Ok(Some(why)) = engine.network_drift(&c.id, &spec).await {
                moved.push(format!("{}: {why}; `agentdock refresh {}` moves it", c.name, p.id));
            }
        }
    }
    let mut checks = vec![Check {
        name: "network",
        ok: moved.is_empty(),
        detail: match (modes.is_empty(), moved.is_empty()) {
            (true, _) => format!("no projects (default mode {})", cfg.security.network.as_str()),
            (false, true) => modes.join(", "),
            (false, false) => format!("{}; {}", modes.join(", "), moved.join("; ")),
        },
    }];
    if !ctx.projects.iter().any(|p| p.settings.network == NetworkMode::Allowlist) {
        return checks;
    }
    let check = match (engine.image_exists(&proxy.image).await, engine.proxy_state(&proxy.name).await) {
        (Ok(false), _) => Check { name: "proxy", ok: false, detail: format!("image {} is missing; build it with: {}", proxy.image, network::PROXY_BUILD_COMMAND) },
        (Err(e), _) | (_, Err(e)) => Check { name: "proxy", ok: false, detail: e.to_string() },
        (Ok(true), Ok(None)) => Check { name: "proxy", ok: true, detail: format!("{} not made yet (the first `agentdock up` of an allowlist project makes it)", proxy.name) },
        (Ok(true), Ok(Some(st))) => {
            let nets = engine.agent_networks(&proxy.name).await.map(|n| n.iter().filter(|n| n.mode.as_deref() == Some("allowlist")).count()).unwrap_or(0);
            let running = st.state == crate::domain::container::ContainerState::Running && st.health != Health::Unhealthy;
            // stale is said, not failed: it still serves
            let stale = engine.proxy_staleness(&proxy).await;
            Check {
                name: "proxy",
                ok: running,
                detail: format!(
                    "{} {} ({}), serving {nets} network(s){}{}",
                    proxy.name,
                    st.state.as_str(),
                    st.health.as_str(),
                    if running { String::new() } else { "; `agentdock up` or the dashboard starts it again".into() },
                    stale.iter().map(|s| format!("; warning: {s}")).collect::<String>()
                ),
            }
        }
    };
    checks.push(check);
    checks
}

/// A word when the image's Node (`node vNN…` in its versions) is past its end of life.
fn old_node(versions: &str) -> &'static str {
    let major = versions.split(", ").find_map(|v| v.strip_prefix("node v")).and_then(|v| v.split('.').next()?.parse::<u32>().ok());
    match major {
        Some(m) if m < 20 => " (this Node is past its end of life: rebuild the image)",
        _ => "",
    }
}
