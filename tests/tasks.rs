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
    let left: Vec<_> = std::fs::read_dir(&tasks).map(|d| d.flatten().filter(|e| !e.file_name().to_string_lossy().starts_with('.')).collect()).unwrap_or_default();
    assert!(left.is_empty(), "task dirs left behind: {left:?}");
    assert!(env.containers().is_empty());
}

// ---- faults ---------------------------------------------------------------------------------

/// The one task of `env` (its id), once its directory is there.
fn only_task_id(env: &TestEnv) -> String {
    let tasks = env.data_dir().join("tasks");
    common::wait_for(Duration::from_secs(60), || {
        let names: Vec<String> =
            std::fs::read_dir(&tasks).ok()?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| !n.starts_with('.')).collect();
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

// ---- the fleet: queue, cleanup, attempts, callbacks, pool -----------------------------------

/// An environment whose tasks run in the test image with `[tasks]` settings of its own.
fn fleet_env(script: &str, tasks: &str) -> (TestEnv, String) {
    let (env, p) = env_with(script);
    env.write_config(&format!("image = \"agentdock/agent-test:latest\"\nenv_passthrough = [\"MODEL_SCRIPT\"]\n\n[tasks]\n{tasks}"));
    (env, p)
}

fn run_detached(env: &TestEnv, args: &[&str]) -> Vec<String> {
    let out = env.run(args);
    assert!(out.status.success(), "{args:?}: {}{}", common::stdout(&out), common::stderr(&out));
    common::stdout(&out).lines().map(str::to_string).collect()
}

/// Running task containers of this test (their role label), sampled.
fn running_tasks(env: &TestEnv) -> usize {
    env.all_containers(&["--filter", "status=running", "--filter", "label=dev.agentdock.role=task"]).len()
}

fn wait_all_collected(env: &TestEnv, n: usize, secs: u64) -> Vec<serde_json::Value> {
    common::wait_for(Duration::from_secs(secs), || {
        let all = tasks_json(env);
        (all.len() == n && all.iter().all(|t| t["collected"] == true)).then_some(all)
    })
    .unwrap_or_else(|| panic!("not all {n} tasks ended within {secs} s: {:#?}", tasks_json(env)))
}

#[test]
fn ten_tasks_with_max_parallel_3_never_run_more_than_3_and_start_in_order() {
    let (env, p) = fleet_env(r#"[{"bash": "sleep 2; echo $SESSION_ID > who.txt"}, {"text": "done"}]"#, "max_parallel = 3");
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.extend(run_detached(&env, &["task", "run", &p, &format!("task number {i}"), "--detach"]));
    }
    assert_eq!(ids.len(), 10);
    // sampled until all ended: never more than 3 task containers running, and the queue shown
    let mut most = 0;
    let mut saw_queued = false;
    let end = Instant::now() + Duration::from_secs(600);
    loop {
        most = most.max(running_tasks(&env));
        let v: serde_json::Value = serde_json::from_str(&env.ok(&["task", "ls", "--json"])).unwrap();
        saw_queued |= v["summary"]["queued"].as_u64().unwrap_or(0) > 0;
        if v["tasks"].as_array().unwrap().iter().all(|t| t["collected"] == true) {
            break;
        }
        assert!(Instant::now() < end, "not all ended: {v:#}");
        std::thread::sleep(Duration::from_millis(300));
    }
    println!("at most {most} running at once");
    assert!(most <= 3, "{most} task containers ran at once");
    assert!(saw_queued, "no task was ever queued");
    let all = tasks_json(&env);
    let path = env.project_path(&p);
    let mut by_seq: Vec<&serde_json::Value> = all.iter().collect();
    by_seq.sort_by_key(|t| t["seq"].as_u64().unwrap());
    let order: Vec<&str> = by_seq.iter().map(|t| t["spec"]["id"].as_str().unwrap()).collect();
    assert_eq!(order, ids.iter().map(String::as_str).collect::<Vec<_>>(), "the queue's order is the order of `task run`");
    let mut last_start = 0;
    for t in &by_seq {
        let id = t["spec"]["id"].as_str().unwrap();
        assert_eq!(t["state"], "succeeded", "{t:#}\n{}", task_files(&env, id));
        // each on its own branch, with its own work
        let branch = t["spec"]["branch"].as_str().unwrap();
        assert_eq!(git(&path, &["show", &format!("{branch}:who.txt")]).trim(), id);
        let started = t["started_at"].as_i64().unwrap();
        assert!(started >= last_start, "started out of order: {order:?}");
        last_start = started;
    }
    assert!(env.containers().is_empty(), "task containers left");
}

#[test]
fn a_killed_agentdock_leaves_its_queue_which_resumes_with_nothing_started_twice() {
    let (env, p) = fleet_env(r#"[{"bash": "sleep 3; echo $SESSION_ID > who.txt"}, {"text": "done"}]"#, "max_parallel = 1");
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.extend(run_detached(&env, &["task", "run", &p, &format!("queued {i}"), "--detach"]));
    }
    // agentdock's runner is killed (the `task run`s ended already): nobody drains the queue
    let killed = common::wait_for(Duration::from_secs(30), || env.kill_runner().then_some(()));
    assert!(killed.is_some(), "no runner was started for the queue");
    // the second one's starter "died" in the middle of starting it (marked, no container)
    let second = env.data_dir().join("tasks").join(&ids[1]).join("task.json");
    let mut rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&second).unwrap()).unwrap();
    assert_eq!(rec["state"], "queued");
    rec["state"] = "starting".into();
    std::fs::write(&second, serde_json::to_vec(&rec).unwrap()).unwrap();
    // prune while the first runs: nothing of a task that is not over is taken
    let pruned = env.ok(&["prune", "--older-than", "0s", "--no-images"]);
    assert!(!pruned.contains("task director"), "{pruned}");
    for id in &ids {
        assert!(env.data_dir().join("tasks").join(id).join("task.json").is_file(), "{id} pruned: {pruned}");
    }
    assert!(env.data_dir().join("tasks").join(&ids[0]).join("workspace/README.md").is_file(), "the running task's workspace");
    // the first one ends on its own; nothing else starts while no agentdock runs
    let first_state = env.data_dir().join("tasks").join(&ids[0]).join("run/state");
    let ended = common::wait_for(Duration::from_secs(120), || {
        std::fs::read_to_string(&first_state).ok().filter(|s| s.trim() == "succeeded").map(|_| ())
    });
    assert!(ended.is_some(), "{}", task_files(&env, &ids[0]));
    std::thread::sleep(Duration::from_secs(2));
    assert!(!env.data_dir().join("tasks").join(&ids[2]).join("run").exists(), "the third started with no agentdock running");
    assert!(env.runner_pid().is_none());
    // the next agentdock resumes the queue: all end, in order, each started once
    env.ok(&["task", "ls"]);
    let all = wait_all_collected(&env, 3, 300);
    let path = env.project_path(&p);
    for id in &ids {
        let t = all.iter().find(|t| t["spec"]["id"] == id.as_str()).unwrap();
        assert_eq!(t["state"], "succeeded", "{t:#}\n{}", task_files(&env, id));
        let events = events_of(&env, id);
        assert_eq!(events.matches(r#""subtype":"init""#).count(), 1, "{id} started more than once:\n{events}");
        let branch = t["spec"]["branch"].as_str().unwrap();
        assert_eq!(git(&path, &["show", &format!("{branch}:who.txt")]).trim(), id.as_str());
    }
    assert!(env.containers().is_empty());
}

#[test]
fn a_silent_task_is_stopped_by_the_cleanup_and_marked() {
    // a tool call, then the model never answers: no output from then on
    let (env, p) = fleet_env(
        r#"[{"bash": "echo partial > partial.txt"}, {"text": "never", "delay_ms": 600000}]"#,
        "inactive_minutes = 0.25\nsweep_secs = 1",
    );
    let t0 = Instant::now();
    let out = env.run(&["task", "run", &p, "go quiet", "--timeout", "300"]);
    println!("stopped after {:?}", t0.elapsed());
    let stdout = common::stdout(&out);
    let id = only_task_id(&env);
    assert_eq!(out.status.code(), Some(124), "{stdout}{}\n{}", common::stderr(&out), task_files(&env, &id));
    assert!(stdout.contains("state: timed out (stopped by agentdock: no output for"), "{stdout}");
    assert!(t0.elapsed() < Duration::from_secs(200), "the time limit ended it, not the cleanup");
    let t = &tasks_json(&env)[0];
    assert!(t["stopped"].as_str().unwrap().contains("tasks.inactive_minutes"), "{t:#}");
    // its container went at once, its work so far is on its branch, the cleanup says what it did
    assert!(env.containers().is_empty());
    let branch = t["spec"]["branch"].as_str().unwrap();
    assert_eq!(git(&env.project_path(&p), &["show", &format!("{branch}:partial.txt")]), "partial\n");
    let v: serde_json::Value = serde_json::from_str(&env.ok(&["task", "ls", "--json"])).unwrap();
    let stopped: Vec<&str> = v["cleanup"]["stopped"].as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
    let sweep = std::fs::read_to_string(env.data_dir().join("tasks/.sweep.json")).unwrap_or_default();
    assert!(stopped.contains(&id.as_str()) || sweep.contains(&id), "{v:#} {sweep}");
}

#[test]
fn attempts_run_one_prompt_several_times_grouped_and_compared() {
    let (env, p) = fleet_env(r#"[{"bash": "echo $SESSION_ID > attempt.txt"}, {"text": "done"}]"#, "max_parallel = 2");
    let out = env.run(&["task", "run", &p, "try it", "--attempts", "2", "--timeout", "120"]);
    let stdout = common::stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", common::stderr(&out));
    assert!(stdout.contains("ATTEMPT") && stdout.contains("#1") && stdout.contains("#2"), "{stdout}");
    let all = tasks_json(&env);
    assert_eq!(all.len(), 2);
    let group = all[0]["spec"]["group"].as_str().unwrap().to_string();
    assert!(all.iter().all(|t| t["spec"]["group"] == group.as_str() && t["state"] == "succeeded"), "{all:#?}");
    let mut attempts: Vec<u64> = all.iter().map(|t| t["spec"]["attempt"].as_u64().unwrap()).collect();
    attempts.sort();
    assert_eq!(attempts, [1, 2]);
    // the diff from one attempt's work to the other's
    let (a, b) = (all[0]["spec"]["id"].as_str().unwrap(), all[1]["spec"]["id"].as_str().unwrap());
    let diff = env.ok(&["task", "diff", a, b]);
    assert!(diff.contains(&format!("-{a}")) && diff.contains(&format!("+{b}")), "{diff}");
}

/// A callback receiver of the test's own on 127.0.0.1: answers each request with the next
/// status of `answers` (the last one repeats), or sits on it without answering for `None`.
struct Receiver {
    port: u16,
    got: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Receiver {
    fn start(answers: Vec<Option<u16>>) -> Receiver {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = got.clone();
        std::thread::spawn(move || {
            for (i, conn) in listener.incoming().enumerate() {
                let Ok(mut c) = conn else { continue };
                let answer = answers[i.min(answers.len() - 1)];
                let seen = seen.clone();
                std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 65536];
                c.set_read_timeout(Some(Duration::from_secs(5))).ok();
                // the head, then as many bytes as it says
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&req).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len: usize = text.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))).unwrap_or(0);
                        if req.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                seen.lock().unwrap().push(String::from_utf8_lossy(&req).into_owned());
                match answer {
                    Some(code) => {
                        let _ = c.write_all(format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
                    }
                    None => std::thread::sleep(Duration::from_secs(10)),
                }
                });
            }
        });
        Receiver { port, got }
    }

    fn requests(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }
}

