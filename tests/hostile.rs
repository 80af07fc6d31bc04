//! The hostile container: the agent in it is assumed prompt-injected, so everything it can write
//! is planted here from inside a real container (as its user, with `docker exec`), and the host
//! side (agentdock up, refresh, the dashboard) must neither follow it, block on it, nor give
//! anything of the host's away. Helpers first: keep them small and shared.

mod common;
use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The container user's `~/.claude` inside the image.
const CLAUDE: &str = "/home/agent/.claude";

/// `agentdock up` of a new project; its name and container id.
fn up_project(env: &TestEnv, base: &str) -> (String, String) {
    let p = env.project(base);
    env.ok(&["up", &p]);
    let id = container_of(env, &p);
    (p, id)
}

/// The id of the (one) container of project `p` made by this test.
fn container_of(env: &TestEnv, p: &str) -> String {
    let out = docker(&["ps", "-q", "--no-trunc", "--filter", &format!("label={TEST_LABEL}={}", env.run_id), "--filter", &format!("label=dev.agentdock.project={p}")]);
    let ids: Vec<&str> = out.lines().collect();
    assert_eq!(ids.len(), 1, "containers of {p}: {ids:?}");
    ids[0].to_string()
}

/// Runs `script` in the container as its user (what a prompt-injected agent can do).
fn inside(id: &str, script: &str) -> String {
    let out = Command::new("docker").args(["exec", "-u", "1000:1000", id, "bash", "-c", script]).output().unwrap();
    assert!(out.status.success(), "in the container: {script}\n{}{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// The project's agent config dir on the host.
fn agent_dir(env: &TestEnv, p: &str) -> PathBuf {
    env.data_dir().join("agents").join(p)
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn uid(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().uid()
}

/// A host file (or dir) the test owns, that the container points links at: it must come out as
/// it went in (bytes, owner, mode, time).
struct Victim {
    path: PathBuf,
    before: (Vec<u8>, u32, u32, u32, i64),
}

impl Victim {
    fn file(env: &TestEnv, name: &str, text: &str) -> Victim {
        let path = env.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        Victim::of(path)
    }

    fn dir(env: &TestEnv, name: &str) -> Victim {
        let path = env.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("inside"), "host's").unwrap();
        Victim::of(path)
    }

    fn of(path: PathBuf) -> Victim {
        let before = Victim::state(&path);
        Victim { path, before }
    }

    fn state(path: &Path) -> (Vec<u8>, u32, u32, u32, i64) {
        let m = std::fs::symlink_metadata(path).unwrap();
        let bytes = if m.is_dir() { std::fs::read(path.join("inside")).unwrap() } else { std::fs::read(path).unwrap() };
        (bytes, m.uid(), m.gid(), m.mode(), m.mtime())
    }

    fn assert_untouched(&self) {
        assert_eq!(Victim::state(&self.path), self.before, "{} was changed", self.path.display());
        if self.path.is_dir() {
            assert_eq!(uid(&self.path.join("inside")), 0, "{}/inside given away", self.path.display());
        }
    }
}

/// The files set aside in an agent dir (`settings.json.invalid-*`).
fn set_aside(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("settings.json.invalid-"))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// The agent dir's `settings.json`: a regular file of the container user's, 0600, with
/// agentdock's hooks, readable by the container.
fn assert_fresh_settings(dir: &Path, id: &str) {
    let settings = dir.join("settings.json");
    let m = std::fs::symlink_metadata(&settings).unwrap();
    assert!(m.is_file(), "{m:?}");
    assert_eq!((m.uid(), m.mode() & 0o777), (1000, 0o600));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&settings).unwrap()).unwrap();
    assert!(v["hooks"]["Stop"].is_array(), "{v}");
    assert!(inside(id, &format!("cat {CLAUDE}/settings.json")).contains("agentdock-status"));
}

/// The pid of the program running in the tmux pane's shell.
fn pane_child(t: &Tmux) -> u32 {
    let shell = t.display("#{pane_pid}");
    let children = wait_for(Duration::from_secs(5), || {
        let c = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap_or_default();
        (!c.trim().is_empty()).then_some(c)
    });
    children.expect("no program in the pane").split_whitespace().next().unwrap().parse().unwrap()
}

/// A process's peak resident memory, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn row_of<'a>(screen: &'a str, name: &str) -> &'a str {
    let start = format!("┃{name}");
    screen.lines().find(|l| l.starts_with(&start)).unwrap_or("")
}

