//! The container core against the real engine and the image built from docker/.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn main_container_id(env: &TestEnv, project: &str) -> String {
    let ls = json(&env.ok(&["ls", "--json"]));
    ls.as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == project)
        .and_then(|r| r["containers"][0]["id"].as_str())
        .unwrap_or_else(|| panic!("no container for {project} in {ls}"))
        .to_string()
}

fn wait_healthy(id: &str) -> bool {
    wait_for(Duration::from_secs(40), || {
        (inspect(id)["State"]["Health"]["Status"] == "healthy").then_some(())
    })
    .is_some()
}

#[test]
fn up_makes_a_hardened_container_that_becomes_healthy_and_up_is_idempotent() {
    let env = TestEnv::new("[limits]\nmemory = \"512m\"\ncpus = 1.0\npids = 300\n");
    let p = env.project("up");
    let out = env.ok(&["up", &p]);
    assert!(out.contains("created and started"), "{out}");
    let id = main_container_id(&env, &p);
    let i = inspect(&id);

    let labels = &i["Config"]["Labels"];
    assert_eq!(labels["dev.agentdock.managed"], "true");
    assert_eq!(labels["dev.agentdock.project"], p.as_str());
    let mounts = i["Mounts"].as_array().unwrap();
    let mount = |dest: &str| mounts.iter().find(|m| m["Destination"] == dest).cloned().unwrap_or_else(|| panic!("no mount {dest}: {mounts:?}"));
    assert_eq!(mount("/workspace")["RW"], true);
    assert_eq!(mount("/workspace")["Source"], env.project_path(&p).to_str().unwrap());
    assert_eq!(mount("/home/agent/.claude")["RW"], true);
    assert!(mount("/home/agent/.claude")["Source"].as_str().unwrap().starts_with(env.data_dir().to_str().unwrap()));
    assert_eq!(mount("/home/agent/.gitconfig")["RW"], false);

    assert_eq!(i["Config"]["User"], "1000:1000");
    let hc = &i["HostConfig"];
    assert_eq!(hc["CapDrop"], serde_json::json!(["ALL"]));
    assert!(hc["SecurityOpt"].as_array().unwrap().iter().any(|s| s.as_str().unwrap().starts_with("no-new-privileges")));
    assert_eq!(hc["Memory"], 512 * 1024 * 1024);
    assert_eq!(hc["NanoCpus"], 1_000_000_000);
    assert_eq!(hc["PidsLimit"], 300);
    assert_eq!(hc["RestartPolicy"]["Name"], "unless-stopped");
    assert_eq!(hc["Ulimits"][0]["Name"], "nofile");
    assert_eq!(i["Config"]["Healthcheck"]["Test"][1], "/usr/local/bin/agentdock-healthcheck");
    assert!(wait_healthy(&id), "never healthy: {}", i["State"]);

    // up again changes nothing
    let again = env.ok(&["up", &p]);
    assert!(again.contains("already running"), "{again}");
    assert_eq!(main_container_id(&env, &p), id);
    // after a stop, up starts the same container
    docker(&["stop", "-t", "1", &id]);
    assert_eq!(inspect(&id)["State"]["Status"], "exited");
    let started = env.ok(&["up", &p]);
    assert!(started.contains("started"), "{started}");
    assert_eq!(main_container_id(&env, &p), id);
    assert_eq!(inspect(&id)["State"]["Status"], "running");
}

#[test]
fn exec_keeps_streams_apart_gives_the_exit_code_and_streams_as_it_comes() {
    let env = TestEnv::new("");
    let p = env.project("exec");
    env.ok(&["up", &p]);

    let out = env.run(&["exec", &p, "--sh", "echo to-out; echo to-err >&2; pwd; id -u; exit 7"]);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stdout(&out), "to-out\n/workspace\n1000\n");
    assert_eq!(stderr(&out), "to-err\n");

    let j = json(&env.ok(&["exec", &p, "--json", "--sh", "echo a; echo b >&2"]));
    assert_eq!(j["stdout"], "a\n");
    assert_eq!(j["stderr"], "b\n");
    assert_eq!(j["exit_code"], 0);

    // The first line arrives while the command still runs.
    let mut child = env
        .cmd(&["exec", &p, "--sh", "echo first; sleep 4; echo second"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let t = Instant::now();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "first\n");
    assert!(child.try_wait().unwrap().is_none(), "the command had already ended");
    assert!(t.elapsed() < Duration::from_secs(4));
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "second\n");
    assert!(child.wait().unwrap().success());

    // A timeout kills the command.
    let out = env.run(&["exec", &p, "--timeout", "1", "--sh", "sleep 30"]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(stderr(&out).contains("killed after 1s"));
}

