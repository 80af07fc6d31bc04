//! Host-side git for tasks, hardened: no hooks, no fsmonitor, no external diff or textconv,
//! no prompt, only well-known transports. Git never runs in a task's workspace on the host
//! (the container wrote it); the task's commits arrive as a bundle.

use std::path::Path;
use std::process::{Command, Output};

use super::store::DiffStat;

fn git(dir: Option<&Path>) -> Command {
    let mut c = Command::new("git");
    if let Some(d) = dir {
        c.arg("-C").arg(d);
    }
    // the repositories may belong to the container user: hooks, fsmonitor, external diff and
    // textconv stay off, so reading them does not run what their config says
    c.args(["-c", "safe.directory=*", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"])
        .args(["-c", "protocol.ext.allow=never"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ALLOW_PROTOCOL", "file:https:http:ssh:git")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    c
}

/// The serving side of a local clone runs as its own git: it must accept a repository owned by
/// the container user too.
const UPLOAD_PACK: &str = "git -c safe.directory=* -c core.hooksPath=/dev/null upload-pack";

fn run(mut c: Command) -> Result<Output, String> {
    let out = c.output().map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("git failed").trim().to_string();
        Err(crate::domain::task::cut(&line, 300))
    }
}

/// The commit `rev` names in `repo`: errors say which of repo, commits or rev is missing.
pub fn resolve(repo: &Path, rev: &str) -> Result<String, String> {
    if !repo.join(".git").exists() && !repo.join("HEAD").is_file() {
        return Err(format!("{} is not a git repository", repo.display()));
    }
    let mut c = git(Some(repo));
    c.args(["rev-parse", "--verify", "--quiet", "--end-of-options", &format!("{rev}^{{commit}}")]);
    match run(c) {
        Ok(out) => Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()),
        Err(_) if rev == "HEAD" => Err(format!("{} has no commits yet; a task starts from a commit", repo.display())),
        Err(_) => Err(format!("branch or commit '{rev}' does not exist in {}", repo.display())),
    }
}

/// Clones `source` (a local repository or a URL) into `dest` with its objects copied (never
/// hard-linked: the container must not reach the project's object files), and checks out a
/// new `branch` at `base`.
pub fn clone_for_task(source: &str, dest: &Path, base: &str, branch: &str) -> Result<(), String> {
    let mut c = git(None);
    c.args(["clone", "--quiet", "--no-hardlinks", "--no-checkout", "--upload-pack", UPLOAD_PACK, "--", source]).arg(dest);
    run(c)?;
    let mut c = git(Some(dest));
    c.args(["checkout", "--quiet", "-b", branch, base]);
    run(c).map(|_| ())
}

/// A clone of `url` (no work tree) at `dest`, made once and fetched on later tasks: where the
/// branches of `--repo` tasks go.
pub fn mirror(url: &str, dest: &Path) -> Result<(), String> {
    if dest.join("HEAD").is_file() {
        let mut c = git(Some(dest));
        c.args(["fetch", "--quiet", "--prune", "origin", "+refs/heads/*:refs/heads/*"]);
        return run(c).map(|_| ());
    }
    let mut c = git(None);
    c.args(["clone", "--quiet", "--bare", "--upload-pack", UPLOAD_PACK, "--", url]).arg(dest);
    run(c).map(|_| ())
}

/// Brings the task branch from a bundle into `repo` (objects checked on the way in).
pub fn fetch_bundle(repo: &Path, bundle: &Path, branch: &str) -> Result<(), String> {
    let mut c = git(Some(repo));
    c.args(["-c", "transfer.fsckObjects=true", "fetch", "--quiet", "--no-tags"])
        .arg(bundle)
        .arg(format!("+refs/heads/{branch}:refs/heads/{branch}"));
    run(c).map(|_| ())
}

/// The task branch's head in `repo`, if it is there.
pub fn head_of(repo: &Path, branch: &str) -> Option<String> {
    let mut c = git(Some(repo));
    c.args(["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")]);
    run(c).ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

const DIFF_SAFE: [&str; 3] = ["--no-ext-diff", "--no-textconv", "--no-color"];

pub fn diffstat(repo: &Path, base: &str, head: &str) -> Result<DiffStat, String> {
    let mut c = git(Some(repo));
    c.arg("diff").args(DIFF_SAFE).args(["--numstat", base, head, "--"]);
    let out = run(c)?;
    let mut d = DiffStat::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut f = line.split('\t');
        d.files += 1;
        d.insertions += f.next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        d.deletions += f.next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    }
    Ok(d)
}

/// The diff from `base` to `head`: its first `max` bytes (cut on a character boundary) and how
/// long it is in all. The rest is read and counted, never held.
pub fn diff(repo: &Path, base: &str, head: &str, max: usize) -> Result<(String, u64), String> {
    use std::io::Read;
    let mut c = git(Some(repo));
    c.arg("diff").args(DIFF_SAFE).args([base, head, "--"]);
    c.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = c.spawn().map_err(|e| format!("cannot run git: {e}"))?;
    let mut out = child.stdout.take().ok_or("git gave no output")?;
    // stderr is read beside, so a chatty git cannot block on a full pipe
    let mut err_pipe = child.stderr.take().ok_or("git gave no error stream")?;
    let errs = std::thread::spawn(move || {
        let mut e = Vec::new();
        let _ = (&mut err_pipe).take(64 * 1024).read_to_end(&mut e);
        let _ = std::io::copy(&mut err_pipe, &mut std::io::sink());
        e
    });
    let mut kept = Vec::with_capacity(max.min(1 << 20));
    let mut total = 0u64;
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = out.read(&mut buf).map_err(|e| format!("cannot read git's output: {e}"))?;
        if n == 0 {
            break;
        }
        let room = max.saturating_sub(kept.len()).min(n);
        kept.extend_from_slice(&buf[..room]);
        total += n as u64;
    }
    let status = child.wait().map_err(|e| format!("cannot run git: {e}"))?;
    let err = errs.join().unwrap_or_default();
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let line = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("git failed").trim().to_string();
        return Err(crate::domain::task::cut(&line, 300));
    }
    if total > max as u64 {
        // a character cut in two at the end is dropped, not shown as a replacement
        if let Err(e) = std::str::from_utf8(&kept) {
            if e.error_len().is_none() {
                kept.truncate(e.valid_up_to());
            }
        }
    }
    let text = String::from_utf8_lossy(&kept).into_owned();
    Ok((text, total))
}
