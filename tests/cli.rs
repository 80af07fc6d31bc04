//! CLI faults that need no engine: bad config, unreachable engine, usage.

mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn malformed_config_names_file_line_and_column_and_runs_nothing() {
    let env = TestEnv::new("");
    std::fs::write(env.config_path(), "image = \"x\"\n[limits]\ncpus = \"four\"\n").unwrap();
    let out = env.run(&["ls"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    let want = format!("{}:3:8:", env.config_path().display());
    assert!(err.contains(&want), "wanted {want} in: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(stdout(&out).is_empty());
}

#[test]
fn unknown_key_in_config_is_refused() {
    let env = TestEnv::new("");
    std::fs::write(env.config_path(), "[limits]\nmemroy = \"1g\"\n").unwrap();
    let out = env.run(&["doctor"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown field `memroy`"), "{}", stderr(&out));
}

#[test]
fn unreachable_engine_is_one_line_its_own_code_and_quick() {
    let env = TestEnv::new("");
    for args in [&["ls"][..], &["stats", "--json"], &["up", "x"]] {
        let started = Instant::now();
        let out = env.cmd(args).env("DOCKER_HOST", "unix:///nonexistent.sock").output().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        assert_eq!(out.status.code(), Some(3), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("cannot reach the Docker engine at unix:///nonexistent.sock"), "{err}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
    }
}

#[test]
fn doctor_reports_unreachable_engine() {
    let env = TestEnv::new("");
    let out = env.cmd(&["doctor"]).env("DOCKER_HOST", "unix:///nonexistent.sock").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = stdout(&out);
    assert!(text.lines().any(|l| l.starts_with("engine") && l.contains("FAIL")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("config") && l.contains("ok")), "{text}");
}

#[test]
fn bad_usage_exits_2() {
    let env = TestEnv::new("");
    let out = env.run(&["exec", "p"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn attach_without_a_tty_says_so_in_one_line() {
    let env = TestEnv::new("");
    for verb in ["attach", "shell"] {
        let out = env.run(&[verb, "whatever"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("needs a terminal"), "{err}");
    }
}

/// doctor looks at each workspace's `.git` as the container left it: a `.git/commondir` that
/// would point git at a config the container wrote fails, nested repositories are named.
#[test]
fn doctor_names_git_dirs_the_container_could_have_redirected() {
    let env = TestEnv::new("");
    let ok = env.git_project("fine");
    let bad = env.git_project("redirected");
    std::fs::create_dir(env.project_path(&bad).join("evil")).unwrap();
    std::fs::write(env.project_path(&bad).join(".git/commondir"), "../evil\n").unwrap();
    std::fs::create_dir_all(env.project_path(&ok).join("vendor/.git")).unwrap();
    let out = env.cmd(&["doctor"]).env("DOCKER_HOST", "unix:///nonexistent.sock").output().unwrap();
    let text = stdout(&out);
    let line = text.lines().find(|l| l.starts_with("git ")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("FAIL") && line.contains(&format!("{bad}: .git/commondir in the workspace")), "{line}");
    assert!(!line.contains(&format!("{ok}:")), "{line}");
    assert!(line.contains(&format!("nested repositories (untrusted, look before you run git in them): {ok}/vendor")), "{line}");
}