#[test]
fn refresh_gives_a_new_container_and_keeps_workspace_and_agent_config() {
    let env = TestEnv::new("");
    let p = env.project("refresh");
    env.ok(&["up", &p]);
    let old = main_container_id(&env, &p);
    env.ok(&["exec", &p, "--sh", "echo work > /workspace/work.txt && echo cfg > ~/.claude/kept.txt && echo '{\"x\":1}' > ~/.claude.json"]);

    let out = env.ok(&["refresh", &p]);
    assert!(out.contains("refreshed"), "{out}");
    let new = main_container_id(&env, &p);
    assert_ne!(old, new);
    assert!(inspect(&old).is_null(), "old container still there");
    let files = env.ok(&["exec", &p, "--sh", "cat /workspace/work.txt ~/.claude/kept.txt"]);
    assert_eq!(files, "work\ncfg\n");
    // the planted login file survives (the CLI starting in the new container may add its own
    // keys to it, so only ours is checked)
    let planted: serde_json::Value = json(&env.ok(&["exec", &p, "--sh", "cat ~/.claude.json"]));
    assert_eq!(planted["x"], 1, "{planted}");
    let version = env.ok(&["exec", &p, "--sh", "claude --version"]);
    assert!(version.contains("Claude Code"), "{version}");
    // the refresh is in the history
    let hist = json(&env.ok(&["history", "--json"]));
    assert_eq!(hist[0]["result"], "ok");
    assert_eq!(hist[0]["new_id"], new.as_str());
}

#[test]
fn rm_removes_that_projects_container_and_nothing_else() {
    let env = TestEnv::new("");
    let a = env.project("rma");
    let b = env.project("rmb");
    env.ok(&["up", &a]);
    env.ok(&["up", &b]);
    let b_id = main_container_id(&env, &b);
    let out = env.ok(&["rm", &a, "--yes"]);
    assert!(out.contains(&format!("removed agentdock-{a}")), "{out}");
    assert_eq!(env.containers(), vec![b_id.clone()]);
    assert_eq!(inspect(&b_id)["State"]["Status"], "running");
    // the agent config stays unless purged
    let agent_dir = env.data_dir().join("agents").join(&a);
    assert!(agent_dir.is_dir());
    env.ok(&["rm", &a, "--yes", "--purge"]);
    assert!(!agent_dir.exists());
}

#[test]
fn missing_image_is_one_line_naming_the_build_and_leaves_nothing() {
    let env = TestEnv::new("image = \"agentdock/does-not-exist:nope\"\n");
    let p = env.project("noimg");
    let out = env.run(&["up", &p]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("agentdock/does-not-exist:nope") && err.contains("docker/build-image.sh"), "{err}");
    assert!(env.containers().is_empty());
}

