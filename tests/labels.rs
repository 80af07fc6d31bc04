//! Labels are not trusted: a container that carries agentdock's labels but was not made by it
//! (a prompt-injected agent can build an image with any labels) is an orphan that can only be
//! stopped and removed; its ids and paths never reach a lock, a chown, a create or a delete.
//! And `exec P -- ARGS` passes an argv, as `docker exec` does.

mod common;
use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const IMAGE: &str = "agentdock/agent:latest";

/// Starts a container as a hostile agent could make it: agentdock's labels with the given
/// values, plus the test label (so cleanup finds it). Its process ends on SIGTERM, so a stop
/// is quick. Returns the container id.
fn hostile(env: &TestEnv, name: &str, labels: &[(&str, &str)]) -> String {
    let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.into()];
    let test_label = format!("{TEST_LABEL}={}", env.run_id);
    let all = labels.iter().map(|(k, v)| format!("{k}={v}")).chain([test_label, "dev.agentdock.managed=true".into()]);
    for l in all {
        args.extend(["--label".into(), l]);
    }
    args.extend(["--entrypoint".into(), "sh".into(), IMAGE.into(), "-c".into(), "trap 'exit 0' TERM; sleep 600 & wait".into()]);
    let out = std::process::Command::new("docker").args(&args).output().expect("docker run");
    assert!(out.status.success(), "docker run: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A directory the test owns outside the data dir, with one root-owned file in it.
fn victim(env: &TestEnv, name: &str) -> PathBuf {
    let v = env.dir.path().join(name);
    std::fs::create_dir_all(&v).unwrap();
    std::fs::write(v.join("keep.txt"), "mine\n").unwrap();
    v
}

/// The victim is as planted: its file there, nothing added, owner unchanged (the test's own,
/// as the temp dir's: a chown for the container would make it 1000).
fn assert_untouched(env: &TestEnv, v: &Path) {
    let names: Vec<String> = std::fs::read_dir(v).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["keep.txt"], "something was made in {}", v.display());
    assert_eq!(std::fs::read_to_string(v.join("keep.txt")).unwrap(), "mine\n");
    let mine = std::fs::metadata(env.dir.path()).unwrap().uid();
    for f in [v.to_path_buf(), v.join("keep.txt")] {
        assert_eq!(std::fs::metadata(&f).unwrap().uid(), mine, "{} was chowned", f.display());
    }
}

/// A failure: its exit code and one line on stderr, which must hold `want`.
fn one_line_failure(out: &std::process::Output, want: &str) -> String {
    let err = stderr(out);
    assert!(!out.status.success(), "succeeded: {}{err}", stdout(out));
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(want), "wanted '{want}' in: {err}");
    err
}

fn exists(id: &str) -> bool {
    !inspect(id).is_null()
}

#[test]
fn a_label_id_that_climbs_out_of_the_data_dir_reaches_no_path() {
    let env = TestEnv::new("");
    // the dirs a traversal starts from must be there for it to work
    for d in ["agents", "locks"] {
        std::fs::create_dir_all(env.data_dir().join(d)).unwrap();
    }
    let v = victim(&env, &format!("victim-{}", env.run_id));
    // <data>/agents/../../victim-N is the victim; <data>/locks/../../victim-N.lock beside it
    let id = format!("../../victim-{}", env.run_id);
    let path = v.to_str().unwrap();
    let c = hostile(
        &env,
        &format!("agentdock-hostile-{}", env.run_id),
        &[
            ("dev.agentdock.project", &id),
            ("dev.agentdock.project-name", "evil\x1b]0;pwned\x07\x1b[2Jname"),
            ("dev.agentdock.project-path", path),
            ("dev.agentdock.agent-dir", path),
        ],
    );

    // ls tells it as an orphan, in one line, without the label's escapes
    let ls = env.ok(&["ls"]);
    assert!(!ls.contains('\x1b') && !ls.contains('\x07'), "escapes reached the terminal: {ls:?}");
    let line = ls.lines().find(|l| l.contains(&c[..12])).unwrap_or_else(|| panic!("no row: {ls}"));
    assert!(line.starts_with("evil") && line.contains("orphaned: its project label is not an id agentdock makes"), "{line}");

    // no up, no refresh: nothing created, chowned or started for it
    for verb in ["up", "refresh"] {
        let out = env.run(&[verb, &id]);
        assert_eq!(out.status.code(), Some(1), "{verb}: {}", stderr(&out));
        one_line_failure(&out, "not a configured project, its container is orphaned");
        assert_untouched(&env, &v);
        assert_eq!(env.containers(), std::slice::from_ref(&c), "{verb} made a container");
    }
    // no purge of a path made of it, and nothing removed on the way
    let out = env.run(&["rm", "--purge", "--yes", &id]);
    one_line_failure(&out, "refusing to purge");
    assert!(exists(&c), "the container went although the purge was refused");
    assert_untouched(&env, &v);

    // it can be stopped and removed, and no lock file lands outside the data dir
    let out = env.ok(&["rm", "--yes", &id]);
    assert!(out.contains(&format!("removed agentdock-hostile-{}", env.run_id)), "{out}");
    assert!(!exists(&c), "still there");
    assert_untouched(&env, &v);
    assert!(!env.dir.path().join(format!("victim-{}.lock", env.run_id)).exists(), "a lock file left the data dir");
    let locks: Vec<_> = std::fs::read_dir(env.dir.path()).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".lock")).collect();
    assert!(locks.is_empty(), "{locks:?}");
}

