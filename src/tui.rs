//! Entering, leaving and lending the terminal. Whatever happens (error, panic, SIGTERM), the
//! terminal is given back as it was: raw mode off, main screen, cursor shown, mouse released.

use std::io::{stdout, Stdout, Write};

use crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture};
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Takes the terminal: raw mode, alternate screen, mouse. Installs a panic hook that gives it
/// back before the panic message prints.
pub fn enter() -> std::io::Result<Term> {
    install_panic_hook();
    take()?;
    Terminal::new(CrosstermBackend::new(stdout()))
}

fn take() -> std::io::Result<()> {
    enable_raw_mode()?;
    execute!(stdout(), EnterAlternateScreen, EnableMouseCapture, EnableBracketedPaste, cursor::Hide)?;
    Ok(())
}

/// Gives the terminal back; safe to call more than once.
pub fn restore() {
    let mut out = stdout();
    let _ = execute!(out, DisableBracketedPaste, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// Lends the terminal to an attach session: the main screen, the cursor and no mouse, but raw
/// mode stays on so every key goes through as it is typed.
pub fn lend() {
    let mut out = stdout();
    let _ = execute!(out, DisableBracketedPaste, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
    let _ = out.flush();
}

/// Takes the terminal back after [`lend`] and forces a full redraw.
pub fn resume(term: &mut Term) -> std::io::Result<()> {
    take()?;
    term.clear()
}

fn install_panic_hook() {
    let original = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        original(info);
    }));
}