#[test]
fn unknown_project_names_the_closest() {
    let env = TestEnv::new("");
    let p = env.project("closeby");
    let typo = p.replacen("closeby", "closeb", 1);
    let out = env.run(&["up", &typo]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unknown project") && err.contains(&p), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
}

#[test]
fn deleted_project_dir_shows_orphaned_and_rm_still_works() {
    let env = TestEnv::new("");
    let p = env.project("orphan");
    env.ok(&["up", &p]);
    std::fs::remove_dir_all(env.project_path(&p)).unwrap();
    let ls = json(&env.ok(&["ls", "--json"]));
    let row = ls.as_array().unwrap().iter().find(|r| r["name"] == p.as_str()).unwrap().clone();
    assert_eq!(row["orphaned"], true, "{row}");
    let text = env.ok(&["ls"]);
    assert!(text.lines().any(|l| l.contains(&p) && l.contains("orphaned")), "{text}");
    env.ok(&["rm", &p, "--yes"]);
    assert!(env.containers().is_empty());
}

/// Peak resident memory of a process, read from /proc while it runs.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn fifty_mib_of_output_is_capped_with_the_cut_stated_and_memory_bounded() {
    let env = TestEnv::new("");
    let p = env.project("flood");
    env.ok(&["up", &p]);
    let mut child = env
        .cmd(&["exec", &p, "--json", "--sh", "head -c 52428800 /dev/zero | tr '\\0' a"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let mut out_pipe = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out_pipe, &mut v).unwrap();
        v
    });
    while child.try_wait().unwrap().is_none() {
        if let Some(k) = peak_rss_kib(pid) {
            peak = peak.max(k);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = reader.join().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    let j = json(&String::from_utf8(out).unwrap());
    assert_eq!(j["stdout"].as_str().unwrap().len(), 10 * 1024 * 1024);
    assert_eq!(j["stdout_dropped"], 40 * 1024 * 1024);
    assert!(err.contains("stdout cut: kept the last 10.0MiB of 50.0MiB"), "{err}");
    // The kept 10 MiB, its JSON copy and the runtime: far below the 50 MiB printed.
    assert!(peak > 0 && peak < 48 * 1024, "peak RSS {peak} KiB");
}

#[test]
fn secrets_reach_the_container_but_no_json_doctor_or_log() {
    let mut env = TestEnv::new("");
    let secrets = [
        ("GITHUB_TOKEN", "ghp_TESTSECRET_gh_4242"),
        ("ANTHROPIC_API_KEY", "sk-ant-TESTSECRET-4242"),
        ("CLAUDE_CODE_OAUTH_TOKEN", "oauth-TESTSECRET-4242"),
    ];
    for (k, v) in secrets {
        env.extra_env.push((k.into(), v.into()));
    }
    let p = env.project("secret");
    env.ok(&["up", &p]);
    // files for the container's user, exported to the agent's session; not in the container's
    // environment, so neither in `docker inspect` nor in a command exec'd into it
    let inside = env.ok(&["exec", &p, "--sh", "cat /run/agentdock/secrets/GITHUB_TOKEN; echo; stat -c '%a %u' /run/agentdock/secrets/ANTHROPIC_API_KEY; printenv GITHUB_TOKEN; echo [$GIT_ASKPASS]; $GIT_ASKPASS Password"]);
    assert_eq!(inside, "ghp_TESTSECRET_gh_4242\n400 1000\n[/usr/local/bin/git-askpass-helper]\nghp_TESTSECRET_gh_4242\n");
    let session = env.ok(&["exec", &p, "--sh", "tmux show-environment -g ANTHROPIC_API_KEY; tmux show-environment -g CLAUDE_CODE_OAUTH_TOKEN"]);
    assert_eq!(session, "ANTHROPIC_API_KEY=sk-ant-TESTSECRET-4242\nCLAUDE_CODE_OAUTH_TOKEN=oauth-TESTSECRET-4242\n");
    let id = main_container_id(&env, &p);
    let inspected = docker(&["inspect", &id]);
    assert!(!inspected.contains("TESTSECRET"), "a secret is in docker inspect: {inspected}");
    let mut shown = String::new();
    for args in [&["ls", "--json"][..], &["stats", "--json"], &["up", &p, "--json"], &["doctor"], &["doctor", "--json"]] {
        let out = env.run(args);
        shown.push_str(&stdout(&out));
        shown.push_str(&stderr(&out));
    }
    env.ok(&["refresh", &p, "--json"]);
    shown.push_str(&env.log_text());
    assert!(shown.contains("GITHUB_TOKEN set"), "doctor should say the token is set");
    assert!(!shown.contains("TESTSECRET"), "a secret leaked: {shown}");
}

#[test]
fn stats_json_reports_usage_and_logs_follow() {
    let env = TestEnv::new("");
    let p = env.project("stats");
    env.ok(&["up", &p]);
    let s = json(&env.ok(&["stats", &p, "--json"]));
    let row = &s[0];
    assert_eq!(row["state"], "running");
    assert!(row["sample"]["mem_used"].as_u64().unwrap() > 0, "{row}");
    assert_eq!(row["sample"]["mem_limit"], 8u64 * 1024 * 1024 * 1024);
    assert!(row["sample"]["pids"].as_u64().unwrap() >= 1);
    let disk = row["disk_percent"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&disk));
    assert!(row["needs_refresh"].as_array().unwrap().is_empty());

    // (up returns when the container runs; the entrypoint says it is ready a moment later)
    let logs = wait_for(Duration::from_secs(20), || Some(env.ok(&["logs", &p])).filter(|l| l.contains("ready; tmux session 'claude'")));
    assert!(logs.is_some(), "{}", env.ok(&["logs", &p]));
}

