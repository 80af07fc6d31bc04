//! The main list: projects with their containers, then the groups that fold (task containers,
//! unmanaged containers on a toggle). The title says what its counts count.

mod agent_cells;
mod cells;
mod engine_row;

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row as TRow, Table};
use ratatui::Frame;

use super::{panel, theme};
use crate::app::{list_offset, App, Counts, EngineStatus, Fold, Group, Row};
use cells::Cols;

pub use agent_cells::state_style as agent_state_style;

/// Whether the selected row has a cell on screen that shows "-" (the help says why).
pub fn selected_has_blank(app: &App, width: u16) -> bool {
    let cols = Cols::for_width(width, app.list.widest, app.model.git_on());
    let Some(c) = app.selected_container().filter(|_| !app.tasks.shown) else { return false };
    app.model.blanks(c).iter().any(|(col, _)| match *col {
        "HEALTH" => cols.health,
        "AGE" => cols.age,
        "DISK" => cols.disk,
        "AGENT" => cols.agent,
        _ => true,
    })
}

/// The counts, each saying what it counts: the projects' containers and what of them needs a
/// look, the tasks, then the unmanaged containers (and where they are when not listed). Shared
/// with the status line; `compact` for narrow screens, `unmanaged` false leaves theirs out.
pub fn count_spans(app: &App, counts: &Counts, compact: bool, unmanaged: bool) -> Vec<Span<'static>> {
    let dim = Style::new().fg(theme::DIM);
    let (run, all) = counts.managed;
    let text = if compact { format!("{run}/{all} managed") } else { format!("{run}/{all} managed running") };
    let mut v = vec![Span::styled(text, Style::new().fg(if run > 0 { theme::OK } else { theme::DIM }))];
    if counts.unhealthy > 0 {
        v.push(Span::styled(" · ", dim));
        v.push(Span::styled(format!("{} unhealthy", counts.unhealthy), Style::new().fg(theme::BAD)));
    }
    if counts.refresh > 0 {
        v.push(Span::styled(" · ", dim));
        let text = if compact { format!("{} to refresh", counts.refresh) } else { format!("{} need refresh", counts.refresh) };
        v.push(Span::styled(text, Style::new().fg(theme::WARN)));
    }
    let (under_way, tasks) = app.tasks.counts();
    if tasks > 0 {
        let style = Style::new().fg(if under_way > 0 { theme::WARN } else { theme::DIM });
        let word = if under_way == 1 { "task" } else { "tasks" };
        let text = if compact { format!("{under_way} {word} under way") } else { format!("{under_way} {word} under way ({tasks} in all)") };
        v.push(Span::styled(" · ", dim));
        v.push(Span::styled(text, style));
    }
    let (run, all) = counts.unmanaged;
    if all > 0 && unmanaged {
        let hidden = if app.list.show_unmanaged { "" } else { ", u lists them" };
        let text = if compact { format!("{run}/{all} unmanaged") } else { format!("{run}/{all} unmanaged running{hidden}") };
        v.push(Span::styled(" · ", dim));
        v.push(Span::styled(text, dim));
    }
    v
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, focused: bool, counts: Counts) {
    let cols = Cols::for_width(area.width, app.list.widest, app.model.git_on());
    let sort_dir = if app.list.sort_desc { "↓" } else { "↑" };
    let mut title = vec![Span::styled(" projects ", theme::header())];
    title.extend(count_spans(app, &counts, cols.compact, true));
    let sort = if cols.compact { "" } else { "sort " };
    title.push(Span::styled(format!(" · {sort}{}{sort_dir} ", app.list.sort.label()), Style::new().fg(theme::DIM)));
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

    let visible = inner.height.saturating_sub(1) as usize;
    let offset = list_offset(app.list.selected, visible);
    let refresh_w = app
        .list
        .rows
        .iter()
        .skip(offset)
        .take(visible)
        .filter_map(|r| crate::app::row_container(&app.model, r))
        .map(|c| app.model.reasons(c).iter().map(|r| r.to_string().chars().count() + 2).sum::<usize>() + 2)
        .max()
        .unwrap_or(0)
        .max(7);
    let (header, widths) = columns(&cols, cols.refresh_width(refresh_w.min(60) as u16));
    let mut rows = Vec::new();
    for (i, row) in app.list.rows.iter().enumerate().skip(offset).take(visible) {
        let style = if i == app.list.selected { theme::selected() } else { Style::new() };
        rows.push(TRow::new(row_cells(app, row, &cols)).style(style));
    }
    let table = Table::new(rows, widths)
        .header(TRow::new(header).style(theme::header()))
        .column_spacing(1)
        .block(block);
    f.render_widget(table, area);
    // an engine's row is one line across the columns
    for (k, (i, row)) in app.list.rows.iter().enumerate().skip(offset).take(visible).enumerate() {
        if let Row::Engine(e) = row {
            let at = Rect::new(inner.x, inner.y + 1 + k as u16, inner.width, 1);
            let style = if i == app.list.selected { theme::selected() } else { Style::new() };
            f.render_widget(Paragraph::new(engine_row::line(app, *e)).style(style), at);
        }
    }
}

