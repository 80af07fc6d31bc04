//! Reads an agent's transcript (a file the container writes, in its mounted config dir) on the
//! host, incrementally: one `lstat` when nothing changed; when it grew, the new bytes from the
//! last offset, at most [`READ_BUDGET`] per look, through [`crate::untrusted`] (no link
//! followed at any step, regular files only, never blocking). A line longer than [`MAX_LINE`]
//! makes the transcript unreadable (nothing more is read of that file), so a hostile one costs
//! a few reads and a bounded buffer. Blocking I/O: called off the dashboard's loop.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::domain::transcript::Summary;

/// At most this much is read of a transcript per look (a long one is caught up over several).
pub const READ_BUDGET: u64 = 4 << 20;
/// A line longer than this is not a transcript line.
pub const MAX_LINE: usize = 8 << 20;

/// Where the agent's session writes, relative to its config dir
/// (`projects/<cwd as a name>/<session>.jsonl`), from the `transcript_path` its SessionStart
/// hook recorded. The container wrote it: only two plain names under `projects/` pass.
pub fn relative_path(hook_line: &str) -> Option<String> {
    let path = hook_line.split("\"transcript_path\":\"").nth(1)?.split('"').next()?;
    let rest = &path[path.rfind("/projects/")? + "/projects/".len()..];
    let (dir, file) = rest.split_once('/')?;
    let plain = |s: &str| {
        !s.is_empty() && s != "." && s != ".." && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    };
    (plain(dir) && plain(file) && file.ends_with(".jsonl")).then(|| format!("projects/{dir}/{file}"))
}

/// Transcripts kept open at most (one per agent): past it a file is opened at each read, so a
/// dashboard with thousands of agents keeps descriptors to spare.
const MAX_HELD: usize = 512;
static HELD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A transcript kept open, counted against [`MAX_HELD`].
#[derive(Debug)]
struct Held(std::fs::File);

