//! Mouse: a click selects a row (or the task under it) or focuses the output pane; the wheel
//! scrolls whatever is under it.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::{list_offset, App, Focus};

impl App {
    pub fn on_mouse(&mut self, m: MouseEvent) {
        let a = self.areas();
        let pos = Position::new(m.column, m.row);
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                if a.list.contains(pos) {
                    self.focus = Focus::List;
                    // 1 border line + 1 header line
                    let y = m.row.saturating_sub(a.list.y + 2) as usize;
                    if m.row >= a.list.y + 2 {
                        let visible = a.list.height.saturating_sub(3) as usize;
                        if self.tasks.shown {
                            let i = list_offset(self.tasks.selected, visible) + y;
                            if i < self.tasks.tasks.len() {
                                self.tasks.select(i);
                            }
                        } else {
                            let i = list_offset(self.list.selected, visible) + y;
                            if i < self.list.rows.len() {
                                self.select(i);
                            }
                        }
                    }
                } else if a.output.contains(pos) {
                    self.focus = Focus::Output;
                }
                self.dirty = true;
            }
            MouseEventKind::ScrollUp => {
                if a.output.contains(pos) {
                    self.output.scroll_up(3);
                } else if self.tasks.shown {
                    self.tasks.select(self.tasks.selected.saturating_sub(1));
                } else {
                    self.select(self.list.selected.saturating_sub(1));
                }
                self.dirty = true;
            }
            MouseEventKind::ScrollDown => {
                if a.output.contains(pos) {
                    self.output.scroll_down(3);
                } else if self.tasks.shown {
                    self.tasks.select(self.tasks.selected + 1);
                } else {
                    self.select(self.list.selected + 1);
                }
                self.dirty = true;
            }
            _ => {}
        }
    }
}