/// The columns' headings and widths: as many as fit (see [`Cols`]).
fn columns(cols: &Cols, refresh_w: u16) -> (Vec<&'static str>, Vec<Constraint>) {
    if cols.tiny {
        let widths = vec![Constraint::Fill(1), Constraint::Length(8), Constraint::Length(6), Constraint::Length(6)];
        return (vec!["NAME", "STATE", "CPU%", "MEM"], widths);
    }
    let mut header = vec!["NAME", "STATE"];
    let mut widths = vec![Constraint::Length(cols.name_w), Constraint::Length(if cols.short { 10 } else { 16 })];
    let mut add = |on: bool, name: &'static str, w: Constraint| {
        if on {
            header.push(name);
            widths.push(w);
        }
    };
    add(cols.health, "HEALTH", Constraint::Length(9));
    add(true, "CPU%", Constraint::Length(6));
    add(true, "MEM", Constraint::Length(if cols.short { 11 } else { 19 }));
    add(cols.disk, "DISK", Constraint::Length(5));
    add(cols.age, "AGE", Constraint::Length(6));
    add(cols.git, "GIT", Constraint::Length(cells::GIT_W));
    add(cols.agent, "AGENT", Constraint::Length(cells::AGENT_W));
    add(cols.turns, "TURNS", Constraint::Length(5));
    add(cols.tokens, "TOKENS", Constraint::Length(6));
    add(cols.cost, "$TODAY", Constraint::Length(6));
    add(cols.ctx, "CTX", Constraint::Length(4));
    // what the agent does takes what the refresh reasons on screen leave
    add(cols.doing, "DOING", Constraint::Fill(1));
    add(true, "REFRESH", if cols.doing { Constraint::Length(refresh_w) } else { Constraint::Fill(1) });
    (header, widths)
}

fn row_cells(app: &App, row: &Row, cols: &Cols) -> Vec<Cell<'static>> {
    let git = match row {
        Row::Project { project, .. } => app.model.git.get(&app.model.projects[*project].id),
        _ => None,
    };
    cells::with_git(figure_cells(app, row, cols), git, cols)
}

fn figure_cells(app: &App, row: &Row, cols: &Cols) -> Vec<Cell<'static>> {
    match row {
        Row::Project { project, container } => {
            let p = &app.model.projects[*project];
            let busy = app.model.ops.get(&p.id).map(String::as_str);
            let members = app.list.members.get(*project).map(Vec::as_slice).unwrap_or_default();
            let mut name = vec![Span::styled(p.name.clone(), Style::new().add_modifier(Modifier::BOLD))];
            if members.len() > 1 {
                let mark = if app.list.is_folded(&Fold::Project(p.id.clone())) {
                    format!(" ▸+{}", members.len() - 1)
                } else {
                    " ▾".to_string()
                };
                name.push(Span::styled(mark, Style::new().fg(theme::DIM)));
            }
            if !p.exists {
                name.push(Span::styled(" (dir gone)", Style::new().fg(theme::BAD)));
            }
            match container.as_ref().and_then(|id| app.model.containers.get(id)) {
                Some(c) => {
                    // a project of several containers shows their sums
                    let totals = (members.len() > 1).then(|| app.model.totals(members));
                    cells::container(app, c, Line::from(name), busy, totals, cols)
                }
                None => {
                    let none = if cols.short { "none" } else { "no container" };
                    let hint = busy.map(|b| format!("{b}…")).unwrap_or_else(|| none.into());
                    vec![Cell::from(Line::from(name)), Cell::from(Span::styled(hint, Style::new().fg(theme::DIM)))]
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
                cells::container(app, c, label, busy, None, cols)
            }
            None => vec![],
        },
        Row::Group(g) => {
            let ids = match g {
                Group::Agentdock => &app.list.service_ids,
                Group::Tasks => &app.list.task_ids,
                Group::Unmanaged => &app.list.unmanaged_ids,
            };
            cells::group(app, *g, ids, app.list.is_folded(&Fold::Group(*g)), cols)
        }
        Row::Agent { container, name } => match app.model.containers.get(container) {
            Some(c) => agent_cells::agent_row(app, c, name, cols),
            None => vec![],
        },
        Row::Engine(_) => vec![],
        Row::Member { group, container } => match app.model.containers.get(container) {
            Some(c) => {
                let style = if *group == Group::Unmanaged { Style::new().fg(theme::DIM) } else { Style::new() };
                let mut label = Line::from(vec![Span::styled(format!("  · {}", c.info.name), style)]);
                // a group holds every engine's: each says which
                if app.model.several_engines() {
                    let engine = app.model.engines.get(c.engine).map(|e| e.name.as_str()).unwrap_or("?");
                    label.push_span(Span::styled(format!(" @{engine}"), Style::new().fg(theme::DIM)));
                }
                cells::container(app, c, label, None, None, cols)
            }
            None => vec![],
        },
    }
}
