//! An engine's row (several engines only): its name, its state, Docker and API version, the
//! round-trip time of its last ping and how many of its containers run. Drawn over the
//! table's row as one line, as the columns mean nothing for it.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::super::theme;
use crate::app::{App, EngineStatus, Fold};

/// "0.4ms", "12ms", "1.2s".
fn rtt_text(micros: u64) -> String {
    match micros {
        m if m < 10_000 => format!("{:.1}ms", m as f64 / 1000.0),
        m if m < 1_000_000 => format!("{}ms", m / 1000),
        m => format!("{:.1}s", m as f64 / 1_000_000.0),
    }
}

pub fn line(app: &App, i: usize) -> Line<'static> {
    let Some(e) = app.model.engines.get(i) else { return Line::default() };
    let dim = Style::new().fg(theme::DIM);
    let mark = if app.list.is_folded(&Fold::Engine(i)) { "▸ " } else { "▾ " };
    let mut v = vec![Span::styled(mark, dim), Span::styled(e.name.clone(), Style::new().fg(theme::ACCENT).add_modifier(Modifier::BOLD)), Span::raw("  ")];
    match &e.status {
        EngineStatus::Connecting => v.push(Span::styled("◌ connecting", Style::new().fg(theme::WARN))),
        EngineStatus::Connected { .. } if e.same_as.is_some() => {
            let other = e.same_as.and_then(|o| app.model.engines.get(o)).map(|o| o.name.clone()).unwrap_or_default();
            v.push(Span::styled("● connected", Style::new().fg(theme::OK)));
            v.push(Span::styled(format!(" · the same engine as {other}: its containers are listed there"), dim));
            return Line::from(v);
        }
        EngineStatus::Connected { version, api, .. } => {
            v.push(Span::styled("● connected", Style::new().fg(theme::OK)));
            v.push(Span::styled(format!(" · Docker {version} · API {api}"), dim));
            if let Some(rtt) = e.rtt_micros {
                v.push(Span::styled(format!(" · rtt {}", rtt_text(rtt)), dim));
            }
        }
        EngineStatus::Reconnecting { reason, retry_in_ms } => {
            let retry = if *retry_in_ms > 0 { format!(" (retry in {:.1}s)", *retry_in_ms as f64 / 1000.0) } else { String::new() };
            v.push(Span::styled(format!("○ reconnecting{retry}: {reason}"), Style::new().fg(theme::BAD)));
        }
    }
    let (run, all) = app.model.engine_counts(i);
    v.push(Span::styled(format!(" · {run}/{all} managed running"), dim));
    Line::from(v)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_read_short() {
        assert_eq!(super::rtt_text(420), "0.4ms");
        assert_eq!(super::rtt_text(12_400), "12ms");
        assert_eq!(super::rtt_text(1_250_000), "1.2s");
    }
}