#[test]
fn settings_json_linked_to_a_host_file_is_set_aside_on_up_and_refresh_never_written_through() {
    let env = TestEnv::new("agent_command = \"bash\"\n");
    let (p, id) = up_project(&env, "link");
    let dir = agent_dir(&env, &p);
    // valid JSON, so a host that follows the link would merge its hooks into it
    let victim = Victim::file(&env, "victim.json", "{\"victim\": true}\n");
    let victim_dir = Victim::dir(&env, "victim-dir");
    let plant = format!(
        "cd {CLAUDE} && ln -sfn {v} settings.json && rm -rf agentdock && ln -s {d} agentdock && ln -sfn {v} evil && mkdir -p sub && ln -sfn {d} sub/link",
        v = victim.path.display(),
        d = victim_dir.path.display()
    );
    inside(&id, &plant);

    let out = env.run(&["up", &p]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("already running"), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("warning: the agent's settings.json was a symbolic link, not a regular file: set aside as settings.json.invalid-"), "{err}");
    victim.assert_untouched();
    victim_dir.assert_untouched();
    assert_fresh_settings(&dir, &id);
    let aside = set_aside(&dir);
    assert_eq!(aside.len(), 1);
    assert!(std::fs::symlink_metadata(&aside[0]).unwrap().file_type().is_symlink(), "the link itself was moved");
    assert!(env.log_text().contains("set aside as settings.json.invalid-"), "logged too");

    // again, and refresh: the new container comes up all the same
    inside(&id, &plant.replace("mkdir -p sub", "true"));
    let out = env.run(&["refresh", &p]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: the agent's settings.json was a symbolic link"), "{}", stderr(&out));
    victim.assert_untouched();
    victim_dir.assert_untouched();
    let new_id = container_of(&env, &p);
    assert_ne!(new_id, id);
    assert_fresh_settings(&dir, &new_id);
    // the agent's own links are its business: left as they were, owned by it
    assert!(std::fs::symlink_metadata(dir.join("agentdock")).unwrap().file_type().is_symlink());
    assert_eq!(uid(&dir.join("sub")), 1000);
}

#[test]
fn invalid_settings_json_is_set_aside_with_a_message_and_up_and_refresh_go_on() {
    let env = TestEnv::new("agent_command = \"bash\"\n");
    let (p, id) = up_project(&env, "badjson");
    let dir = agent_dir(&env, &p);
    inside(&id, &format!("printf '{{\"hooks\": ' > {CLAUDE}/settings.json"));

    let out = env.run(&["up", &p, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let done: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let warning = done["warnings"][0].as_str().unwrap_or_else(|| panic!("no warning in {done}"));
    assert!(warning.starts_with("the agent's settings.json was not valid JSON"), "{warning}");
    assert!(stderr(&out).contains(warning), "{}", stderr(&out));
    let aside = set_aside(&dir);
    assert_eq!(aside.len(), 1);
    assert_eq!(std::fs::read_to_string(&aside[0]).unwrap(), "{\"hooks\": ", "kept as it was");
    assert!(warning.contains(&*aside[0].file_name().unwrap().to_string_lossy()), "{warning}");
    assert_fresh_settings(&dir, &id);

    // a FIFO there blocks nothing either
    inside(&id, &format!("rm {CLAUDE}/settings.json && mkfifo {CLAUDE}/settings.json"));
    let started = Instant::now();
    let out = env.run(&["refresh", &p]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("settings.json was a FIFO"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_eq!(set_aside(&dir).len(), 2);
    assert_fresh_settings(&dir, &container_of(&env, &p));
}

#[test]
fn status_files_planted_as_a_fifo_and_links_to_dev_zero_and_dev_tty_hold_up_nothing() {
    let env = TestEnv::new("agent_command = \"bash\"\n");
    let (fifo_p, fifo_id) = up_project(&env, "fifo");
    let (zero_p, zero_id) = up_project(&env, "zero");
    let status = format!("{CLAUDE}/agentdock");
    inside(&fifo_id, &format!("cd {status} && rm -f status agent && mkfifo status && ln -s /dev/tty agent"));
    inside(&zero_id, &format!("cd {status} && rm -f status agent && ln -s /dev/zero status && ln -s /dev/zero agent"));

    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    let dashboard = pane_child(&t);
    // both rows, filtered down to this test's projects
    t.wait_for(&fifo_p, Duration::from_secs(15));
    t.keys(&["/"]);
    t.literal(&env.run_id);
    t.keys(&["Enter"]);
    t.wait_until(Duration::from_secs(15), "both running", |s| {
        row_of(s, &fifo_p).contains("running") && row_of(s, &zero_p).contains("running")
    });
    // several rounds of status reading
    std::thread::sleep(Duration::from_secs(4));

    // keys are answered at once, none went to a reader of /dev/tty
    let pressed = Instant::now();
    t.keys(&["?"]);
    t.wait_for("keys (remap", Duration::from_secs(3));
    assert!(pressed.elapsed() < Duration::from_secs(2), "took {:?}", pressed.elapsed());
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(300));
    // /dev/zero was not read into memory
    let peak = peak_rss_kib(dashboard);
    println!("the dashboard's peak memory: {peak} KiB");
    assert!(peak < 150 * 1024, "the dashboard's peak memory: {peak} KiB");

    // the status reader still works: a real hook's word shows
    inside(&fifo_id, &format!("cd {status} && rm -f status && echo \"waiting $(date +%s)\" > status.tmp && mv status.tmp status"));
    t.wait_until(Duration::from_secs(5), "waiting", |s| row_of(s, &fifo_p).contains("waiting"));
    assert!(!row_of(&t.screen(), &zero_p).contains("waiting"));

    // an up from the dashboard with a broken settings.json: the warning is in its message
    inside(&zero_id, &format!("printf 'not json' > {CLAUDE}/settings.json"));
    t.keys(&["Escape"]); // the filter off
    std::thread::sleep(Duration::from_millis(300));
    t.keys(&["/"]);
    t.literal(&zero_p);
    t.keys(&["Enter"]);
    t.wait_until(Duration::from_secs(5), "filtered", |s| !s.contains(&fifo_p));
    t.keys(&["c"]);
    t.wait_for("already running; warning: the agent's settings.json was not valid JSON", Duration::from_secs(10));
    assert_eq!(set_aside(&agent_dir(&env, &zero_p)).len(), 1);

    // q quits at once
    t.keys(&["q"]);
    t.wait_for("READY$", Duration::from_secs(3));
    assert_eq!(t.display("#{alternate_on}"), "0");

    // and SIGTERM ends it, with a FIFO there again
    inside(&fifo_id, &format!("cd {status} && rm -f status && mkfifo status"));
    t.keys(&["C-l"]);
    t.literal(BIN);
    t.keys(&["Enter"]);
    let dashboard = pane_child(&t);
    t.wait_for(&fifo_p, Duration::from_secs(15));
    std::thread::sleep(Duration::from_secs(3));
    Command::new("kill").args(["-TERM", &dashboard.to_string()]).status().unwrap();
    t.wait_for("READY$", Duration::from_secs(3));
    let gone = wait_for(Duration::from_secs(2), || (!Path::new(&format!("/proc/{dashboard}")).exists()).then_some(()));
    assert!(gone.is_some(), "still running after SIGTERM");
}

#[test]
fn agentdock_dirs_are_private_and_the_container_user_still_works_in_its_own() {
    let mut env = TestEnv::new("agent_command = \"bash\"\n");
    let claude = env.home().join(".claude");
    std::fs::create_dir_all(claude.join("commands")).unwrap();
    std::fs::write(claude.join(".credentials.json"), "{\"claudeAiOauth\": {\"refreshToken\": \"r\"}}").unwrap();
    std::fs::write(claude.join("settings.json"), "{\"model\": \"x\"}").unwrap();
    std::fs::write(claude.join("commands/c.md"), "cmd").unwrap();
    std::fs::write(env.home().join(".claude.json"), "{\"oauthAccount\": {}}").unwrap();
    let (p, id) = up_project(&env, "private");

    let data = env.data_dir();
    assert_eq!((mode(&data), uid(&data)), (0o700, 0), "the data dir");
    assert_eq!(mode(&data.join("agents")), 0o700);
    let dir = agent_dir(&env, &p);
    assert_eq!((mode(&dir), uid(&dir)), (0o700, 1000), "the agent dir");
    for f in [".claude.json", ".credentials.json", "settings.json", "commands/c.md"] {
        assert_eq!((mode(&dir.join(f)), uid(&dir.join(f))), (0o600, 1000), "{f}");
    }
    for d in ["commands", "agentdock"] {
        assert_eq!((mode(&dir.join(d)), uid(&dir.join(d))), (0o700, 1000), "{d}");
    }
    // the container user reads and writes its own config
    let out = inside(&id, &format!("cat {CLAUDE}/.credentials.json {CLAUDE}/commands/c.md && echo hi > {CLAUDE}/mine && cat {CLAUDE}/mine"));
    assert!(out.contains("refreshToken") && out.contains("cmd") && out.ends_with("hi\n"), "{out}");

    // with an OAuth token in the environment the refresh token is not copied
    env.extra_env.push(("CLAUDE_CODE_OAUTH_TOKEN".into(), "test-token".into()));
    let (q, qid) = up_project(&env, "token");
    let qdir = agent_dir(&env, &q);
    assert!(!qdir.join(".credentials.json").exists());
    assert!(qdir.join("settings.json").is_file() && qdir.join(".claude.json").is_file());
    // a secret: a file for the container's user (never its environment), exported to its session
    assert_eq!(inside(&qid, "cat /run/agentdock/secrets/CLAUDE_CODE_OAUTH_TOKEN").trim(), "test-token");
}
