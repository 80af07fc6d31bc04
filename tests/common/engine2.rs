//! A second Docker engine on this machine for the engines tests: its own `dockerd` (data root,
//! exec root, pidfile, sockets; a bridge of its own and no iptables, so it stays out of the
//! first one's way: `--bridge=none` would make it delete the first engine's `docker0`), on a
//! unix socket and on 127.0.0.1 with TLS verified both ways (certificates made here
//! by openssl). Its data root is kept between runs under /var/tmp, so the agent image is
//! loaded into it once (about a minute and a half), not per run; a file lock keeps two runs
//! apart. Only the process started here is stopped, by its pid.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ROOT: &str = "/var/tmp/agentdock-test-engine2";
/// The second engine's own bridge, made here and removed when it stops.
const BRIDGE: &str = "ade2br0";
const BRIDGE_ADDR: &str = "10.213.7.1/24";

fn ip(args: &[&str]) -> bool {
    Command::new("ip").args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

pub struct Engine2 {
    pub dir: PathBuf,
    /// Short paths: unix socket paths are limited to 108 bytes.
    pub run: tempfile::TempDir,
    pub tcp_port: u16,
    child: Option<Child>,
    _lock: std::fs::File,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as `ca.pem`, `cert.pem`,
/// `key.pem` (the client's) and `server-cert.pem`, `server-key.pem` in `dir`.
pub fn make_certs(dir: &Path, cn: &str) {
    std::fs::create_dir_all(dir).unwrap();
    openssl(dir, &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "ca-key.pem", "-out", "ca.pem", "-subj", &format!("/CN={cn} CA")]);
    std::fs::write(dir.join("server.ext"), "subjectAltName = IP:127.0.0.1,DNS:localhost\nextendedKeyUsage = serverAuth\n").unwrap();
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server-key.pem", "-out", "server.csr", "-subj", "/CN=localhost"]);
    openssl(dir, &["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2", "-out", "server-cert.pem", "-extfile", "server.ext"]);
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage = clientAuth\n").unwrap();
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "client.csr", "-subj", "/CN=client"]);
    openssl(dir, &["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial", "-days", "2", "-out", "cert.pem", "-extfile", "client.ext"]);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Engine2 {
    /// Starts it (None, and why, when `dockerd` is not here to start).
    pub fn start() -> Result<Engine2, String> {
        if Command::new("dockerd").arg("--version").output().is_err() {
            return Err("no dockerd on this machine".into());
        }
        let dir = PathBuf::from(ROOT);
        std::fs::create_dir_all(&dir).unwrap();
        let lock = std::fs::File::options().create(true).truncate(false).write(true).open(dir.join("lock")).unwrap();
        lock.lock().unwrap();
        let run = tempfile::Builder::new().prefix("ade2").tempdir_in("/tmp").unwrap();
        make_certs(&run.path().join("certs"), "engine2");
        let mut e = Engine2 { dir, run, tcp_port: free_port(), child: None, _lock: lock };
        e.launch();
        e.load_image("agentdock/agent:latest");
        Ok(e)
    }

    pub fn socket(&self) -> PathBuf {
        self.run.path().join("docker.sock")
    }

    pub fn unix_host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    pub fn tcp_host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.tcp_port)
    }

    /// The client's TLS files (ca.pem, cert.pem, key.pem).
    pub fn client_certs(&self) -> PathBuf {
        self.run.path().join("certs")
    }

    /// Starts its dockerd and waits until it answers.
    pub fn launch(&mut self) {
        if !ip(&["link", "show", BRIDGE]) {
            assert!(ip(&["link", "add", BRIDGE, "type", "bridge"]), "cannot make the bridge {BRIDGE}");
            assert!(ip(&["addr", "add", BRIDGE_ADDR, "dev", BRIDGE]) && ip(&["link", "set", BRIDGE, "up"]));
        }
        let certs = self.client_certs();
        let log = std::fs::File::create(self.run.path().join("dockerd.log")).unwrap();
        // as many open files as an engine started by systemd may have (LimitNOFILE=infinity):
        // the containers ask for 65536
        let child = Command::new("sh")
            .args(["-c", "ulimit -Hn 1048576 && ulimit -Sn 1048576; exec \"$@\"", "sh", "dockerd"])
            .args(["--data-root", &self.dir.join("data").to_string_lossy()])
            .args(["--exec-root", &self.run.path().join("x").to_string_lossy()])
            .args(["--pidfile", &self.run.path().join("dockerd.pid").to_string_lossy()])
            .args(["-H", &self.unix_host(), "-H", &self.tcp_host()])
            .args(["--tlsverify", "--tlscacert", &certs.join("ca.pem").to_string_lossy()])
            .args(["--tlscert", &certs.join("server-cert.pem").to_string_lossy(), "--tlskey", &certs.join("server-key.pem").to_string_lossy()])
            .args([&format!("--bridge={BRIDGE}"), "--iptables=false", "--ip-masq=false", "--ip6tables=false"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("dockerd");
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(60);
        while !self.docker(&["version"]).status.success() {
            assert!(Instant::now() < end, "the second dockerd did not answer: {}", std::fs::read_to_string(self.run.path().join("dockerd.log")).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops its dockerd (SIGTERM to the pid started here) and waits for it to end.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let end = Instant::now() + Duration::from_secs(30);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(100));
            }
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// The docker CLI on this engine (over its unix socket).
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker").env("DOCKER_HOST", self.unix_host()).args(args).output().expect("docker cli")
    }

    pub fn docker_text(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.docker(args).stdout).trim().to_string()
    }

    /// The image, as the first engine has it, loaded here when this one has another (or none).
    fn load_image(&self, image: &str) {
        let id = |out: std::process::Output| String::from_utf8_lossy(&out.stdout).trim().to_string();
        let want = id(Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", image]).output().unwrap());
        if want.is_empty() || id(self.docker(&["image", "inspect", "--format", "{{.Id}}", image])) == want {
            return;
        }
        let pipe = format!("docker save {image} | DOCKER_HOST={} docker load -q", self.unix_host());
        let out = Command::new("sh").args(["-c", &pipe]).output().unwrap();
        assert!(out.status.success(), "loading {image}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Removes what a test made here: containers and volumes carrying `label=value`.
    pub fn clean(&self, label: &str) {
        clean_at(&self.unix_host(), label)
    }
}

/// Removes the containers and volumes carrying `label=value` from the engine at `host`.
pub fn clean_at(host: &str, label: &str) {
    let docker = |args: &[&str]| Command::new("docker").env("DOCKER_HOST", host).args(args).output().expect("docker cli");
    let text = |args: &[&str]| String::from_utf8_lossy(&docker(args).stdout).trim().to_string();
    {
        let ids = text(&["ps", "-aq", "--filter", &format!("label={label}")]);
        let ids: Vec<&str> = ids.lines().filter(|l| !l.is_empty()).collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(ids);
            let _ = docker(&args);
        }
        let vols = text(&["volume", "ls", "-q", "--filter", &format!("label={label}")]);
        let vols: Vec<&str> = vols.lines().filter(|l| !l.is_empty()).collect();
        if !vols.is_empty() {
            let mut args = vec!["volume", "rm", "-f"];
            args.extend(vols);
            let _ = docker(&args);
        }
    }
}

impl Drop for Engine2 {
    fn drop(&mut self) {
        self.stop();
        ip(&["link", "del", BRIDGE]);
    }
}
