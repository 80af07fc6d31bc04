//! Where the panels go. The output pane takes room only while it has something to show (a
//! stream's lines, one running, how one ended) or the focus, or when pinned with `o`; `o` hides
//! it again until a new stream starts; `+` and `-` change its height, which is remembered. The
//! list gets the rest.

use super::{Areas, App, Focus, Mode};
use ratatui::layout::Rect;

/// The list keeps at least this many rows (borders, header and two rows) when there is room.
const LIST_MIN: u16 = 5;
/// The smallest output pane worth drawing (borders and one line).
const PANE_MIN: u16 = 3;
/// Rows `+` and `-` add or take.
const STEP: u16 = 2;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PaneLayout {
    /// Shown even when empty (`o` on a hidden pane).
    pub pinned: bool,
    /// Hidden by `o` while this stream is the pane's: a new stream shows it again.
    pub hidden_for: Option<Option<u64>>,
    /// The output pane's height when shown, borders included (None: two fifths of the body).
    pub height: Option<u16>,
}

/// Heights of the list, the detail and the output pane in a body `body` rows high.
pub fn split(body: u16, detail: bool, output: Option<Option<u16>>) -> (u16, u16, u16) {
    let room = body.saturating_sub(LIST_MIN.min(body));
    let detail_h = if detail { (body * 3 / 10).min(room) } else { 0 };
    let detail_h = if detail_h < PANE_MIN { 0 } else { detail_h };
    let room = room - detail_h;
    let output_h = match output {
        Some(h) => h.unwrap_or(body * 2 / 5).max(PANE_MIN).min(room),
        None => 0,
    };
    let output_h = if output_h < PANE_MIN { 0 } else { output_h };
    (body - detail_h - output_h, detail_h, output_h)
}

impl App {
    /// Whether the output pane takes room now.
    pub fn output_shown(&self) -> bool {
        let o = &self.output;
        let has_content = !o.lines.is_empty() || o.running || o.status.is_some();
        self.focus == Focus::Output || self.layout.pinned || (has_content && self.layout.hidden_for != Some(o.stream))
    }

    pub(super) fn compute_areas(&self) -> Areas {
        let area = self.size;
        let status_h = 1.min(area.height);
        let prompting = matches!(self.mode, Mode::CommandLine | Mode::Command | Mode::Filter | Mode::Search);
        let prompt_h = if prompting { 3.min(area.height - status_h) } else { 0 };
        let body_h = area.height - status_h - prompt_h;
        let detail_open = self.detail_open && !self.tasks.shown;
        let output = self.output_shown().then_some(self.layout.height);
        let (list_h, detail_h, output_h) = split(body_h, detail_open, output);
        let mut y = area.y;
        let list = Rect::new(area.x, y, area.width, list_h);
        y += list_h;
        let detail = (detail_open && detail_h > 0).then(|| Rect::new(area.x, y, area.width, detail_h));
        y += detail_h;
        let output = Rect::new(area.x, y, area.width, output_h);
        y += output_h;
        let prompt = (prompt_h > 0).then(|| Rect::new(area.x, y, area.width, prompt_h));
        y += prompt_h;
        Areas { list, detail, output, prompt, status: Rect::new(area.x, y, area.width, status_h) }
    }

    /// `o`: hides the pane when it shows (the list gets its room), shows it when hidden.
    pub(super) fn toggle_output(&mut self) {
        if self.output_shown() {
            self.layout.pinned = false;
            self.layout.hidden_for = Some(self.output.stream);
            self.focus = Focus::List;
        } else {
            self.layout.pinned = true;
            self.layout.hidden_for = None;
        }
    }

    /// `+` / `-`: the output pane taller or shorter by a step; the height is kept for the next
    /// time it shows.
    pub(super) fn resize_output(&mut self, taller: bool) {
        if !self.output_shown() {
            self.message = Some("the output pane is hidden (o shows it)".into());
            return;
        }
        let now = self.areas().output.height;
        let body = self.size.height.saturating_sub(1);
        let h = if taller { now + STEP } else { now.saturating_sub(STEP) };
        self.layout.height = Some(h.clamp(PANE_MIN, body.saturating_sub(LIST_MIN).max(PANE_MIN)));
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn the_list_gets_what_the_panes_leave() {
        // 80x24: no output pane, the whole body is the list's
        assert_eq!(split(23, false, None), (23, 0, 0));
        // shown at its default two fifths
        assert_eq!(split(23, false, Some(None)), (14, 0, 9));
        // a remembered height, but the list keeps its minimum
        assert_eq!(split(23, false, Some(Some(40))), (5, 0, 18));
        assert_eq!(split(23, true, Some(None)), (8, 6, 9));
        // too small for a pane: none
        assert_eq!(split(9, true, Some(None)), (6, 0, 3));
        assert_eq!(split(2, false, Some(None)), (2, 0, 0));
        assert_eq!(split(0, true, Some(None)), (0, 0, 0));
    }
}
