//! Bounded output buffers: whatever a command prints, memory stays capped.

use std::collections::VecDeque;

/// Keeps the newest `cap` bytes written to it and counts what it dropped.
#[derive(Debug, Clone)]
pub struct ByteRing {
    buf: VecDeque<u8>,
    cap: usize,
    dropped: u64,
}

impl ByteRing {
    pub fn new(cap: usize) -> Self {
        ByteRing { buf: VecDeque::new(), cap, dropped: 0 }
    }

    pub fn push(&mut self, data: &[u8]) {
        if data.len() >= self.cap {
            self.dropped += (self.buf.len() + data.len() - self.cap) as u64;
            self.buf.clear();
            self.buf.extend(&data[data.len() - self.cap..]);
            return;
        }
        let over = (self.buf.len() + data.len()).saturating_sub(self.cap);
        if over > 0 {
            self.buf.drain(..over);
            self.dropped += over as u64;
        }
        self.buf.extend(data);
    }

    /// Bytes dropped from the front to stay under the cap.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf.into()
    }
}

/// Lines for a pane: the newest `cap` lines are kept; a partial last line waits for its end.
#[derive(Debug, Clone)]
pub struct LineRing {
    lines: VecDeque<String>,
    partial: String,
    cap: usize,
    /// Bytes kept at most (the kept lines'), however many lines that is.
    byte_cap: usize,
    bytes: usize,
    dropped: u64,
}

impl LineRing {
    pub fn new(cap: usize) -> Self {
        LineRing { lines: VecDeque::new(), partial: String::new(), cap: cap.max(1), byte_cap: usize::MAX, bytes: 0, dropped: 0 }
    }

    /// At most `bytes` kept as well as at most the lines.
    pub fn with_byte_cap(mut self, bytes: usize) -> Self {
        self.byte_cap = bytes.max(1);
        self
    }

    pub fn push_bytes(&mut self, data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let mut rest: &str = &text;
        while let Some(i) = rest.find('\n') {
            let mut line = std::mem::take(&mut self.partial);
            line.push_str(rest[..i].trim_end_matches('\r'));
            self.push_line(line);
            rest = &rest[i + 1..];
        }
        self.partial.push_str(rest);
        // A line with no end is still bounded.
        if self.partial.len() > 64 * 1024 {
            let line = std::mem::take(&mut self.partial);
            self.push_line(line);
        }
    }

    pub fn push_line(&mut self, line: String) {
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.lines.len() > self.cap || (self.bytes > self.byte_cap && self.lines.len() > 1) {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.len();
                self.dropped += 1;
            }
        }
    }

    /// Ends a partial last line (the stream closed).
    pub fn flush(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.push_line(line);
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len() + usize::from(!self.partial.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Line `i` (0 = oldest kept), the partial line last.
    pub fn get(&self, i: usize) -> Option<&str> {
        if i < self.lines.len() {
            Some(&self.lines[i])
        } else if i == self.lines.len() && !self.partial.is_empty() {
            Some(&self.partial)
        } else {
            None
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.lines
            .iter()
            .map(String::as_str)
            .chain((!self.partial.is_empty()).then_some(self.partial.as_str()))
    }

    pub fn clear(&mut self) {
        self.lines.clear();
        self.bytes = 0;
        self.partial.clear();
        self.dropped = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_newest_bytes() {
        let mut r = ByteRing::new(4);
        r.push(b"ab");
        r.push(b"cdef");
        assert_eq!(r.dropped(), 2);
        assert_eq!(r.clone().into_bytes(), b"cdef");
        r.push(b"0123456789");
        assert_eq!(r.dropped(), 12);
        assert_eq!(r.into_bytes(), b"6789");
    }

    #[test]
    fn lines_split_across_chunks_and_cap() {
        let mut l = LineRing::new(2);
        l.push_bytes(b"one\ntw");
        assert_eq!(l.iter().collect::<Vec<_>>(), ["one", "tw"]);
        l.push_bytes(b"o\r\nthree\n");
        assert_eq!(l.iter().collect::<Vec<_>>(), ["two", "three"]);
        assert_eq!(l.dropped(), 1);
        l.push_bytes(b"tail");
        l.flush();
        assert_eq!(l.get(1), Some("tail"));
    }

    #[test]
    fn bytes_are_capped_as_well_as_lines() {
        let mut l = LineRing::new(1000).with_byte_cap(100);
        for _ in 0..50 {
            l.push_line("x".repeat(30));
        }
        assert_eq!(l.len(), 3, "3 lines of 30 bytes fit in 100");
        assert_eq!(l.dropped(), 47);
        l.clear();
        l.push_line("y".repeat(500));
        assert_eq!(l.len(), 1, "one line longer than the cap is still kept");
    }
}
