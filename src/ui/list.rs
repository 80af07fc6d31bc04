//! The main list: projects with their containers, then (toggle) unmanaged containers.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row as TRow, Table};
use ratatui::Frame;

use super::{panel, theme};
use crate::app::{list_offset, App, ContainerView, EngineStatus, Row};
use crate::domain::container::{ContainerState, Health};
use crate::domain::stats::{human_age, human_bytes};

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

struct Cols {
    agent: bool,
    disk: bool,
    /// Narrow screens: short memory figures.
    compact: bool,
}

/// "512MiB" -> "512M" for narrow screens.
fn short_bytes(b: u64) -> String {
    human_bytes(b).replace("iB", "")
}

fn container_cells(app: &App, c: &ContainerView, name: Line<'static>, busy: Option<&str>, cols: &Cols) -> Vec<Cell<'static>> {
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
    let cpu = s.map(|s| format!("{:.1}", s.sample.cpu_percent)).unwrap_or_else(|| "-".into());
    let mem = s
        .map(|s| {
            if cols.compact {
                format!("{}/{}", short_bytes(s.sample.mem_used), short_bytes(s.sample.mem_limit))
            } else {
                format!("{} / {}", human_bytes(s.sample.mem_used), human_bytes(s.sample.mem_limit))
            }
        })
        .unwrap_or_else(|| "-".into());
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
    let mut cells = vec![
        Cell::from(name),
        state,
        Cell::from(Span::styled(c.info.health.as_str(), health_style(c.info.health))),
        Cell::from(Line::from(cpu).right_aligned()),
        Cell::from(Line::from(mem).right_aligned()),
    ];
    if cols.disk {
        cells.push(Cell::from(Line::from(disk).right_aligned()));
    }
    cells.push(Cell::from(Line::from(age).right_aligned()));
    if cols.agent {
        let agent = c.agent.as_ref().map(|a| a.label(app.model.now)).unwrap_or_else(|| "-".into());
        cells.push(Cell::from(agent));
    }
    cells.push(refresh);
    cells
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, focused: bool, counts: (usize, usize, usize)) {
    let cols = Cols { agent: area.width >= 130, disk: area.width >= 100, compact: area.width < 100 };
    let (running, unhealthy, refresh) = counts;
    let sort_dir = if app.list.sort_desc { "↓" } else { "↑" };
    let mut title = vec![
        Span::styled(" projects ", theme::header()),
        Span::styled(format!("{running} running "), Style::new().fg(theme::OK)),
    ];
    if unhealthy > 0 {
        title.push(Span::styled(format!("{unhealthy} unhealthy "), Style::new().fg(theme::BAD)));
    }
    if refresh > 0 {
        title.push(Span::styled(format!("{refresh} need refresh "), Style::new().fg(theme::WARN)));
    }
    title.push(Span::styled(format!("sort {}{sort_dir} ", app.list.sort.label()), Style::new().fg(theme::DIM)));
    if !app.list.filter.is_empty() {
        title.push(Span::styled(format!("filter /{} ", app.list.filter), Style::new().fg(theme::WARN)));
    }
    let block = panel(Line::from(title), focused);
    let inner = block.inner(area);

    if app.list.rows.is_empty() {
        let msg = if !app.list.filter.is_empty() {
            format!("no project or container matches '{}' (Esc clears the filter)", app.list.filter)
        } else if app.model.projects.is_empty() && app.model.containers.is_empty() {
            match &app.engine {
                EngineStatus::Reconnecting { reason, .. } => format!("engine unreachable: {reason}"),
                _ => format!(
                    "no projects: put git repositories under {} or add [[project]] entries to the config",
                    app.model.config.roots.join(", ")
                ),
            }
        } else {
            "nothing to show".into()
        };
        f.render_widget(Paragraph::new(msg).style(Style::new().fg(theme::DIM)).block(block), area);
        return;
    }

    let mut header = vec!["NAME", "STATE", "HEALTH", "CPU%", "MEM"];
    if cols.disk {
        header.push("DISK");
    }
    header.push("AGE");
    if cols.agent {
        header.push("AGENT");
    }
    header.push("REFRESH");
    let visible = inner.height.saturating_sub(1) as usize;
    let offset = list_offset(app.list.selected, visible);
    let mut rows = Vec::new();
    for (i, row) in app.list.rows.iter().enumerate().skip(offset).take(visible) {
        let style = if i == app.list.selected { theme::selected() } else { Style::new() };
        let cells = match row {
            Row::Project { project, container } => {
                let p = &app.model.projects[*project];
                let busy = app.model.ops.get(&p.id).map(String::as_str);
                let mut name = vec![Span::styled(p.name.clone(), Style::new().add_modifier(Modifier::BOLD))];
                if !p.exists {
                    name.push(Span::styled(" (dir gone)", Style::new().fg(theme::BAD)));
                }
                match container.as_ref().and_then(|id| app.model.containers.get(id)) {
                    Some(c) => container_cells(app, c, Line::from(name), busy, &cols),
                    None => {
                        let none = if cols.compact { "none" } else { "no container" };
                        let hint = busy.map(|b| format!("{b}…")).unwrap_or_else(|| none.into());
                        vec![
                            Cell::from(Line::from(name)),
                            Cell::from(Span::styled(hint, Style::new().fg(theme::DIM))),
                        ]
                    }
                }
            }
            Row::Extra { container, orphan } => match app.model.containers.get(container) {
                Some(c) => {
                    let label = if *orphan {
                        Line::from(vec![
                            Span::raw(c.info.project_name.clone().unwrap_or_else(|| c.info.name.clone())),
                            Span::styled(" (orphaned)", Style::new().fg(theme::BAD)),
                        ])
                    } else {
                        Line::from(format!("  └ {}", c.info.name))
                    };
                    let busy = c.info.project_id.as_ref().and_then(|id| app.model.ops.get(id)).map(String::as_str);
                    container_cells(app, c, label, busy, &cols)
                }
                None => vec![],
            },
            Row::Unmanaged { container } => match app.model.containers.get(container) {
                Some(c) => {
                    let label = Line::from(vec![Span::styled(format!("· {}", c.info.name), Style::new().fg(theme::DIM))]);
                    container_cells(app, c, label, None, &cols)
                }
                None => vec![],
            },
        };
        rows.push(TRow::new(cells).style(style));
    }
    let name_w = app
        .list
        .rows
        .iter()
        .map(|r| match r {
            Row::Project { project, .. } => app.model.projects[*project].name.chars().count() + 11,
            other => crate::app::row_container(&app.model, other).map(|c| c.info.name.chars().count() + 12).unwrap_or(0),
        })
        .max()
        .unwrap_or(16)
        .clamp(12, if cols.compact { 20 } else { 40 }) as u16;
    let mut widths = vec![
        Constraint::Length(name_w),
        Constraint::Length(if cols.compact { 10 } else { 16 }),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(if cols.compact { 11 } else { 19 }),
    ];
    if cols.disk {
        widths.push(Constraint::Length(5));
    }
    widths.push(Constraint::Length(6));
    if cols.agent {
        widths.push(Constraint::Length(16));
    }
    widths.push(Constraint::Fill(1));
    let table = Table::new(rows, widths)
        .header(TRow::new(header).style(theme::header()))
        .column_spacing(1)
        .block(block);
    f.render_widget(table, area);
}
