//! Prompts and pop-ups: command line, filter, search, help, history, confirmation.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::{panel, popup, theme};
use crate::app::{App, Completion, Confirm, Mode};

pub fn draw_prompt(f: &mut Frame, app: &App, area: Rect) {
    let (title, text): (String, Option<String>) = match app.mode {
        Mode::CommandLine => {
            let name = app.selected_container().map(|c| c.info.name.clone()).unwrap_or_default();
            (format!(" run in {name} · Enter runs · ↑↓ history · Esc closes · Ctrl-C cancels "), None)
        }
        Mode::Command => (" : a name jumps there (Tab completes) · or refresh, rm, up NAME, logs, attach, q ".into(), None),
        Mode::Filter => (" / filter · Enter keeps · Esc clears ".into(), Some(app.list.filter.clone())),
        Mode::Search => (" search the output · Enter finds · n/N next/prev ".into(), Some(app.output.search.clone())),
        _ => return,
    };
    let mut block = panel(Line::from(Span::styled(title, theme::header())), true);
    if let Some(c) = app.cmdline.completion.as_ref().filter(|c| c.matches.len() > 1 && app.mode == Mode::Command) {
        block = block.title_bottom(completions(c, area.width.saturating_sub(4) as usize));
    }
    match text {
        Some(t) => f.render_widget(Paragraph::new(format!("{t}▏")).block(block), area),
        None => {
            let mut ta = app.cmdline.prompt.clone();
            ta.set_block(block);
            ta.set_cursor_line_style(Style::new());
            f.render_widget(&ta, area);
        }
    }
}

/// Tab's candidates on one line, the one put in marked, as many as fit.
fn completions(c: &Completion, width: usize) -> Line<'static> {
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    for (i, m) in c.matches.iter().enumerate() {
        let more = format!("… {} in all ", c.matches.len());
        if used + m.chars().count() + 3 + more.len() > width {
            spans.push(Span::styled(more, Style::new().fg(theme::DIM)));
            break;
        }
        used += m.chars().count() + 3;
        let style = if c.at == Some(i) { theme::selected() } else { Style::new().fg(theme::DIM) };
        spans.push(Span::styled(m.clone(), style));
        spans.push(Span::raw(" · "));
    }
    if spans.last().is_some_and(|s| s.content == " · ") {
        spans.pop();
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

/// The help: why the selected row's empty cells (-) are empty, then the live keymap (in two
/// columns on a wide screen).
pub fn draw_help(f: &mut Frame, app: &App) {
    let bindings = app.keymap.bindings();
    let screen = f.area();
    let pairs = if screen.width >= 150 { 2 } else { 1 };
    let mut why: Vec<Line> = Vec::new();
    if let Some(c) = app.selected_container().filter(|_| !app.tasks.shown) {
        let blanks = app.model.blanks(c);
        if !blanks.is_empty() {
            why.push(Line::from(Span::styled(format!("why - in {}", c.info.name), theme::header())));
            for (cols, reason) in blanks {
                why.push(Line::from(vec![Span::styled(format!("  {cols:<15}"), Style::new().fg(theme::WARN)), Span::raw(reason)]));
            }
            why.push(Line::from(""));
        }
    }
    let per_col = bindings.len().div_ceil(pairs);
    let rows: Vec<Row> = (0..per_col)
        .map(|i| {
            let mut cells = Vec::new();
            for (a, keys) in (0..pairs).filter_map(|p| bindings.get(p * per_col + i)) {
                cells.push(keys.join(" "));
                cells.push(a.describe().to_string());
            }
            Row::new(cells)
        })
        .collect();
    let h = (rows.len() + why.len()) as u16 + 3;
    let area = popup(f, screen, if pairs == 2 { 150 } else { 96 }, h);
    let block = panel(Line::from(Span::styled(" keys (remap in [keys] of the config) · Esc closes ", theme::header())), true);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let [top, bottom] = Layout::vertical([Constraint::Length(why.len() as u16), Constraint::Fill(1)]).areas(inner);
    f.render_widget(Paragraph::new(why), top);
    let widths: Vec<Constraint> = (0..pairs).flat_map(|_| [Constraint::Length(22), Constraint::Fill(1)]).collect();
    let header: Vec<&str> = (0..pairs).flat_map(|_| ["keys", "action"]).collect();
    f.render_widget(Table::new(rows, widths).header(Row::new(header).style(theme::header())), bottom);
}

pub fn draw_history(f: &mut Frame, app: &App) {
    let area = popup(f, f.area(), 150, 20);
    let short = |s: &Option<String>| s.as_deref().map(|x| x[..12.min(x.len())].to_string()).unwrap_or("-".into());
    let rows: Vec<Row> = app
        .refresh
        .history
        .iter()
        .rev()
        .take(area.height.saturating_sub(3) as usize)
        .map(|r| {
            let style = if r.result == "ok" { Style::new() } else { Style::new().fg(theme::BAD) };
            Row::new(vec![
                crate::domain::stats::human_age(app.model.now - r.at) + " ago",
                r.container.clone(),
                r.reason.clone(),
                format!("{} -> {}", short(&r.old_id), short(&r.new_id)),
                format!("{:.1}s", r.seconds),
                r.result.clone(),
            ])
            .style(style)
        })
        .collect();
    let empty = rows.is_empty();
    let t = Table::new(
        rows,
        [
            Constraint::Length(10),
            Constraint::Length(24),
            Constraint::Length(22),
            Constraint::Length(28),
            Constraint::Length(7),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(vec!["when", "container", "why", "old -> new", "took", "result"]).style(theme::header()))
    .block(panel(Line::from(Span::styled(" refresh history · Esc closes ", theme::header())), true));
    f.render_widget(t, area);
    if empty {
        let inner = Rect::new(area.x + 2, area.y + 2, area.width.saturating_sub(4), 1);
        f.render_widget(Paragraph::new("no refreshes yet").style(Style::new().fg(theme::DIM)), inner);
    }
}

pub fn draw_confirm(f: &mut Frame, app: &App, c: &Confirm) {
    let (question, note, yes, no) = match c {
        Confirm::Remove { project } => {
            let names: Vec<String> = app.model.project_containers(project).iter().map(|c| c.info.name.clone()).collect();
            (format!("Remove {} ?", names.join(", ")), "The workspace and the agent config stay.", " remove   ", " keep")
        }
        Confirm::CancelTask { id } => {
            (format!("Cancel task {id} ?"), "What it made so far is committed on its branch.", " cancel it   ", " let it run")
        }
        Confirm::Interrupt { target } => (
            format!("Interrupt {} ?", target.label()),
            "Esc goes to its pane: it stops its turn and waits for you.",
            " interrupt   ",
            " let it work",
        ),
        Confirm::StopAgent { target } => {
            (format!("End {} ?", target.label()), "Its tmux session and its agent end; its transcript stays.", " end it   ", " keep it")
        }
    };
    let area = popup(f, f.area(), 64, 7);
    let text = vec![
        Line::from(question),
        Line::from(Span::styled(note, Style::new().fg(theme::DIM))),
        Line::from(""),
        Line::from(vec![
            Span::styled("y", theme::header()),
            Span::raw(yes),
            Span::styled("any other key", theme::header()),
            Span::raw(no),
        ]),
    ];
    let p = Paragraph::new(text)
        .wrap(Wrap { trim: true })
        .block(panel(Line::from(Span::styled(" confirm ", Style::new().fg(theme::BAD))), true));
    f.render_widget(p, area);
}
