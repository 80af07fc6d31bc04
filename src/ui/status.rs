//! The status line: engine connection, work under way, the last message or error.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::theme;
use crate::app::{App, EngineStatus};

pub fn draw(f: &mut Frame, app: &App, area: Rect, counts: (usize, usize, usize)) {
    let mut spans = match &app.engine {
        EngineStatus::Connecting => vec![Span::styled("◌ connecting", Style::new().fg(theme::WARN))],
        EngineStatus::Connected { version, api, .. } => {
            vec![Span::styled(format!("● Docker {version} · API {api}"), Style::new().fg(theme::OK))]
        }
        EngineStatus::Reconnecting { reason, retry_in_ms } => vec![Span::styled(
            format!("○ reconnecting (retry in {:.1}s): {reason}", *retry_in_ms as f64 / 1000.0),
            Style::new().fg(theme::BAD),
        )],
    };
    let (running, unhealthy, refresh) = counts;
    spans.push(Span::styled(format!("  {running} running"), Style::new()));
    if unhealthy > 0 {
        spans.push(Span::styled(format!(" · {unhealthy} unhealthy"), Style::new().fg(theme::BAD)));
    }
    if refresh > 0 {
        spans.push(Span::styled(format!(" · {refresh} need refresh"), Style::new().fg(theme::WARN)));
    }
    let (tasks_under_way, _) = app.tasks.counts();
    if tasks_under_way > 0 {
        let word = if tasks_under_way == 1 { "task" } else { "tasks" };
        spans.push(Span::styled(format!(" · {tasks_under_way} {word} under way"), Style::new().fg(theme::WARN)));
    }
    if !app.model.ops.is_empty() {
        let spin = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"][(app.tick % 10) as usize];
        let ops: Vec<String> = app.model.ops.iter().map(|(p, what)| format!("{p}: {what}")).collect();
        spans.push(Span::styled(format!("  {spin} {}", ops.join(" · ")), Style::new().fg(theme::WARN)));
        if app.refresh.queue.len() > 1 {
            spans.push(Span::styled(format!(" ({} queued)", app.refresh.queue.len() - 1), Style::new().fg(theme::DIM)));
        }
    }
    if let Some(m) = &app.message {
        spans.push(Span::styled(format!("  {m}"), Style::new()));
    }
    if let Some(e) = &app.last_error {
        spans.push(Span::styled(format!("  error: {e}"), Style::new().fg(theme::BAD)));
    }
    spans.push(Span::styled("  ? help", Style::new().fg(theme::DIM)));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
