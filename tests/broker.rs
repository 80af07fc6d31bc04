//! The credential broker against the real engine, with the real Claude Code CLI. The upstream
//! is the scripted model server (tests/fixtures/model_server.py) behind TLS with a CA of the
//! test's own, on a network of the test's own named `model.test`; it answers only the real key,
//! as the real API does, and logs the credential headers it got. No traffic leaves this machine.

mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;
use std::time::Duration;

/// The user's real key in these tests: it must never be found in an agent's container.
const REAL_KEY: &str = "sk-ant-api03-REAL-agentdock-test-key-7f3a9c";

fn images() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        for script in ["/docker/proxy/build.sh", "/tests/fixtures/build-test-image.sh"] {
            let out = Command::new(format!("{}{script}", env!("CARGO_MANIFEST_DIR"))).arg("--if-missing").output().unwrap();
            assert!(out.status.success(), "{script}: {}{}", stdout(&out), stderr(&out));
        }
    });
}

fn docker_ok(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().unwrap();
    assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// The scripted model server as the upstream: TLS, the real key required, credential headers
/// logged; its TLS answers end with close_notify, as a real server's do.
const UPSTREAM: &str = r#"
import os, ssl, sys
sys.path.insert(0, "/opt/agentdock-test")
import model_server as m
KEY = os.environ["UPSTREAM_KEY"]
class H(m.Handler):
    def _authorized(self):
        return self.headers.get("x-api-key") == KEY or self.headers.get("authorization") == "Bearer " + KEY
    def _log(self, entry):
        entry["x_api_key"] = self.headers.get("x-api-key")
        entry["authorization"] = self.headers.get("authorization")
        super()._log(entry)
    def do_POST(self):
        if not self._authorized():
            self._log({"method": "POST", "path": self.path, "status": 401, "main": False, "step": None, "unauthorized": True})
            return self._json(401, m.err_body(401, "invalid x-api-key"))
        return super().do_POST()
    def do_GET(self):
        if not self._authorized():
            return self._json(401, m.err_body(401, "invalid x-api-key"))
        return super().do_GET()
class TLSServer(m.Server):
    def shutdown_request(self, request):
        try:
            request.unwrap()
        except Exception:
            pass
        super().shutdown_request(request)
srv = TLSServer(("0.0.0.0", 443), H)
srv.script = m.Script(m.load_script())
srv.log_path = "/srv/log/requests.jsonl"
srv.log_lock = m.threading.Lock()
srv.last_conv = None
srv.dump_dir = None
srv.dump_n = 0
srv.main_rule = "tools"
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("/srv/srv.pem", "/srv/srv.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("upstream listening", flush=True)
srv.serve_forever(poll_interval=0.2)
"#;

struct Upstream {
    net: String,
    name: String,
    dir: PathBuf,
    label: String,
}

impl Upstream {
    fn new(env: &TestEnv, script: &str) -> Upstream {
        let dir = env.dir.path().join("upstream");
        std::fs::create_dir_all(dir.join("log")).unwrap();
        std::fs::write(dir.join("upstream.py"), UPSTREAM).unwrap();
        std::fs::write(dir.join("ext"), "subjectAltName=DNS:model.test\n").unwrap();
        let out = Command::new("bash")
            .arg("-c")
            .arg(
                "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=agentdock broker test CA' \
                 && openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=model.test \
                 && openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext \
                 && chmod a+rx . && chmod a+r * && chmod a+rwx log",
            )
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        std::fs::write(env.dir.path().join("key"), REAL_KEY).unwrap();
        let label = format!("{TEST_LABEL}={}", env.run_id);
        let net = format!("agentdock-test-model-{}", env.run_id);
        let seed = env.run_id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        let made = (0..40).any(|i| {
            let subnet = format!("198.19.{}.0/24", (seed + i) % 250 + 1);
            Command::new("docker").args(["network", "create", "--internal", "--label", &label, "--subnet", &subnet, &net]).output().unwrap().status.success()
        });
        assert!(made, "no free subnet for {net}");
        let u = Upstream { net, name: format!("agentdock-test-upstream-{}", env.run_id), dir, label };
        u.start(script);
        u
    }

    /// (Re)starts the upstream with `script`; its request log starts over.
    fn start(&self, script: &str) {
        let _ = Command::new("docker").args(["rm", "-f", &self.name]).output();
        let _ = std::fs::remove_file(self.dir.join("log/requests.jsonl"));
        let mount = format!("{}:/srv", self.dir.display());
        docker_ok(&[
            "run", "-d", "--name", &self.name, "--user", "0", "--label", &self.label, "--network", &self.net, "--network-alias", "model.test", "-v", &mount,
            "-e", &format!("UPSTREAM_KEY={REAL_KEY}"), "-e", &format!("MODEL_SCRIPT={script}"), "--entrypoint", "python3",
            "agentdock/agent-test:latest", "/srv/upstream.py",
        ]);
        let up = wait_for(Duration::from_secs(20), || docker(&["logs", &self.name]).contains("upstream listening").then_some(()));
        assert!(up.is_some(), "the upstream did not start: {}", docker(&["logs", &self.name]));
    }

    fn log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("log/requests.jsonl")).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    fn main_requests(&self) -> Vec<serde_json::Value> {
        self.log().into_iter().filter(|l| l["main"] == true).collect()
    }
}

/// The config of a test whose broker holds the real key and forwards to the upstream.
fn broker_config(env: &TestEnv, extra: &str) -> String {
    let dir = env.dir.path();
    format!(
        "{extra}\n[broker]\ncredential_file = \"{}\"\nupstream = \"https://model.test\"\nca_file = \"{}\"\n",
        dir.join("key").display(),
        dir.join("upstream/ca.pem").display()
    )
}

/// The test's broker container, joined to the upstream's network (as a host's uplink would be).
fn connect_broker(env: &TestEnv, up: &Upstream) -> String {
    let id = docker(&["ps", "-aq", "--filter", &format!("label={TEST_LABEL}={}", env.run_id), "--filter", "label=dev.agentdock.role=broker"]);
    let id = id.trim().to_string();
    assert!(!id.is_empty() && !id.contains('\n'), "one broker expected: {id:?}");
    let nets = docker(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", &id]);
    if !nets.contains(&up.net) {
        docker_ok(&["network", "connect", &up.net, &id]);
    }
    id
}

/// Removes the broker's credential file from the tmpfs when the test ends.
struct CredentialGuard(String);

impl Drop for CredentialGuard {
    fn drop(&mut self) {
        let base = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|d| d.is_absolute() && d.is_dir()) {
            Some(d) => d.join("agentdock/secrets"),
            None => PathBuf::from(format!("/dev/shm/agentdock-{}/secrets", rustix_uid())),
        };
        let dir = base.join(&self.0);
        let _ = Command::new("chmod").args(["-R", "u+w"]).arg(&dir).output();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn rustix_uid() -> String {
    String::from_utf8_lossy(&Command::new("id").arg("-u").output().unwrap().stdout).trim().to_string()
}

fn broker_name(id: &str) -> String {
    docker_ok(&["inspect", "-f", "{{.Name}}", id]).trim_start_matches('/').to_string()
}

/// `bash -c LINE` in the project's container, with the secrets the agent's session gets.
fn agent_sh(env: &TestEnv, p: &str, line: &str) -> (i32, String, String) {
    let out = env.run(&["exec", p, "--sh", &format!(". /usr/local/lib/agentdock/secrets.sh; {line}")]);
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn the_real_cli_reaches_the_model_through_the_broker_and_the_key_is_nowhere_in_the_container() {
    images();
    let mut env = TestEnv::new("");
    let up = Upstream::new(&env, r#"[{"text": "hello through the broker", "usage": {"input_tokens": 111, "output_tokens": 22}}]"#);
    env.write_config(&broker_config(&env, "[security]\nallow = [\"model.test\"]"));
    // the key is in the host's environment too: with the broker it still stays out
    env.extra_env.push(("ANTHROPIC_API_KEY".into(), REAL_KEY.into()));
    let (a, b) = (env.project("brk"), env.project("other"));
    env.ok(&["up", &a]);
    env.ok(&["up", &b]);
    let broker = connect_broker(&env, &up);
    let _guard = CredentialGuard(broker_name(&broker));
    let main = docker_ok(&["inspect", "-f", "{{.Id}}", &format!("agentdock-{a}")]);

    // the real CLI, through the broker, to the scripted model
    let (code, out, err) = agent_sh(&env, &a, "timeout 120 claude -p 'say hi'");
    assert_eq!((code, out.trim()), (0, "hello through the broker"), "{err}");
    let reqs = up.main_requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(reqs[0]["x_api_key"], REAL_KEY, "the broker put the real key in");
    assert!(up.log().iter().all(|l| l["x_api_key"] == REAL_KEY && l["authorization"].is_null()), "{:?}", up.log());
    // metered exactly as the upstream reported
    let usage = json(&env.ok(&["usage", "--json"]));
    let mine = &usage["by_project"][&a];
    assert_eq!((mine["input_tokens"].as_u64(), mine["output_tokens"].as_u64()), (Some(111), Some(22)), "{usage}");
    let text = env.ok(&["usage"]);
    assert!(text.contains(&a) && text.contains("111"), "{text}");
    let status = env.ok(&["broker"]);
    assert!(status.contains("running") && status.contains("an API key") && !status.contains(REAL_KEY), "{status}");
    let doctor = env.ok(&["doctor"]);
    assert!(doctor.contains("broker") && doctor.contains("an API key") && !doctor.contains(REAL_KEY), "{doctor}");

    // the key is nowhere in the agent's container: its files (mounts too), its processes'
    // environments, the engine's record of it
    let root = |line: &str| {
        let out = Command::new("docker").args(["exec", "-u", "0", &main, "bash", "-c", line]).output().unwrap();
        (out.status.code().unwrap_or(-1), stdout(&out))
    };
    // every regular file, the mounts too (but /proc and /sys); what grep cannot read is said
    let (_, out) = root(&format!("find / \\( -path /proc -o -path /sys \\) -prune -o -type f -print0 | xargs -0 grep -lF -- '{REAL_KEY}' 2>/tmp/grep.err; echo '--'; cat /tmp/grep.err"));
    let (found, errors) = out.split_once("--\n").unwrap_or((&out, ""));
    assert_eq!((found, errors), ("", ""), "the key is in the container's files (or some could not be read)");
    let (code, found) = root(&format!("cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -F '{REAL_KEY}'"));
    assert_eq!((code, found.as_str()), (1, ""), "the key is in a process's environment");
    let (_, envs) = root("cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep ANTHROPIC_API_KEY= | sort -u");
    assert!(envs.lines().all(|l| l.starts_with("ANTHROPIC_API_KEY=agentdock-cap-")), "the agent holds its capability: {envs}");
    assert!(!docker(&["inspect", &main]).contains(REAL_KEY), "the key is in docker inspect");
    assert!(!docker(&["inspect", &broker]).contains(REAL_KEY), "the key is in the broker's docker inspect");

    // the agent going around the broker has no credential to send: its capability is refused
    let proxy = docker(&["ps", "-aq", "--filter", &format!("label={TEST_LABEL}={}", env.run_id), "--filter", "label=dev.agentdock.role=proxy"]);
    docker_ok(&["network", "connect", &up.net, proxy.trim()]);
    std::fs::write(env.project_path(&a).join("ca.pem"), std::fs::read(up.dir.join("ca.pem")).unwrap()).unwrap();
    let (_, out, _) = agent_sh(&env, &a, "curl -s -m 10 --cacert /workspace/ca.pem https://model.test/v1/messages -H \"x-api-key: $ANTHROPIC_API_KEY\" -H 'content-type: application/json' -d '{\"model\":\"m\",\"max_tokens\":5,\"messages\":[]}'");
    assert!(out.contains("invalid x-api-key"), "{out}");
    assert!(up.log().iter().any(|l| l["unauthorized"] == true && l["x_api_key"].as_str().is_some_and(|k| k.starts_with("agentdock-cap-"))));

    // refused by the broker, nothing forwarded: no capability, a forged one, another
    // network's, a removed container's
    let forwarded = up.log().len();
    let post = |p: &str, key: &str| {
        let header = if key.is_empty() { String::new() } else { format!("-H 'x-api-key: {key}'") };
        let (_, out, _) = agent_sh(&env, p, &format!("curl -s -m 10 -w ' %{{http_code}}' http://agentdock-broker:8080/v1/messages {header} -H 'content-type: application/json' -d '{{\"model\":\"m\",\"max_tokens\":5,\"messages\":[]}}'"));
        out
    };
    let out = post(&a, "");
    assert!(out.ends_with(" 401") && out.contains("no capability"), "{out}");
    let out = post(&a, "agentdock-cap-0000000000000000000000000000000000000000000000000000000000000000");
    assert!(out.ends_with(" 401") && out.contains("not a capability agentdock issued"), "{out}");
    let a_token = agent_sh(&env, &a, "printf %s \"$ANTHROPIC_API_KEY\"").1;
    assert!(a_token.starts_with("agentdock-cap-"), "{a_token}");
    let out = post(&b, &a_token);
    assert!(out.ends_with(" 403") && out.contains("another network"), "a's capability used from b's network: {out}");
    env.ok(&["rm", "-y", &a]);
    let out = post(&b, &a_token);
    assert!(out.ends_with(" 401"), "a removed container's capability: {out}");
    assert_eq!(up.log().len(), forwarded, "a refused request was forwarded");
    let refused: Vec<String> = json(&env.ok(&["broker", "--json"]))["refused"].as_array().unwrap().iter().map(|r| r["why"].as_str().unwrap().to_string()).collect();
    assert_eq!(refused, ["no_capability", "unknown_capability", "wrong_network", "unknown_capability"]);
}

#[test]
fn upstream_errors_reach_the_cli_as_they_would_without_the_broker_and_a_cut_stream_is_metered() {
    images();
    let env = TestEnv::new("");
    let up = Upstream::new(&env, "[]");
    env.write_config(&broker_config(&env, ""));
    let p = env.project("faults");
    env.ok(&["up", &p]);
    let broker = connect_broker(&env, &up);
    let _guard = CredentialGuard(broker_name(&broker));
    let ca = up.dir.join("ca.pem");
    std::fs::write(env.project_path(&p).join("ca.pem"), std::fs::read(&ca).unwrap()).unwrap();
    let cli = "timeout 120 env CLAUDE_CODE_MAX_RETRIES=0 claude -p 'say hi'";
    for status in [401, 429, 529] {
        let script = format!(r#"[{{"status": {status}, "repeat": true, "headers": {{"x-should-retry": "false"}}}}]"#);
        // without the broker: the CLI in a container of its own with the real key
        up.start(&script);
        let mount = format!("{}:/ca.pem:ro", ca.display());
        let direct = Command::new("docker")
            .args(["run", "--rm", "--label", &format!("{TEST_LABEL}={}", env.run_id), "--network", &up.net, "-v", &mount])
            .args(["-e", "ANTHROPIC_BASE_URL=https://model.test", "-e", "NODE_EXTRA_CA_CERTS=/ca.pem", "-e", &format!("ANTHROPIC_API_KEY={REAL_KEY}")])
            .args(["--entrypoint", "bash", "agentdock/agent:latest", "-c", cli])
            .output()
            .unwrap();
        // through it
        up.start(&script);
        let (code, out, _) = agent_sh(&env, &p, cli);
        // the CLI names the host it talked to: the broker's, or the upstream's
        let through = out.trim().replace("agentdock-broker:8080", "model.test");
        assert_eq!((code, through.as_str()), (direct.status.code().unwrap_or(-1), stdout(&direct).trim()), "{status}: {}", stderr(&direct));
        assert!(out.contains(&status.to_string()) || status == 401, "{status}: {out}");
        let bodies: Vec<String> = up.main_requests().iter().map(|r| r["status"].to_string()).collect();
        assert!(bodies.iter().all(|s| *s == status.to_string()), "{bodies:?}");
    }
    // a stream cut half-way: the CLI retries and recovers; the cut one is recorded as far as it
    // went, not complete (its deltas come slowly, so its start is read before the cut: a reset
    // connection loses what was not read yet)
    up.start(r#"[{"close_mid_stream": true, "chunk_delay_ms": 300, "text": "this answer is long enough to be cut in the middle of its stream, twice over", "usage": {"input_tokens": 77, "output_tokens": 9}}, {"text": "recovered", "usage": {"input_tokens": 5, "output_tokens": 3}}]"#);
    let (code, out, err) = agent_sh(&env, &p, "timeout 120 claude -p 'say hi'");
    assert_eq!((code, out.trim()), (0, "recovered"), "{err}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(env.data_dir().join("broker/usage.jsonl")).unwrap().lines().map(json).collect();
    let cut = lines.iter().find(|l| l["input_tokens"] == 77).unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!((cut["complete"].as_bool(), cut["status"].as_u64()), (Some(false), Some(200)), "{cut}");
    let done = lines.iter().find(|l| l["input_tokens"] == 5).unwrap();
    assert_eq!((done["complete"].as_bool(), done["output_tokens"].as_u64()), (Some(true), Some(3)));
}

fn tasks_of(env: &TestEnv) -> Vec<serde_json::Value> {
    json(&env.ok(&["task", "ls", "--json"]))["tasks"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_budget_reached_mid_task_stops_it_and_the_record_matches_the_upstream_to_the_token() {
    images();
    let env = TestEnv::new("");
    let up = Upstream::new(
        &env,
        r#"[{"bash": "echo one > one.txt", "usage": {"input_tokens": 1200, "output_tokens": 300}}, {"text": "never reached", "usage": {"input_tokens": 1, "output_tokens": 1}}]"#,
    );
    // a model priced so that the first answer costs $1.50 (1200 × $1000/M + 300 × $1000/M)
    let prices = "[broker.prices.\"claude-budget-test\"]\ninput = 1000.0\noutput = 1000.0\ncache_write = 0.0\ncache_read = 0.0\n";
    env.write_config(&format!("{}{prices}[tasks]\nmodel = \"claude-budget-test\"\n", broker_config(&env, "")));
    let p = env.git_project("budget");
    // the task's container is on its own network: the broker is joined to the upstream's once
    // it exists (the first `up` makes it)
    env.ok(&["up", &p]);
    let broker = connect_broker(&env, &up);
    let _guard = CredentialGuard(broker_name(&broker));
    let out = env.run(&["task", "run", &p, "make one.txt", "--budget", "1"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(6), "{text}{}", stderr(&out));
    let t = &tasks_of(&env)[0];
    assert_eq!(t["state"], "budget_exceeded", "{t}");
    let id = t["spec"]["id"].as_str().unwrap();
    assert_eq!(t["reason"], format!("agentdock: budget of $1.00 for task {id} reached").as_str());
    // the agent's first step was done and committed; the second request never went out
    assert_eq!(up.main_requests().len(), 1, "{:?}", up.main_requests());
    let usage = json(&env.ok(&["usage", "--json"]));
    let mine = &usage["by_task"][id];
    assert_eq!((mine["requests"].as_u64(), mine["input_tokens"].as_u64(), mine["output_tokens"].as_u64()), (Some(1), Some(1200), Some(300)), "{usage}");
    assert!((mine["cost_usd"].as_f64().unwrap() - 1.5).abs() < 1e-9, "{mine}");
    assert_eq!(usage["by_model"]["claude-budget-test"]["requests"], 1);
    // task ls counts with the broker's figures
    let ls = json(&env.ok(&["task", "ls", "--json"]));
    assert!((ls["summary"]["cost_usd"].as_f64().unwrap() - 1.5).abs() < 1e-9 && ls["summary"]["budget_exceeded"] == 1, "{ls}");
}

#[test]
fn the_broker_killed_mid_stream_fails_that_request_and_the_next_works_once_agentdock_restarts_it() {
    images();
    let env = TestEnv::new("");
    let up = Upstream::new(
        &env,
        r#"[{"text": "a slow answer that takes a few seconds to stream and is cut when the broker dies", "chunk_delay_ms": 700, "usage": {"input_tokens": 40, "output_tokens": 20}}, {"text": "after the restart", "usage": {"input_tokens": 4, "output_tokens": 2}}]"#,
    );
    env.write_config(&broker_config(&env, ""));
    let p = env.git_project("killed");
    env.ok(&["up", &p]);
    let broker = connect_broker(&env, &up);
    let _guard = CredentialGuard(broker_name(&broker));
    let run = env.cmd(&["task", "run", &p, "answer slowly", "--json"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    // the first answer is streaming: the broker dies
    let streaming = wait_for(Duration::from_secs(60), || (!up.main_requests().is_empty()).then_some(()));
    assert!(streaming.is_some(), "no request reached the upstream");
    std::thread::sleep(Duration::from_millis(1500));
    docker_ok(&["kill", &broker]);
    // the task's own follower (`task run`) starts it again within the health interval
    let rec = run.wait_with_output().unwrap();
    let rec = json(&stdout(&rec));
    assert_eq!(inspect(&broker)["State"]["Status"], "running", "the broker was not started again");
    let reqs = up.main_requests();
    assert!(reqs.len() >= 2, "the cut request was not retried: {reqs:?}");
    // succeeded only with the whole answer of a request that was not cut
    assert_eq!(rec["state"], "succeeded", "{rec}");
    assert_eq!(rec["summary"]["final_text"], "after the restart", "{rec}");
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(env.data_dir().join("broker/usage.jsonl")).unwrap_or_default().lines().map(json).collect();
    assert!(lines.iter().any(|l| l["output_tokens"] == 2 && l["complete"] == true), "{lines:?}");
}

#[test]
fn the_dashboard_shows_the_brokers_tokens_and_cost_per_task_and_container() {
    images();
    let env = TestEnv::new("");
    let up = Upstream::new(
        &env,
        r#"[{"text": "task done", "usage": {"input_tokens": 100, "output_tokens": 10}}, {"text": "main done", "usage": {"input_tokens": 300, "output_tokens": 30}}]"#,
    );
    // priced so that the broker's figure cannot be the CLI's own estimate: $1.20 for the task
    let prices = "[broker.prices.\"claude-cost-test\"]\ninput = 10000.0\noutput = 20000.0\ncache_write = 0.0\ncache_read = 0.0\n";
    env.write_config(&format!("{}{prices}[tasks]\nmodel = \"claude-cost-test\"\n", broker_config(&env, "")));
    let p = env.git_project("cost");
    env.ok(&["up", &p]);
    let broker = connect_broker(&env, &up);
    let _guard = CredentialGuard(broker_name(&broker));
    let out = env.run(&["task", "run", &p, "do it"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let (code, out, err) = agent_sh(&env, &p, "timeout 120 claude -p 'and you' --model claude-cost-test");
    assert_eq!((code, out.trim()), (0, "main done"), "{err}");

    let t = Tmux::start(&env);
    t.literal(BIN);
    t.keys(&["Enter"]);
    t.wait_for("API 1.41", Duration::from_secs(10));
    // the broker is agentdock's own, listed under it
    let name = broker_name(&broker);
    t.wait_until(Duration::from_secs(10), "the broker's row", |s| s.contains(&format!("· {name}")));
    // the task's cost and tokens are the broker's: 100 × $10000/M + 10 × $20000/M
    t.keys(&["t"]);
    let s = t.wait_until(Duration::from_secs(20), "the task's cost", |s| s.lines().any(|l| l.contains("succeeded") && l.contains("$1.20")));
    let row = s.lines().find(|l| l.contains("succeeded")).unwrap();
    assert!(row.contains(" 110 "), "tokens: {row}");
    assert!(s.contains("110 tokens, $1.20"), "the fleet's figures are the broker's too: {s}");
    // the project's container: 300 × $10000/M + 30 × $20000/M = $3.60
    t.keys(&["t"]);
    t.keys(&["/"]);
    t.literal(&p);
    t.keys(&["Enter"]);
    t.keys(&["Enter"]);
    t.wait_until(Duration::from_secs(20), "the container's model line", |s| s.contains("330 tokens, $3.60 in 1 requests"));
    // Esc clears the filter (Esc and q in one read would be Alt-q: q once it is cleared)
    t.keys(&["Escape"]);
    t.wait_until(Duration::from_secs(10), "the filter cleared", |s| !s.contains("filter /"));
    t.keys(&["q"]);
    t.wait_for("READY$", Duration::from_secs(10));
}
