//! The task list and the new task's form.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{panel, popup, theme};
use crate::app::{list_offset, App};
use crate::domain::stats::human_age;
use crate::domain::task::{cut, TaskRecord, TaskState};
use crate::domain::text::strip;

const SPIN: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

fn state_style(s: TaskState) -> Style {
    match s {
        TaskState::Succeeded => Style::new().fg(theme::OK),
        TaskState::Queued | TaskState::Starting | TaskState::Running => Style::new().fg(theme::WARN),
        TaskState::Cancelled => Style::new().fg(theme::DIM),
        _ => Style::new().fg(theme::BAD),
    }
}

/// 1234 -> "1.2k", 1234567 -> "1.2M".
fn short_count(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// Columns by priority: what fits the width is shown, the rest dropped from the right of this
/// list (the last tool takes what is left).
struct Cols {
    branch: bool,
    diff: bool,
    tokens: bool,
    cost: bool,
}

fn cells(app: &App, r: &TaskRecord, cols: &Cols, queue: &[&TaskRecord]) -> Vec<Cell<'static>> {
    let s = &r.summary;
    let place = queue.iter().position(|q| q.spec.id == r.spec.id);
    let state = match place {
        Some(i) => format!("queued {}/{}", i + 1, queue.len()),
        None if r.state.is_final() => r.state.label().to_string(),
        None => format!("{} {}", SPIN[(app.tick % 10) as usize], r.state.label()),
    };
    // a queued task's clock is how long it has waited
    let elapsed = match place {
        Some(_) => r.queued_at.map(|q| human_age(app.model.now - q)),
        None => r.elapsed(app.model.now).map(human_age),
    };
    let elapsed = elapsed.unwrap_or_else(|| "-".into());
    let id = match r.spec.attempt {
        Some(n) => format!("{} #{n}", r.spec.id),
        None => r.spec.id.clone(),
    };
    let mut v = vec![
        Cell::from(id),
        Cell::from(Span::styled(state, state_style(r.state))),
        Cell::from(cut(&r.spec.project_name, 24)),
    ];
    if cols.branch {
        v.push(Cell::from(Span::styled(r.spec.branch.clone(), Style::new().fg(theme::DIM))));
    }
    v.push(Cell::from(Line::from(elapsed).right_aligned()));
    v.push(Cell::from(Line::from(s.turns.to_string()).right_aligned()));
    if cols.tokens {
        v.push(Cell::from(Line::from(short_count(s.tokens())).right_aligned()));
    }
    if cols.cost {
        let cost = s.cost_usd.map(|c| if c < 1.0 { format!("${c:.3}") } else { format!("${c:.2}") }).unwrap_or_else(|| "-".into());
        v.push(Cell::from(Line::from(cost).right_aligned()));
    }
    if cols.diff {
        v.push(Cell::from(Line::from(diff_spans(r.diffstat))));
    }
    // what it does now, or how it ended
    let mut last = vec![match (&r.reason, s.last_tool()) {
        (Some(reason), _) if r.state.is_final() && r.state != TaskState::Succeeded => {
            Span::styled(strip(&cut(reason, 200)), Style::new().fg(theme::BAD))
        }
        (_, Some(t)) => Span::raw(strip(&t.short())),
        _ => Span::raw(""),
    }];
    if let Some(w) = r.webhook.as_ref().filter(|w| w.state == "failed") {
        last.insert(0, Span::styled(format!("callback failed ({}) ", strip(&cut(w.error.as_deref().unwrap_or("?"), 60))), Style::new().fg(theme::BAD)));
    }
    if r.from_pool && !r.state.is_final() {
        last.insert(0, Span::styled("pool ", Style::new().fg(theme::DIM)));
    }
    v.push(Cell::from(Line::from(last)));
    v
}

fn diff_spans(d: Option<crate::domain::task::DiffStat>) -> Vec<Span<'static>> {
    match d {
        Some(d) => vec![
            Span::raw(format!("{} ", d.files)),
            Span::styled(format!("+{}", d.insertions), Style::new().fg(theme::OK)),
            Span::raw(" "),
            Span::styled(format!("-{}", d.deletions), Style::new().fg(theme::BAD)),
        ],
        None => vec![Span::raw("-")],
    }
}