#[test]
fn an_orphan_outside_the_roots_is_told_so_and_a_planted_link_leads_no_chown_or_purge_out() {
    let env = TestEnv::new("roots = [\"~/projects\"]");
    let v = victim(&env, "victim");
    let id = format!("hostile-{}", env.run_id);
    let c = hostile(
        &env,
        &format!("agentdock-{id}"),
        &[
            ("dev.agentdock.project", &id),
            ("dev.agentdock.project-path", v.to_str().unwrap()),
            ("dev.agentdock.agent-dir", v.to_str().unwrap()),
        ],
    );
    // <data>/agents/<id> replaced by a link to the victim
    let agents = env.data_dir().join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    std::os::unix::fs::symlink(&v, agents.join(&id)).unwrap();

    let ls = env.ok(&["ls"]);
    let line = ls.lines().find(|l| l.contains(&c[..12])).unwrap_or_else(|| panic!("no row: {ls}"));
    assert!(line.contains("(orphaned: directory outside the configured roots and projects)"), "{line}");
    assert!(!line.contains("gone"), "{line}");
    let rows: serde_json::Value = serde_json::from_str(&env.ok(&["ls", "--json"])).unwrap();
    let row = rows.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap_or_else(|| panic!("{rows}"));
    assert_eq!(row["orphaned"], true);
    assert_eq!(row["exists"], true);
    assert_eq!(row["orphan_reason"], "directory outside the configured roots and projects");

    for verb in ["up", "refresh"] {
        let out = env.run(&[verb, &id]);
        let err = one_line_failure(&out, &format!("not a configured project, its container is orphaned (directory outside the configured roots and projects: {})", v.display()));
        assert!(err.contains(&format!("agentdock rm {id}")), "{err}");
        assert_untouched(&env, &v);
        assert_eq!(env.containers(), std::slice::from_ref(&c), "{verb} made a container");
    }
    // the purge will not follow the link, and removes nothing before saying so
    let out = env.run(&["rm", "--purge", "--yes", &id]);
    one_line_failure(&out, "symbolic link, not a directory of agentdock's; nothing removed");
    assert!(exists(&c));
    assert_untouched(&env, &v);
    assert!(agents.join(&id).is_symlink());

    // with a real agent dir in its place, rm --purge stops, removes and purges it
    std::fs::remove_file(agents.join(&id)).unwrap();
    std::fs::create_dir_all(agents.join(&id).join("sub")).unwrap();
    std::fs::write(agents.join(&id).join("sub/f"), "x").unwrap();
    let out = env.ok(&["rm", "--purge", "--yes", &id]);
    assert!(out.contains(&format!("removed agentdock-{id}")) && out.contains("purged"), "{out}");
    assert!(!exists(&c));
    assert!(!agents.join(&id).exists());
    assert_untouched(&env, &v);
}

#[test]
fn a_configured_project_whose_agent_dir_became_a_link_is_not_prepared_through_it() {
    let env = TestEnv::new("");
    let p = env.project("linked");
    let v = victim(&env, "victim");
    let agents = env.data_dir().join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    std::os::unix::fs::symlink(&v, agents.join(&p)).unwrap();
    let out = env.run(&["up", &p]);
    one_line_failure(&out, "symbolic link");
    assert_untouched(&env, &v);
    assert!(env.containers().is_empty(), "a container was made");
    // and `agents` itself a link is refused too
    std::fs::remove_file(agents.join(&p)).unwrap();
    std::fs::create_dir_all(v.join("elsewhere")).unwrap();
    std::fs::remove_dir(&agents).unwrap();
    std::os::unix::fs::symlink(v.join("elsewhere"), &agents).unwrap();
    let out = env.run(&["up", &p]);
    one_line_failure(&out, "symbolic link");
    assert_eq!(std::fs::read_dir(v.join("elsewhere")).unwrap().count(), 0, "made through the link");
    assert!(env.containers().is_empty(), "a container was made");
}

#[test]
fn a_container_labelled_with_a_configured_id_is_no_orphan_to_rm_by_name() {
    let env = TestEnv::new("");
    let p = env.project("real");
    // claims the real project's id under another name: `rm <that name>` must not reach the
    // real project's containers or agent config
    let c = hostile(&env, &format!("agentdock-decoy-{}", env.run_id), &[("dev.agentdock.project", &p), ("dev.agentdock.project-name", "decoy")]);
    let agent = env.data_dir().join("agents").join(&p);
    std::fs::create_dir_all(&agent).unwrap();
    let out = env.run(&["rm", "--purge", "--yes", "decoy"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    one_line_failure(&out, "unknown project 'decoy'");
    assert!(agent.exists() && exists(&c));
}

#[test]
fn exec_passes_an_argv_as_given_and_sh_a_shell_line() {
    let env = TestEnv::new("");
    let p = env.project("argv");
    env.ok(&["up", &p]);

    let out = env.run(&["exec", &p, "--", "sh", "-c", "echo out; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");

    // each argument as given: spaces, quotes and $ reach the program untouched
    let out = env.ok(&["exec", &p, "--", "printf", "%s|", "a b", "c'd", "$HOME", "*"]);
    assert_eq!(out, "a b|c'd|$HOME|*|");
    // so with a timeout (the default config has one) and without
    let out = env.ok(&["exec", &p, "--timeout", "0", "--", "printf", "%s|", "a  b", "\"q\""]);
    assert_eq!(out, "a  b|\"q\"|");

    let out = env.run(&["exec", &p, "--json", "--", "sh", "-c", "echo \"$0 $1\"; exit 4", "x", "y"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let j: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(j["stdout"], "x y\n");
    assert_eq!(j["exit_code"], 4);

    // a shell line with --sh (or -c)
    assert_eq!(env.ok(&["exec", &p, "--sh", "echo $((1+2)) | cat"]), "3\n");
    assert_eq!(env.ok(&["exec", &p, "-c", "cd /tmp && pwd"]), "/tmp\n");
    // one or the other
    let out = env.run(&["exec", &p, "--sh", "true", "--", "true"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