#[test]
fn the_agent_cannot_change_what_host_git_runs_nor_read_ssh_keys_and_the_container_is_bounded() {
    let env = TestEnv::new("");
    let ssh = env.home().join(".ssh");
    std::fs::create_dir_all(&ssh).unwrap();
    std::fs::write(ssh.join("id_ed25519"), "-----BEGIN OPENSSH PRIVATE KEY----- not-for-agents").unwrap();
    std::fs::write(ssh.join("known_hosts"), "github.com ssh-ed25519 AAAA\n").unwrap();
    let p = env.git_project("gitro");
    let path = env.project_path(&p);
    let config_before = std::fs::read_to_string(path.join(".git/config")).unwrap();
    env.ok(&["up", &p]);
    let id = main_container_id(&env, &p);

    // bounds: an init, no core dumps, a rotated log, no swap, a start period for the health check
    let i = inspect(&id);
    let hc = &i["HostConfig"];
    assert_eq!(hc["Init"], true);
    let ulimits = hc["Ulimits"].as_array().unwrap();
    assert!(ulimits.iter().any(|u| u["Name"] == "core" && u["Hard"] == 0), "{ulimits:?}");
    assert_eq!(hc["LogConfig"]["Type"], "json-file");
    assert_eq!(hc["LogConfig"]["Config"]["max-size"], "10m");
    assert_eq!(hc["LogConfig"]["Config"]["max-file"], "3");
    assert_eq!(hc["MemorySwap"], hc["Memory"]);
    assert_eq!(i["Config"]["Healthcheck"]["StartPeriod"], 30_000_000_000i64);

    // the hostile agent, from inside
    let agent = |cmd: &str| {
        let out = std::process::Command::new("docker").args(["exec", "-u", "1000:1000", "-w", "/workspace", &id, "sh", "-c", cmd]).output().unwrap();
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    let (ok, out) = agent("git config core.fsmonitor 'touch /tmp/pwned'");
    assert!(!ok, "the agent set core.fsmonitor: {out}");
    let (ok, out) = agent("printf '#!/bin/sh\\ntouch /tmp/pwned\\n' > .git/hooks/post-checkout");
    assert!(!ok, "the agent planted a hook: {out}");
    let (ok, out) = agent("mv .git .git-aside");
    assert!(!ok, "the agent moved .git aside: {out}");
    let (ok, out) = agent("cat ~/.ssh/id_ed25519");
    assert!(!ok && !out.contains("not-for-agents"), "the private key is readable: {out}");
    let (ok, out) = agent("cat ~/.ssh/known_hosts");
    assert!(ok && out.contains("github.com"), "{out}");
    // it can still commit
    let (ok, out) = agent("echo work > work.txt && git add work.txt && git -c user.name=a -c user.email=a@b commit -q -m by-the-agent && echo committed");
    assert!(ok && out.contains("committed"), "{out}");
    let log = std::process::Command::new("git").args(["-c", "safe.directory=*", "-C"]).arg(&path).args(["log", "--format=%s", "-1"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&log.stdout).trim(), "by-the-agent");
    assert_eq!(std::fs::read_to_string(path.join(".git/config")).unwrap(), config_before);
    assert!(!path.join(".git/hooks/post-checkout").exists());
}

#[test]
fn escapes_and_bidi_controls_a_container_reports_never_reach_the_terminal_from_the_cli() {
    let env = TestEnv::new("");
    // a hostile container: labels claim agentdock made it, its name label and its failing
    // health check print escape sequences and a right-to-left override
    let name = format!("agentdock-hostile-{}", env.run_id);
    let out = std::process::Command::new("docker")
        .args(["run", "-d", "--name", &name, "--label", &format!("{TEST_LABEL}={}", env.run_id)])
        .args(["--label", "dev.agentdock.managed=true", "--label", "dev.agentdock.project=hostile"])
        .args(["--label", "dev.agentdock.project-name=evil\u{1b}]0;pwned\u{7}\u{202E}txt.exe"])
        .args(["--health-cmd", "printf '\\033]52;c;cHduZWQ=\\007\\033[2Jbad\\342\\200\\256news'; exit 1", "--health-interval", "1s", "--health-retries", "1"])
        .args(["--entrypoint", "sleep", "agentdock/agent:latest", "300"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(wait_for(Duration::from_secs(20), || (inspect(&id)["State"]["Health"]["Status"] == "unhealthy").then_some(())).is_some());
    for args in [&["stats"][..], &["ls"], &["ls", "--json"], &["stats", "--json"]] {
        let out = env.run(args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "agentdock {args:?} printed an escape: {text:?}");
        assert!(!text.contains('\u{202E}'), "agentdock {args:?} printed a bidi override: {text:?}");
    }
    let stats = env.ok(&["stats"]);
    assert!(stats.contains("badnews"), "the health output is shown, made safe: {stats}");
}

#[test]
fn a_configured_project_that_is_not_a_git_repository_becomes_healthy() {
    let env = TestEnv::new("");
    let dir = env.home().join("plain-notes");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "no git here\n").unwrap();
    chown_r(&dir);
    env.write_config(&format!("[[project]]\npath = \"{}\"\nname = \"plain-{}\"\n", dir.display(), env.run_id));
    let name = format!("plain-{}", env.run_id);
    env.ok(&["up", &name]);
    let id = main_container_id(&env, &name);
    assert!(wait_healthy(&id), "never healthy: {}", inspect(&id)["State"]["Health"]);
}

#[test]
fn the_agent_runs_as_the_project_directorys_owner_and_root_owned_projects_are_refused() {
    let env = TestEnv::new("");
    let p = env.project("uid");
    let path = env.project_path(&p);
    let chown = |spec: &str| assert!(std::process::Command::new("chown").args(["-R", spec]).arg(&path).status().unwrap().success());
    chown("4321:4321");
    env.ok(&["up", &p]);
    let id = main_container_id(&env, &p);
    assert_eq!(inspect(&id)["Config"]["User"], "4321:4321");
    // it writes its workspace and its home, and its session runs
    let out = env.ok(&["exec", &p, "--sh", "touch /workspace/by-agent && touch ~/.by-agent && id -u && tmux has-session -t claude && echo session"]);
    assert_eq!(out, "4321\nsession\n");
    assert!(path.join("by-agent").exists());
    assert!(wait_healthy(&id), "never healthy: {}", inspect(&id)["State"]["Health"]);
    env.ok(&["rm", &p, "--yes"]);

    // root's project: refused in one line, nothing made
    chown("0:0");
    let out = env.run(&["up", &p]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("owned by root") && err.contains("allow_root"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(env.containers().is_empty());

    // a fixed user that cannot write: doctor says so
    env.write_config("user = \"1000:1000\"\n");
    let doctor = env.run(&["doctor"]);
    let text = stdout(&doctor);
    assert!(text.contains("workspaces FAIL") && text.contains("will not be able to write"), "{text}");
}

#[test]
fn doctor_shows_the_images_node_and_claude_code_versions() {
    let env = TestEnv::new("");
    let out = env.run(&["doctor"]);
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains("image") && l.contains("agentdock/agent")).unwrap_or_else(|| panic!("no image line: {text}"));
    assert!(line.contains("Claude Code 2."), "{line}");
    let node: u32 = line.split("node v").nth(1).and_then(|v| v.split('.').next()).and_then(|m| m.parse().ok()).unwrap_or_else(|| panic!("no node version: {line}"));
    assert!(node >= 20, "the image's Node {node} is past its end of life: {line}");
    // the container it was read from is gone (other tests' doctors may have theirs a moment)
    let gone = wait_for(Duration::from_secs(10), || docker(&["ps", "-aq", "--filter", "label=dev.agentdock.role=probe"]).trim().is_empty().then_some(()));
    assert!(gone.is_some(), "a probe container was left");
}

/// Every container of a host is listed in pages (the engine's whole answer is never parsed at
/// once): 130 of this test's, made beside whatever other tests make and remove meanwhile, each
/// come exactly once, and no container twice.
#[test]
fn every_container_comes_once_when_the_list_is_paged() {
    let env = TestEnv::new("");
    let prefix = format!("paged-{}", env.run_id);
    let script = format!(
        "for i in $(seq 1 130); do docker create -q --name {prefix}-$i --label {TEST_LABEL}={rid} --network none --entrypoint sleep agentdock/agent:latest 600 >/dev/null & \
         [ $((i % 10)) = 0 ] && wait; done; wait",
        rid = env.run_id
    );
    assert!(std::process::Command::new("bash").args(["-c", &script]).status().unwrap().success());
    assert_eq!(env.containers().len(), 130);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let list = rt.block_on(async { agentdock::engine::Engine::connect().await.unwrap().list(true).await.unwrap() });
    let mut ours: Vec<usize> = list.iter().filter_map(|c| c.name.strip_prefix(&format!("{prefix}-"))?.parse().ok()).collect();
    ours.sort_unstable();
    assert_eq!(ours, (1..=130).collect::<Vec<_>>());
    let mut ids: Vec<&str> = list.iter().map(|c| c.id.as_str()).collect();
    ids.sort_unstable();
    let all = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), all, "a container listed twice");
}