impl Held {
    fn new(f: std::fs::File) -> Result<Held, std::fs::File> {
        use std::sync::atomic::Ordering;
        match HELD.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < MAX_HELD).then_some(n + 1)) {
            Ok(_) => Ok(Held(f)),
            Err(_) => Err(f),
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        HELD.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One transcript followed from where it was last read.
#[derive(Debug, Default)]
pub struct Reader {
    /// Relative to the agent config dir.
    pub rel: String,
    /// (device, inode, size, mtime ns) when the file was last read to its end.
    seen: Option<(u64, u64, u64, i64)>,
    /// (device, inode) of the file being read.
    file: Option<(u64, u64)>,
    offset: u64,
    partial: Vec<u8>,
    /// The file, kept open between looks (a look that finds it grown reads on, no path walk).
    held: Option<Held>,
    pub summary: Summary,
    /// Why the transcript cannot be read (not a regular file, a line too long).
    pub unreadable: Option<String>,
}

impl Reader {
    pub fn new(rel: String) -> Reader {
        Reader { rel, ..Default::default() }
    }

    /// How far the file was read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn restart(&mut self) {
        let rel = std::mem::take(&mut self.rel);
        *self = Reader::new(rel);
    }

    /// Looks at the transcript under `agent_dir` and reads what was added; true when what it
    /// says (or why it cannot be read) changed.
    pub fn poll(&mut self, agent_dir: &Path) -> bool {
        // the cheap look first: one lstat (a link anywhere on the way only tells a size)
        let meta = match std::fs::symlink_metadata(agent_dir.join(&self.rel)) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.set_unreadable(None),
            Err(e) => return self.set_unreadable(Some(e.to_string())),
        };
        if !meta.file_type().is_file() {
            let what = crate::untrusted::describe(&meta);
            self.seen = None;
            return self.set_unreadable(Some(what.to_string()));
        }
        let stamp = (meta.dev(), meta.ino(), meta.size(), meta.mtime() * 1_000_000_000 + meta.mtime_nsec());
        if self.seen == Some(stamp) {
            return false;
        }
        let mut changed = false;
        // another file under the name, or the same one cut shorter: from the start
        if self.file != Some((stamp.0, stamp.1)) || stamp.2 < self.offset {
            changed = self.file.is_some() || self.unreadable.is_some();
            self.restart();
            self.file = Some((stamp.0, stamp.1));
        }
        if self.unreadable.is_some() {
            // a line too long: nothing more of this file
            self.seen = Some(stamp);
            return changed;
        }
        match self.read_more(agent_dir, stamp.2) {
            Ok(true) => self.seen = Some(stamp),
            Ok(false) => {} // more to read at the next look
            Err(why) => {
                self.seen = Some(stamp);
                self.set_unreadable(Some(why));
                return true;
            }
        }
        true
    }

    fn set_unreadable(&mut self, why: Option<String>) -> bool {
        let changed = self.unreadable != why;
        self.unreadable = why;
        changed
    }

    /// Reads from the offset, up to the budget; true when it reached the end. `size`: the
    /// file's size at the look.
    fn read_more(&mut self, agent_dir: &Path, size: u64) -> Result<bool, String> {
        // the file kept open from an earlier read, else opened now (no link followed)
        let f = match self.held.take() {
            Some(h) => Ok(h),
            None => {
                let (f, _) = crate::untrusted::open(agent_dir, &self.rel).map_err(|e| e.to_string())?;
                let st = f.metadata().map_err(|e| e.to_string())?;
                if Some((st.dev(), st.ino())) != self.file {
                    // swapped between the look and the open: the next look starts over
                    self.seen = None;
                    self.file = None;
                    return Ok(false);
                }
                Held::new(f)
            }
        };
        let mut file: &std::fs::File = match &f {
            Ok(h) => &h.0,
            Err(f) => f,
        };
        file.seek(SeekFrom::Start(self.offset)).map_err(|e| e.to_string())?;
        let want = size.saturating_sub(self.offset).min(READ_BUDGET);
        let mut buf = vec![0u8; want.min(64 << 10) as usize];
        let mut left = want;
        while left > 0 {
            let take = left.min(buf.len() as u64) as usize;
            let n = file.read(&mut buf[..take]).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            self.offset += n as u64;
            left -= n as u64;
            self.take(&buf[..n])?;
        }
        self.held = f.ok();
        Ok(self.offset >= size)
    }

    /// Whole lines of `chunk` (with what was left of the last one) go to the summary.
    fn take(&mut self, chunk: &[u8]) -> Result<(), String> {
        let mut rest = chunk;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            if self.partial.is_empty() {
                self.summary.push_line(&rest[..nl]);
            } else {
                self.partial.extend_from_slice(&rest[..nl]);
                let line = std::mem::take(&mut self.partial);
                self.summary.push_line(&line);
            }
            rest = &rest[nl + 1..];
        }
        if self.partial.len() + rest.len() > MAX_LINE {
            self.partial = Vec::new();
            return Err(format!("a line over {} MiB", MAX_LINE >> 20));
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const REL: &str = "projects/-workspace/s.jsonl";

    fn line(i: u32) -> String {
        format!("{{\"type\":\"user\",\"message\":{{\"content\":\"prompt {i}\"}}}}\n")
    }

    fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("projects/-workspace")).unwrap();
        let p = d.path().join(REL);
        (d, p)
    }

    #[test]
    fn the_path_comes_from_the_hook_line_and_only_plain_names_pass() {
        let ok = r#""transcript_path":"/home/agent/.claude/projects/-workspace/b81e0b6d-6084.jsonl""#;
        assert_eq!(relative_path(ok).as_deref(), Some("projects/-workspace/b81e0b6d-6084.jsonl"));
        for bad in [
            r#""transcript_path":"/x/projects/../../etc/passwd.jsonl""#,
            r#""transcript_path":"/x/projects/-workspace/../a.jsonl""#,
            r#""transcript_path":"/x/projects/a/b/c.jsonl""#,
            r#""transcript_path":"/x/projects/-workspace/a.txt""#,
            r#""transcript_path":"/etc/passwd""#,
            "",
        ] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_what_was_added_and_nothing_when_nothing_changed() {
        let (d, p) = setup();
        let mut r = Reader::new(REL.into());
        assert!(!r.poll(d.path()), "no file yet");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(line(1).as_bytes()).unwrap();
        f.write_all(b"{\"type\":\"user\",\"message\":{\"content\":\"half").unwrap();
        assert!(r.poll(d.path()));
        assert_eq!(r.summary.turns, 1);
        assert!(!r.poll(d.path()), "unchanged");
        f.write_all(b" a line\"}}\n").unwrap();
        f.write_all(line(3).as_bytes()).unwrap();
        assert!(r.poll(d.path()));
        assert_eq!(r.summary.turns, 3);
        assert_eq!(r.summary.last_prompt.as_deref(), Some("prompt 3"));
        // replaced by another file: read from its start
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, line(9)).unwrap();
        assert!(r.poll(d.path()));
        assert_eq!((r.summary.turns, r.summary.last_prompt.as_deref()), (1, Some("prompt 9")));
    }

    #[test]
    fn a_big_transcript_is_caught_up_over_several_looks() {
        let (d, p) = setup();
        let mut text = String::new();
        let mut n = 0;
        while text.len() < (READ_BUDGET as usize) * 2 + 100 {
            n += 1;
            text.push_str(&line(n));
        }
        std::fs::write(&p, &text).unwrap();
        let mut r = Reader::new(REL.into());
        let mut looks = 0;
        while r.poll(d.path()) {
            looks += 1;
            assert!(looks < 10);
        }
        assert_eq!(looks, 3);
        assert_eq!(r.summary.turns, n as u64);
    }

    #[test]
    fn a_fifo_a_link_and_an_endless_line_are_unreadable_and_never_block() {
        let (d, p) = setup();
        let dir = d.path().to_path_buf();
        let check = |plant: &dyn Fn(), want: &str| {
            let _ = std::fs::remove_file(&p);
            plant();
            let dir = dir.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let mut r = Reader::new(REL.into());
                for _ in 0..5 {
                    r.poll(&dir);
                }
                tx.send(r.unreadable.clone()).unwrap();
            });
            let got = rx.recv_timeout(std::time::Duration::from_secs(20)).expect("the read blocked");
            assert!(got.as_deref().is_some_and(|g| g.contains(want)), "{want}: {got:?}");
        };
        check(&|| rustix::fs::mknodat(rustix::fs::CWD, &p, rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap(), "a FIFO");
        check(&|| std::os::unix::fs::symlink("/dev/zero", &p).unwrap(), "a symbolic link");
        // 1 GiB without a newline (sparse: no disk used)
        check(
            &|| {
                let f = std::fs::File::create(&p).unwrap();
                f.set_len(1 << 30).unwrap();
            },
            "a line over 8 MiB",
        );
        // a directory on the way that is a link is not followed either
        std::fs::remove_file(&p).unwrap();
        std::fs::rename(d.path().join("projects/-workspace"), d.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(d.path().join("elsewhere"), d.path().join("projects/-workspace")).unwrap();
        std::fs::write(d.path().join("elsewhere/s.jsonl"), line(1)).unwrap();
        let mut r = Reader::new(REL.into());
        r.poll(d.path());
        assert_eq!(r.summary.turns, 0);
        assert!(r.unreadable.is_some());
    }
}
