//! The agent's part of the detail view: its state and what it does, the last prompt, tokens
//! and cost today, context use, and the last few turns of its transcript.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use super::theme;
use crate::app::{App, ContainerView};
use crate::domain::agent::{describe, AgentInfo, AgentStatus};

/// Lines of the last turns shown.
const TURN_LINES: usize = 6;

fn kv(k: &str, v: String, style: Style) -> Line<'static> {
    Line::from(vec![Span::styled(format!("{k:<9}"), Style::new().fg(theme::DIM)), Span::styled(v, style)])
}

/// One agent session's lines (`name`: a further session's, shown in its key).
pub fn session_lines(app: &App, name: &str, status: Option<&AgentStatus>, info: Option<&AgentInfo>) -> Vec<Line<'static>> {
    let now = app.model.now;
    let d = describe(status, info, now);
    let style = super::list::agent_state_style(d.state);
    let mut lines = vec![kv(name, format!("{}{}{}", d.label, if d.doing.is_empty() { "" } else { " · " }, d.doing), style)];
    let Some(s) = info.and_then(|i| i.summary.as_ref()) else { return lines };
    let (tokens, cost) = s.today(now);
    let ctx = s.context_percent().map(|p| format!(" · context {p:.0}%")).unwrap_or_default();
    let model = s.model.as_deref().map(|m| format!(" · {m}")).unwrap_or_default();
    let partial = if s.cost_partial { " (a model without a price left out)" } else { "" };
    let t = tokens;
    lines.push(kv(
        "today",
        format!(
            "{} tokens (in {}, out {}, cache {} read / {} written), ${cost:.4}{partial} · {} turns{ctx}{model}",
            t.total(),
            t.input,
            t.output,
            t.cache_read,
            t.cache_write,
            s.turns
        ),
        Style::new(),
    ));
    for l in s.recent.iter().skip(s.recent.len().saturating_sub(TURN_LINES)) {
        lines.push(kv("", l.clone(), Style::new().fg(theme::DIM)));
    }
    lines
}

/// The container's agents: the main one, then those `+` started.
pub fn lines(app: &App, c: &ContainerView) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    if c.agent.is_some() || c.agent_info.is_some() {
        lines.extend(session_lines(app, "agent", c.agent.as_ref(), c.agent_info.as_deref()));
    }
    for (name, info) in &c.extra_agents {
        lines.extend(session_lines(app, name, info.status.as_ref(), Some(info)));
    }
    lines
}

/// The prompt form for the selected agent (`p`).
pub fn draw_prompt(f: &mut ratatui::Frame, app: &App) {
    use ratatui::style::Modifier;
    use ratatui::widgets::Paragraph;
    let full = f.area();
    let area = super::popup(f, full, full.width.saturating_sub(8).clamp(40, 110), 12.min(full.height));
    let to = app.steer.target.as_ref().map(|t| t.label()).unwrap_or_default();
    let title = Line::from(vec![
        Span::styled(" prompt for ", theme::header()),
        Span::styled(to, theme::header().add_modifier(Modifier::UNDERLINED)),
        Span::styled(" · Ctrl-S sends · Esc closes ", theme::header()),
    ]);
    let block = super::panel(title, true);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height < 2 {
        return;
    }
    let text_area = ratatui::layout::Rect::new(inner.x, inner.y, inner.width, inner.height - 1);
    let hint_area = ratatui::layout::Rect::new(inner.x, inner.y + inner.height - 1, inner.width, 1);
    let mut ta = app.steer.form.clone();
    ta.set_cursor_line_style(Style::new());
    if ta.is_empty() {
        ta.set_placeholder_text("what should the agent do next?");
    }
    f.render_widget(&ta, text_area);
    let hint = "pasted into its pane as one paste, then Enter · Enter: new line";
    f.render_widget(Paragraph::new(hint).style(Style::new().fg(theme::DIM)), hint_area);
}
