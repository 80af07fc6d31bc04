//! ANSI colour in command output: SGR colours kept as styles, every other escape sequence and
//! control character dropped (by `domain::text::scan`), so output never garbles the screen.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::domain::text::{scan, Piece};

/// Splits `s` into (style, text) runs; with `keep_colour` false every run is unstyled.
pub fn parse(s: &str, keep_colour: bool) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut style = Style::default();
    let mut text = String::new();
    scan(s, |p| match p {
        Piece::Char(c) => text.push(c),
        Piece::Tab => text.push_str("    "),
        Piece::Sgr(params) if keep_colour => {
            if !text.is_empty() {
                spans.push(Span::styled(std::mem::take(&mut text), style));
            }
            style = apply_sgr(style, params);
        }
        Piece::Sgr(_) => {}
    });
    if !text.is_empty() {
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}

fn basic(n: u16) -> Color {
    match n {
        0 => Color::Black,
        1 => Color::Red,
        2 => Color::Green,
        3 => Color::Yellow,
        4 => Color::Blue,
        5 => Color::Magenta,
        6 => Color::Cyan,
        _ => Color::Gray,
    }
}

fn bright(n: u16) -> Color {
    match n {
        0 => Color::DarkGray,
        1 => Color::LightRed,
        2 => Color::LightGreen,
        3 => Color::LightYellow,
        4 => Color::LightBlue,
        5 => Color::LightMagenta,
        6 => Color::LightCyan,
        _ => Color::White,
    }
}

fn apply_sgr(mut style: Style, params: &str) -> Style {
    let nums: Vec<u16> = if params.is_empty() {
        vec![0]
    } else {
        params.split(';').map(|p| p.parse().unwrap_or(0)).collect()
    };
    let mut i = 0;
    while i < nums.len() {
        match nums[i] {
            0 => style = Style::default(),
            1 => style = style.add_modifier(Modifier::BOLD),
            2 => style = style.add_modifier(Modifier::DIM),
            3 => style = style.add_modifier(Modifier::ITALIC),
            4 => style = style.add_modifier(Modifier::UNDERLINED),
            7 => style = style.add_modifier(Modifier::REVERSED),
            22 => style = style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => style = style.remove_modifier(Modifier::ITALIC),
            24 => style = style.remove_modifier(Modifier::UNDERLINED),
            27 => style = style.remove_modifier(Modifier::REVERSED),
            n @ 30..=37 => style = style.fg(basic(n - 30)),
            39 => style.fg = None,
            n @ 40..=47 => style = style.bg(basic(n - 40)),
            49 => style.bg = None,
            n @ 90..=97 => style = style.fg(bright(n - 90)),
            n @ 100..=107 => style = style.bg(bright(n - 100)),
            n @ (38 | 48) => {
                let color = match nums.get(i + 1) {
                    Some(5) => {
                        let c = nums.get(i + 2).copied().unwrap_or(0).min(255) as u8;
                        i += 2;
                        Some(Color::Indexed(c))
                    }
                    Some(2) => {
                        let g = |k: usize| nums.get(i + k).copied().unwrap_or(0).min(255) as u8;
                        let c = Color::Rgb(g(2), g(3), g(4));
                        i += 4;
                        Some(c)
                    }
                    _ => None,
                };
                if let Some(c) = color {
                    style = if n == 38 { style.fg(c) } else { style.bg(c) };
                }
            }
            _ => {}
        }
        i += 1;
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_become_styles_and_other_escapes_vanish() {
        let l = parse("a\x1b[31mred\x1b[0m b\x1b[2J\x1b]0;title\x07c\x08", true);
        assert_eq!(l.spans.len(), 3);
        assert_eq!(l.spans[1].content, "red");
        assert_eq!(l.spans[1].style.fg, Some(Color::Red));
        assert_eq!(crate::domain::text::strip("a\x1b[31mred\x1b[0m b\x1b[2J\x1b]0;title\x07c\x08"), "ared bc");
    }

    #[test]
    fn stripped_mode_has_no_style() {
        let l = parse("\x1b[1;38;5;200mx", false);
        assert_eq!(l.spans[0].style, Style::default());
    }
}
