//! Tasks against the real engine, with the real Claude Code CLI talking to the scripted model
//! server (tests/fixtures/model_server.py) inside the task's own container, on its loopback.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestEnv;

/// The test image (agent image + model server), built once and shared.
fn test_image() {
    let status = Command::new("tests/fixtures/build-test-image.sh").arg("--if-missing").status().expect("build script");
    assert!(status.success(), "the test image could not be built");
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-c").arg("safe.directory=*").arg("-C").arg(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An environment whose tasks run in the test image, the model answering `script`.
fn env_with(script: &str) -> (TestEnv, String) {
    test_image();
    let mut env = TestEnv::new("image = \"agentdock/agent-test:latest\"\nenv_passthrough = [\"MODEL_SCRIPT\"]");
    env.extra_env.push(("MODEL_SCRIPT".into(), script.into()));
    env.extra_env.push(("ANTHROPIC_API_KEY".into(), "sk-test-not-a-real-key".into()));
    let p = env.project("task");
    let path = env.project_path(&p);
    std::fs::remove_dir_all(path.join(".git")).unwrap();
    git(&path, &["init", "-q", "-b", "main"]);
    std::fs::write(path.join("README.md"), "hello\n").unwrap();
    git(&path, &["add", "README.md"]);
    git(&path, &["-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "base"]);
    (env, p)
}

fn tasks_json(env: &TestEnv) -> Vec<serde_json::Value> {
    serde_json::from_str(&env.ok(&["task", "ls", "--json"])).unwrap()
}

#[test]
fn a_task_runs_its_tool_calls_and_its_work_comes_back_as_a_branch() {
    let (env, p) = env_with(r#"[{"bash": "echo made-by-the-agent > made.txt"}, {"text": "I made made.txt."}]"#);
    let out = env.run(&["task", "run", &p, "please make a file"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("→ Bash(echo made-by-the-agent > made.txt)"), "{stdout}");
    assert!(stdout.contains("state: succeeded"), "{stdout}");

    let tasks = tasks_json(&env);
    assert_eq!(tasks.len(), 1);
    let t = &tasks[0];
    assert_eq!(t["state"], "succeeded");
    assert_eq!(t["summary"]["final_text"], "I made made.txt.");
    assert_eq!(t["diffstat"]["files"], 1);
    let branch = t["spec"]["branch"].as_str().unwrap().to_string();
    let id = t["spec"]["id"].as_str().unwrap().to_string();
    // the branch is in the project's repository, the project's own tree untouched
    let path = env.project_path(&p);
    assert_eq!(git(&path, &["show", &format!("{branch}:made.txt")]), "made-by-the-agent\n");
    assert!(!path.join("made.txt").exists(), "the project's working tree was touched");
    assert_eq!(git(&path, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main");
    // its container is gone, its directory stays
    assert!(env.containers().is_empty(), "the task's container is still there");
    assert!(env.data_dir().join("tasks").join(&id).join("task.json").is_file());
    let diff = env.ok(&["task", "diff", &id]);
    assert!(diff.contains("+made-by-the-agent"), "{diff}");
    let logs = env.ok(&["task", "logs", &id]);
    assert!(logs.contains("I made made.txt."), "{logs}");
}

#[test]
fn the_prompt_reaches_the_model_byte_for_byte() {
    let (env, p) = env_with(r#"[{"text": "ok"}]"#);
    let mut prompt = String::from("quotes ' \" `back` $(echo no) $HOME \\ \n\ttabs\r\nünïcödé\n");
    while prompt.len() < 100 * 1024 {
        prompt.push_str("line of filler text with $(rm -rf /) in it\n");
    }
    let file = env.dir.path().join("prompt.txt");
    std::fs::write(&file, &prompt).unwrap();
    let out = env.run(&["task", "run", &p, "--file", file.to_str().unwrap(), "--detach"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let log = env.data_dir().join("tasks").join(&id).join("run/model-requests.jsonl");
    let want = {
        use std::fmt::Write;
        let digest = Command::new("sha256sum").arg(&file).output().unwrap();
        let mut s = String::new();
        let _ = write!(s, "{}", String::from_utf8_lossy(&digest.stdout).split_whitespace().next().unwrap());
        s
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("first_user_sha256")) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["first_user_sha256"], want.as_str(), "the prompt changed on its way");
            assert_eq!(v["first_user_len"], prompt.len() as u64);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no model request within 60 s");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // the next look collects it
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while tasks_json(&env)[0]["state"] != "succeeded" {
        assert!(std::time::Instant::now() < deadline, "{:?}", tasks_json(&env));
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

#[test]
fn cancel_stops_a_running_task_and_keeps_its_changes() {
    let (env, p) = env_with(r#"[{"bash": "echo partial > partial.txt"}, {"bash": "sleep 1; echo tick", "repeat": true}]"#);
    let out = env.run(&["task", "run", &p, "work forever", "--detach"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let path = env.project_path(&p);
    let partial = env.data_dir().join("tasks").join(&id).join("workspace/partial.txt");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !partial.exists() {
        assert!(std::time::Instant::now() < deadline, "the agent never wrote partial.txt");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let t0 = std::time::Instant::now();
    let said = env.ok(&["task", "cancel", &id]);
    let took = t0.elapsed();
    assert!(said.contains("cancelled"), "{said}");
    println!("cancel took {took:?}");
    let t = &tasks_json(&env)[0];
    assert_eq!(t["state"], "cancelled");
    let branch = t["spec"]["branch"].as_str().unwrap();
    assert_eq!(git(&path, &["show", &format!("{branch}:partial.txt")]), "partial\n");
    assert!(env.containers().is_empty());
}

#[test]
fn bad_input_gets_one_line_and_leaves_nothing() {
    let (env, p) = env_with(r#"[{"text": "never"}]"#);
    let tasks = env.data_dir().join("tasks");
    let out = env.run(&["task", "run", &p, "x", "--branch", "no-such-branch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("'no-such-branch' does not exist"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let empty = env.project("empty");
    let out = env.run(&["task", "run", &empty, "x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no commits"), "{err}");

    let out = env.run(&["task", "run", "--repo", "/nonexistent/repo.git", "x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot clone"), "{err}");

    let out = env.run(&["task", "run", &p]);
    assert_eq!(out.status.code(), Some(2), "no prompt is a usage error");
    let left: Vec<_> = std::fs::read_dir(&tasks).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "task dirs left behind: {left:?}");
    assert!(env.containers().is_empty());
}
