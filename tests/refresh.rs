//! Safe refresh and the health policy against the real engine, with faults: a deleted image,
//! a new container that fails its health check, a lost engine connection (a unix-socket proxy
//! of the test's own that drops every connection; the shared dockerd is never touched), two
//! refreshes at once, a container killed from outside or out of memory.

mod common;
use common::*;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A unix-socket proxy to the engine that can drop every connection and refuse new ones, note
/// the requests made through it, and hold back the event stream (then let it go at once).
struct Proxy {
    path: std::path::PathBuf,
    up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<UnixStream>>>,
    requests: Arc<Mutex<Vec<String>>>,
    hold: Arc<AtomicBool>,
}

/// Client to engine: passed on, each request line noted; a connection that asks for the event
/// stream is marked.
fn pipe_up(mut from: UnixStream, mut to: UnixStream, requests: Arc<Mutex<Vec<String>>>, events: Arc<AtomicBool>) {
    let mut buf = [0u8; 16384];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                for line in text.lines().filter(|l| l.starts_with("GET ") || l.starts_with("POST ") || l.starts_with("DELETE ")) {
                    if line.contains("/events") {
                        events.store(true, Ordering::SeqCst);
                    }
                    requests.lock().unwrap().push(line.to_string());
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// Engine to client: passed on, except the event stream's bytes while `hold` is set, which
/// go on together once it is cleared.
fn pipe_down(mut from: UnixStream, mut to: UnixStream, hold: Arc<AtomicBool>, events: Arc<AtomicBool>) {
    let mut buf = [0u8; 16384];
    let mut held = Vec::new();
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    loop {
        if !held.is_empty() && !hold.load(Ordering::SeqCst) {
            if to.write_all(&held).is_err() {
                break;
            }
            held.clear();
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) if events.load(Ordering::SeqCst) && hold.load(Ordering::SeqCst) => held.extend_from_slice(&buf[..n]),
            Ok(n) => {
                if to.write_all(&held).and_then(|()| to.write_all(&buf[..n])).is_err() {
                    break;
                }
                held.clear();
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

impl Proxy {
    fn start(dir: &std::path::Path) -> Proxy {
        let path = dir.join("engine-proxy.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let p = Proxy {
            path,
            up: Arc::new(AtomicBool::new(true)),
            stop: Arc::new(AtomicBool::new(false)),
            conns: Arc::new(Mutex::new(Vec::new())),
            requests: Arc::new(Mutex::new(Vec::new())),
            hold: Arc::new(AtomicBool::new(false)),
        };
        let (up, stop, conns, requests, hold) = (p.up.clone(), p.stop.clone(), p.conns.clone(), p.requests.clone(), p.hold.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                if !up.load(Ordering::SeqCst) {
                    drop(client); // refused: closed at once
                    continue;
                }
                let Ok(engine) = UnixStream::connect("/var/run/docker.sock") else { continue };
                {
                    let mut c = conns.lock().unwrap();
                    c.push(client.try_clone().unwrap());
                    c.push(engine.try_clone().unwrap());
                }
                let (c2, e2) = (client.try_clone().unwrap(), engine.try_clone().unwrap());
                let events = Arc::new(AtomicBool::new(false));
                let (requests, hold, events2) = (requests.clone(), hold.clone(), events.clone());
                std::thread::spawn(move || pipe_up(client, engine, requests, events));
                std::thread::spawn(move || pipe_down(e2, c2, hold, events2));
            }
        });
        p
    }

    fn host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Drops every connection and refuses new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// The request lines made through it so far.
    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
        let _ = UnixStream::connect(&self.path);
    }
}

fn container_id(env: &TestEnv) -> String {
    let ids = env.containers();
    assert_eq!(ids.len(), 1, "expected one container, found {ids:?}");
    ids[0].clone()
}

fn state(id: &str) -> String {
    inspect(id)["State"]["Status"].as_str().unwrap_or("gone").to_string()
}

#[test]
fn refresh_with_the_image_deleted_keeps_the_old_container_running() {
    let env = TestEnv::new(&format!("image = \"agentdock/test-img:{}\"\n", "RUN"));
    let tag = format!("agentdock/test-img:{}", env.run_id);
    env.write_config(&format!("image = \"{tag}\"\n"));
    docker(&["tag", "agentdock/agent:latest", &tag]);
    let p = env.project("noimg");
    env.ok(&["up", &p]);
    let id = container_id(&env);
    docker(&["rmi", &tag]);
    let out = env.run(&["refresh", &p]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("docker/build-image.sh"));
    assert_eq!(container_id(&env), id);
    assert_eq!(state(&id), "running");
    assert_eq!(inspect(&id)["Name"], format!("/agentdock-{p}"));
}

#[test]
fn a_new_container_failing_its_health_check_is_rolled_back() {
    let env = TestEnv::new("[refresh]\nready_timeout_secs = 8\n");
    let p = env.project("unhealthy");
    // a [[project]] entry, so it stays a configured project without .git (else its container
    // is an orphan, which is never refreshed)
    env.write_config(&format!("[refresh]\nready_timeout_secs = 8\n\n[[project]]\npath = \"{}\"\n", env.project_path(&p).display()));
    env.ok(&["up", &p]);
    let id = container_id(&env);
    // an agent command that does not exist fails the health check: the new container never
    // becomes ready
    env.write_config(&format!("[refresh]\nready_timeout_secs = 8\n\n[[project]]\npath = \"{}\"\nagent_command = \"no-such-agent --flag\"\n", env.project_path(&p).display()));
    let out = env.run(&["refresh", &p]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("rolled back"), "{}", stderr(&out));
    assert_eq!(container_id(&env), id, "the old container is the only one");
    assert_eq!(state(&id), "running");
    assert_eq!(inspect(&id)["Name"], format!("/agentdock-{p}"));
    let hist = env.ok(&["history", "--json"]);
    assert!(hist.contains("failed: refresh rolled back"), "{hist}");
}

#[test]
fn two_refreshes_at_once_one_is_refused() {
    let env = TestEnv::new("");
    let p = env.project("twice");
    env.ok(&["up", &p]);
    // another process holds the project's refresh lock (as a running refresh does)
    let lock = env.data_dir().join("locks").join(format!("{p}.lock"));
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let mut holder = Command::new("flock").arg("--no-fork").arg(&lock).args(["sleep", "30"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let id = container_id(&env);
    for args in [&["refresh", &p][..], &["rm", &p, "--yes"], &["up", &p]] {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("already running"), "{}", stderr(&out));
    }
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(container_id(&env), id);
    // once the other is done, refresh runs
    env.ok(&["refresh", &p]);
    assert_ne!(container_id(&env), id);
}

#[test]
fn engine_lost_mid_refresh_loses_no_container_and_acts_once() {
    let env = TestEnv::new("");
    let p = env.project("cut");
    env.ok(&["up", &p]);
    let proxy = Proxy::start(env.dir.path());
    // cut right as the refresh reaches each of its steps (its progress lines say when)
    let steps = ["stopping the old container", "creating the new container", "waiting for the new container", "removing the old container"];
    for (step, delay_ms) in steps.iter().flat_map(|s| [(s, 0u64), (s, 150)]) {
        let at = format!("{step} +{delay_ms} ms");
        let before = container_id(&env);
        let mut child = env
            .cmd(&["refresh", &p])
            .env("DOCKER_HOST", proxy.host())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut said = String::new();
        loop {
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut err, &mut line).unwrap() == 0 {
                break;
            }
            said.push_str(&line);
            if line.contains(step) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        proxy.cut();
        std::thread::sleep(Duration::from_secs(2));
        proxy.restore();
        std::io::Read::read_to_string(&mut err, &mut said).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "cut at {at}: {}{said}", stdout(&out));
        // exactly one container for the project, running, under its name
        let after = container_id(&env);
        assert_eq!(state(&after), "running");
        assert_eq!(inspect(&after)["Name"], format!("/agentdock-{p}"));
        let names = docker(&["ps", "-a", "--format", "{{.Names}}", "--filter", &format!("label=dev.agentdock.project={p}")]);
        assert_eq!(names.trim(), format!("agentdock-{p}"), "cut at {at}");
        println!("cut at {at}: {before:.12} -> {after:.12}");
    }
}

#[test]
fn dashboard_survives_the_engine_going_away_and_coming_back() {
    let mut env = TestEnv::new("");
    let p = env.project("reconn");
    env.ok(&["up", &p]);
    let proxy = Proxy::start(env.dir.path());
    env.extra_env.push(("DOCKER_HOST".into(), proxy.host()));
    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    t.wait_for("● Docker", Duration::from_secs(20));
    t.wait_for(&p, Duration::from_secs(20));
    proxy.cut();
    t.wait_for("reconnecting", Duration::from_secs(20));
    proxy.restore();
    let s = t.wait_for("● Docker", Duration::from_secs(20));
    assert!(s.lines().any(|l| l.contains(&p) && l.contains("running")), "{s}");
}

#[test]
fn killed_and_oom_containers_are_shown_with_the_reason() {
    let env = TestEnv::new("agent_command = \"bash\"\n[limits]\nmemory = \"96m\"\n");
    let p = env.project("oom");
    env.ok(&["up", &p]);
    let id = container_id(&env);
    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    t.wait_for(&p, Duration::from_secs(10));
    let start = format!("┃{p}");
    let row_has = |what: &str| {
        t.wait_until(Duration::from_secs(5), what, |s| s.lines().any(|l| l.starts_with(&start) && l.contains(what)))
    };
    // over the memory limit: the kernel kills the process, the dashboard says so
    let out = env.run(&["exec", &p, "--sh", "python3 -c 'x = bytearray(400 << 20)'"]);
    assert_eq!(out.status.code(), Some(137), "{}", stderr(&out));
    row_has("running OOM");
    // killed from outside: shown within 2 s with its exit code (the restart policy may already
    // have brought it back: "restarted 137")
    docker(&["kill", &id]);
    let killed = Instant::now();
    row_has("137");
    assert!(killed.elapsed() < Duration::from_secs(2), "took {:?}", killed.elapsed());
}

/// A refresh cut off before its new container was made (agentdock killed, say) leaves the old
/// one set aside and stopped: the dashboard puts it back when it starts, and says so.
#[test]
fn the_dashboard_repairs_a_refresh_interrupted_before_it_started() {
    let env = TestEnv::new("agent_command = \"bash\"\n");
    let p = env.project("repair");
    env.ok(&["up", &p]);
    let id = container_id(&env);
    docker(&["stop", "-t", "1", &id]);
    docker(&["rename", &id, &format!("agentdock-{p}-old-1700000000")]);
    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    let s = t.wait_until(Duration::from_secs(60), "the repair", |s| s.contains(&format!("restored agentdock-{p} after an interrupted refresh")));
    assert!(s.lines().any(|l| l.contains(&p) && l.contains("running")), "{s}");
    assert_eq!(container_id(&env), id, "the same container, back");
    assert_eq!(inspect(&id)["Name"], format!("/agentdock-{p}"));
    t.keys(&["q"]);
}

/// q while a refresh is under way waits for it (a second q would quit at once): the refresh
/// ends whole, with one container under the project's name, and the dashboard then quits.
#[test]
fn quit_waits_for_a_refresh_under_way() {
    let env = TestEnv::new("agent_command = \"bash\"\n");
    let p = env.project("quitwait");
    env.ok(&["up", &p]);
    let before = container_id(&env);
    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    t.wait_until(Duration::from_secs(15), "running", |s| s.lines().any(|l| l.contains(&p) && l.contains("running")));
    t.keys(&["/"]);
    t.literal(&p);
    // q right behind r: the refresh (about a second on a quiet machine) is surely under way
    t.keys(&["Enter", "r", "q"]);
    t.wait_for("quitting when", Duration::from_secs(5));
    t.wait_for("READY$", Duration::from_secs(90));
    let after = container_id(&env);
    assert_ne!(after, before, "the refresh made a new container");
    assert_eq!(state(&after), "running");
    assert_eq!(inspect(&after)["Name"], format!("/agentdock-{p}"));
}

#[test]
fn a_burst_of_engine_events_is_merged_into_one_listing() {
    // 40 containers made at once by someone else: their events reach the dashboard together
    // (the proxy holds the event stream back, then lets it go), and the dashboard lists the
    // engine once for them instead of looking each one up
    let mut env = TestEnv::new("[ui]\nshow_unmanaged = true\n");
    let proxy = Proxy::start(env.dir.path());
    env.extra_env.push(("DOCKER_HOST".into(), proxy.host()));
    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    t.wait_for("● Docker", Duration::from_secs(20));
    wait_for(Duration::from_secs(10), || proxy.requests().iter().any(|r| r.contains("/events")).then_some(())).expect("the dashboard never asked for events");
    proxy.hold.store(true, Ordering::SeqCst);
    let label = format!("{TEST_LABEL}={}", env.run_id);
    let made: Vec<std::process::Child> = (0..40)
        .map(|i| {
            Command::new("docker")
                .args(["create", "--label", &label, "--network", "none", "--name", &format!("burst-{}-{i:02}", env.run_id), "--entrypoint", "true", "agentdock/agent:latest"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let ids: Vec<String> = made
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success());
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect();
    // the engine has sent the 40 "create" events, held here
    std::thread::sleep(Duration::from_millis(500));
    let unmanaged = |s: &str| -> Option<u32> {
        // "… · N/M unmanaged …" in the title: M
        let title = s.lines().next()?;
        let at = title.find(" unmanaged")?;
        title[..at].rsplit(' ').next()?.split_once('/')?.1.parse().ok()
    };
    let shown = unmanaged(&t.screen()).unwrap_or(0);
    let before = proxy.requests().len();
    proxy.hold.store(false, Ordering::SeqCst);
    let s = t.wait_until(Duration::from_secs(20), "the 40 in the list", |s| unmanaged(s).is_some_and(|n| n >= shown + 40));
    std::thread::sleep(Duration::from_millis(500));
    let after: Vec<String> = proxy.requests().split_off(before);
    // (other tests' containers come and go meanwhile: only the burst's own are counted)
    let whole = after.iter().filter(|r| r.contains("/containers/json") && !r.contains("%22id%22")).count();
    let one_by_one = after.iter().filter(|r| ids.iter().any(|id| r.contains(id.as_str()))).count();
    assert!(whole >= 1 && one_by_one == 0, "the burst was looked up one by one ({one_by_one} lookups of its containers):\n{after:#?}\n{s}");
    assert!(whole <= 3, "{whole} listings for one burst:\n{after:#?}");
}
