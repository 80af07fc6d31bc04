//! Networks against the real engine, all traffic on this machine: each project on a network of
//! its own; `allowlist` agents out only through agentdock's egress proxy, to their allowlist.
//! The "outside world" is a test server in a container on networks of the test's own, named
//! `allowed.test` / `denied.test` (a non-private range) and `private.test` (a private one),
//! served over https with a CA the test makes.

mod common;
use common::*;
use std::process::Command;
use std::sync::Once;
use std::time::Duration;

/// The proxy image, built once (only when absent or its files changed) with its own script.
fn proxy_image() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/docker/proxy/build.sh");
        let out = Command::new(script).arg("--if-missing").output().expect("docker/proxy/build.sh");
        assert!(out.status.success(), "building the proxy image failed: {}{}", stdout(&out), stderr(&out));
    });
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn docker_ok(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// The test's outside world: one server answering as allowed.test and denied.test on a
/// "public" network, and as private.test on a private one.
struct World {
    public_net: String,
    private_net: String,
    server: String,
    ip: String,
    ca: String,
}

const SERVER: &str = r#"
import http.server, ssl, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from " + (self.headers.get("Host") or "?").split(":")[0] + "\n").encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
def serve(port, tls):
    s = http.server.ThreadingHTTPServer(("0.0.0.0", port), H)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("/srv/srv.pem", "/srv/srv.key")
        s.socket = ctx.wrap_socket(s.socket, server_side=True)
    s.serve_forever()
threading.Thread(target=serve, args=(80, False), daemon=True).start()
print("test server listening", flush=True)
serve(443, True)
"#;

impl World {
    fn new(env: &TestEnv) -> World {
        let dir = env.dir.path().join("world");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("server.py"), SERVER).unwrap();
        std::fs::write(dir.join("ext"), "subjectAltName=DNS:allowed.test,DNS:denied.test,DNS:private.test\n").unwrap();
        let sh = |line: &str| {
            let out = Command::new("bash").arg("-c").arg(line).current_dir(&dir).output().unwrap();
            assert!(out.status.success(), "{line}: {}", stderr(&out));
        };
        sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=agentdock test CA' \
            && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=allowed.test \
            && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext \
            && chmod a+rx . && chmod a+r *");
        let label = format!("{TEST_LABEL}={}", env.run_id);
        let (public_net, private_net) = (format!("agentdock-test-world-{}", env.run_id), format!("agentdock-test-private-{}", env.run_id));
        // 198.18.0.0/15 (benchmarking, not private) stands for the internet; 10.213.x for a LAN
        let seed = env.run_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        for (name, prefix) in [(&public_net, "198.18"), (&private_net, "10.213")] {
            let made = (0..40).any(|i| {
                let subnet = format!("{prefix}.{}.0/24", (seed + i) % 250 + 1);
                Command::new("docker").args(["network", "create", "--internal", "--label", &label, "--subnet", &subnet, name]).output().unwrap().status.success()
            });
            assert!(made, "no free subnet for {name}");
        }
        let server = format!("agentdock-test-server-{}", env.run_id);
        let mount = format!("{}:/srv:ro", dir.display());
        docker_ok(&[
            "run", "-d", "--name", &server, "--label", &label, "--user", "0", "--network", &public_net, "--network-alias", "allowed.test",
            "--network-alias", "denied.test", "-v", &mount, "--entrypoint", "python3", "agentdock/agent:latest", "/srv/server.py",
        ]);
        docker_ok(&["network", "connect", "--alias", "private.test", &private_net, &server]);
        let up = wait_for(Duration::from_secs(20), || docker(&["logs", &server]).contains("test server listening").then_some(()));
        assert!(up.is_some(), "the test server did not start: {}", docker(&["logs", &server]));
        let ip = ip_on(&server, &public_net);
        World { public_net, private_net, ca: std::fs::read_to_string(dir.join("ca.pem")).unwrap(), server, ip }
    }

    /// The proxy reaches the world (as a host's uplink would).
    fn connect_proxy(&self, env: &TestEnv) -> String {
        let proxy = proxy_of(env);
        docker_ok(&["network", "connect", &self.public_net, &proxy]);
        docker_ok(&["network", "connect", &self.private_net, &proxy]);
        proxy
    }
}

fn proxy_of(env: &TestEnv) -> String {
    let id = docker(&["ps", "-aq", "--filter", &format!("label={TEST_LABEL}={}", env.run_id), "--filter", "label=dev.agentdock.role=proxy"]);
    let id = id.trim();
    assert!(!id.is_empty() && !id.contains('\n'), "one proxy expected: {id:?}");
    id.to_string()
}

