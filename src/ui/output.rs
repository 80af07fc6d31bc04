//! The output pane: a container's log or a command's streamed output.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{ansi, panel, theme};
use crate::app::App;
use crate::domain::text::strip;

/// Draws nothing when the pane takes no room (it has nothing to show and no focus, or `o` hid
/// it).
pub fn draw(f: &mut Frame, app: &App, area: Rect, focused: bool) {
    if area.is_empty() {
        return;
    }
    let o = &app.output;
    let mut title = vec![Span::styled(format!(" {} ", o.title), theme::header())];
    if o.running {
        let spin = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"][(app.tick % 10) as usize];
        title.push(Span::styled(format!("{spin} running "), Style::new().fg(theme::WARN)));
    }
    if let Some(s) = &o.status {
        let bad = s.starts_with("error") || (s.starts_with("exit") && s != "exit 0");
        title.push(Span::styled(format!("[{s}] "), Style::new().fg(if bad { theme::BAD } else { theme::OK })));
    }
    let flags = format!(
        "{}{}{}",
        if o.follow { "follow " } else { "paused " },
        if o.wrap { "wrap " } else { "" },
        if o.ansi { "" } else { "plain " }
    );
    title.push(Span::styled(flags, Style::new().fg(theme::DIM)));
    if o.lines.dropped() > 0 {
        title.push(Span::styled(format!("({} older lines dropped) ", o.lines.dropped()), Style::new().fg(theme::DIM)));
    }
    let block = panel(Line::from(title), focused);
    let inner = block.inner(area);
    let h = inner.height as usize;
    let w = inner.width.max(1) as usize;
    if o.lines.is_empty() {
        let hint = match (o.running, app.tasks.shown) {
            (true, _) => "waiting for output…",
            (false, true) => "Enter shows the selected task's run, D its diff · o hides this pane",
            (false, false) => "l follows the log, e runs a command in the selected container · o hides this pane",
        };
        f.render_widget(Paragraph::new(hint).style(Style::new().fg(theme::DIM)).block(block), area);
        return;
    }
    let n = o.lines.len();
    let end = n.saturating_sub(o.scroll);
    // take lines from the end until the pane is full (wrapped lines take several rows)
    let mut start = end;
    let mut rows = 0;
    while start > 0 && rows < h {
        start -= 1;
        let len = o.lines.get(start).map(|l| l.chars().count()).unwrap_or(0);
        rows += if o.wrap { len.div_ceil(w).max(1) } else { 1 };
    }
    let needle = o.search.to_lowercase();
    let lines: Vec<Line> = (start..end)
        .filter_map(|i| {
            let raw = o.lines.get(i)?;
            let mut line = ansi::parse(raw, o.ansi);
            if o.search_hit == Some(i) {
                line = line.style(Style::new().add_modifier(Modifier::REVERSED));
            } else if !needle.is_empty() && strip(raw).to_lowercase().contains(&needle) {
                line = line.style(Style::new().fg(theme::WARN));
            }
            Some(line)
        })
        .collect();
    let mut p = Paragraph::new(lines).block(block);
    if o.wrap {
        p = p.wrap(Wrap { trim: false }).scroll(((rows.saturating_sub(h)) as u16, 0));
    }
    f.render_widget(p, area);
}
