//! Text from containers, made safe to show: one scanner of escape sequences and control
//! characters, used by the plain-text filter here and by the colour renderer in `ui::ansi`.

use std::cmp::Ordering;

/// A piece of scanned text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Piece<'a> {
    /// A printable character.
    Char(char),
    /// A tab (shown as spaces).
    Tab,
    /// The parameters of an SGR sequence (`ESC [ … m`): colours and attributes.
    Sgr(&'a str),
}

/// Walks `s`, giving printable characters, tabs and SGR parameters; every other escape
/// sequence (CSI, OSC up to BEL or ST, two-byte escapes) and control character is dropped.
pub fn scan<'a>(s: &'a str, mut out: impl FnMut(Piece<'a>)) {
    let mut chars = s.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '\x1b' => match chars.peek().map(|(_, d)| *d) {
                Some('[') => {
                    let (open, _) = chars.next().expect("peeked");
                    let start = open + 1;
                    let mut fin = None;
                    let mut end = s.len();
                    for (i, d) in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&d) {
                            fin = Some(d);
                            end = i;
                            break;
                        }
                    }
                    if fin == Some('m') {
                        out(Piece::Sgr(&s[start..end]));
                    }
                }
                Some(']' | 'P' | 'X' | '^' | '_') => {
                    // OSC, DCS, SOS, PM, APC: a string up to BEL or ESC \
                    chars.next();
                    while let Some((_, d)) = chars.next() {
                        if d == '\x07' {
                            break;
                        }
                        if d == '\x1b' {
                            chars.next();
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            },
            '\t' => out(Piece::Tab),
            c if c.is_control() || invisible(c) => {}
            c => out(Piece::Char(c)),
        }
    }
}

/// Characters that change how the text around them reads without being seen: bidirectional
/// overrides and isolates (which can make `rm -rf /` look like something else), zero-width
/// spaces and joiners, the byte-order mark.
pub fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}' | '\u{180E}')
}

/// Plain text of `s`: no escape sequences, no control characters, tabs as four spaces.
pub fn strip(s: &str) -> String {
    let mut text = String::with_capacity(s.len());
    scan(s, |p| match p {
        Piece::Char(c) => text.push(c),
        Piece::Tab => text.push_str("    "),
        Piece::Sgr(_) => {}
    });
    text
}

/// Names compared as people read them: runs of digits by their value (big-2 before big-10),
/// the rest without regard to case; equal ones by their exact text, so the order is total.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        if x[i].is_ascii_digit() && y[j].is_ascii_digit() {
            let (si, sj) = (i, j);
            while i < x.len() && x[i].is_ascii_digit() {
                i += 1;
            }
            while j < y.len() && y[j].is_ascii_digit() {
                j += 1;
            }
            let n = a[si..i].trim_start_matches('0');
            let m = b[sj..j].trim_start_matches('0');
            let o = n.len().cmp(&m.len()).then_with(|| n.cmp(m));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            // one character each (digits are ASCII, so a run never starts inside a character)
            let (c, d) = (a[i..].chars().next().unwrap_or_default(), b[j..].chars().next().unwrap_or_default());
            let o = c.to_lowercase().cmp(d.to_lowercase());
            if o != Ordering::Equal {
                return o;
            }
            i += c.len_utf8();
            j += d.len_utf8();
        }
    }
    (x.len() - i).cmp(&(y.len() - j)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_controls_zero_width_and_escape_strings_vanish() {
        assert_eq!(strip("ab\u{202E}cd\u{2066}e\u{200B}f\u{FEFF}g"), "abcdefg");
        assert_eq!(strip("x\x1bPq#0;2;0;0;0#0~~\x1b\\y\x1b_apc payload\x07z"), "xyz");
        // C1 controls too (CSI as one character)
        assert_eq!(strip("a\u{9b}31mb"), "a31mb");
    }

    #[test]
    fn escapes_and_controls_vanish() {
        assert_eq!(strip("a\x1b[31mred\x1b[0m b\x1b[2J\x1b]0;title\x07c\x08"), "ared bc");
        assert_eq!(strip("x\ty"), "x    y");
    }

    #[test]
    fn sgr_parameters_are_given() {
        let mut sgr = Vec::new();
        scan("\x1b[1;38;5;200mx\x1b[m", |p| {
            if let Piece::Sgr(s) = p {
                sgr.push(s.to_string())
            }
        });
        assert_eq!(sgr, vec!["1;38;5;200".to_string(), String::new()]);
    }
}
