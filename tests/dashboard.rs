//! End to end: the real binary in tmux (160x48) against the real engine, driven by keys.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn row_of<'a>(screen: &'a str, name: &str) -> &'a str {
    let start = format!("┃{name}");
    screen.lines().find(|l| l.starts_with(&start)).unwrap_or("")
}

#[test]
fn dashboard_creates_runs_refreshes_removes_and_quits_cleanly() {
    let env = TestEnv::new("");
    let p = env.project("dash");
    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    let s = t.wait_for(&p, Duration::from_secs(10));
    assert!(row_of(&s, &p).contains("no container"), "{s}");
    t.wait_for("API 1.41", Duration::from_secs(5));
    assert_eq!(t.display("#{alternate_on}"), "1");

    // other tests' containers may be listed too: filter down to ours
    t.keys(&["/"]);
    t.literal(&p);
    t.keys(&["Enter"]);
    // an unmapped key does nothing
    t.keys(&["z"]);
    // c: the container appears, running, then healthy
    t.keys(&["c"]);
    t.wait_until(Duration::from_secs(30), "running", |s| row_of(s, &p).contains("running"));
    t.wait_until(Duration::from_secs(40), "healthy", |s| row_of(s, &p).contains(" healthy"));
    let first_id = env.containers();
    assert_eq!(first_id.len(), 1);

    // e: a command streams into the output pane, "one" before the command ends
    t.keys(&["e"]);
    t.wait_for("Enter runs", Duration::from_secs(5));
    // an empty command line does nothing
    t.keys(&["Enter"]);
    t.literal("echo one; sleep 2; echo two");
    t.keys(&["Enter"]);
    let s = t.wait_until(Duration::from_secs(10), "one", |s| s.lines().any(|l| l.starts_with("│one")));
    assert!(!s.lines().any(|l| l.starts_with("│two")), "two came with one:\n{s}");
    assert!(!s.contains("[exit 0]"), "the command had ended:\n{s}");
    let s = t.wait_for("[exit 0]", Duration::from_secs(10));
    let lines: Vec<&str> = s.lines().collect();
    let one = lines.iter().position(|l| l.starts_with("│one")).unwrap();
    let two = lines.iter().position(|l| l.starts_with("│two")).unwrap();
    assert!(one < two);
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));

    // r: refresh gives a new container; the workspace file survives
    std::fs::write(env.project_path(&p).join("kept.txt"), "still here").unwrap();
    t.keys(&["r"]);
    // the message may be replaced by news of another test's container: the new id decides
    let s = t.wait_until(Duration::from_secs(60), "refreshed", |s| {
        s.contains("refreshed:") || {
            // the old one renamed aside and gone, the new one alone, and the refresh over (the
            // status line no longer shows it under way)
            let ids = env.containers();
            ids.len() == 1 && ids != first_id && !s.trim_end().lines().last().unwrap_or("").contains(&format!("{p}: "))
        }
    });
    let second_id = env.containers();
    assert_eq!(second_id.len(), 1, "{s}");
    assert_ne!(first_id, second_id);
    if s.contains("refreshed:") {
        assert!(s.contains(&second_id[0][..12]), "new id shown:\n{s}");
    }
    assert_eq!(std::fs::read_to_string(env.project_path(&p).join("kept.txt")).unwrap(), "still here");

    // d, y: gone
    t.keys(&["d"]);
    t.wait_for("Remove agentdock-", Duration::from_secs(5));
    t.keys(&["y"]);
    t.wait_until(Duration::from_secs(30), "removed", |s| row_of(s, &p).contains("no container"));
    assert!(env.containers().is_empty());

    // q: the shell prompt is back and the alternate screen is left
    quit_and_check_terminal(&t);
}

