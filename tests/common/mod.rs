//! Shared test harness: an isolated home, config and data dir per test, the real binary, and
//! cleanup of everything the test created (by its label), even when the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub mod engine2;

pub const BIN: &str = env!("CARGO_BIN_EXE_agentdock");
pub const TEST_LABEL: &str = "dev.agentdock.test";

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub run_id: String,
    pub extra_env: Vec<(String, String)>,
}

fn unique() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{}{:x}{}", std::process::id(), nanos & 0xffff, N.fetch_add(1, Ordering::SeqCst))
}

impl TestEnv {
    /// A fresh environment; `config_extra` is appended to the test config.
    pub fn new(config_extra: &str) -> TestEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let run_id = unique();
        let env = TestEnv { dir, run_id, extra_env: Vec::new() };
        std::fs::create_dir_all(env.home().join("projects")).unwrap();
        std::fs::write(env.home().join(".gitconfig"), "[user]\n\tname = Test\n").unwrap();
        env.write_config(config_extra);
        env
    }

    pub fn write_config(&self, extra: &str) {
        let text = format!(
            "{extra}\n\n[labels]\n\"{TEST_LABEL}\" = \"{}\"\n\n[health]\ninterval_secs = 2\ntimeout_secs = 5\n",
            self.run_id
        );
        std::fs::write(self.config_path(), text).unwrap();
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A git project under ~/projects named `<base>-<run id>`, owned by the container user.
    pub fn project(&self, base: &str) -> String {
        let name = format!("{base}-{}", self.run_id);
        let path = self.home().join("projects").join(&name);
        std::fs::create_dir_all(path.join(".git")).unwrap();
        std::fs::write(path.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
        chown_r(&path);
        name
    }

    /// A project that is a real git repository with one commit (README.md), as tasks need.
    pub fn git_project(&self, base: &str) -> String {
        let p = self.project(base);
        let path = self.project_path(&p);
        std::fs::remove_dir_all(path.join(".git")).unwrap();
        std::fs::write(path.join("README.md"), "hello\n").unwrap();
        for args in [&["init", "-q", "-b", "main"][..], &["add", "README.md"], &["-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-m", "base"]] {
            let out = Command::new("git").args(["-c", "safe.directory=*", "-C"]).arg(&path).args(args).output().unwrap();
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        chown_r(&path);
        p
    }

    pub fn project_path(&self, name: &str) -> PathBuf {
        self.home().join("projects").join(name)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env("HOME", self.home())
            .env("AGENTDOCK_CONFIG", self.config_path())
            .env("AGENTDOCK_DATA_DIR", self.data_dir())
            .env("AGENTDOCK_CONFIG_DIR", self.dir.path().join("cfgdir"))
            .env_remove("GITHUB_TOKEN")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("CLAUDE_CODE_OAUTH_TOKEN")
            .stdin(std::process::Stdio::null());
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run agentdock")
    }

    /// Runs and insists on success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "agentdock {args:?} failed ({:?}): {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Ids of the containers this test created, but for agentdock's egress proxy (one per
    /// test's data dir, made by the first `up` of an allowlist project).
    pub fn containers(&self) -> Vec<String> {
        let proxies = self.all_containers(&["--filter", "label=dev.agentdock.role=proxy"]);
        self.all_containers(&[]).into_iter().filter(|c| !proxies.contains(c)).collect()
    }

    /// Ids of every container this test created (the proxy too), with more `docker ps` filters.
    pub fn all_containers(&self, filters: &[&str]) -> Vec<String> {
        let label = format!("label={TEST_LABEL}={}", self.run_id);
        let mut args = vec!["ps", "-aq", "--no-trunc", "--filter", label.as_str()];
        args.extend_from_slice(filters);
        docker(&args).lines().map(str::to_string).collect()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.data_dir().join("agentdock.log")).unwrap_or_default()
    }
}

impl TestEnv {
    /// The pid of agentdock's task runner of this test's data dir, while it runs.
    pub fn runner_pid(&self) -> Option<u32> {
        let pid: u32 = std::fs::read_to_string(self.data_dir().join("tasks/.runner.pid")).ok()?.trim().parse().ok()?;
        // that pid is still our binary's runner (not a pid used again since)
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let ours = args.first().is_some_and(|a| *a == BIN.as_bytes()) && args.iter().any(|a| *a == b"runner");
        ours.then_some(pid)
    }

    /// Kills the runner agentdock started for this test (SIGKILL, by its pid), if it runs.
    pub fn kill_runner(&self) -> bool {
        let Some(pid) = self.runner_pid() else { return false };
        let ok = Command::new("kill").args(["-KILL", &pid.to_string()]).status().is_ok_and(|s| s.success());
        // gone once its lock is free (its parent, our agentdock, may be gone: then init reaps it)
        let _ = wait_for(Duration::from_secs(5), || std::fs::read(format!("/proc/{pid}/cmdline")).map(|b| b.is_empty()).unwrap_or(true).then_some(()));
        ok
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // the task runner first: it would start queued tasks and refill a pool meanwhile
        self.kill_runner();
        let ids = self.all_containers(&[]);
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids.iter().map(String::as_str));
            let _ = Command::new("docker").args(&args).output();
        }
        // then the networks it made (agentdock's carry the config labels, so the test label):
        // only those, and only once no container is on them
        let nets = docker(&["network", "ls", "-q", "--filter", &format!("label={TEST_LABEL}={}", self.run_id)]);
        let nets: Vec<&str> = nets.lines().filter(|l| !l.trim().is_empty()).collect();
        if !nets.is_empty() {
            let _ = Command::new("docker").args(["network", "rm"]).args(&nets).output();
        }
    }
}

