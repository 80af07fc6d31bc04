//! The cells of one row of the list: a container's figures, a project's totals, a group's
//! heading.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Cell;

use super::super::theme;
use crate::app::{App, ContainerView, Group, Totals};
use crate::domain::container::{ContainerState, Health};
use crate::domain::stats::{human_age, human_bytes};

pub struct Cols {
    pub agent: bool,
    /// The projects' git state (branch, ahead / behind, files changed).
    pub git: bool,
    pub disk: bool,
    /// Narrow screens: short memory figures.
    pub compact: bool,
    /// Very narrow screens (under 60 columns): name, state, CPU and memory used only.
    pub tiny: bool,
}

impl Cols {
    pub fn for_width(w: u16) -> Cols {
        Cols { agent: w >= 130, git: w >= 140, disk: w >= 100, compact: w < 100, tiny: w < 60 }
    }
}

fn state_style(s: ContainerState) -> Style {
    match s {
        ContainerState::Running => Style::new().fg(theme::OK),
        ContainerState::Restarting | ContainerState::Paused | ContainerState::Created => Style::new().fg(theme::WARN),
        _ => Style::new().fg(theme::BAD),
    }
}

fn health_style(h: Health) -> Style {
    match h {
        Health::Healthy => Style::new().fg(theme::OK),
        Health::Starting => Style::new().fg(theme::WARN),
        Health::Unhealthy => Style::new().fg(theme::BAD).add_modifier(Modifier::BOLD),
        Health::None => Style::new().fg(theme::DIM),
    }
}

/// "512MiB" -> "512M" for narrow screens.
fn short_bytes(b: u64) -> String {
    human_bytes(b).replace("iB", "")
}

fn mem_text(used: u64, limit: u64, cols: &Cols) -> String {
    if cols.tiny {
        short_bytes(used)
    } else if cols.compact {
        format!("{}/{}", short_bytes(used), short_bytes(limit))
    } else {
        format!("{} / {}", human_bytes(used), human_bytes(limit))
    }
}

/// A sum is marked Σ, so it is never read as one container's figure.
fn totals_text(t: &Totals, cols: &Cols) -> (String, String) {
    if t.with_figures == 0 {
        return ("-".into(), "-".into());
    }
    let cpu = if t.cpu >= 1000.0 { format!("Σ{:.0}", t.cpu) } else { format!("Σ{:.1}", t.cpu) };
    let mem = if t.unlimited { human_bytes(t.mem_used) } else { mem_text(t.mem_used, t.mem_limit, cols) };
    (cpu, format!("Σ{mem}"))
}

fn right(text: String) -> Cell<'static> {
    Cell::from(Line::from(text).right_aligned())
}