#[test]
fn keys_stay_responsive_while_output_floods() {
    let env = TestEnv::new("");
    let p = env.project("flood");
    env.ok(&["up", &p]);
    let t = Tmux::start(&env);
    start_dashboard(&t, &p);
    // command output: about 10 MiB over several seconds
    t.keys(&["e"]);
    t.wait_for("Enter runs", Duration::from_secs(5));
    t.literal("for i in $(seq 1 40); do head -c 262144 /dev/urandom | base64 -w 120; sleep 0.1; done");
    t.keys(&["Enter"]);
    t.wait_for("running", Duration::from_secs(10));
    t.keys(&["Escape"]);
    // an escape followed at once by a key reads as alt-key: leave a gap
    std::thread::sleep(Duration::from_millis(300));
    let pressed = Instant::now();
    t.keys(&["?"]);
    let s = t.wait_for("keys (remap", Duration::from_secs(5));
    println!("key to screen while a command floods: {:?}", pressed.elapsed());
    assert!(s.contains("running"), "the flood had already ended, so this proves nothing:\n{s}");
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));

    // the container's own log: 10 MiB written to its main process's output while the dashboard
    // follows it
    t.keys(&["l"]);
    t.wait_for("log: agentdock-", Duration::from_secs(5));
    let mut flood = env
        .cmd(&["exec", &p, "--sh", "for i in $(seq 1 40); do head -c 262144 /dev/urandom | base64 -w 120 > /proc/1/fd/1; sleep 0.1; done"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let pressed = Instant::now();
    t.keys(&["?"]);
    t.wait_for("keys (remap", Duration::from_secs(5));
    println!("key to screen while the log floods: {:?}", pressed.elapsed());
    assert!(flood.try_wait().unwrap().is_none(), "the log flood had already ended, so this proves nothing");
    assert!(flood.wait().unwrap().success());
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["q"]);
    t.wait_for("READY$", Duration::from_secs(10));
}

#[test]
fn filter_with_no_match_says_so_and_config_error_keeps_the_terminal() {
    let env = TestEnv::new("");
    let p = env.project("filt");
    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    t.wait_for(&p, Duration::from_secs(10));
    t.keys(&["/"]);
    t.literal("nomatchatall");
    t.wait_for("no project or container matches 'nomatchatall'", Duration::from_secs(5));
    t.keys(&["Escape"]);
    t.wait_for(&p, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["q"]);
    t.wait_for("READY$", Duration::from_secs(5));

    // a broken config: one line, the terminal untouched
    std::fs::write(env.config_path(), "[ui]\nstats_interval_ms = \"fast\"\n").unwrap();
    t.keys(&["C-l"]);
    t.literal(&format!("{BIN}; echo code=$?"));
    t.keys(&["Enter"]);
    let s = t.wait_for("code=2", Duration::from_secs(5));
    assert!(s.contains("config.toml:2:21"), "{s}");
    assert_eq!(t.display("#{alternate_on}"), "0");
}

/// q, then the terminal as the dashboard found it: shell prompt, main screen, cursor shown,
/// echo on.
fn quit_and_check_terminal(t: &Tmux) {
    t.keys(&["q"]);
    t.wait_for("READY$", Duration::from_secs(5));
    assert_eq!(t.display("#{alternate_on}"), "0");
    assert_eq!(t.display("#{cursor_flag}"), "1", "cursor visible");
    t.literal("stty -a | grep -o ' echo ' ; echo done-$?");
    t.keys(&["Enter"]);
    let s = t.wait_for("done-", Duration::from_secs(5));
    assert!(s.contains(" echo "), "echo is back on:\n{s}");
}

fn start_dashboard(t: &Tmux, p: &str) {
    t.literal(BIN);
    t.keys(&["Enter"]);
    t.wait_until(Duration::from_secs(15), "running", |s| row_of(s, p).contains("running"));
    t.keys(&["/"]);
    t.literal(p);
    t.keys(&["Enter"]);
}

