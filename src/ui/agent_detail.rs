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