/// The attempts of the selected task's prompt side by side: how each ended, what it changed.
fn attempts_line(attempts: &[&TaskRecord], selected: &str) -> Line<'static> {
    let mut spans = vec![Span::styled("attempts ", Style::new().fg(theme::DIM))];
    for (i, r) in attempts.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" │ ", Style::new().fg(theme::DIM)));
        }
        let mark = format!("#{} ", r.spec.attempt.unwrap_or(0));
        let style = if r.spec.id == selected { Style::new().add_modifier(Modifier::BOLD) } else { Style::new() };
        spans.push(Span::styled(mark, style));
        spans.push(Span::styled(format!("{} ", r.state.label()), state_style(r.state)));
        if r.state.is_final() {
            spans.extend(diff_spans(r.diffstat));
        }
    }
    spans.push(Span::styled("  (task diff A B compares two)", Style::new().fg(theme::DIM)));
    Line::from(spans)
}

/// The pool, the cleanup's last run and the runner, in one line (None: nothing to say).
fn fleet_line(app: &App) -> Option<Line<'static>> {
    let f = &app.tasks.fleet;
    let dim = Style::new().fg(theme::DIM);
    let mut spans = Vec::new();
    for p in &f.pool {
        if !spans.is_empty() {
            spans.push(Span::styled(", ", dim));
        }
        spans.push(Span::styled(format!("pool {}: ", strip(&p.project)), dim));
        spans.push(Span::styled(format!("{} ready", p.ready), Style::new().fg(if p.ready > 0 { theme::OK } else { theme::WARN })));
        if p.warming > 0 {
            spans.push(Span::styled(format!(" {} warming", p.warming), Style::new().fg(theme::WARN)));
        }
    }
    if let Some(sw) = &f.sweep {
        if !spans.is_empty() {
            spans.push(Span::styled(" · ", dim));
        }
        let mut text = format!("cleanup {} ago", human_age(app.model.now - sw.at));
        if let Some(at) = sw.acted_at {
            text.push_str(&format!(", {} ago it stopped {} and removed {}", human_age(app.model.now - at), sw.stopped.len(), sw.removed.len()));
        }
        spans.push(Span::styled(text, dim));
    }
    if spans.is_empty() {
        return None;
    }
    spans.push(Span::styled(if f.runner { " · runner on" } else { " · runner off" }, dim));
    Some(Line::from(spans))
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, focused: bool) {
    let w = area.width;
    let cols = Cols { branch: w >= 150, diff: w >= 110, tokens: w >= 95, cost: w >= 120 };
    let (under_way, all) = app.tasks.counts();
    let mut title = vec![
        Span::styled(" tasks ", theme::header()),
        Span::styled(format!("{under_way} under way "), Style::new().fg(if under_way > 0 { theme::WARN } else { theme::DIM })),
        Span::styled(format!("· {all} in all "), Style::new().fg(theme::DIM)),
    ];
    if w >= 100 {
        title.push(Span::styled("· n new · Enter run · D diff · x cancel · t containers ", Style::new().fg(theme::DIM)));
    }
    let title = Line::from(title);
    let mut block = panel(title, focused);
    if !app.tasks.tasks.is_empty() {
        let fleet = crate::domain::fleet::summarize(&app.tasks.tasks).line(human_age);
        block = block.title_bottom(Line::from(Span::styled(format!(" {fleet} "), Style::new().fg(theme::DIM))));
    }
    if app.tasks.tasks.is_empty() {
        let msg = if app.tasks.loaded {
            "no tasks yet: n starts one (a prompt run headless by an agent in a container of its own, on a branch of its own)"
        } else {
            "reading the tasks…"
        };
        f.render_widget(Paragraph::new(msg).style(Style::new().fg(theme::DIM)).block(block), area);
        return;
    }
    let inner = block.inner(area);
    f.render_widget(block, area);
    // below the table: the selected task's attempts side by side, then the pool and cleanup
    let mut below: Vec<Line> = Vec::new();
    let attempts = app.tasks.attempts_of_selected();
    if !attempts.is_empty() {
        below.push(attempts_line(&attempts, &app.tasks.selected_task().map(|t| t.spec.id.clone()).unwrap_or_default()));
    }
    below.extend(fleet_line(app));
    let below_h = (below.len() as u16).min(inner.height.saturating_sub(2));
    let table_area = Rect::new(inner.x, inner.y, inner.width, inner.height - below_h);
    for (i, line) in below.into_iter().take(below_h as usize).enumerate() {
        let y = inner.y + inner.height - below_h + i as u16;
        f.render_widget(Paragraph::new(line), Rect::new(inner.x, y, inner.width, 1));
    }
    let queue = crate::domain::fleet::queue(&app.tasks.tasks);
    let visible = table_area.height.saturating_sub(1) as usize;
    let offset = list_offset(app.tasks.selected, visible);
    let rows: Vec<Row> = app
        .tasks
        .tasks
        .iter()
        .enumerate()
        .skip(offset)
        .take(visible)
        .map(|(i, r)| {
            let style = if i == app.tasks.selected { theme::selected() } else { Style::new() };
            Row::new(cells(app, r, &cols, &queue)).style(style)
        })
        .collect();
    let mut header = vec!["ID", "STATE", "PROJECT"];
    let project_w = app.tasks.tasks.iter().map(|t| t.spec.project_name.chars().count()).max().unwrap_or(0).clamp(7, 18);
    let id_w = if app.tasks.tasks.iter().any(|t| t.spec.attempt.is_some()) { 19 } else { 15 };
    let mut widths = vec![Constraint::Length(id_w), Constraint::Length(13), Constraint::Length(project_w as u16)];
    if cols.branch {
        header.push("BRANCH");
        widths.push(Constraint::Length(30));
    }
    header.extend(["ELAPSED", "TURNS"]);
    widths.extend([Constraint::Length(7), Constraint::Length(5)]);
    if cols.tokens {
        header.push("TOKENS");
        widths.push(Constraint::Length(6));
    }
    if cols.cost {
        header.push("COST");
        widths.push(Constraint::Length(6));
    }
    if cols.diff {
        header.push("DIFF");
        widths.push(Constraint::Length(14));
    }
    header.push("LAST TOOL / REASON");
    widths.push(Constraint::Fill(1));
    let table = Table::new(rows, widths).header(Row::new(header).style(theme::header())).column_spacing(1);
    f.render_widget(table, table_area);
}