fn ip_on(container: &str, network: &str) -> String {
    let f = format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}");
    let ip = docker_ok(&["inspect", "-f", &f, container]);
    assert!(!ip.is_empty(), "{container} has no address on {network}");
    ip
}

fn main_id(p: &str) -> String {
    docker_ok(&["inspect", "-f", "{{.Id}}", &format!("agentdock-{p}")])
}

/// `bash -c LINE` in the project's container: (exit code, stdout, stderr).
fn sh(env: &TestEnv, p: &str, line: &str) -> (i32, String, String) {
    let out = env.run(&["exec", p, "--sh", line]);
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

fn put_ca(env: &TestEnv, p: &str, ca: &str) {
    let out = env.run(&["exec", p, "--", "bash", "-c", "printf '%s' \"$1\" > /tmp/ca.pem", "_", ca]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A TCP connection to ip:port from the container: "open", "refused" (the address answered),
/// or "unreachable" (nothing answered: no route, or nothing within 3 s).
fn tcp(env: &TestEnv, p: &str, ip: &str, port: u16) -> String {
    let (code, _, err) = sh(env, p, &format!("timeout 3 bash -c 'exec 3<>/dev/tcp/{ip}/{port}'"));
    match code {
        0 => "open".into(),
        _ if err.contains("refused") => "refused".into(),
        _ => "unreachable".into(),
    }
}

/// Project `b` serves a token of its own on 8080; its address on its network.
fn serve_token(env: &TestEnv, b: &str) -> String {
    sh(env, b, &format!("mkdir -p /tmp/www && echo token-{b} > /tmp/www/token && cd /tmp/www && nohup python3 -m http.server 8080 >/dev/null 2>&1 &"));
    let fetch = || sh(env, b, "curl -s -m 2 --noproxy '*' http://127.0.0.1:8080/token").1;
    assert!(wait_for(Duration::from_secs(10), || (fetch() == format!("token-{b}\n")).then_some(())).is_some(), "{b} does not serve");
    ip_on(&main_id(b), &format!("agentdock-net-{b}"))
}

/// Whether project `p` gets `b`'s token from `ip` without the proxy. (A bare TCP connect is
/// no proof here: this machine's uplink accepts connections to any address.)
fn reaches_token(env: &TestEnv, p: &str, b: &str, ip: &str) -> bool {
    sh(env, p, &format!("curl -s -m 4 --noproxy '*' http://{ip}:8080/token")).1.contains(&format!("token-{b}"))
}

fn curl(env: &TestEnv, p: &str, args: &str) -> (i32, String, String) {
    sh(env, p, &format!("curl -sS -m 10 --cacert /tmp/ca.pem {args}"))
}

#[test]
fn an_allowlist_agent_reaches_only_its_domains_through_the_proxy_which_agentdock_brings_back() {
    proxy_image();
    let env = TestEnv::new("[security]\nallow = [\"allowed.test\", \"private.test\"]\n");
    let (a, b) = (env.project("allow"), env.project("other"));
    env.ok(&["up", &a]);
    env.ok(&["up", &b]);
    let world = World::new(&env);
    let proxy = world.connect_proxy(&env);
    put_ca(&env, &a, &world.ca);
    let a_net = format!("agentdock-net-{a}");
    assert_eq!(inspect(&main_id(&a))["HostConfig"]["NetworkMode"], a_net.as_str());
    assert_eq!(inspect(&a_net.to_string())["Internal"], true, "no route out of an allowlist network");

    // allowed through the proxy; refused with the proxy's status otherwise
    let (code, out, err) = curl(&env, &a, "https://allowed.test/");
    assert_eq!((code, out.as_str()), (0, "hello from allowed.test\n"), "{err}");
    let (code, _, err) = curl(&env, &a, "https://denied.test/");
    assert!(code != 0 && err.contains("403"), "denied.test: {code} {err}");
    let (_, out, _) = curl(&env, &a, "http://denied.test/");
    assert!(out.contains("agentdock refused denied.test") && out.contains("security.allow"), "{out}");
    // an allowed name that leads to a private address
    let (code, _, err) = curl(&env, &a, "https://private.test/");
    assert!(code != 0 && err.contains("403"), "private.test: {code} {err}");
    // no way around the proxy: the server's address directly, the gateways, the metadata address
    assert_eq!(tcp(&env, &a, &world.ip, 443), "unreachable");
    let (code, _, _) = curl(&env, &a, &format!("--noproxy '*' -k https://{}/", world.ip));
    assert_ne!(code, 0, "direct connection to the world");
    let egress = docker_ok(&["inspect", "-f", "{{.Name}}", &proxy]).replace("/agentdock-proxy", "agentdock-egress");
    let (a_gw, egress_gw) = (gateway_of(&a_net), gateway_of(&egress));
    for ip in ["172.17.0.1", "169.254.169.254", a_gw.as_str(), egress_gw.as_str()] {
        assert_eq!(tcp(&env, &a, ip, 80), "unreachable", "{ip}");
    }
    let status = |url: &str| curl(&env, &a, &format!("-o /dev/null -w '%{{http_code}}' {url}")).1;
    assert_eq!(status("http://169.254.169.254/latest/meta-data/"), "403", "metadata through the proxy");
    assert_eq!(status(&format!("http://{egress_gw}/")), "403", "the host through the proxy");
    // another project's container: not directly, not through the proxy
    let b_ip = serve_token(&env, &b);
    assert_eq!(tcp(&env, &a, &b_ip, 8080), "unreachable");
    assert!(!reaches_token(&env, &a, &b, &b_ip));
    assert_eq!(status(&format!("http://{b_ip}:8080/")), "403", "{b_ip} through the proxy");

    // every refusal is listed, with the container it came from
    let net = json(&env.ok(&["net", &a, "--json"]));
    let refused = net["projects"][0]["refused"].as_array().unwrap().clone();
    let find = |host: &str| refused.iter().find(|r| r["host"] == host).cloned().unwrap_or_else(|| panic!("no refusal of {host}: {refused:?}"));
    assert_eq!(find("denied.test")["reason"], "not_allowed");
    assert_eq!(find("denied.test")["port"], 443);
    assert_eq!(find("denied.test")["container"], format!("agentdock-{a}").as_str());
    assert_eq!(find("private.test")["reason"], "private_address");
    assert_eq!(find("169.254.169.254")["reason"], "not_allowed");
    assert!(!refused.iter().any(|r| r["host"] == "allowed.test"));
    let text = env.ok(&["net", &a]);
    assert!(text.contains("denied.test:443") && text.contains("not on the allowlist") && text.contains(&format!("agentdock-{a}")), "{text}");
    // b's refusals are b's
    let b_net = json(&env.ok(&["net", &b, "--json"]));
    assert!(!b_net["projects"][0]["refused"].as_array().unwrap().iter().any(|r| r["host"] == "denied.test"));
    let doctor = env.ok(&["doctor"]);
    assert!(doctor.contains(&format!("{a} allowlist")) && doctor.contains("proxy") && doctor.contains("running"), "{doctor}");

    // the proxy killed from outside: the agent loses the world until agentdock starts it again
    let started = inspect(&main_id(&a))["State"]["StartedAt"].clone();
    docker_ok(&["kill", &proxy]);
    let (code, _, _) = curl(&env, &a, "https://allowed.test/");
    assert_ne!(code, 0, "reached the world with the proxy down");
    let out = env.ok(&["up", &a]);
    assert!(out.contains("already running"), "{out}");
    assert_eq!(inspect(&proxy)["State"]["Status"], "running");
    let back = wait_for(Duration::from_secs(20), || (curl(&env, &a, "https://allowed.test/").1 == "hello from allowed.test\n").then_some(()));
    assert!(back.is_some(), "the world did not come back: {:?}", curl(&env, &a, "https://allowed.test/"));
    // nothing else changed
    assert_eq!(inspect(&main_id(&a))["State"]["StartedAt"], started);
    assert_eq!(curl(&env, &a, "https://denied.test/").0, 56);

    // made anew (a rebuilt image): attached to the agents' networks again, with their allowlists
    let out = env.run(&["net", "--refresh-proxy"]);
    assert!(out.status.success() && stderr(&out).contains("made anew"), "{}", stderr(&out));
    let again = world.connect_proxy(&env);
    assert_ne!(again, proxy);
    let back = wait_for(Duration::from_secs(20), || (curl(&env, &a, "https://allowed.test/").1 == "hello from allowed.test\n").then_some(()));
    assert!(back.is_some(), "{:?}", curl(&env, &a, "https://allowed.test/"));
    assert_eq!(curl(&env, &a, "https://denied.test/").0, 56);
}

/// The first host of a network's subnet (where Docker puts the gateway).
fn gateway_of(network: &str) -> String {
    let subnet = docker_ok(&["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", network]);
    let base = subnet.split('/').next().unwrap();
    let mut parts: Vec<&str> = base.split('.').collect();
    parts[3] = "1";
    parts.join(".")
}

fn network_exists(name: &str) -> bool {
    Command::new("docker").args(["network", "inspect", name]).output().unwrap().status.success()
}

#[test]
fn an_open_agent_reaches_the_world_directly_but_no_other_project() {
    proxy_image();
    let env = TestEnv::new("");
    let (o, b) = (env.project("open"), env.project("other"));
    env.write_config(&format!("[[project]]\npath = \"{}\"\nnetwork = \"open\"\n", env.project_path(&o).display()));
    env.ok(&["up", &o]);
    env.ok(&["up", &b]);
    let world = World::new(&env);
    let o_net = format!("agentdock-open-{o}");
    assert_eq!(inspect(&o_net)["Internal"], false);
    // the world is on the open network's route out
    docker_ok(&["network", "connect", "--alias", "allowed.test", "--alias", "denied.test", &o_net, &world.server]);
    put_ca(&env, &o, &world.ca);
    assert_eq!(sh(&env, &o, "echo \"[${HTTPS_PROXY:-}]\"").1, "[]\n", "no proxy in open mode");
    for host in ["allowed.test", "denied.test"] {
        let (code, out, err) = curl(&env, &o, &format!("https://{host}/"));
        assert_eq!((code, out), (0, format!("hello from {host}\n")), "{err}");
    }
    let b_ip = serve_token(&env, &b);
    assert!(!reaches_token(&env, &o, &b, &b_ip), "an open agent reached another project's container");
    let net = json(&env.ok(&["net", "--json"]));
    let modes: Vec<(String, String)> = net["projects"].as_array().unwrap().iter().map(|p| (p["name"].as_str().unwrap().to_string(), p["mode"].as_str().unwrap().to_string())).collect();
    assert!(modes.contains(&(o.clone(), "open".into())) && modes.contains(&(b.clone(), "allowlist".into())), "{modes:?}");
}

#[test]
fn a_none_agent_reaches_nothing_and_a_mode_change_moves_it_at_its_refresh() {
    proxy_image();
    let env = TestEnv::new("");
    let n = env.project("none");
    let entry = |mode: &str| format!("[[project]]\npath = \"{}\"\nnetwork = \"{mode}\"\n", env.project_path(&n).display());
    env.write_config(&entry("none"));
    env.ok(&["up", &n]);
    let id = main_id(&n);
    assert_eq!(inspect(&id)["HostConfig"]["NetworkMode"], "none");
    // the agent's session runs; nothing but loopback
    let session = wait_for(Duration::from_secs(20), || (sh(&env, &n, "tmux has-session -t claude").0 == 0).then_some(()));
    assert!(session.is_some(), "no agent session");
    let (_, ifaces, _) = sh(&env, &n, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
    assert_eq!(ifaces, "lo\n");
    assert_ne!(sh(&env, &n, "curl -sS -m 3 https://registry.npmjs.org/").0, 0);
    assert!(!network_exists(&format!("agentdock-net-{n}")));

    // to allowlist: `up` keeps the container but says so, doctor fails, refresh moves it
    env.write_config("");
    let out = env.run(&["up", &n]);
    assert!(out.status.success() && stderr(&out).contains("other network settings") && stderr(&out).contains("agentdock refresh"), "{}", stderr(&out));
    assert_eq!(main_id(&n), id);
    let doctor = env.run(&["doctor"]);
    assert!(!doctor.status.success() && stdout(&doctor).contains("moves it"), "{}", stdout(&doctor));
    env.ok(&["refresh", &n]);
    let moved = main_id(&n);
    assert_ne!(moved, id);
    assert_eq!(inspect(&moved)["HostConfig"]["NetworkMode"], format!("agentdock-net-{n}").as_str());
    assert_eq!(sh(&env, &n, "echo $HTTPS_PROXY").1, "http://agentdock-proxy:3128\n");
    assert!(env.run(&["doctor"]).status.success(), "{}", stdout(&env.run(&["doctor"])));

    // to open: the refresh moves it again, and the allowlist network goes
    env.write_config(&entry("open"));
    env.ok(&["refresh", &n]);
    assert_eq!(inspect(&main_id(&n))["HostConfig"]["NetworkMode"], format!("agentdock-open-{n}").as_str());
    assert!(!network_exists(&format!("agentdock-net-{n}")), "the old network stayed");
    // rm takes the project's network too
    let out = env.ok(&["rm", "-y", &n]);
    assert!(out.contains(&format!("removed agentdock-open-{n}")), "{out}");
}

/// The test image (agent image + scripted model server), built once when absent.
fn test_image() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/build-test-image.sh");
        let out = Command::new(script).arg("--if-missing").output().expect("build-test-image.sh");
        assert!(out.status.success(), "building the test image failed: {}{}", stdout(&out), stderr(&out));
    });
}

#[test]
fn a_task_runs_on_a_network_of_its_own_that_goes_when_it_is_collected() {
    proxy_image();
    test_image();
    let mut env = TestEnv::new("image = \"agentdock/agent-test:latest\"\nenv_passthrough = [\"MODEL_SCRIPT\"]\n[security]\nallow = [\"allowed.test\"]\n");
    let p = env.git_project("tasknet");
    env.ok(&["up", &p]);
    let p_ip = serve_token(&env, &p);
    // the agent tries its project's container directly, then waits a while (so the test can
    // look at its container), then ends
    let script = format!(
        r#"[{{"bash": "(curl -s -m 3 --noproxy '*' http://{p_ip}:8080/token || echo unreachable) > reach.txt; echo $HTTPS_PROXY >> reach.txt"}}, {{"text": "done", "delay_ms": 6000}}]"#
    );
    env.extra_env.push(("MODEL_SCRIPT".into(), script));
    env.extra_env.push(("ANTHROPIC_API_KEY".into(), "sk-test-not-a-real-key".into()));
    let out = env.run(&["task", "run", &p, "reach your project", "--detach"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    let container = format!("agentdock-task-{id}");
    let net = format!("agentdock-task-{id}");
    let on = wait_for(Duration::from_secs(30), || {
        let mode = inspect(&container)["HostConfig"]["NetworkMode"].as_str().map(str::to_string)?;
        Some(mode)
    });
    assert_eq!(on.as_deref(), Some(net.as_str()), "the task's container is not on its own network");
    let n = inspect_network(&net);
    assert_eq!(n["Internal"], true, "an allowlist task's network has no route out");
    assert_eq!(n["Labels"]["dev.agentdock.task"], id.as_str());
    // the proxy serves it: the task's container sees it under its alias
    assert!(n["Containers"].as_object().unwrap().values().any(|c| c["Name"].as_str().unwrap_or("").starts_with("agentdock-proxy")), "{n}");
    // it ends; its collection takes the network with it
    let done = wait_for(Duration::from_secs(90), || {
        let v: serde_json::Value = serde_json::from_str(&env.ok(&["task", "show", &id, "--json"])).ok()?;
        (v["collected"] == true).then_some(v)
    });
    let rec = done.unwrap_or_else(|| panic!("the task did not end: {}", env.ok(&["task", "show", &id])));
    assert_eq!(rec["state"], "succeeded", "{rec}");
    let branch = rec["spec"]["branch"].as_str().unwrap();
    let reach = Command::new("git").args(["-c", "safe.directory=*", "-C"]).arg(env.project_path(&p)).args(["show", &format!("{branch}:reach.txt")]).output().unwrap();
    assert_eq!(stdout(&reach), "unreachable\nhttp://agentdock-proxy:3128\n", "the task reached its project's container");
    assert!(!network_exists(&net), "the task's network stayed after its task was collected");
    // the project's own network is untouched
    assert!(network_exists(&format!("agentdock-net-{p}")));

    // a task may say its own mode, as it says its own model
    let out = env.run(&["task", "run", &p, "reach it without a network", "--network", "none", "--detach"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    let mode = wait_for(Duration::from_secs(30), || inspect(&format!("agentdock-task-{id}"))["HostConfig"]["NetworkMode"].as_str().map(str::to_string));
    assert_eq!(mode.as_deref(), Some("none"));
    assert!(!network_exists(&format!("agentdock-task-{id}")));
    let bad = env.run(&["task", "run", &p, "x", "--network", "wide"]);
    assert!(stderr(&bad).contains("allowlist, open or none"), "{}", stderr(&bad));
}

fn inspect_network(name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&docker(&["network", "inspect", name])).unwrap_or(serde_json::Value::Null);
    v.get(0).cloned().unwrap_or(serde_json::Value::Null)
}

/// A tag of the test's own on the proxy image with another `dev.agentdock.image-hash` (a
/// build from other files), or the same as the real one; the image (by id) removed with the
/// guard.
struct ProxyTag(String);

impl ProxyTag {
    fn build(tag: &str, hash: Option<&str>, run_id: &str) -> ProxyTag {
        let dir = tempfile::tempdir().unwrap();
        let mut df = String::from("FROM agentdock/proxy:latest\n");
        if let Some(h) = hash {
            df.push_str(&format!("LABEL dev.agentdock.image-hash={h}\n"));
        }
        // a label that makes a new image id every time
        df.push_str(&format!("LABEL dev.agentdock.test-build={run_id}-{}\n", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()));
        std::fs::write(dir.path().join("Dockerfile"), df).unwrap();
        let out = Command::new("docker").args(["build", "-q", "-t", tag]).arg(dir.path()).env("DOCKER_BUILDKIT", "0").output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        ProxyTag(stdout(&out).trim().to_string())
    }
}

impl Drop for ProxyTag {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["image", "rm", "-f", &self.0]).output();
    }
}

#[test]
fn a_proxy_image_from_other_files_or_an_older_build_is_said_until_made_anew() {
    proxy_image();
    let mut env = TestEnv::new("");
    let tag = format!("agentdock-test/proxy:{}", env.run_id);
    env.extra_env.push(("AGENTDOCK_PROXY_IMAGE".into(), tag.clone()));
    let p = env.project("stale");
    // built from other files than this agentdock's
    let _old = ProxyTag::build(&tag, Some("0000000000000000"), &env.run_id);
    let out = env.run(&["up", &p]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("was built from other files") && stderr(&out).contains("docker/proxy/build.sh"), "{}", stderr(&out));
    let net = env.ok(&["net"]);
    assert!(net.contains("stale:"), "{net}");
    // rebuilt from this agentdock's files: the running proxy is now the older build
    let real = docker_ok(&["image", "inspect", "-f", "{{index .Config.Labels \"dev.agentdock.image-hash\"}}", "agentdock/proxy:latest"]);
    let _new = ProxyTag::build(&tag, Some(&real), &env.run_id);
    let out = env.run(&["up", &p]);
    assert!(stderr(&out).contains("runs an older build") && !stderr(&out).contains("other files"), "{}", stderr(&out));
    assert!(env.ok(&["doctor"]).contains("warning: the proxy runs an older build"));
    // made anew: nothing more to say
    let out = env.run(&["net", "--refresh-proxy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.run(&["up", &p]);
    assert!(!stderr(&out).contains("proxy"), "{}", stderr(&out));
    assert!(!env.ok(&["net"]).contains("stale:"));
    // the test's containers go before its images
    drop(env);
}

#[test]
fn a_refused_request_shows_in_the_dashboard_and_the_proxy_is_listed_under_agentdock() {
    proxy_image();
    let env = TestEnv::new("[ui]\nnotifications = true\n");
    let p = env.project("dashnet");
    env.ok(&["up", &p]);
    let proxy = docker_ok(&["inspect", "-f", "{{.Name}}", &proxy_of(&env)]).trim_start_matches('/').to_string();
    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    t.wait_for("API 1.41", Duration::from_secs(10));
    // the proxy is agentdock's own: a group of its own
    t.wait_until(Duration::from_secs(10), "the proxy's row", |s| s.contains("▾ agentdock") && s.contains(&format!("· {proxy}")));
    // a refusal: said once in the status line, counted in the detail view
    let (code, _, err) = sh(&env, &p, "curl -sS -m 10 https://denied.test/");
    assert!(code != 0 && err.contains("403"), "{err}");
    let name = format!("agentdock-{p}");
    t.wait_until(Duration::from_secs(30), "the first refusal said", |s| s.contains(&format!("{name} was refused denied.test:443")));
    t.keys(&["/"]);
    t.literal(&p);
    t.keys(&["Enter"]);
    t.keys(&["Enter"]);
    let s = t.wait_until(Duration::from_secs(10), "the refused line", |s| s.contains("refused") && s.contains("1 requests by the egress proxy; last denied.test:443"));
    assert!(!s.contains("sk-"), "{s}");
    t.keys(&["Escape"]);
    t.keys(&["Escape"]);
    // the proxy killed from outside: the dashboard starts it again within its health interval
    docker_ok(&["kill", &proxy]);
    let back = wait_for(Duration::from_secs(30), || (inspect(&proxy)["State"]["Status"] == "running").then_some(()));
    assert!(back.is_some(), "the dashboard did not start the proxy again");
    t.keys(&["q"]);
    t.wait_for("READY$", Duration::from_secs(10));
}
