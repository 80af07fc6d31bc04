//! The agent's cells of a row: its state with how long (AGENT), turns, tokens and cost today,
//! context use, and what it is doing or needs (DOING), as far as they fit.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Cell;

use super::super::theme;
use super::cells::Cols;
use crate::app::App;
use crate::domain::agent::{describe, AgentInfo, AgentStatus, State};
use crate::domain::transcript::{human_cost, human_count};

pub fn state_style(s: State) -> Style {
    match s {
        State::Working => Style::new().fg(theme::OK),
        State::Waiting | State::Input => Style::new().fg(theme::WARN).add_modifier(Modifier::BOLD),
        State::Auth => Style::new().fg(theme::BAD).add_modifier(Modifier::BOLD),
        State::Exited => Style::new().fg(theme::BAD),
        State::Idle | State::Other => Style::new(),
    }
}

fn right(text: String) -> Cell<'static> {
    Cell::from(Line::from(text).right_aligned())
}

/// The agent columns that show, in their order: AGENT TURNS TOKENS $TODAY CTX DOING.
pub fn cells(app: &App, status: Option<&AgentStatus>, info: Option<&AgentInfo>, managed: bool, cols: &Cols) -> Vec<Cell<'static>> {
    let mut out = Vec::new();
    if !managed || (status.is_none() && info.is_none()) {
        if cols.agent {
            out.push(Cell::from(if managed { "-" } else { "" }));
        }
        out.extend((1..cols.agent_count() + usize::from(!cols.agent)).map(|_| Cell::from("")));
        return out;
    }
    let now = app.model.now;
    let d = describe(status, info, now);
    let summary = info.and_then(|i| i.summary.as_ref());
    if cols.agent {
        // no DOING column: the AGENT cell says the transcript cannot be read
        let label = match info.and_then(|i| i.unreadable.as_ref()) {
            Some(_) if !cols.doing => "unreadable".to_string(),
            _ => d.label.clone(),
        };
        out.push(Cell::from(Span::styled(label, state_style(d.state))));
    }
    let (tokens, cost) = summary.map(|s| s.today(now)).unwrap_or_default();
    if cols.turns {
        out.push(right(summary.map(|s| s.turns.to_string()).unwrap_or_default()));
    }
    if cols.tokens {
        out.push(right(summary.map(|_| human_count(tokens.total())).unwrap_or_default()));
    }
    if cols.cost {
        let partial = summary.is_some_and(|s| s.cost_partial) && tokens.total() > 0;
        out.push(right(summary.map(|_| format!("{}{}", human_cost(cost), if partial { "+" } else { "" })).unwrap_or_default()));
    }
    if cols.ctx {
        out.push(right(summary.and_then(|s| s.context_percent()).map(|p| format!("{p:.0}%")).unwrap_or_default()));
    }
    if cols.doing {
        let style = if matches!(d.state, State::Waiting | State::Auth) || info.is_some_and(|i| i.unreadable.is_some()) {
            state_style(d.state).add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(theme::DIM)
        };
        out.push(Cell::from(Span::styled(d.doing, style)));
    }
    out
}