fn webhook_of(env: &TestEnv, id: &str, secs: u64) -> serde_json::Value {
    common::wait_for(Duration::from_secs(secs), || {
        let t = tasks_json(env).into_iter().find(|t| t["spec"]["id"] == id)?;
        let w = t["webhook"].clone();
        (w["state"] == "sent" || w["state"] == "failed").then_some(w)
    })
    .unwrap_or_else(|| panic!("the callback of {id} never settled: {:#?}", tasks_json(env)))
}

#[test]
fn callbacks_are_posted_tried_three_times_and_their_failure_shown() {
    let script = r#"[{"text": "all done"}]"#;
    let tasks = |port: u16| format!("webhook_url = \"http://127.0.0.1:{port}/hook/secret-path?token=abc\"\nwebhook_timeout_secs = 1");
    // answering 500 twice, then 200: sent on the third try
    let flaky = Receiver::start(vec![Some(500), Some(500), Some(200)]);
    let (env, p) = fleet_env(script, &tasks(flaky.port));
    let id = run_detached(&env, &["task", "run", &p, "first", "--detach"]).remove(0);
    let w = webhook_of(&env, &id, 120);
    assert_eq!((w["state"].as_str(), w["tries"].as_u64()), (Some("sent"), Some(3)), "{w:#}");
    let reqs = flaky.requests();
    assert_eq!(reqs.len(), 3, "{reqs:#?}");
    let last = &reqs[2];
    assert!(last.starts_with("POST /hook/secret-path?token=abc HTTP/1.1"), "{last}");
    let body: serde_json::Value = serde_json::from_str(last.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!((body["id"].as_str(), body["state"].as_str()), (Some(id.as_str()), Some("succeeded")));
    assert_eq!(body["final_text"], "all done");
    for secret in ["sk-test-not-a-real-key", "all done\"}]", "MODEL_SCRIPT", "token=abc"] {
        assert!(!last.split("\r\n\r\n").nth(1).unwrap().contains(secret), "{secret} in the body: {last}");
    }
    let first_state = tasks_json(&env)[0]["state"].clone();
    assert_eq!(first_state, "succeeded", "the callback changed the task's state");

    // nobody listening: 3 tries, then failed and shown; the task still succeeded
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = down.local_addr().unwrap().port();
    drop(down);
    env.write_config(&format!("image = \"agentdock/agent-test:latest\"\nenv_passthrough = [\"MODEL_SCRIPT\"]\n\n[tasks]\n{}", tasks(port)));
    let second = run_detached(&env, &["task", "run", &p, "second", "--detach"]).remove(0);
    let w = webhook_of(&env, &second, 120);
    assert_eq!((w["state"].as_str(), w["tries"].as_u64()), (Some("failed"), Some(3)), "{w:#}");
    assert!(w["error"].as_str().unwrap().contains("cannot connect"), "{w:#}");
    let show = env.ok(&["task", "show", &second]);
    assert!(show.contains("state: succeeded") && show.contains("callback: failed (3 tries)"), "{show}");
    assert!(!show.contains("token=abc") && !show.contains("secret-path"), "the URL's secret shown: {show}");

    // slow: it takes the request and never answers within the timeout
    let slow = Receiver::start(vec![None]);
    env.write_config(&format!("image = \"agentdock/agent-test:latest\"\nenv_passthrough = [\"MODEL_SCRIPT\"]\n\n[tasks]\n{}", tasks(slow.port)));
    let third = run_detached(&env, &["task", "run", &p, "third", "--detach"]).remove(0);
    let w = webhook_of(&env, &third, 120);
    assert_eq!((w["state"].as_str(), w["tries"].as_u64()), (Some("failed"), Some(3)), "{w:#}");
    assert!(w["error"].as_str().unwrap().contains("no answer within 1 s"), "{w:#}");
    assert_eq!(slow.requests().len(), 3);
    let ls = env.ok(&["task", "ls"]);
    assert!(ls.contains("callback failed"), "{ls}");
}

/// An image tag of this test's own (the test image under another name), removed at the end:
/// the pool test rebuilds it.
struct OwnImage(String);

impl OwnImage {
    fn new(unique: &str) -> OwnImage {
        test_image();
        let tag = format!("agentdock/agent-test:pool-{unique}");
        let ok = Command::new("docker").args(["tag", "agentdock/agent-test:latest", &tag]).status().unwrap().success();
        assert!(ok, "cannot tag the test image");
        OwnImage(tag)
    }

    fn id(&self) -> String {
        common::docker(&["image", "inspect", "-f", "{{.Id}}", &self.0]).trim().to_string()
    }

    /// The same image built again: a new id under the same tag.
    fn rebuild(&self) {
        use std::io::Write;
        let mut c = Command::new("docker")
            .args(["build", "-q", "-t", &self.0, "-"])
            .env("DOCKER_BUILDKIT", "0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        write!(c.stdin.take().unwrap(), "FROM {}\nLABEL dev.agentdock.test-rebuilt=\"{}\"\n", self.0, self.0).unwrap();
        assert!(c.wait().unwrap().success(), "the rebuild failed");
    }
}

impl Drop for OwnImage {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rmi", "-f", &self.0]).output();
    }
}