/// A container's row; `totals` replaces its CPU and memory with its project's sums.
pub fn container(app: &App, c: &ContainerView, name: Line<'static>, busy: Option<&str>, totals: Option<Totals>, cols: &Cols) -> Vec<Cell<'static>> {
    let state = match (busy, c.info.state) {
        (Some(b), _) => Cell::from(Span::styled(format!("{b}…"), Style::new().fg(theme::WARN))),
        (None, ContainerState::Exited) => {
            let st = c.state.as_ref();
            let code = st.and_then(|s| s.exit_code).map(|e| format!(" ({e})")).unwrap_or_default();
            let oom = if st.map(|s| s.oom_killed).unwrap_or(false) { " OOM" } else { "" };
            Cell::from(Span::styled(format!("exited{code}{oom}"), state_style(c.info.state)))
        }
        (None, ContainerState::Running) if c.last_exit.map(|(at, _, _)| app.model.now - at < 300).unwrap_or(false) => {
            // it died a moment ago and its restart policy brought it back
            let (_, code, oom) = c.last_exit.unwrap_or_default();
            let code = code.map(|c| format!(" {c}")).unwrap_or_default();
            let oom = if oom { " OOM" } else { "" };
            Cell::from(Span::styled(format!("restarted{code}{oom}"), Style::new().fg(theme::WARN)))
        }
        (None, ContainerState::Running) if c.oom_at.map(|at| app.model.now - at < 300).unwrap_or(false) => {
            Cell::from(Span::styled("running OOM", Style::new().fg(theme::BAD).add_modifier(Modifier::BOLD)))
        }
        (None, s) => Cell::from(Span::styled(s.as_str(), state_style(s))),
    };
    let running = c.info.state == ContainerState::Running;
    let s = c.stats.filter(|_| running);
    let (cpu, mem) = match totals {
        Some(t) => totals_text(&t, cols),
        None => (
            s.map(|s| format!("{:.1}", s.sample.cpu_percent)).unwrap_or_else(|| "-".into()),
            s.map(|s| mem_text(s.sample.mem_used, s.sample.mem_limit, cols)).unwrap_or_else(|| "-".into()),
        ),
    };
    let disk = s.and_then(|s| s.disk_percent).map(|d| format!("{d:.0}%")).unwrap_or_else(|| "-".into());
    let created = c.state.as_ref().and_then(|s| s.created).unwrap_or(c.info.created);
    let age = if created > 0 { human_age(app.model.now - created) } else { "-".into() };
    let reasons = app.model.reasons(c);
    let refresh = if reasons.is_empty() {
        Cell::from(Span::styled("", Style::new()))
    } else {
        let text = reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        Cell::from(Span::styled(format!("⟳ {text}"), Style::new().fg(theme::WARN)))
    };
    if cols.tiny {
        return vec![Cell::from(name), state, right(cpu), right(mem)];
    }
    let mut cells = vec![
        Cell::from(name),
        state,
        Cell::from(Span::styled(c.info.health.as_str(), health_style(c.info.health))),
        right(cpu),
        right(mem),
    ];
    if cols.disk {
        cells.push(right(disk));
    }
    cells.push(right(age));
    if cols.agent {
        let agent = c.agent.as_ref().map(|a| a.label(app.model.now)).unwrap_or_else(|| "-".into());
        cells.push(Cell::from(agent));
    }
    cells.push(refresh);
    cells
}

/// A group's heading: how many of its containers run, their sums, and the key that unfolds it.
pub fn group(app: &App, g: Group, ids: &[String], folded: bool, cols: &Cols) -> Vec<Cell<'static>> {
    let running = ids.iter().filter_map(|id| app.model.containers.get(id)).filter(|c| c.info.state == ContainerState::Running).count();
    let mark = if folded { "▸" } else { "▾" };
    let name = Line::from(vec![
        Span::styled(format!("{mark} {}", g.label(cols.compact)), theme::header()),
        Span::styled(format!(" ({})", ids.len()), Style::new().fg(theme::DIM)),
    ]);
    let state = if cols.compact { format!("{running} run") } else { format!("{running} running") };
    let (cpu, mem) = totals_text(&app.model.totals(ids), cols);
    if cols.tiny {
        return vec![Cell::from(name), Cell::from(state), right(cpu), right(mem)];
    }
    let mut cells = vec![
        Cell::from(name),
        Cell::from(Span::styled(state, Style::new().fg(if running > 0 { theme::OK } else { theme::DIM }))),
        Cell::from(""),
        right(cpu),
        right(mem),
    ];
    if cols.disk {
        cells.push(Cell::from(""));
    }
    cells.push(Cell::from(""));
    if cols.agent {
        cells.push(Cell::from(""));
    }
    let what = if folded { "space unfolds" } else { "space folds" };
    let hint = match g {
        _ if cols.compact => "space".to_string(),
        Group::Tasks => format!("{what} · t: the Tasks view"),
        Group::Unmanaged => format!("{what} · u hides · shown, never changed"),
    };
    cells.push(Cell::from(Span::styled(hint, Style::new().fg(theme::DIM))));
    cells
}

/// Puts the GIT cell (empty on rows that are no project's) in its column, after AGE.
pub fn with_git(mut cells: Vec<Cell<'static>>, git: Option<&crate::domain::gitstate::GitRead>, cols: &Cols) -> Vec<Cell<'static>> {
    if !cols.git || cols.tiny {
        return cells;
    }
    let at = 6 + usize::from(cols.disk);
    while cells.len() < at {
        cells.push(Cell::from(""));
    }
    let cell = match git {
        Some(g @ crate::domain::gitstate::GitRead::State(s)) => {
            let style = if s.dirty() > 0 { Style::new().fg(theme::WARN) } else { Style::new() };
            Cell::from(Span::styled(g.cell(), style))
        }
        Some(g) => Cell::from(Span::styled(g.cell(), Style::new().fg(theme::DIM))),
        None => Cell::from(""),
    };
    cells.insert(at, cell);
    cells
}
