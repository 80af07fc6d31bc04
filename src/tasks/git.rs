//! Host-side git for tasks, hardened: no hooks, no fsmonitor, no external diff or textconv,
//! no prompt, only well-known transports. Git never runs in a task's workspace on the host
//! (the container wrote it); the task's commits arrive as a bundle.

use std::path::Path;
use std::process::{Command, Output};

use super::store::DiffStat;

pub(crate) fn git(dir: Option<&Path>) -> Command {
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

/// Brings the task branch from a bundle into `repo` (objects checked on the way in). When
/// agentdock runs as root and the repository is a user's, git runs as that user: the refs and
/// objects it adds stay theirs (root-owned files in `.git` break the user's next commit).
pub fn fetch_bundle(repo: &Path, bundle: &Path, branch: &str) -> Result<(), String> {
    let mut c = git(Some(repo));
    c.args(["-c", "transfer.fsckObjects=true", "fetch", "--quiet", "--no-tags"]);
    let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
    let Some((uid, gid)) = foreign_owner(repo) else {
        c.arg(bundle).arg(refspec);
        return run(c).map(|_| ());
    };
    // the bundle sits in agentdock's own 0700 directory: the user's git reads a copy in a
    // directory of its own, which goes afterwards
    let side = std::env::temp_dir().join(format!("agentdock-fetch-{}-{}", std::process::id(), unique()));
    let staged = stage_for(&side, bundle, uid, gid).map_err(|e| format!("cannot hand the task's commits to the repository's owner: {e}"));
    let as_owner = staged.and_then(|copy| {
        use std::os::unix::process::CommandExt;
        let mut c = git(Some(repo));
        c.args(["-c", "transfer.fsckObjects=true", "fetch", "--quiet", "--no-tags"]);
        c.arg(copy).arg(&refspec).env("HOME", &side).env_remove("XDG_CONFIG_HOME").uid(uid).gid(gid);
        run(c).map(|_| ())
    });
    let _ = std::fs::remove_dir_all(&side);
    if as_owner.is_ok() {
        return as_owner;
    }
    // the owner cannot reach the repository from here (a directory on the way is closed to
    // them): root fetches, and what it wrote in .git is given to the owner
    c.arg(bundle).arg(refspec);
    run(c)?;
    let dotgit = repo.join(".git");
    if !std::fs::symlink_metadata(&dotgit).is_ok_and(|m| m.is_dir()) {
        return Ok(());
    }
    crate::untrusted::chown_tree_owned_by(&dotgit, 0, uid, gid).map_err(|e| format!("the task's branch is in, but {}/.git holds files of root's: {e}", repo.display()))
}

/// The uid and gid owning `repo`, when agentdock runs as root and they are not root's.
fn foreign_owner(repo: &Path) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    let md = std::fs::symlink_metadata(repo).ok()?;
    (md.uid() != 0).then(|| (md.uid(), md.gid()))
}

fn unique() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// A fresh 0700 directory of `uid` holding a copy of `bundle` it can read.
fn stage_for(side: &Path, bundle: &Path, uid: u32, gid: u32) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(side)?;
    std::os::unix::fs::chown(side, Some(uid), Some(gid))?;
    let copy = side.join("result.bundle");
    std::fs::copy(bundle, &copy)?;
    std::os::unix::fs::chown(&copy, Some(uid), Some(gid))?;
    Ok(copy)
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

/// The diff, at most `max` bytes, with a line saying so when cut.
pub fn diff(repo: &Path, base: &str, head: &str, max: usize) -> Result<String, String> {
    let mut c = git(Some(repo));
    c.arg("diff").args(DIFF_SAFE).args([base, head, "--"]);
    let out = run(c)?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.len() > max {
        let cut = (0..=max).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let total = text.len();
        text.truncate(cut);
        text.push_str(&format!("\n[agentdock: diff cut at {max} of {total} bytes]\n"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn sh(dir: &Path, line: &str) {
        let ok = Command::new("sh").arg("-c").arg(line).current_dir(dir).status().unwrap().success();
        assert!(ok, "{line}");
    }

    #[test]
    fn a_users_repository_gets_the_task_branch_as_its_own_files() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let (repo, work) = (d.path().join("repo"), d.path().join("work"));
        std::fs::create_dir_all(&repo).unwrap();
        let id = "-c user.name=t -c user.email=t@t";
        sh(&repo, &format!("git init -q && git {id} commit -q --allow-empty -m base"));
        sh(d.path(), &format!("git clone -q --no-hardlinks repo work && cd work && git checkout -q -b agentdock/task-x && echo hi > f && git add f && git {id} commit -q -m task && git bundle create -q ../b.bundle agentdock/task-x"));
        let _ = work;
        crate::untrusted::chown_tree(&repo, 4242, 4242).unwrap();
        // the bundle in a root-only directory, as a task's is
        let private = d.path().join("private");
        std::fs::create_dir(&private).unwrap();
        std::fs::set_permissions(&private, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        std::fs::rename(d.path().join("b.bundle"), private.join("result.bundle")).unwrap();

        let check = |repo: &Path| {
            fetch_bundle(repo, &private.join("result.bundle"), "agentdock/task-x").unwrap();
            assert!(head_of(repo, "agentdock/task-x").is_some(), "the branch arrived");
            let rf = repo.join(".git/refs/heads/agentdock/task-x");
            assert_eq!(std::fs::metadata(&rf).unwrap().uid(), 4242, "the new ref is the user's");
            // nothing in .git is root's now
            let out = Command::new("find").arg(repo.join(".git")).args(["-user", "0"]).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), "", "root-owned files in the user's .git");
        };
        check(&repo);
        // a repository its owner cannot reach from here (under a directory closed to them):
        // root fetches and gives what it wrote to the owner
        let closed = private.join("closed");
        std::fs::create_dir(&closed).unwrap();
        sh(d.path(), &format!("cp -a repo {}/repo && git -c safe.directory=* -C {}/repo branch -q -D agentdock/task-x", closed.display(), closed.display()));
        crate::untrusted::chown_tree(&closed.join("repo"), 4242, 4242).unwrap();
        check(&closed.join("repo"));
    }
}
