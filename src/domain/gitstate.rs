//! The git state of a project's workspace as the list shows it: branch, changed files, ahead /
//! behind its upstream, and the diff stat. Parsed from `git status --porcelain=v2 --branch`
//! and `git diff --shortstat` (read on the host by the gitstate module).

/// What reading a workspace's git state gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRead {
    /// The workspace is no git repository.
    NotRepo,
    State(GitState),
    /// Not read, and why (one line).
    Unreadable(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitState {
    /// The branch checked out; None on a detached HEAD.
    pub branch: Option<String>,
    /// The commit checked out (short), None before the first commit.
    pub head: Option<String>,
    pub upstream: Option<String>,
    pub ahead: u64,
    pub behind: u64,
    /// Changed tracked files (staged or not).
    pub changed: u64,
    pub untracked: u64,
    pub conflicts: u64,
    /// Files, lines added and removed in the work tree against HEAD.
    pub diff: Option<(u64, u64, u64)>,
    /// The status listing was cut at its cap: the counts are at least these.
    pub cut: bool,
}

impl GitState {
    pub fn dirty(&self) -> u64 {
        self.changed + self.untracked + self.conflicts
    }

    /// The list's cell: `main ↑1↓2 ●3`: branch (or the detached commit), ahead / behind its
    /// upstream, files changed or new.
    pub fn cell(&self) -> String {
        let mut s = match (&self.branch, &self.head) {
            (Some(b), _) => b.clone(),
            (None, Some(h)) => format!("@{h}"),
            (None, None) => "(no commit)".into(),
        };
        if self.ahead > 0 {
            s.push_str(&format!(" ↑{}", self.ahead));
        }
        if self.behind > 0 {
            s.push_str(&format!("{}↓{}", if self.ahead > 0 { "" } else { " " }, self.behind));
        }
        let dirty = self.dirty();
        if dirty > 0 {
            s.push_str(&format!(" ●{dirty}{}", if self.cut { "+" } else { "" }));
        }
        s
    }

    /// The detail view's line.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        parts.push(match (&self.branch, &self.head) {
            (Some(b), Some(h)) => format!("{b} at {h}"),
            (Some(b), None) => format!("{b}, no commit yet"),
            (None, Some(h)) => format!("detached HEAD at {h}"),
            (None, None) => "no commit yet".into(),
        });
        if let Some(u) = &self.upstream {
            parts.push(match (self.ahead, self.behind) {
                (0, 0) => format!("even with {u}"),
                (a, 0) => format!("{a} ahead of {u}"),
                (0, b) => format!("{b} behind {u}"),
                (a, b) => format!("{a} ahead, {b} behind {u}"),
            });
        }
        let plus = if self.cut { "+" } else { "" };
        match self.dirty() {
            0 => parts.push("clean".into()),
            _ => {
                let mut d = Vec::new();
                if self.changed > 0 {
                    d.push(format!("{}{plus} changed", self.changed));
                }
                if self.untracked > 0 {
                    d.push(format!("{}{plus} new", self.untracked));
                }
                if self.conflicts > 0 {
                    d.push(format!("{} in conflict", self.conflicts));
                }
                parts.push(d.join(", "));
            }
        }
        if let Some((files, add, del)) = self.diff.filter(|d| d.0 > 0) {
            parts.push(format!("{files} files +{add} -{del} against HEAD"));
        }
        parts.join(" · ")
    }
}

impl GitRead {
    pub fn cell(&self) -> String {
        match self {
            GitRead::NotRepo => "not git".into(),
            GitRead::State(s) => s.cell(),
            GitRead::Unreadable(_) => "?".into(),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            GitRead::NotRepo => "the workspace is not a git repository".into(),
            GitRead::State(s) => s.describe(),
            GitRead::Unreadable(why) => format!("not read: {why}"),
        }
    }
}

