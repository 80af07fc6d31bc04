//! `task run --attempts N`: N tasks of one prompt, followed together; as each ends a line says
//! how, and at the end their diff stats stand side by side.

use std::time::Duration;

use super::{exit, print_json, Failure};
use crate::domain::task::TaskRecord;
use crate::engine::Engine;
use crate::tasks::{self, store};

pub async fn follow_all(engine: &Engine, recs: Vec<TaskRecord>, json: bool) -> Result<i32, Failure> {
    let ids: Vec<String> = recs.iter().map(|r| r.spec.id.clone()).collect();
    if !json {
        let first = &recs[0];
        eprintln!("{} attempts on {} (group {}): {}", recs.len(), first.spec.project_name, first.spec.group.as_deref().unwrap_or("-"), ids.join(" "));
    }
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut said = std::collections::HashSet::new();
    let done = loop {
        let mut now = Vec::new();
        for id in &ids {
            let Some(r) = store::load(id) else { continue };
            now.push(tasks::refreshed(Some(engine), r).await);
        }
        for r in now.iter().filter(|r| r.collected) {
            if !json && said.insert(r.spec.id.clone()) {
                println!("attempt {} ({}): {}", r.spec.attempt.unwrap_or(0), r.spec.id, r.state.label());
            }
        }
        if now.len() == ids.len() && now.iter().all(|r| r.collected) {
            break now;
        }
        tokio::select! {
            _ = &mut ctrl_c => {
                eprintln!("cancelling {} attempts…", ids.len());
                let mut out = Vec::new();
                for r in now {
                    out.push(tasks::cancel(engine, &r).await.unwrap_or(r));
                }
                break out;
            }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    };
    if json {
        print_json(&done)?;
    } else {
        print!("{}", side_by_side(&done));
    }
    let all_ok = done.iter().all(|r| r.state == crate::domain::task::TaskState::Succeeded);
    Ok(if all_ok { exit::OK } else { exit::FAILED })
}

/// The attempts one under the other, their numbers in columns: how each ended and what it
/// changed, so they can be compared at a glance (`task diff A B` for the details).
pub fn side_by_side(all: &[TaskRecord]) -> String {
    let mut out = format!("{:<8} {:<16} {:<13} {:>6} {:>6} {:>6} {:>6} {:>8}\n", "ATTEMPT", "ID", "STATE", "FILES", "+", "-", "TURNS", "COST");
    for r in all {
        let d = r.diffstat.unwrap_or_default();
        let cost = r.summary.cost_usd.map(|c| format!("${c:.4}")).unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:<8} {:<16} {:<13} {:>6} {:>6} {:>6} {:>6} {:>8}\n",
            format!("#{}", r.spec.attempt.unwrap_or(0)),
            r.spec.id,
            r.state.label(),
            d.files,
            d.insertions,
            d.deletions,
            r.summary.turns,
            cost
        ));
    }
    out
}
