//! Several engines: an engine that refuses or never answers holds up none of the others (CLI
//! and dashboard); a second real engine on this machine (its own dockerd) reached over its unix
//! socket, over TLS and through a Docker context, with a project pinned to it made, exec'd,
//! refreshed and removed there, and the engine killed and started again under the dashboard.

mod common;
use common::engine2::{clean_at, make_certs, Engine2};
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A unix socket that takes every connection and never answers.
fn silent_socket(dir: &Path) -> PathBuf {
    let path = dir.join("silent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    path
}

/// A TCP address where nothing listens (connections are refused).
fn dead_tcp() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("tcp://127.0.0.1:{port}")
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

fn line_with<'a>(screen: &'a str, text: &str) -> &'a str {
    screen.lines().find(|l| l.contains(text)).unwrap_or("")
}

#[test]
fn an_engine_that_refuses_or_never_answers_holds_up_no_other() {
    let tmp = tempfile::tempdir().unwrap();
    let silent = silent_socket(tmp.path());
    let dead = dead_tcp();
    let env = TestEnv::new(&format!(
        "[[engine]]\nname = \"dead\"\nhost = \"{dead}\"\n\n[[engine]]\nname = \"silent\"\nhost = \"unix://{}\"\n",
        silent.display()
    ));
    let p = env.project("multi");

    // the CLI: each engine by its own state
    let out = env.run(&["--engine", "dead", "engines", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v[0]["name"], "dead");
    assert_eq!(v[0]["state"], "unreachable");
    assert!(v[0]["error"].as_str().unwrap().contains("refused"), "{v}");
    let out = env.run(&["--engine", "local", "engines", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!((v[0]["name"].as_str(), v[0]["state"].as_str(), v[0]["default"].as_bool()), (Some("local"), Some("connected"), Some(true)));
    assert!(v[0]["rtt_ms"].as_f64().is_some() && v[0]["version"].as_str().is_some(), "{v}");
    let out = env.run(&["--engine", "nope", "ls"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown engine 'nope'; engines: local, dead, silent"), "{}", stderr(&out));
    // a project on the default engine is made there, whatever the others do
    env.ok(&["up", &p]);
    let out = env.run(&["--engine", "local", "ls", "--json"]);
    let v = json(&out);
    let row = v.as_array().unwrap().iter().find(|r| r["name"] == p.as_str()).unwrap().clone();
    assert_eq!(row["engine"], "local");
    assert_eq!(row["containers"].as_array().unwrap().len(), 1);

    // the dashboard: a row per engine; the local one's project runs, the others reconnect
    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    let s = t.wait_until(Duration::from_secs(30), "every engine's state", |s| {
        line_with(s, "▾ local").contains("● connected")
            && line_with(s, "▾ dead").contains("reconnecting")
            && line_with(s, "▾ silent").contains("reconnecting")
            && s.lines().any(|l| l.contains(&p) && l.contains("running"))
    });
    assert!(line_with(&s, "▾ silent").contains("no answer yet"), "{s}");
    assert!(line_with(&s, "▾ dead").contains("refused"), "{s}");
    assert!(s.contains("reconnecting: dead, silent"), "{s}");
    let lines: Vec<&str> = s.lines().collect();
    let at = |text: &str| lines.iter().position(|l| l.contains(text)).unwrap();
    assert!(at("▾ local") < at(&p) && at(&p) < at("▾ dead"), "the project is under its engine:\n{s}");

    // keys are answered while the silent engine hangs: E shows one engine, then the next, then all
    t.keys(&["E"]);
    let s = t.wait_for("engine local only", Duration::from_secs(5));
    assert!(!s.contains("▾ dead") && s.contains(&p), "{s}");
    t.keys(&["E"]);
    let s = t.wait_for("engine dead only", Duration::from_secs(5));
    assert!(!s.lines().any(|l| l.contains(&p) && l.contains("running")), "{s}");
    t.keys(&["E", "E"]);
    t.wait_until(Duration::from_secs(5), "every engine again", |s| s.contains("every engine") && s.contains("▾ silent") && s.contains(&p));
    // the list still moves and the help opens
    t.keys(&["?"]);
    t.wait_for("engines: the next engine alone", Duration::from_secs(5));
    // (Esc and q read together are Alt-q: the help closes first)
    t.keys(&["Escape"]);
    t.wait_until(Duration::from_secs(5), "the help closed", |s| !s.contains("engines: the next engine alone"));
    t.keys(&["q"]);
    t.wait_for("READY$", Duration::from_secs(10));
}

/// A project directory outside the roots (on "the other machine", which is this one).
fn remote_project(env: &TestEnv, name: &str) -> PathBuf {
    let path = env.dir.path().join("elsewhere").join(format!("{name}-{}", env.run_id));
    std::fs::create_dir_all(path.join(".git")).unwrap();
    std::fs::write(path.join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(path.join("marker.txt"), "from the other side\n").unwrap();
    chown_r(&path);
    path
}

#[test]
fn a_second_engine_over_its_socket_tls_and_a_context() {
    let mut e2 = match Engine2::start() {
        Ok(e) => e,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let probe = TestEnv::new("");
    let (tls_dir, unix) = (e2.client_certs(), e2.unix_host());
    let config = |env: &TestEnv, remote: &Path, local: &Path| {
        format!(
            "[[engine]]\nname = \"two\"\nhost = \"{unix}\"\n\n[[engine]]\nname = \"tls\"\nhost = \"{}\"\ncert_path = \"{}\"\n\n\
             [[project]]\npath = \"{}\"\nname = \"far-{id}\"\nengine = \"tls\"\nnetwork = \"none\"\n{limits}\n\
             [[project]]\npath = \"{}\"\nname = \"near-{id}\"\nengine = \"two\"\nnetwork = \"none\"\n{limits}\n",
            e2.tcp_host(),
            tls_dir.display(),
            remote.display(),
            local.display(),
            id = env.run_id,
            // the open files another machine's engine allows are not known here: within this one's
            limits = "limits = { nofile_soft = 1024, nofile_hard = 4096 }",
        )
    };
    let env = probe;
    let (far_dir, near_dir) = (remote_project(&env, "far"), remote_project(&env, "near"));
    env.write_config(&config(&env, &far_dir, &near_dir));
    let (far, near) = (format!("far-{}", env.run_id), format!("near-{}", env.run_id));
    let label = format!("{TEST_LABEL}={}", env.run_id);
    struct Clean(String, String);
    impl Drop for Clean {
        fn drop(&mut self) {
            clean_at(&self.0, &self.1);
        }
    }

    // every engine answers, each over its own transport
    let out = env.run(&["engines", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    let by_name = |n: &str| v.as_array().unwrap().iter().find(|e| e["name"] == n).unwrap().clone();
    assert_eq!((by_name("two")["transport"].as_str(), by_name("two")["state"].as_str()), (Some("unix"), Some("connected")));
    assert_eq!((by_name("tls")["transport"].as_str(), by_name("tls")["state"].as_str()), (Some("tls"), Some("connected")));
    assert!(by_name("tls")["rtt_ms"].as_f64().is_some());

    {
        let _clean = Clean(e2.unix_host(), label.clone());
        // a project pinned to the TLS engine: made there, its agent config a volume there
        let out = env.run(&["up", &far]);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        assert!(stderr(&out).contains("not made read-only there"), "{}", stderr(&out));
        let ids = e2.docker_text(&["ps", "-aq", "--filter", &format!("label={label}")]);
        assert_eq!(ids.lines().count(), 1, "on the second engine: {ids}");
        assert!(env.containers().is_empty(), "nothing on the first engine");
        let mounts = e2.docker_text(&["inspect", "--format", "{{range .Mounts}}{{.Type}}:{{.Name}}:{{.Destination}} {{end}}", ids.trim()]);
        assert!(mounts.contains("volume:agentdock-agent-far-") && mounts.contains(":/home/agent/.claude"), "{mounts}");
        // exec goes there too; the workspace is that host's path
        let said = env.ok(&["exec", &far, "--sh", "cat /workspace/marker.txt; echo logged-in > ~/.claude/login"]);
        assert_eq!(said, "from the other side\n");
        // refresh: a new container there, the agent config kept in its volume
        let before = ids.trim().to_string();
        env.ok(&["refresh", &far]);
        let after = e2.docker_text(&["ps", "-aq", "--no-trunc", "--filter", &format!("label={label}")]);
        assert_eq!(after.lines().count(), 1);
        assert!(!after.starts_with(&before), "{before} -> {after}");
        assert_eq!(env.ok(&["exec", &far, "--", "cat", "/home/agent/.claude/login"]), "logged-in\n");
        // ls and stats carry the engine
        let v = json(&env.run(&["ls", "--json"]));
        let row = v.as_array().unwrap().iter().find(|r| r["name"] == far.as_str()).unwrap().clone();
        assert_eq!((row["engine"].as_str(), row["containers"].as_array().map(Vec::len)), (Some("tls"), Some(1)));
        let v = json(&env.run(&["stats", &far, "--json"]));
        assert_eq!(v[0]["engine"], "tls");
        // --engine names where a project is: elsewhere is one clear line
        let out = env.run(&["--engine", "local", "exec", &far, "--", "true"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("is on engine tls, not local"), "{}", stderr(&out));

        // the dashboard: both engines' rows; the far project runs under its engine, and a command
        // run from its row runs there
        env.ok(&["up", &near]);
        let t = Tmux::start(&env);
        t.literal(&format!("{BIN} --config {}", env.config_path().display()));
        t.keys(&["Enter"]);
        // two and tls are one daemon: its containers are listed once, under two
        let s = t.wait_until(Duration::from_secs(30), "the engines' rows", |s| {
            line_with(s, "▾ tls").contains("the same engine as two") && line_with(s, "▾ two").contains("● connected") && line_with(s, &far).contains("running")
        });
        let lines: Vec<&str> = s.lines().collect();
        let at = |text: &str| lines.iter().position(|l| l.contains(text)).unwrap();
        assert!(at("▾ two") < at(&far) && at("▾ two") < at(&near), "{s}");
        t.keys(&[":"]);
        t.literal(&far);
        t.keys(&["Enter", "e"]);
        t.wait_for("Enter runs", Duration::from_secs(5));
        t.literal("cat /workspace/marker.txt");
        t.keys(&["Enter"]);
        t.wait_for("│from the other side", Duration::from_secs(15));
        t.keys(&["Escape"]);

        // the second engine goes away: its rows say so, the first one's go on; it comes back and
        // its containers are there again, once each
        e2.stop();
        t.wait_until(Duration::from_secs(30), "reconnecting", |s| {
            line_with(s, "▾ two").contains("reconnecting") && line_with(s, "▾ tls").contains("reconnecting") && line_with(s, "▾ local").contains("● connected")
        });
        e2.launch();
        let s = t.wait_until(Duration::from_secs(90), "resynced", |s| {
            line_with(s, "▾ two").contains("● connected") && line_with(s, &far).contains("running") && line_with(s, &near).contains("running")
        });
        assert_eq!(s.lines().filter(|l| l.starts_with(&format!("┃{far}"))).count(), 1, "{s}");
        t.keys(&["q"]);
        t.wait_for("READY$", Duration::from_secs(10));

        // rm --purge takes the volume too
        env.ok(&["rm", &far, "--purge", "--yes"]);
        env.ok(&["rm", &near, "--yes"]);
        assert!(e2.docker_text(&["ps", "-aq", "--filter", &format!("label={label}")]).is_empty());
        assert!(!e2.docker_text(&["volume", "ls", "-q"]).contains(&format!("agentdock-agent-far-{}", env.run_id)));
    }

    // a client certificate the engine's CA did not sign: one clear line
    let wrong = env.dir.path().join("wrong-certs");
    make_certs(&wrong, "stranger");
    let mut text = std::fs::read_to_string(env.config_path()).unwrap();
    text = format!("[[engine]]\nname = \"bad\"\nhost = \"{}\"\ncert_path = \"{}\"\n\n{text}", e2.tcp_host().replace("127.0.0.1", "localhost"), wrong.display());
    std::fs::write(env.config_path(), text).unwrap();
    let out = env.run(&["--engine", "bad", "engines", "--json"]);
    assert_eq!(out.status.code(), Some(3));
    let err = json(&out)[0]["error"].as_str().unwrap().to_string();
    assert!(err.contains("certificate") || err.contains("Certificate"), "{err}");
    assert_eq!(err.lines().count(), 1);

    // a Docker context pointing at the TLS endpoint, made current by DOCKER_CONTEXT: the default
    let docker_config = env.dir.path().join("docker-config");
    let meta = docker_config.join("contexts/meta/0123abcd");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(meta.join("meta.json"), format!(r#"{{"Name":"e2ctx","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{}","SkipTLSVerify":false}}}}}}"#, e2.tcp_host())).unwrap();
    let tls = docker_config.join("contexts/tls/0123abcd/docker");
    std::fs::create_dir_all(&tls).unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(tls_dir.join(f), tls.join(f)).unwrap();
    }
    env.write_config("");
    let out = env.cmd(&["engines", "--json"]).env("DOCKER_CONFIG", &docker_config).env("DOCKER_CONTEXT", "e2ctx").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!((v[0]["name"].as_str(), v[0]["source"].as_str(), v[0]["transport"].as_str()), (Some("e2ctx"), Some("context e2ctx"), Some("tls")));
    assert_eq!(v[0]["state"], "connected");
}
