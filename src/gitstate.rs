//! Reads a project workspace's git state on the host, without running anything the container
//! controls. The workspace is the container's to write, `.git` included (only its `config` and
//! `hooks` are mounted read-only), so:
//! - git runs with hooks, fsmonitor, pager, external diff and textconv forced off, takes no
//!   optional locks (it writes nothing) and does not look into submodules (their `.git` is the
//!   container's);
//! - its git dir is named explicitly (no discovery that could climb elsewhere); a `.git` that is
//!   a link, a `.git/commondir` (which would redirect git to a config the container wrote) or a
//!   `.git` file pointing back into the workspace is not read, and the row says why;
//! - its output is capped and it is killed after a time limit (a repository of 100,000 files
//!   is slow, never a hang).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::domain::gitstate::{GitRead, GitState};
use crate::domain::gitstate::{parse_shortstat, parse_status};

/// The status listing kept (about 50,000 entries); the counts say "+" beyond it.
const STATUS_CAP: u64 = 4 * 1024 * 1024;
const TIME_LIMIT: Duration = Duration::from_secs(10);

/// The workspace `dir`'s git state.
pub fn read(dir: &Path) -> GitRead {
    let git_dir = match git_dir(dir) {
        Ok(Some(d)) => d,
        Ok(None) => return GitRead::NotRepo,
        Err(why) => return GitRead::Unreadable(why),
    };
    let mut c = command(dir, &git_dir);
    c.args(["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal", "--ignore-submodules=all"]);
    let (out, cut) = match run_capped(c, STATUS_CAP) {
        Ok(r) => r,
        // a `.git` that is no repository (an empty one, say)
        Err(e) if e.contains("not a git repository") => return GitRead::NotRepo,
        Err(e) => return GitRead::Unreadable(e),
    };
    let mut state = parse_status(&out, cut);
    if state.head.is_some() && state.changed > 0 {
        let mut c = command(dir, &git_dir);
        c.args(["diff", "--shortstat", "--no-ext-diff", "--no-textconv", "--no-color", "--ignore-submodules=all", "HEAD", "--"]);
        if let Ok((out, _)) = run_capped(c, 4096) {
            state.diff = Some(parse_shortstat(&String::from_utf8_lossy(&out)));
        }
    }
    GitRead::State(state)
}