/// The new task's form: the project (Tab changes it) and the prompt.
pub fn draw_form(f: &mut Frame, app: &App) {
    let full = f.area();
    let area = popup(f, full, full.width.saturating_sub(8).clamp(40, 110), 16.min(full.height));
    let projects = app.task_projects();
    let project = projects.get(app.tasks.form.project).map(|p| p.name.clone()).unwrap_or_default();
    let t = &app.model.config.tasks;
    let title = Line::from(vec![
        Span::styled(" new task on ", theme::header()),
        Span::styled(project, theme::header().add_modifier(Modifier::UNDERLINED)),
        Span::styled(" · Ctrl-S starts · Tab project · Esc closes ", theme::header()),
    ]);
    let block = panel(title, true);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height < 2 {
        return;
    }
    let hint = if inner.width >= 100 {
        format!("runs headless in a container of its own, on a new branch agentdock/task-<id> · limit {} s · Enter: new line", t.timeout_secs)
    } else {
        format!("own container, branch agentdock/task-<id> · {} s · Enter: new line", t.timeout_secs)
    };
    let text_area = Rect::new(inner.x, inner.y, inner.width, inner.height - 1);
    let hint_area = Rect::new(inner.x, inner.y + inner.height - 1, inner.width, 1);
    let mut ta = app.tasks.form.prompt.clone();
    ta.set_cursor_line_style(Style::new());
    if ta.is_empty() {
        ta.set_placeholder_text("what should the agent do?");
    }
    f.render_widget(&ta, text_area);
    f.render_widget(Paragraph::new(hint).style(Style::new().fg(theme::DIM)), hint_area);
}
