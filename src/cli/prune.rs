//! `agentdock prune`: agentdock's old image versions, finished task directories older than
//! asked, the secrets of containers that are gone. Says what it freed; `--dry-run` only says.

use std::path::Path;

use super::{connect, exit, Failure};
use crate::domain::container::now_unix;
use crate::domain::stats::human_bytes;
use crate::ops::Context;
use crate::tasks::store;

/// "7d", "12h", "30m", "90s" (a bare number is days) in seconds.
pub fn parse_age(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (num, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c),
        _ => (t, 'd'),
    };
    let n: i64 = num.trim().parse().map_err(|_| format!("'{s}' is not an age (use e.g. 7d, 12h, 30m)"))?;
    let mult = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        _ => return Err(format!("'{s}': the unit is d, h, m or s")),
    };
    if n < 0 {
        return Err(format!("'{s}' must not be negative"));
    }
    Ok(n * mult)
}

/// Bytes under `p`, links not followed.
fn size_of(p: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(p) else { return 0 };
    if !m.is_dir() {
        return m.len();
    }
    std::fs::read_dir(p).map(|d| d.flatten().map(|e| size_of(&e.path())).sum()).unwrap_or(0)
}

pub(super) async fn prune(ctx: &Context, older_than: &str, dry_run: bool, images: bool) -> Result<i32, Failure> {
    let age = parse_age(older_than).map_err(Failure::usage)?;
    let engine = connect(ctx).await?;
    let verb = if dry_run { "would free" } else { "freed" };
    let mut freed = 0u64;

    // old versions of agentdock's images: no tag any more, or a tag no project uses, and no
    // container on them
    let mut wanted: Vec<String> = vec![ctx.config().image.clone()];
    wanted.extend(ctx.projects.iter().map(|p| p.settings.image.clone()));
    let all_images = if images { engine.agentdock_images().await? } else { Vec::new() };
    for img in all_images {
        let current = img.tags.iter().any(|t| wanted.contains(t) || !t.starts_with("agentdock/agent:"));
        if current || img.containers > 0 {
            continue;
        }
        let name = img.tags.first().cloned().unwrap_or_else(|| img.id.trim_start_matches("sha256:").chars().take(12).collect());
        if !dry_run {
            if let Err(e) = engine.remove_image(&img.id).await {
                println!("kept image {name}: {e}");
                continue;
            }
        }
        freed += img.size.max(0) as u64;
        println!("image {name}: {} {}", human_bytes(img.size.max(0) as u64), if dry_run { "(would go)" } else { "removed" });
    }

    // finished tasks whose end is older than asked: their directory (the branch stays in the
    // project's repository)
    let cutoff = now_unix() - age;
    let mut tasks = 0;
    for rec in store::load_all() {
        let ended = rec.ended_at.unwrap_or(rec.spec.created_at);
        if !rec.collected || !rec.state.is_final() || ended > cutoff {
            continue;
        }
        let dir = store::task_dir(&rec.spec.id);
        let bytes = size_of(&dir);
        if !dry_run {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                println!("kept task {}: {e}", rec.spec.id);
                continue;
            }
        }
        tasks += 1;
        freed += bytes;
    }
    if tasks > 0 {
        println!("{tasks} finished task director{} older than {older_than}: {} (their branches stay)", if tasks == 1 { "y" } else { "ies" }, if dry_run { "would go" } else { "removed" });
    }

    // the secrets of containers that no longer exist
    let names: Vec<String> = engine.list(true).await?.into_iter().map(|c| c.name).collect();
    let base = crate::engine::secrets::base();
    let mut secrets = 0;
    for e in std::fs::read_dir(&base).map(|d| d.flatten().collect::<Vec<_>>()).unwrap_or_default() {
        let name = e.file_name().to_string_lossy().into_owned();
        // a container may be on its way (its secrets are written just before it is made)
        let young = e.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|a| a.as_secs() < 60));
        if !names.contains(&name) && !young && e.file_type().is_ok_and(|t| t.is_dir()) {
            if !dry_run {
                crate::engine::secrets::remove(&name);
            }
            secrets += 1;
        }
    }
    if secrets > 0 {
        println!("secrets of {secrets} container{} that are gone: {}", if secrets == 1 { "" } else { "s" }, if dry_run { "would go" } else { "removed" });
    }
    println!("{verb} {}", human_bytes(freed));
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("7d"), Ok(7 * 86_400));
        assert_eq!(parse_age("12h"), Ok(12 * 3_600));
        assert_eq!(parse_age("3"), Ok(3 * 86_400));
        assert_eq!(parse_age("0s"), Ok(0));
        assert!(parse_age("soon").is_err());
        assert!(parse_age("5y").is_err());
    }
}
