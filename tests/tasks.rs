//! Tasks against the real engine, with the real Claude Code CLI talking to the scripted model
//! server (tests/fixtures/model_server.py) inside the task's own container, on its loopback.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["task", "ls", "--json"])).unwrap();
    v["tasks"].as_array().cloned().unwrap_or_else(|| panic!("no tasks in {v}"))
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
    // the list ends with the fleet's figures, the JSON carries them
    let ls = env.ok(&["task", "ls"]);
    let last = ls.trim().lines().last().unwrap();
    assert!(last.starts_with("1 task: 1 succeeded · median "), "{ls}");
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["task", "ls", "--json"])).unwrap();
    assert_eq!(v["summary"]["succeeded"], 1);
    // prune: a dry run says, then the finished task's directory goes, its branch stays
    let dry = env.ok(&["prune", "--older-than", "0s", "--dry-run", "--no-images"]);
    assert!(dry.contains("1 finished task directory older than 0s: would go") && dry.contains("would free"), "{dry}");
    assert!(env.data_dir().join("tasks").join(&id).is_dir());
    let done = env.ok(&["prune", "--older-than", "0s", "--no-images"]);
    assert!(done.contains("removed") && done.contains("freed"), "{done}");
    assert!(!env.data_dir().join("tasks").join(&id).exists());
    assert_eq!(git(&path, &["show", &format!("{branch}:made.txt")]), "made-by-the-agent\n");
    assert_eq!(v["summary"]["tokens"], t["summary"]["input_tokens"].as_u64().unwrap() + t["summary"]["output_tokens"].as_u64().unwrap() + t["summary"]["cache_read_tokens"].as_u64().unwrap() + t["summary"]["cache_creation_tokens"].as_u64().unwrap());
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

// ---- faults ---------------------------------------------------------------------------------

/// The one task of `env` (its id), once its directory is there.
fn only_task_id(env: &TestEnv) -> String {
    let tasks = env.data_dir().join("tasks");
    common::wait_for(Duration::from_secs(60), || {
        let names: Vec<String> = std::fs::read_dir(&tasks).ok()?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        match names.as_slice() {
            [one] if tasks.join(one).join("task.json").is_file() => Some(one.clone()),
            _ => None,
        }
    })
    .expect("no task directory within 60 s")
}

/// An agentdock started in the background: killed (SIGKILL, by its pid) and reaped if the test
/// ends before it does.
struct Child(Option<std::process::Child>);

impl Child {
    fn spawn(mut c: Command) -> Child {
        Child(Some(c.spawn().expect("spawn agentdock")))
    }

    /// Waits for it to end: its exit status and output.
    fn output(mut self) -> std::process::Output {
        self.0.take().unwrap().wait_with_output().expect("wait for agentdock")
    }

