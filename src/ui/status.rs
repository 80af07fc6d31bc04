//! The status line: engine connection, work under way, the last message or error.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::theme;
use crate::app::{App, Counts, EngineStatus};

/// The engine's connection; with several, how many are connected (their rows say more).
fn engine(app: &App, short: bool) -> Span<'static> {
    if app.model.several_engines() {
        let shown: Vec<_> = app.model.engines.iter().filter(|e| e.shown).collect();
        let up = shown.iter().filter(|e| matches!(e.status, EngineStatus::Connected { .. })).count();
        let down: Vec<&str> = shown.iter().filter(|e| matches!(e.status, EngineStatus::Reconnecting { .. })).map(|e| e.name.as_str()).collect();
        return match down.is_empty() {
            true => Span::styled(format!("● {up}/{} engines", shown.len()), Style::new().fg(if up == shown.len() { theme::OK } else { theme::WARN })),
            false if short => Span::styled(format!("○ {up}/{} engines", shown.len()), Style::new().fg(theme::BAD)),
            false => Span::styled(format!("○ {up}/{} engines, reconnecting: {}", shown.len(), down.join(", ")), Style::new().fg(theme::BAD)),
        };
    }
    match &app.engine {
        EngineStatus::Connecting => Span::styled("◌ connecting", Style::new().fg(theme::WARN)),
        EngineStatus::Connected { version, .. } if short => Span::styled(format!("● Docker {version}"), Style::new().fg(theme::OK)),
        EngineStatus::Connected { version, api, .. } => Span::styled(format!("● Docker {version} · API {api}"), Style::new().fg(theme::OK)),
        EngineStatus::Reconnecting { reason, retry_in_ms } => Span::styled(
            format!("○ reconnecting (retry in {:.1}s): {reason}", *retry_in_ms as f64 / 1000.0),
            Style::new().fg(theme::BAD),
        ),
    }
}

/// The MCP clients connected, by name (`claude-code, cursor ×2`); None without one.
pub fn mcp_clients(app: &App) -> Option<String> {
    let mut names: Vec<(String, usize)> = Vec::new();
    for c in &app.model.mcp_clients {
        match names.iter_mut().find(|(n, _)| *n == c.client) {
            Some((_, k)) => *k += 1,
            None => names.push((c.client.clone(), 1)),
        }
    }
    if names.is_empty() {
        return None;
    }
    Some(names.iter().map(|(n, k)| if *k > 1 { format!("{n} ×{k}") } else { n.clone() }).collect::<Vec<_>>().join(", "))
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, counts: Counts) {
    let mut rest = Vec::new();
    if !app.model.ops.is_empty() {
        let spin = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"][(app.tick % 10) as usize];
        let ops: Vec<String> = app.model.ops.iter().map(|(p, what)| format!("{p}: {what}")).collect();
        rest.push(Span::styled(format!("  {spin} {}", ops.join(" · ")), Style::new().fg(theme::WARN)));
        if app.refresh.queue.len() > 1 {
            rest.push(Span::styled(format!(" ({} queued)", app.refresh.queue.len() - 1), Style::new().fg(theme::DIM)));
        }
    }
    if let Some(clients) = mcp_clients(app) {
        rest.push(Span::styled(format!("  MCP: {clients}"), Style::new().fg(theme::OK)));
    }
    if let Some(m) = &app.message {
        rest.push(Span::styled(format!("  {m}"), Style::new()));
    }
    if let Some(e) = &app.last_error {
        rest.push(Span::styled(format!("  error: {e}"), Style::new().fg(theme::BAD)));
    }
    // a cell of the selected row without a figure: the help says why
    let blank = super::list::selected_has_blank(app, area.width);
    rest.push(Span::styled(if blank { "  ? help, why -" } else { "  ? help" }, Style::new().fg(theme::DIM)));
    // the engine and the counts, shorter as the line grows long (the unmanaged count first
    // goes: the list's title has it), so a message or an error is not cut
    let narrow = area.width < 100;
    let levels = [(narrow, narrow, true), (narrow, narrow, false), (narrow, true, false), (true, true, false)];
    let mut line = Line::default();
    for (short_engine, compact, unmanaged) in levels {
        let mut spans = vec![engine(app, short_engine), Span::raw("  ")];
        spans.extend(super::list::count_spans(app, &counts, compact, unmanaged));
        spans.extend(rest.iter().cloned());
        line = Line::from(spans);
        if line.width() <= area.width as usize {
            break;
        }
    }
    f.render_widget(Paragraph::new(line), area);
}