pub fn chown_r(path: &Path) {
    let _ = Command::new("chown").args(["-R", "1000:1000"]).arg(path).status();
}

/// The docker CLI, for checking what agentdock made (the product itself never uses it).
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn inspect(id: &str) -> serde_json::Value {
    let text = docker(&["inspect", id]);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    v.get(0).cloned().unwrap_or(serde_json::Value::Null)
}

/// Polls `f` every 200 ms until it gives Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A tmux server of our own (its own socket), killed when the test ends.
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    pub fn start(env: &TestEnv) -> Tmux {
        let t = Tmux { socket: format!("agentdock-test-{}", env.run_id) };
        let mut envs = vec![
            format!("HOME={}", env.home().display()),
            format!("AGENTDOCK_CONFIG={}", env.config_path().display()),
            format!("AGENTDOCK_DATA_DIR={}", env.data_dir().display()),
            format!("AGENTDOCK_CONFIG_DIR={}", env.dir.path().join("cfgdir").display()),
            "PS1=READY$ ".to_string(),
            "TERM=xterm-256color".to_string(),
        ];
        for (k, v) in &env.extra_env {
            envs.push(format!("{k}={v}"));
        }
        let status = Command::new("tmux")
            .args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "48", "env"])
            .args(&envs)
            .args(["bash", "--norc", "--noprofile"])
            .status()
            .expect("tmux");
        assert!(status.success());
        t.wait_for("READY$", Duration::from_secs(5));
        t
    }

    pub fn keys(&self, keys: &[&str]) {
        let status = Command::new("tmux").args(["-L", &self.socket, "send-keys", "-t", "0"]).args(keys).status().unwrap();
        assert!(status.success());
    }

    pub fn literal(&self, text: &str) {
        Command::new("tmux").args(["-L", &self.socket, "send-keys", "-t", "0", "-l", text]).status().unwrap();
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p", "-t", "0"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn display(&self, fmt: &str) -> String {
        let out = Command::new("tmux").args(["-L", &self.socket, "display", "-p", "-t", "0", fmt]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn wait_until(&self, timeout: Duration, what: &str, f: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            if Instant::now() > end {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        self.wait_until(timeout, text, |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