    /// SIGKILL now, then reaped: how it ended.
    fn kill(mut self) -> std::process::ExitStatus {
        let mut c = self.0.take().unwrap();
        c.kill().expect("kill agentdock");
        c.wait().expect("reap agentdock")
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn events_of(env: &TestEnv, id: &str) -> String {
    std::fs::read_to_string(env.data_dir().join("tasks").join(id).join("run/events.jsonl")).unwrap_or_default()
}

/// Everything a failing assertion needs to say what happened in a task.
fn task_files(env: &TestEnv, id: &str) -> String {
    let run = env.data_dir().join("tasks").join(id).join("run");
    let mut s = String::new();
    for name in ["state", "result.json", "stderr.log", "model-requests.jsonl", "model-requests.server.log"] {
        let text = std::fs::read_to_string(run.join(name)).unwrap_or_else(|e| format!("({e})"));
        let tail: String = text.chars().rev().take(3000).collect::<Vec<_>>().into_iter().rev().collect();
        s.push_str(&format!("--- {name}\n{tail}\n"));
    }
    s
}

#[test]
fn a_task_over_its_time_ends_timed_out_with_its_work_so_far_kept() {
    let (env, p) = env_with(r#"[{"bash": "echo partial > partial.txt"}, {"bash": "sleep 1; echo tick", "repeat": true}]"#);
    let t0 = Instant::now();
    let out = env.run(&["task", "run", &p, "work forever", "--timeout", "5"]);
    println!("timed-out run took {:?}", t0.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let id = only_task_id(&env);
    assert_eq!(out.status.code(), Some(124), "{stdout}{stderr}{}", task_files(&env, &id));
    assert!(stdout.contains("state: timed out (timed out after 5 s)"), "{stdout}");
    assert!(env.containers().is_empty(), "the task's container is still there");

    let t = &tasks_json(&env)[0];
    assert_eq!(t["state"], "timed_out");
    assert_eq!(t["collected"], true);
    // the calls it made are kept, in the stream and in what `task logs` shows
    let events = events_of(&env, &id);
    assert!(events.contains("echo partial > partial.txt") && events.contains("sleep 1; echo tick"), "{events}");
    // (the second may still have been running at the timeout: the events above have it)
    let calls = t["summary"]["tool_calls"].as_array().unwrap();
    assert!(!calls.is_empty(), "{calls:?}");
    let logs = env.ok(&["task", "logs", &id]);
    assert!(logs.contains("→ Bash(echo partial > partial.txt)"), "{logs}");
    assert!(logs.contains("→ Bash(sleep 1; echo tick)"), "{logs}");
    // what it wrote is committed on its branch
    let path = env.project_path(&p);
    let branch = t["spec"]["branch"].as_str().unwrap();
    assert_eq!(git(&path, &["show", &format!("{branch}:partial.txt")]), "partial\n");
    assert_eq!(t["diffstat"]["files"], 1);
    println!("{} tool calls before the timeout", calls.len());
}

#[test]
fn a_task_over_its_output_limit_ends_output_capped_and_still_comes_back() {
    // the tool's output (the CLI echoes it into its stream) is far over the limit
    let (env, p) = env_with(r#"[{"bash": "echo before-the-cap > before.txt; seq 1 30000"}, {"text": "never", "repeat": true}]"#);
    let max = 16 * 1024;
    let t0 = Instant::now();
    let out = env.run(&["task", "run", &p, "print a lot", "--max-output", &max.to_string(), "--timeout", "60"]);
    println!("capped run took {:?}", t0.elapsed());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let id = only_task_id(&env);
    assert_eq!(out.status.code(), Some(5), "{stdout}{stderr}{}", task_files(&env, &id));
    assert!(stdout.contains("state: output capped"), "{stdout}");
    assert!(env.containers().is_empty(), "the task's container is still there");

    let t = &tasks_json(&env)[0];
    assert_eq!(t["state"], "output_capped");
    let reason = t["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("output exceeded") && reason.contains(&max.to_string()), "{reason}");
    assert_eq!(t["collected"], true);
    // the stream kept stays under the limit, and holds the call that came before it
    let events = events_of(&env, &id);
    assert!(events.len() <= max, "{} bytes kept", events.len());
    assert!(events.contains("echo before-the-cap > before.txt"), "{events}");
    let path = env.project_path(&p);
    let branch = t["spec"]["branch"].as_str().unwrap();
    assert_eq!(git(&path, &["show", &format!("{branch}:before.txt")]), "before-the-cap\n");
    println!("{} bytes of events kept", events.len());
}

#[test]
fn model_errors_end_failed_with_the_clis_own_message() {
    let (env, p) = env_with(r#"[{"text": "unused"}]"#);
    // (name, script, what the CLI says: one of these)
    let cases = [
        // no retries wanted here: the point is the message
        ("500", r#"[{"status": 500, "headers": {"x-should-retry": "false"}, "repeat": true}]"#, &["API Error: 500"][..]),
        // the CLI retries a 529 twice, then gives up with its own words
        ("529", r#"[{"status": 529, "repeat": true}]"#, &["Repeated 529 Overloaded errors"][..]),
        // one retry and a non-streaming fallback, each dropped too
        (
            "dropped",
            r#"[{"close_mid_stream": true, "text": "this answer is cut off in the middle", "repeat": true}]"#,
            &["ECONNRESET", "Connection error"][..],
        ),
    ];
    let t0 = Instant::now();
    let children: Vec<_> = cases
        .iter()
        .map(|(name, script, _)| {
            let mut c = env.cmd(&["task", "run", &p, &format!("fail with {name}"), "--timeout", "60"]);
            c.env("MODEL_SCRIPT", script).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            (*name, Child::spawn(c))
        })
        .collect();
    let mut outs = Vec::new();
    for (name, child) in children {
        let out = child.output();
        println!("{name}: ended after {:?}", t0.elapsed());
        outs.push((name, out));
    }
    let all = tasks_json(&env);
    assert_eq!(all.len(), 3);
    let path = env.project_path(&p);
    for ((name, out), (_, _, said)) in outs.iter().zip(&cases) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let t = all.iter().find(|t| stderr.contains(t["spec"]["id"].as_str().unwrap())).expect("the task of this run");
        let id = t["spec"]["id"].as_str().unwrap();
        println!("{name}: reason {}", t["reason"]);
        assert_eq!(out.status.code(), Some(1), "{name}: {stdout}{stderr}{}", task_files(&env, id));
        assert_eq!(t["state"], "failed", "{name}");
        let reason = t["reason"].as_str().unwrap_or_default();
        assert!(said.iter().any(|w| reason.contains(w)), "{name}: the reason {reason:?} has none of {said:?}");
        assert!(stdout.contains(&format!("state: failed ({reason})")), "{name}: {stdout}");
        // the CLI's last word is the task's final text too
        assert_eq!(t["summary"]["final_text"].as_str(), Some(reason), "{name}");
        assert_eq!(t["collected"], true, "{name}");
        // it made nothing: no branch, and none named
        assert!(stdout.contains("branch: none, no commits"), "{name}: {stdout}");
        let branch = t["spec"]["branch"].as_str().unwrap();
        assert!(git(&path, &["branch", "--list", branch]).trim().is_empty(), "{name}: {branch} exists");
    }
    assert!(env.containers().is_empty(), "task containers are still there");
}

#[test]
fn a_task_outlives_the_agentdock_that_started_it() {
    let (env, p) = env_with(
        r#"[{"bash": "echo one > one.txt"}, {"bash": "sleep 3; echo two > two.txt"}, {"text": "both files made"}]"#,
    );
    let mut c = env.cmd(&["task", "run", &p, "make two files", "--timeout", "60"]);
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let child = Child::spawn(c);
    let id = only_task_id(&env);
    let first_call = common::wait_for(Duration::from_secs(60), || events_of(&env, &id).contains("\"tool_use\"").then_some(()));
    assert!(first_call.is_some(), "no tool call within 60 s\n{}", task_files(&env, &id));
    // SIGKILL, this process only: no chance to cancel anything
    let status = child.kill();
    assert_eq!(status.code(), None, "agentdock ended before it was killed: {status:?}");
    let killed = Instant::now();
    let running = env.containers();
    assert_eq!(running.len(), 1, "the task's container went with agentdock");
    assert_eq!(common::inspect(&running[0])["State"]["Running"], true);
    let gone = common::wait_for(Duration::from_secs(90), || env.containers().is_empty().then_some(()));
    assert!(gone.is_some(), "the task's container never ended\n{}", task_files(&env, &id));
    println!("the container ran {:?} after agentdock was killed", killed.elapsed());

    let t = &tasks_json(&env)[0];
    assert_eq!(t["state"], "succeeded", "{t}\n{}", task_files(&env, &id));
    assert_eq!(t["collected"], true);
    assert_eq!(t["summary"]["final_text"], "both files made");
    let path = env.project_path(&p);
    let branch = t["spec"]["branch"].as_str().unwrap();
    assert_eq!(git(&path, &["show", &format!("{branch}:one.txt")]), "one\n");
    assert_eq!(git(&path, &["show", &format!("{branch}:two.txt")]), "two\n");
    assert_eq!(git(&path, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main");
}