#[test]
fn attach_detach_reattach_and_resize() {
    let env = TestEnv::new("agent_command = \"bash\"\n");
    let p = env.project("att");
    env.ok(&["up", &p]);
    let t = Tmux::start(&env);
    start_dashboard(&t, &p);
    t.keys(&["Enter"]); // detail open: it names the selected container
    t.wait_for(&format!("name     agentdock-{p}"), Duration::from_secs(5));

    t.keys(&["a"]);
    t.wait_until(Duration::from_secs(10), "the session", |s| s.contains("[claude]"));
    assert_eq!(t.display("#{alternate_on}"), "1", "tmux inside runs on the alternate screen");
    t.literal("echo hello-from-agent");
    t.keys(&["Enter"]);
    t.wait_for("\nhello-from-agent", Duration::from_secs(5));
    // resize the window: the session follows
    Command::new("tmux").args(["-L", &t.socket, "resize-window", "-t", "0", "-x", "120", "-y", "40"]).status().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    t.literal("tput cols");
    t.keys(&["Enter"]);
    t.wait_for("\n120\n", Duration::from_secs(5));

    // detach: the dashboard is back where it was
    t.keys(&["C-]"]);
    let s = t.wait_for("┏ projects", Duration::from_secs(5));
    assert!(s.contains(&format!("name     agentdock-{p}")), "same selection and detail:\n{s}");

    // attach again, with d and y typed at once: they were not meant for the dashboard, so they
    // never remove the project; the earlier line lived through the detach
    let before = env.containers();
    t.literal("ady"); // one write: the dashboard reads all three at once
    t.wait_for("\nhello-from-agent", Duration::from_secs(10));
    t.keys(&["C-]"]);
    let s = t.wait_for("┏ projects", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    let s2 = t.screen();
    assert!(!s.contains("Remove agentdock-") && !s2.contains("Remove agentdock-") && !s2.contains("removing"), "{s2}");
    assert_eq!(env.containers(), before, "keys typed around the attach removed the container");
    t.keys(&["q"]);
    t.wait_for("READY$", Duration::from_secs(5));
    assert_eq!(t.display("#{alternate_on}"), "0");
}

#[test]
fn container_dying_while_attached_brings_the_dashboard_back_with_the_reason() {
    let env = TestEnv::new("agent_command = \"bash\"\n");
    let p = env.project("die");
    env.ok(&["up", &p]);
    let id = env.containers().remove(0);
    let t = Tmux::start(&env);
    start_dashboard(&t, &p);
    t.keys(&["a"]);
    t.wait_until(Duration::from_secs(10), "the session", |s| s.contains("[claude]"));
    docker(&["kill", &id]);
    let killed = Instant::now();
    // the dashboard is back and says how it died (its restart policy may bring it back)
    t.wait_until(Duration::from_secs(5), "the exit code", |s| s.contains("┏ projects") && row_of(s, &p).contains("137"));
    assert!(killed.elapsed() < Duration::from_secs(2), "took {:?}", killed.elapsed());
    quit_and_check_terminal(&t);
}

#[test]
fn attach_to_a_stopped_container_says_how_to_start_it() {
    let env = TestEnv::new("agent_command = \"bash\"\n");
    let p = env.project("stopped");
    env.ok(&["up", &p]);
    let id = env.containers().remove(0);
    docker(&["stop", "-t", "1", &id]);
    let t = Tmux::start(&env);
    t.literal(&format!("{BIN} attach {p}; echo code=$?"));
    t.keys(&["Enter"]);
    let s = t.wait_for("code=1", Duration::from_secs(10));
    assert!(s.contains(&format!("start it with `agentdock up {p}`")), "{s}");
    // in the dashboard, a says what to do
    t.literal(BIN);
    t.keys(&["Enter"]);
    t.wait_until(Duration::from_secs(10), "exited", |s| row_of(s, &p).contains("exited"));
    t.keys(&["/"]);
    t.literal(&p);
    t.keys(&["Enter"]);
    t.keys(&["a"]);
    t.wait_for("press s to start it", Duration::from_secs(5));
    t.keys(&["q"]);
}

#[test]
fn the_real_claude_cli_runs_in_the_session_and_its_exit_is_an_agent_state() {
    // the CLI refuses an option it does not know and exits 1
    let env = TestEnv::new("agent_command = \"claude --no-such-option\"\n");
    let p = env.project("claude");
    env.ok(&["up", &p]);
    let t = Tmux::start(&env);
    start_dashboard(&t, &p);
    t.wait_until(Duration::from_secs(60), "agent exited", |s| row_of(s, &p).contains("exited 1"));
    t.keys(&["a"]);
    let s = t.wait_for("[agentdock] the agent exited with code 1", Duration::from_secs(10));
    assert!(s.contains("unknown option '--no-such-option'"), "{s}");
    // the session stays usable
    t.literal("echo still-usable");
    t.keys(&["Enter"]);
    t.wait_for("\nstill-usable", Duration::from_secs(5));
    t.keys(&["C-]"]);
    t.wait_for("┏ projects", Duration::from_secs(5));
    t.keys(&["q"]);
}

#[test]
fn the_pane_runs_claude_when_it_starts() {
    let env = TestEnv::new("");
    let p = env.project("pane");
    env.ok(&["up", &p]);
    // the pane's current command is the Claude Code CLI while it runs (it exits without network)
    let seen = wait_for(Duration::from_secs(20), || {
        let out = env.run(&["exec", &p, "--sh", "tmux display-message -p -t claude '#{pane_current_command}'"]);
        let cmd = stdout(&out).trim().to_string();
        (cmd == "claude").then_some(cmd)
    });
    assert_eq!(seen.as_deref(), Some("claude"));
}

#[test]
fn agent_status_follows_the_hooks_through_working_waiting_idle() {
    let env = TestEnv::new("agent_command = \"bash\"\n");
    let p = env.project("hooks");
    env.ok(&["up", &p]);
    // the hooks are installed in the agent's settings
    let settings = std::fs::read_to_string(env.data_dir().join("agents").join(&p).join("settings.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&settings).unwrap();
    let t = Tmux::start(&env);
    start_dashboard(&t, &p);
    for (event, shown) in [("UserPromptSubmit", "working"), ("Notification", "waiting"), ("Stop", "idle")] {
        let cmd = v["hooks"][event][0]["hooks"][0]["command"].as_str().unwrap().to_string();
        env.ok(&["exec", &p, "--sh", &cmd]);
        let done = Instant::now();
        t.wait_until(Duration::from_secs(5), shown, |s| row_of(s, &p).contains(shown));
        assert!(done.elapsed() < Duration::from_secs(2), "{shown} took {:?}", done.elapsed());
    }
    t.keys(&["q"]);
}

#[test]
fn the_task_list_starts_a_task_follows_its_run_and_shows_its_diff() {
    let status = Command::new("tests/fixtures/build-test-image.sh").arg("--if-missing").status().expect("build script");
    assert!(status.success(), "the test image could not be built");
    let mut env = TestEnv::new("image = \"agentdock/agent-test:latest\"\nenv_passthrough = [\"MODEL_SCRIPT\"]");
    let script = r#"[{"bash": "echo made-in-the-view > view.txt; sleep 2"}, {"text": "Made view.txt for you."}]"#;
    env.extra_env.push(("MODEL_SCRIPT".into(), script.into()));
    env.extra_env.push(("ANTHROPIC_API_KEY".into(), "sk-test-not-a-real-key".into()));
    let p = env.git_project("tview");
    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    t.wait_for(&p, Duration::from_secs(10));
    t.keys(&["t"]);
    t.wait_for("no tasks yet", Duration::from_secs(5));

    // n: the prompt, on the project; Ctrl-S starts it
    t.keys(&["n"]);
    let s = t.wait_for("new task on", Duration::from_secs(5));
    assert!(s.contains(&format!("new task on {p}")), "{s}");
    t.literal("make view.txt");
    t.keys(&["C-s"]);
    let task_row = |s: &str| s.lines().find(|l| l.contains("agentdock/task-") && !l.contains("<id>")).unwrap_or("").to_string();
    // the row can show (the task's record is read) before the start is said
    t.wait_until(Duration::from_secs(20), "the task's row and its start", |s| !task_row(s).is_empty() && s.contains("started on"));

    // Enter: its run, followed as it comes
    t.keys(&["Enter"]);
    t.wait_for("→ Bash(echo made-in-the-view > view.txt; sleep 2)", Duration::from_secs(30));
    let s = t.wait_until(Duration::from_secs(60), "succeeded", |s| task_row(s).contains("succeeded"));
    let row = task_row(&s);
    assert!(row.contains(&p) && row.contains("1 +1 -0"), "{row}");
    let s = t.wait_for("── succeeded", Duration::from_secs(10));
    assert!(s.contains("Made view.txt for you."), "{s}");

    // D: the branch's diff
    t.keys(&["D"]);
    t.wait_for("+made-in-the-view", Duration::from_secs(10));
    let branch = row.split_whitespace().find(|w| w.starts_with("agentdock/task-")).unwrap().to_string();
    let path = env.project_path(&p);
    let out = Command::new("git").args(["-c", "safe.directory=*", "-C"]).arg(&path).args(["show", &format!("{branch}:view.txt")]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "made-in-the-view\n");
    assert!(!path.join("view.txt").exists(), "the project's own tree was touched");
    assert!(env.containers().is_empty(), "the task's container is still there");
    t.keys(&["q"]);
}

#[test]
fn a_worker_that_panics_is_started_again_and_the_terminal_stays_the_dashboards() {
    let mut env = TestEnv::new("");
    env.extra_env.push(("AGENTDOCK_FAULT".into(), "worker-panic".into()));
    let p = env.project("panic");
    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    t.wait_for("was started again", Duration::from_secs(10));
    t.wait_for("API 1.41", Duration::from_secs(10));
    assert_eq!(t.display("#{alternate_on}"), "1", "the dashboard lost its screen");
    // it still answers keys and shows the projects
    t.keys(&["t"]);
    t.wait_for("┏ tasks", Duration::from_secs(5));
    t.keys(&["t"]);
    t.wait_until(Duration::from_secs(5), "the project", |s| s.contains("┏ projects") && s.contains(&p));
    quit_and_check_terminal(&t);
}

/// 100 containers the dashboard does not manage (created, three of them running), made by the
/// docker CLI with this test's label so the cleanup removes them; named `glance-<run>-<i>`.
fn hundred_containers(env: &TestEnv) -> String {
    let prefix = format!("glance-{}", env.run_id);
    let script = format!(
        "for i in $(seq 1 100); do docker create -q --name {prefix}-$i --label {TEST_LABEL}={rid} --network none --entrypoint sleep agentdock/agent:latest 600 >/dev/null & \
         [ $((i % 10)) = 0 ] && wait; done; wait; docker start {prefix}-1 {prefix}-2 {prefix}-3 >/dev/null",
        rid = env.run_id
    );
    let status = Command::new("bash").args(["-c", &script]).status().unwrap();
    assert!(status.success());
    assert_eq!(env.containers().len(), 100);
    prefix
}

/// "N/M unmanaged running" in the list's title.
fn unmanaged_count(screen: &str) -> Option<(usize, usize)> {
    let title = screen.lines().next()?;
    let at = title.find(" unmanaged running")?;
    let (run, all) = title[..at].rsplit(' ').next()?.split_once('/')?;
    Some((run.parse().ok()?, all.parse().ok()?))
}

#[test]
fn a_hundred_containers_at_a_glance_natural_order_counts_fold_and_jump() {
    let env = TestEnv::new("[ui]\nshow_unmanaged = true\n");
    let prefix = hundred_containers(&env);
    let (p2, p10) = (env.project("g2"), env.project("g10"));
    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    // the counts say what they count: ours are among the unmanaged ones, 3 of them running
    let s = t.wait_until(Duration::from_secs(15), "the counts", |s| unmanaged_count(s).is_some_and(|(run, all)| all >= 100 && run >= 3));
    assert!(s.lines().next().unwrap().contains(" managed running"), "{s}");
    // nothing to show in the output pane: it takes no room
    assert!(!s.contains("╭ output"), "{s}");
    // more than a screenful: the unmanaged group starts folded (it is the last row)
    t.keys(&["G"]);
    let s = t.wait_for("▸ unmanaged (", Duration::from_secs(5));
    assert!(!s.contains(&format!("· {prefix}-1 ")), "{s}");

    // a filter (other tests' containers may be listed too) looks into the folded group:
    // projects and containers in natural order, g2 before g10, 2 after 1 and 10 after 9
    t.keys(&["/"]);
    t.literal(&env.run_id);
    t.keys(&["Enter"]);
    let s = t.wait_for(&format!("· {prefix}-9 "), Duration::from_secs(5));
    let at = |text: String| s.find(&text).unwrap_or_else(|| panic!("{text} not on screen:\n{s}"));
    assert!(at(format!("┃{p2} ")) < at(format!("┃{p10} ")), "{s}");
    let row = |n: usize| at(format!("· {prefix}-{n} "));
    assert!(row(1) < row(2) && row(2) < row(3) && row(9) < row(10) && row(10) < row(11), "{s}");
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["G"]);
    t.wait_until(Duration::from_secs(5), "folded again", |s| s.contains("▸ unmanaged (") && !s.contains(&format!("· {prefix}-9 ")));

    // : jumps to a container in the folded group (it unfolds), Tab completing the name; the
    // detail names what is selected
    t.keys(&[":"]);
    t.literal(&format!("go {prefix}-7"));
    t.keys(&["Tab"]);
    t.wait_for(&format!("{prefix}-7 · {prefix}-70"), Duration::from_secs(5));
    t.keys(&["Tab"]);
    t.keys(&["Tab"]);
    t.keys(&["Enter"]);
    t.keys(&["Enter"]);
    t.wait_for(&format!("name     {prefix}-70 "), Duration::from_secs(5));
    // space on a member folds its group (and selects its heading)
    t.keys(&["Enter"]);
    t.keys(&["Space"]);
    t.wait_until(Duration::from_secs(5), "folded", |s| s.contains("▸ unmanaged (") && !s.contains(&format!("· {prefix}-70 ")));

    // a project by the start of its name, Tab completing it
    t.keys(&[":"]);
    t.literal("g10");
    t.keys(&["Tab"]);
    t.wait_until(Duration::from_secs(5), "the name completed", |s| {
        let lines: Vec<&str> = s.lines().collect();
        lines.windows(2).any(|w| w[0].contains(": a name jumps there") && w[1].starts_with(&format!("┃{p10} ")))
    });
    t.keys(&["Enter"]);
    t.keys(&["c"]);
    // (q while it is being created would wait for the create: wait for it to run)
    t.wait_until(Duration::from_secs(60), "its container", |s| row_of(s, &p10).contains("running"));
    assert!(row_of(&t.screen(), &p2).contains("no container"));
    quit_and_check_terminal(&t);
}

/// The GIT column: each workspace's branch and changed files, read on the host with nothing the
/// container planted in `.git` run (hooks, an fsmonitor command, a pager: a canary says), and a
/// workspace whose `.git/commondir` could redirect git is not read, with the reason a key away.
#[test]
fn the_list_shows_each_workspaces_git_state_and_nothing_planted_runs() {
    let env = TestEnv::new("[ui]\ngit_interval_secs = 1\n");
    let p = env.git_project("gitst");
    let q = env.git_project("gitbad");
    let plain = env.project("nogit");
    let path = env.project_path(&p);
    let canary = env.dir.path().join("canary");
    let evil = path.join(".git/evil.sh");
    std::fs::write(&evil, format!("#!/bin/sh\necho ran \"$0\" >> {}\n", canary.display())).unwrap();
    let git = |dir: &std::path::Path, args: &[&str]| {
        let ok = Command::new("git").args(["-c", "safe.directory=*", "-C"]).arg(dir).args(args).status().unwrap().success();
        assert!(ok, "git {args:?}");
    };
    Command::new("chmod").arg("+x").arg(&evil).status().unwrap();
    for hook in ["post-checkout", "post-index-change", "fsmonitor-watchman", "reference-transaction"] {
        std::fs::copy(&evil, path.join(".git/hooks").join(hook)).unwrap();
    }
    let e = evil.display().to_string();
    git(&path, &["config", "core.fsmonitor", &e]);
    git(&path, &["config", "core.pager", &e]);
    std::fs::write(path.join("README.md"), "changed by the agent\n").unwrap();
    std::fs::write(path.join("new.txt"), "new\n").unwrap();
    let bad = env.project_path(&q);
    std::fs::create_dir(bad.join("evil")).unwrap();
    std::fs::write(bad.join(".git/commondir"), "../evil\n").unwrap();

    let t = Tmux::start(&env);
    // wide enough for GIT beside the agent's columns whatever other tests' containers (listed
    // as orphaned, long names) are on the engine now
    Command::new("tmux").args(["-L", &t.socket, "resize-window", "-t", "0", "-x", "220", "-y", "48"]).status().unwrap();
    t.literal(BIN);
    t.keys(&["Enter"]);
    let s = t.wait_until(Duration::from_secs(15), "the git state", |s| row_of(s, &p).contains("main ●2"));
    assert!(s.lines().nth(1).unwrap_or("").contains("GIT"), "{s}");
    assert!(row_of(&s, &plain).contains("not git"), "{s}");
    assert!(row_of(&s, &q).contains(" ? "), "{s}");
    assert!(!canary.exists(), "a planted command ran: {}", std::fs::read_to_string(&canary).unwrap_or_default());
    // why not read is in the detail
    t.keys(&["/"]);
    t.literal(&q);
    t.keys(&["Enter", "Enter"]);
    t.wait_for("git      not read: .git/commondir", Duration::from_secs(5));
    t.keys(&["Escape", "/", "Escape"]);
    // it follows the workspace: a commit, and the row is clean again
    git(&path, &["add", "-A"]);
    git(&path, &["-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "agent work"]);
    t.wait_until(Duration::from_secs(10), "clean again", |s| row_of(s, &p).contains("main ") && !row_of(s, &p).contains('●'));
    t.keys(&["q"]);
}

/// A workspace of 100,000 committed files (git stats each of them): its git state shows, read
/// beside the dashboard's loop, and the keys answer meanwhile.
#[test]
fn a_workspace_of_100000_files_shows_its_git_state_and_the_keys_answer() {
    let env = TestEnv::new("[ui]\ngit_interval_secs = 1\n");
    let p = env.git_project("gitbig");
    let path = env.project_path(&p);
    for d in 0..100 {
        let dir = path.join(format!("d{d:03}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..1000 {
            std::fs::write(dir.join(format!("f{f:04}")), b"x\n").unwrap();
        }
    }
    for args in [&["add", "-A"][..], &["-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "core.hooksPath=/dev/null", "commit", "-q", "-m", "big"]] {
        let out = Command::new("git").args(["-c", "safe.directory=*", "-C"]).arg(&path).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    std::fs::write(path.join("d050/f0500"), "changed\n").unwrap();
    let t = Tmux::start(&env);
    Command::new("tmux").args(["-L", &t.socket, "resize-window", "-t", "0", "-x", "220", "-y", "48"]).status().unwrap();
    t.literal(BIN);
    t.keys(&["Enter"]);
    t.wait_until(Duration::from_secs(15), "the project's row", |s| s.contains(&p));
    t.keys(&["?"]);
    t.wait_for("keys (remap", Duration::from_secs(5));
    t.keys(&["Escape"]);
    t.wait_until(Duration::from_secs(5), "the help closed", |s| !s.contains("keys (remap"));
    t.wait_until(Duration::from_secs(60), "the git state of 100,000 files", |s| row_of(s, &p).contains("main ●1"));
    quit_and_check_terminal(&t);
}