/// The git dir of the workspace `dir`: None when it is no repository; an error (one line)
/// when `.git` is something the host should not follow.
fn git_dir(dir: &Path) -> Result<Option<PathBuf>, String> {
    let dotgit = dir.join(".git");
    let md = match std::fs::symlink_metadata(&dotgit) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!(".git: {e}")),
    };
    let ft = md.file_type();
    if ft.is_symlink() {
        return Err(".git is a symbolic link (not followed)".into());
    }
    if ft.is_dir() {
        if std::fs::symlink_metadata(dotgit.join("commondir")).is_ok() {
            return Err(".git/commondir in the workspace could point git at a config the container wrote".into());
        }
        return Ok(Some(dotgit));
    }
    if !ft.is_file() {
        return Err(".git is neither a directory nor a file".into());
    }
    // a linked worktree's `.git` file: `gitdir: PATH`, trusted only when PATH is outside the
    // workspace (the user's own repository)
    let bytes = crate::untrusted::read(dir, ".git", 4096).map_err(|e| format!(".git: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let target = text.lines().next().and_then(|l| l.strip_prefix("gitdir: ")).map(str::trim).filter(|t| !t.is_empty());
    let Some(target) = target else { return Err(".git is a file that names no git dir".into()) };
    let target = dir.join(target);
    let real = target.canonicalize().map_err(|e| format!(".git names {}: {e}", target.display()))?;
    let top = dir.canonicalize().map_err(|e| e.to_string())?;
    if real.starts_with(&top) {
        return Err(".git is a file naming a git dir inside the workspace".into());
    }
    Ok(Some(real))
}

fn command(dir: &Path, git_dir: &Path) -> Command {
    let mut c = crate::tasks::git::git(None);
    c.args(["--no-pager", "--no-optional-locks"])
        .args(["-c", "core.pager=cat", "-c", "core.untrackedCache=false", "-c", "core.splitIndex=false"])
        .args(["-c", "diff.external=", "-c", "status.showUntrackedFiles=normal"])
        .env("GIT_DIR", git_dir)
        .env("GIT_WORK_TREE", dir)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("GIT_PAGER", "cat")
        .env_remove("GIT_EXTERNAL_DIFF")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Runs `c`: at most `cap` bytes of its output (and whether it was cut), killed after
/// [`TIME_LIMIT`].
fn run_capped(mut c: Command, cap: u64) -> Result<(Vec<u8>, bool), String> {
    let mut child = c.stdout(Stdio::piped()).spawn().map_err(|e| format!("cannot run git: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut r = stdout.take(cap + 1);
        let _ = r.read_to_end(&mut out);
        out
    });
    let errs = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stderr.take(4096).read_to_end(&mut out);
        out
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() > TIME_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    let mut out = reader.join().unwrap_or_default();
    let err = errs.join().unwrap_or_default();
    let cut = out.len() as u64 > cap;
    if cut {
        out.truncate(cap as usize);
        // the last entry may be partial: drop it
        if let Some(at) = out.iter().rposition(|b| *b == 0) {
            out.truncate(at + 1);
        }
    }
    match status {
        None => Err(format!("git took more than {}s", TIME_LIMIT.as_secs())),
        // cut: git was told to stop writing (its pipe closed); what was read stands
        Some(_) if cut => Ok((out, true)),
        Some(s) if s.success() => Ok((out, false)),
        Some(_) => {
            let e = String::from_utf8_lossy(&err);
            let line = e.lines().find(|l| !l.trim().is_empty()).unwrap_or("git failed");
            Err(crate::domain::task::cut(&crate::domain::text::strip(line.trim()), 200))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, line: &str) {
        let ok = Command::new("sh").arg("-c").arg(line).current_dir(dir).status().unwrap().success();
        assert!(ok, "{line}");
    }

    fn repo() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        sh(d.path(), "git init -q -b main && echo a > a && git add a && git -c user.name=t -c user.email=t@t commit -q -m one");
        d
    }

    #[test]
    fn branch_changes_and_diff_of_a_workspace() {
        let d = repo();
        sh(d.path(), "echo more >> a && echo new > b");
        let GitRead::State(s) = read(d.path()) else { panic!("{:?}", read(d.path())) };
        assert_eq!((s.branch.as_deref(), s.changed, s.untracked), (Some("main"), 1, 1));
        assert_eq!(s.diff, Some((1, 1, 0)));
        assert_eq!(s.cell(), "main ●2");
        // it wrote nothing: no index refresh, no lock
        assert!(!d.path().join(".git/index.lock").exists());
    }

    #[test]
    fn not_a_repository_and_a_detached_head() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read(d.path()), GitRead::NotRepo);
        let d = repo();
        sh(d.path(), "git checkout -q --detach");
        let r = read(d.path());
        assert!(r.cell().starts_with('@'), "{r:?}");
    }

    /// What the container could plant in `.git` (its `config` and `hooks` are read-only in the
    /// container; the test writes them from the host to be sure they would not run anyway): a
    /// hook of every name git knows, an fsmonitor command, a pager, an external diff.
    #[test]
    fn planted_hooks_fsmonitor_and_pager_never_run() {
        let d = repo();
        let canary = d.path().join("canary");
        let script = d.path().join(".git/evil.sh");
        std::fs::write(&script, format!("#!/bin/sh\necho ran \"$0\" >> {}\n", canary.display())).unwrap();
        sh(d.path(), "chmod +x .git/evil.sh");
        for hook in ["pre-commit", "post-checkout", "post-index-change", "fsmonitor-watchman", "reference-transaction", "pre-auto-gc"] {
            sh(d.path(), &format!("cp .git/evil.sh .git/hooks/{hook}"));
        }
        let evil = script.display().to_string();
        sh(d.path(), &format!("git config core.fsmonitor {evil} && git config core.pager {evil} && git config diff.external {evil} && git config core.hooksPath .git/hooks"));
        sh(d.path(), "echo change >> a");
        let r = read(d.path());
        assert!(matches!(&r, GitRead::State(s) if s.changed == 1), "{r:?}");
        assert!(!canary.exists(), "a planted command ran: {}", std::fs::read_to_string(&canary).unwrap_or_default());
    }

    #[test]
    fn a_git_dir_the_container_could_redirect_is_not_read() {
        // .git/commondir: git would take its config (fsmonitor, hooks) from there
        let d = repo();
        std::fs::create_dir(d.path().join("evil")).unwrap();
        std::fs::write(d.path().join(".git/commondir"), "../evil\n").unwrap();
        assert!(matches!(read(d.path()), GitRead::Unreadable(w) if w.contains("commondir")));
        // a .git file naming a git dir inside the workspace
        let d = repo();
        sh(d.path(), "mv .git inner-git && echo 'gitdir: inner-git' > .git");
        assert!(matches!(read(d.path()), GitRead::Unreadable(w) if w.contains("inside the workspace")));
        // .git a link
        let d = repo();
        let other = repo();
        sh(d.path(), &format!("rm -rf .git && ln -s {}/.git .git", other.path().display()));
        assert!(matches!(read(d.path()), GitRead::Unreadable(w) if w.contains("symbolic link")));
    }

    #[test]
    fn a_linked_worktree_of_the_users_repository_is_read() {
        let d = repo();
        let wt = tempfile::tempdir().unwrap();
        let at = wt.path().join("wt");
        sh(d.path(), &format!("git worktree add -q -b feature {}", at.display()));
        let r = read(&at);
        assert!(matches!(&r, GitRead::State(s) if s.branch.as_deref() == Some("feature")), "{r:?}");
    }
}