/// Parses `git status --porcelain=v2 --branch -z`'s output (entries NUL-terminated; a rename
/// carries a second path, which is skipped).
pub fn parse_status(out: &[u8], cut: bool) -> GitState {
    let mut s = GitState { cut, ..Default::default() };
    let mut fields = out.split(|b| *b == 0).peekable();
    while let Some(entry) = fields.next() {
        if entry.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(entry);
        if let Some(h) = text.strip_prefix("# ") {
            let (key, value) = h.split_once(' ').unwrap_or((h, ""));
            match key {
                "branch.oid" if value != "(initial)" => s.head = Some(value.chars().take(10).collect()),
                "branch.head" if value != "(detached)" => s.branch = Some(super::text::strip(value)),
                "branch.upstream" => s.upstream = Some(super::text::strip(value)),
                "branch.ab" => {
                    for n in value.split(' ') {
                        if let Some(a) = n.strip_prefix('+') {
                            s.ahead = a.parse().unwrap_or(0);
                        } else if let Some(b) = n.strip_prefix('-') {
                            s.behind = b.parse().unwrap_or(0);
                        }
                    }
                }
                _ => {}
            }
            continue;
        }
        match entry[0] {
            b'1' => s.changed += 1,
            b'2' => {
                s.changed += 1;
                fields.next(); // the rename's original path
            }
            b'u' => s.conflicts += 1,
            b'?' => s.untracked += 1,
            _ => {}
        }
    }
    s
}

/// Parses `git diff --shortstat`: " 3 files changed, 10 insertions(+), 2 deletions(-)".
pub fn parse_shortstat(out: &str) -> (u64, u64, u64) {
    let mut r = (0, 0, 0);
    for part in out.trim().split(',') {
        let mut w = part.split_whitespace();
        let n: u64 = w.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        match w.next() {
            Some(k) if k.starts_with("file") => r.0 = n,
            Some(k) if k.starts_with("insertion") => r.1 = n,
            Some(k) if k.starts_with("deletion") => r.2 = n,
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_ahead_and_behind_with_changes() {
        let out = b"# branch.oid 0123456789abcdef\0# branch.head main\0# branch.upstream origin/main\0# branch.ab +2 -1\0\
1 .M N... 100644 100644 100644 aa bb src/a.rs\0\
2 R. N... 100644 100644 100644 aa bb R100 new.rs\0old.rs\0\
u UU N... 100644 100644 100644 100644 aa bb cc c.rs\0\
? notes.txt\0? more.txt\0";
        let s = parse_status(out, false);
        assert_eq!(s.branch.as_deref(), Some("main"));
        assert_eq!(s.head.as_deref(), Some("0123456789"));
        assert_eq!((s.ahead, s.behind, s.changed, s.untracked, s.conflicts), (2, 1, 2, 2, 1));
        assert_eq!(s.cell(), "main ↑2↓1 ●5");
        assert_eq!(s.describe(), "main at 0123456789 · 2 ahead, 1 behind origin/main · 2 changed, 2 new, 1 in conflict");
    }

    #[test]
    fn detached_clean_and_fresh_repositories() {
        let s = parse_status(b"# branch.oid abcdef0123456\0# branch.head (detached)\0", false);
        assert_eq!(s.cell(), "@abcdef0123");
        assert_eq!(s.describe(), "detached HEAD at abcdef0123 · clean");
        let s = parse_status(b"# branch.oid (initial)\0# branch.head main\0? a\0", true);
        assert_eq!(s.cell(), "main ●1+");
        assert_eq!(s.describe(), "main, no commit yet · 1+ new");
        assert_eq!(parse_status(b"# branch.oid x\0# branch.head dev\0# branch.ab +0 -3\0", false).cell(), "dev ↓3");
    }

    #[test]
    fn a_branch_name_with_escapes_is_shown_inert() {
        let s = parse_status(b"# branch.head evil\x1b]0;owned\x07\0", false);
        assert!(!s.cell().contains('\x1b'), "{:?}", s.cell());
    }

    #[test]
    fn shortstat() {
        assert_eq!(parse_shortstat(" 3 files changed, 10 insertions(+), 2 deletions(-)\n"), (3, 10, 2));
        assert_eq!(parse_shortstat(" 1 file changed, 1 deletion(-)"), (1, 0, 1));
        assert_eq!(parse_shortstat(""), (0, 0, 0));
        let s = GitState { branch: Some("m".into()), head: Some("a".into()), diff: Some((3, 10, 2)), changed: 3, ..Default::default() };
        assert!(s.describe().ends_with("3 files +10 -2 against HEAD"), "{}", s.describe());
    }
}