fn pool_json(env: &TestEnv) -> serde_json::Value {
    serde_json::from_str(&env.ok(&["task", "pool", "--json"])).unwrap()
}

fn pool_containers(env: &TestEnv) -> Vec<String> {
    let names = env.all_containers(&["--filter", "status=running", "--filter", "label=dev.agentdock.role=pool"]);
    names.iter().map(|id| common::inspect(id)["Name"].as_str().unwrap_or("").trim_start_matches('/').to_string()).collect()
}

/// Waits until the pool has `n` ready containers (and no more), all running.
fn pool_ready(env: &TestEnv, n: u64, what: &str) -> Vec<String> {
    common::wait_for(Duration::from_secs(240), || {
        let v = pool_json(env);
        let ready: u64 = v["pool"].as_array()?.iter().map(|s| s["ready"].as_u64().unwrap_or(0)).sum();
        let running = pool_containers(env);
        (ready == n && running.len() as u64 == n).then_some(running)
    })
    .unwrap_or_else(|| panic!("{what}: the pool never had {n} ready: {:#} {:?}\n{}", pool_json(env), pool_containers(env), env.log_text()))
}

#[test]
fn the_pool_hands_out_warm_containers_refills_and_never_a_stale_or_dead_one() {
    // made before the environment, so it goes after it (its containers first)
    let image = OwnImage::new(&format!("{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()));
    let (env, p) = env_with(r#"[{"bash": "echo pooled > pooled.txt"}, {"text": "done"}]"#);
    env.write_config(&format!(
        "image = \"{}\"\nenv_passthrough = [\"MODEL_SCRIPT\"]\n\n[tasks]\npool_size = 2\npool_projects = [\"{p}\"]",
        image.0
    ));
    // asking for the pool starts the runner, which fills it
    let warm = pool_ready(&env, 2, "at first");
    println!("pool: {warm:?}");
    // the containers play hostile: where the prompt and the claim go, they put links to a host
    // file; the hand-over must replace the links, never write through them
    let victim = env.dir.path().join("victim.txt");
    std::fs::write(&victim, "untouched").unwrap();
    for c in &warm {
        let line = format!("ln -sf {0} /agentdock/task/prompt.txt && ln -sf {0} /agentdock/task/claim.json", victim.display());
        common::docker(&["exec", c, "sh", "-c", &line]);
    }

    // a task is handed one: its prompt reaches the waiting agent byte for byte
    let prompt = "quotes ' \" `x` $(echo no) \\ \n\ttabs ünïcödé\nend";
    let file = env.dir.path().join("prompt.txt");
    std::fs::write(&file, prompt).unwrap();
    let out = env.run(&["task", "run", &p, "--file", file.to_str().unwrap(), "--timeout", "120"]);
    let t = tasks_json(&env).remove(0);
    let id = t["spec"]["id"].as_str().unwrap().to_string();
    assert_eq!(out.status.code(), Some(0), "{}{}\n{}", common::stdout(&out), common::stderr(&out), task_files(&env, &id));
    assert_eq!(t["from_pool"], true, "{t:#}");
    let used = t["spec"]["container"].as_str().unwrap().to_string();
    assert!(warm.contains(&used), "{used} was not one of the warm ones {warm:?}");
    let branch = t["spec"]["branch"].as_str().unwrap();
    assert_eq!(git(&env.project_path(&p), &["show", &format!("{branch}:pooled.txt")]), "pooled\n");
    let requests = std::fs::read_to_string(env.data_dir().join("tasks").join(&id).join("run/model-requests.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(requests.lines().find(|l| l.contains("first_user_sha256")).unwrap()).unwrap();
    let digest = Command::new("sha256sum").arg(&file).output().unwrap();
    assert_eq!(first["first_user_sha256"].as_str(), String::from_utf8_lossy(&digest.stdout).split_whitespace().next());
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched", "the hand-over wrote through a link");
    // the pool fills up again; the one used is gone with its task
    let refilled = pool_ready(&env, 2, "after a task");
    assert!(!refilled.contains(&used), "{used} is still in the pool");

    // a warm container killed from outside: noticed, replaced, never handed out
    let victim = refilled[0].clone();
    common::docker(&["kill", &victim]);
    let after_kill = pool_ready(&env, 2, "after a kill");
    assert!(!after_kill.contains(&victim));
    let out = env.run(&["task", "run", &p, "after the kill", "--timeout", "120"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", common::stdout(&out), common::stderr(&out));
    let t = tasks_json(&env).into_iter().find(|t| t["spec"]["id"] != id.as_str()).unwrap();
    assert_ne!(t["spec"]["container"], victim.as_str());
    let second = t["spec"]["id"].as_str().unwrap().to_string();

    // the image rebuilt while containers are warm: none of the old ones is handed out
    let old = pool_ready(&env, 2, "before the rebuild");
    let old_id = image.id();
    image.rebuild();
    assert_ne!(image.id(), old_id);
    let out = env.run(&["task", "run", &p, "after the rebuild", "--timeout", "120"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", common::stdout(&out), common::stderr(&out));
    let t = tasks_json(&env).into_iter().find(|t| t["spec"]["id"] != id.as_str() && t["spec"]["id"] != second.as_str()).unwrap();
    let used = t["spec"]["container"].as_str().unwrap();
    assert!(!old.iter().any(|o| o == used), "{used} was made from the old image");
    let fresh = pool_ready(&env, 2, "after the rebuild");
    assert!(fresh.iter().all(|c| !old.contains(c)), "old pool containers kept: {fresh:?} {old:?}");
    for c in &fresh {
        assert_eq!(common::inspect(c)["Image"].as_str(), Some(image.id().as_str()), "{c} is not on the new image");
    }
    // the pool goes when asked
    let drained = env.ok(&["task", "pool", "--drain"]);
    assert!(drained.contains("removed"), "{drained}");
    env.write_config(&format!("image = \"{}\"\nenv_passthrough = [\"MODEL_SCRIPT\"]", image.0));
    env.kill_runner();
    let _ = env.ok(&["task", "pool", "--drain"]);
    assert!(pool_containers(&env).is_empty());
}
