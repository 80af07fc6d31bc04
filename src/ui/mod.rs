//! The panels: each a pure render of the app's state.

mod agent_detail;
pub mod ansi;
mod detail;
mod list;
mod output;
mod overlay;
mod status;
mod tasks;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, BorderType, Borders, Clear};
use ratatui::Frame;

use crate::app::{App, Focus, Mode};

/// Colours in one place.
pub mod theme {
    use ratatui::style::{Color, Modifier, Style};
    pub const ACCENT: Color = Color::Cyan;
    pub const OK: Color = Color::Green;
    pub const WARN: Color = Color::Yellow;
    pub const BAD: Color = Color::Red;
    pub const DIM: Color = Color::DarkGray;
    pub fn header() -> Style {
        Style::new().fg(ACCENT).add_modifier(Modifier::BOLD)
    }
    pub fn selected() -> Style {
        Style::new().bg(Color::Indexed(236)).add_modifier(Modifier::BOLD)
    }
}

pub fn panel(title: Line<'static>, focused: bool) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused { BorderType::Thick } else { BorderType::Rounded })
        .border_style(Style::new().fg(if focused { theme::ACCENT } else { theme::DIM }))
        .title(title)
}

/// Draws the whole screen.
pub fn draw(f: &mut Frame, app: &App) {
    let a = app.areas();
    // running, unhealthy, needing refresh: shown in the list title and the status line
    let counts = app.model.counts();
    if app.tasks.shown {
        tasks::draw(f, app, a.list, app.focus == Focus::List);
    } else {
        list::draw(f, app, a.list, app.focus == Focus::List, counts);
    }
    if let Some(d) = a.detail {
        detail::draw(f, app, d);
    }
    output::draw(f, app, a.output, app.focus == Focus::Output);
    if let Some(p) = a.prompt {
        overlay::draw_prompt(f, app, p);
    }
    status::draw(f, app, a.status, counts);
    match &app.mode {
        Mode::Help => overlay::draw_help(f, app),
        Mode::History => overlay::draw_history(f, app),
        Mode::Confirm(c) => overlay::draw_confirm(f, app, c),
        Mode::NewTask => tasks::draw_form(f, app),
        _ => {}
    }
}

/// A centered rectangle of at most `w` x `h` inside `area`, cleared.
pub fn popup(f: &mut Frame, area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))]).flex(Flex::Center).areas(area);
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))]).flex(Flex::Center).areas(v);
    f.render_widget(Clear, r);
    r
}
