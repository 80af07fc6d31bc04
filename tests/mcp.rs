//! `agentdock mcp` with a real MCP client (the official Rust SDK's, over stdio) against the real
//! engine: tasks run by the real Claude Code CLI answered by the scripted model server
//! (tests/fixtures/), the file tools and exec in a real container that plays the hostile one,
//! `agentdock cp`, the guard rails, and the HTTP transport's token.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestEnv;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation, ProgressNotificationParam, ProgressToken,
    RequestMetaObject,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{json, Value};

/// The test image (agent image + model server), built once and shared.
fn test_image() {
    let status = Command::new("tests/fixtures/build-test-image.sh").arg("--if-missing").status().expect("build script");
    assert!(status.success(), "the test image could not be built");
}

/// An environment whose tasks run in the test image (no network: the model server is on the
/// container's loopback), the model answering `script`.
fn env_with(script: &str, mcp: &str) -> (TestEnv, String) {
    test_image();
    let mut env = TestEnv::new(&format!(
        "image = \"agentdock/agent-test:latest\"\nenv_passthrough = [\"MODEL_SCRIPT\"]\n[security]\nnetwork = \"none\"\n[mcp]\n{mcp}"
    ));
    env.extra_env.push(("MODEL_SCRIPT".into(), script.into()));
    env.extra_env.push(("ANTHROPIC_API_KEY".into(), "sk-test-not-a-real-key".into()));
    let p = env.git_project("mcp");
    (env, p)
}

/// The client's side: its name, and the progress notifications it got.
#[derive(Clone, Default)]
struct Client {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Client {
    async fn on_progress(&self, p: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push(p);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(ClientCapabilities::default(), Implementation::new("agentdock-test", "1.0"))
    }
}

type Session = RunningService<RoleClient, Client>;

/// `agentdock mcp` of `env`, with a client session on its stdio.
async fn connect(env: &TestEnv) -> (Session, Client) {
    let cmd = tokio::process::Command::from(env.cmd(&["mcp"]));
    let client = Client::default();
    let transport = TokioChildProcess::new(cmd).expect("start agentdock mcp");
    let session = client.clone().serve(transport).await.expect("MCP session");
    (session, client)
}

fn args(v: Value) -> rmcp::model::JsonObject {
    v.as_object().cloned().expect("arguments are an object")
}

async fn call(s: &Session, tool: &'static str, a: Value) -> CallToolResult {
    s.call_tool(CallToolRequestParams::new(tool).with_arguments(args(a))).await.unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// A tool's structured result, insisting it is not an error.
async fn ok(s: &Session, tool: &'static str, a: Value) -> Value {
    let r = call(s, tool, a.clone()).await;
    assert_ne!(r.is_error, Some(true), "{tool} {a} failed: {}", text(&r));
    r.structured_content.clone().unwrap_or_else(|| panic!("{tool}: no structured content: {}", text(&r)))
}

/// A tool's refusal text, insisting it is one.
async fn refused(s: &Session, tool: &'static str, a: Value) -> String {
    let r = call(s, tool, a.clone()).await;
    assert_eq!(r.is_error, Some(true), "{tool} {a} was not refused: {}", text(&r));
    text(&r)
}

fn text(r: &CallToolResult) -> String {
    r.content.iter().filter_map(|c| c.as_text().map(|t| t.text.clone())).collect::<Vec<_>>().join("\n")
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-c").arg("safe.directory=*").arg("-C").arg(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_starts_a_task_waits_on_it_and_collects_its_work() {
    let (env, p) = env_with(
        r#"[{"bash": "sleep 3; echo made-by-the-agent > made.txt; seq 1 400 > long.txt"}, {"text": "I made made.txt."}]"#,
        "",
    );
    let (s, client) = connect(&env).await;

    // the tools, each with a schema and a description
    let tools = s.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for want in ["projects_list", "task_run", "task_status", "task_wait", "task_result", "task_diff", "task_cancel", "exec", "file_read", "file_write", "file_list", "file_delete"] {
        let t = tools.iter().find(|t| t.name == want).unwrap_or_else(|| panic!("no tool {want} in {names:?}"));
        assert!(t.description.as_ref().is_some_and(|d| d.len() > 20), "{want} has no description");
        assert_eq!(t.input_schema.get("type").and_then(Value::as_str), Some("object"), "{want}");
    }
    let projects = ok(&s, "projects_list", json!({})).await;
    assert!(projects["projects"].as_array().unwrap().iter().any(|x| x["name"] == p), "{projects}");

    // bad calls: the server says what to fix and keeps serving
    let e = s.call_tool(CallToolRequestParams::new("task_launch").with_arguments(args(json!({})))).await.unwrap_err().to_string();
    assert!(e.contains("unknown tool 'task_launch'") && e.contains("task_run"), "{e}");
    let e = refused(&s, "task_run", json!({"project": p, "promt": "x"})).await;
    assert!(e.contains("unknown field `promt`") && e.contains("`prompt`"), "{e}");
    let e = refused(&s, "task_run", json!({"project": p, "prompt": 42})).await;
    assert!(e.contains("invalid type"), "{e}");
    let e = refused(&s, "task_run", json!({"project": "no-such-project", "prompt": "x"})).await;
    assert!(e.contains("no project 'no-such-project'") && e.contains(&p), "{e}");
    let e = refused(&s, "task_result", json!({"task": "20990101-000000"})).await;
    assert!(e.contains("no task"), "{e}");

    // task_run answers at once with the id; task_wait follows it with progress
    let started = ok(&s, "task_run", json!({"project": p, "prompt": "please make a file"})).await;
    let id = started["tasks"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(started["tasks"][0]["branch"], format!("agentdock/task-{id}"));
    let mut wait = CallToolRequestParams::new("task_wait").with_arguments(args(json!({"task": id, "timeout_secs": 120})));
    wait.meta = Some(RequestMetaObject::with_progress_token(ProgressToken(rmcp::model::NumberOrString::String("w1".into()))));
    let r = s.call_tool(wait).await.unwrap();
    let done = r.structured_content.clone().unwrap_or_else(|| panic!("{}", text(&r)));
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["done"], true);
    assert_eq!(done["final_text"], "I made made.txt.");
    assert_eq!(done["branch"], format!("agentdock/task-{id}"));
    assert_eq!(done["diffstat"]["files"], 2);
    assert_eq!(done["client"], "agentdock-test");
    assert!(done["tokens"].as_u64().unwrap() > 0, "{done}");
    let progress = client.progress.lock().unwrap().clone();
    assert!(!progress.is_empty(), "no progress notification while the task ran");
    // (the SDK's client puts a token of its own on each request)
    assert!(progress.iter().all(|p| p.progress_token == progress[0].progress_token), "{progress:?}");
    assert!(progress.iter().any(|p| p.message.as_deref().is_some_and(|m| m.starts_with("running") && m.contains("Bash(sleep 3"))), "{progress:?}");

    let result = ok(&s, "task_result", json!({"task": id})).await;
    assert_eq!(result["state"], "succeeded");
    let status = ok(&s, "task_status", json!({})).await;
    assert_eq!(status["tasks"][0]["id"], id.as_str(), "{status}");
    let diff = ok(&s, "task_diff", json!({"task": id})).await;
    assert!(diff["diff"].as_str().unwrap().contains("+made-by-the-agent"), "{diff}");
    assert_eq!(diff["truncated"], false);
    let cut = ok(&s, "task_diff", json!({"task": id, "max_bytes": 200})).await;
    assert_eq!(cut["truncated"], true, "{cut}");
    assert!(cut["diff"].as_str().unwrap().contains("[agentdock: diff cut at"), "{cut}");
    assert!(cut["total_bytes"].as_u64().unwrap() > 1000);

    // an ordinary task: the CLI lists it, marked with the client, its branch in the project
    let ls: Value = serde_json::from_str(&env.ok(&["task", "ls", "--json"])).unwrap();
    assert_eq!(ls["tasks"][0]["spec"]["client"], "agentdock-test", "{ls}");
    let path = env.project_path(&p);
    assert_eq!(git(&path, &["show", &format!("agentdock/task-{id}:made.txt")]), "made-by-the-agent\n");
    assert!(env.containers().is_empty(), "the task's container is still there");
    let cancel = ok(&s, "task_cancel", json!({"task": id})).await;
    assert_eq!(cancel["note"], "it had ended already");
    s.cancel().await.unwrap();
}

/// A container agentdock does not manage, for the refusals; removed when dropped.
struct Unmanaged(String);

impl Unmanaged {
    fn start(env: &TestEnv) -> Unmanaged {
        let name = format!("unmanaged-{}", env.run_id);
        let out = Command::new("docker")
            .args(["run", "-d", "--name", &name, "--label", &format!("{}={}", common::TEST_LABEL, env.run_id), "--network", "none"])
            .args(["agentdock/base:bookworm", "sleep", "600"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Unmanaged(name)
    }
}

impl Drop for Unmanaged {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_tools_round_trip_and_the_hostile_container_gets_nothing() {
    let (env, p) = env_with("[]", "max_file_bytes = 1000000");
    env.ok(&["up", &p]);
    let (s, _) = connect(&env).await;
    let t = json!(p);

    // a round trip: write, read, list, delete; binary as base64
    let w = ok(&s, "file_write", json!({"target": t, "path": "notes/hello.txt", "content": "héllo\nworld\n", "create_dirs": true})).await;
    assert_eq!(w["path"], "/workspace/notes/hello.txt");
    assert_eq!(w["size"], 13);
    // the project's directory on the host is the workspace
    assert_eq!(std::fs::read_to_string(env.project_path(&p).join("notes/hello.txt")).unwrap(), "héllo\nworld\n");
    let r = ok(&s, "file_read", json!({"target": t, "path": "/workspace/notes/hello.txt"})).await;
    assert_eq!((r["content"].as_str(), r["size"].as_u64(), r["truncated"].as_bool()), (Some("héllo\nworld\n"), Some(13), Some(false)));
    let part = ok(&s, "file_read", json!({"target": t, "path": "notes/hello.txt", "offset": 7, "max_bytes": 3})).await;
    assert_eq!(part["content"], "wor", "{part}");
    assert_eq!(part["truncated"], true);
    ok(&s, "file_write", json!({"target": t, "path": "bin.dat", "content": "AAH/gA==", "encoding": "base64"})).await;
    let b = ok(&s, "file_read", json!({"target": t, "path": "bin.dat", "encoding": "base64"})).await;
    assert_eq!(b["content"], "AAH/gA==");
    let l = ok(&s, "file_list", json!({"target": t, "path": "notes"})).await;
    assert_eq!(l["entries"][0]["path"], "hello.txt", "{l}");
    assert_eq!(l["entries"][0]["kind"], "file");
    assert_eq!(l["entries"][0]["size"], 13);
    ok(&s, "file_delete", json!({"target": t, "path": "notes/hello.txt"})).await;
    let l = ok(&s, "file_list", json!({"target": t, "path": "notes"})).await;
    assert_eq!(l["entries"].as_array().unwrap().len(), 0, "{l}");
    let e = refused(&s, "file_delete", json!({"target": t, "path": "notes"})).await;
    assert!(e.contains("is a directory") && e.contains("recursive"), "{e}");
    ok(&s, "file_delete", json!({"target": t, "path": "notes", "recursive": true})).await;

    // exec: argv as given, its exit code, output capped (the newest kept)
    let x = ok(&s, "exec", json!({"target": t, "argv": ["sh", "-c", "printf '%s' \"$1\"; echo err >&2; exit 7", "sh", "a b $(x)"]})).await;
    assert_eq!((x["exit_code"].as_i64(), x["stdout"].as_str(), x["stderr"].as_str()), (Some(7), Some("a b $(x)"), Some("err\n")), "{x}");
    let big = ok(&s, "exec", json!({"target": t, "argv": ["sh", "-c", "seq 1 100000"], "max_output_bytes": 1000})).await;
    assert_eq!(big["stdout"].as_str().unwrap().len(), 1000);
    assert!(big["stdout"].as_str().unwrap().ends_with("100000\n"));
    assert!(big["stdout_cut_bytes"].as_u64().unwrap() > 500_000);

    // the hostile container plants links and a huge file
    let plant = "ln -s /etc/shadow shadow-link; ln -s /etc etc-link; ln -s / root-link; mkdir -p sub; ln -s .. sub/up; \
                 head -c 50000000 /dev/zero > huge.bin; mkfifo fifo";
    ok(&s, "exec", json!({"target": t, "argv": ["sh", "-c", plant]})).await;
    for (path, says) in [
        ("shadow-link", "symbolic link"),
        ("root-link/etc/passwd", "symbolic link"),
        ("sub/up/README.md", "symbolic link"),
        ("/etc/shadow", "not readable"),
        ("../etc/passwd", "'..' is not allowed"),
        ("/proc/1/environ", "do not reach"),
        ("/run/agentdock/secrets/ANTHROPIC_API_KEY", "do not reach"),
        ("fifo", "not a regular file"),
        ("nope.txt", "does not exist"),
    ] {
        let e = refused(&s, "file_read", json!({"target": t, "path": path})).await;
        assert!(e.contains(says), "file_read {path}: {e}");
    }
    let huge = ok(&s, "file_read", json!({"target": t, "path": "huge.bin"})).await;
    assert_eq!((huge["size"].as_u64(), huge["bytes_read"].as_u64(), huge["truncated"].as_bool()), (Some(50_000_000), Some(262_144), Some(true)));
    let capped = ok(&s, "file_read", json!({"target": t, "path": "huge.bin", "max_bytes": 5_000_000})).await;
    assert_eq!(capped["bytes_read"], 1_000_000, "mcp.max_file_bytes caps what is asked");
    for (path, says) in [("etc-link/evil", "symbolic link"), ("shadow-link", "symbolic link"), ("a/../../etc/x", "'..'")] {
        let e = refused(&s, "file_write", json!({"target": t, "path": path, "content": "x", "create_dirs": true})).await;
        assert!(e.contains(says), "file_write {path}: {e}");
    }
    let e = refused(&s, "file_write", json!({"target": t, "path": "big.txt", "content": "x".repeat(1_000_001)})).await;
    assert!(e.contains("over mcp.max_file_bytes"), "{e}");
    for (path, says) in [("/workspace", "does not delete"), ("etc-link/hosts", "symbolic link"), ("/", "does not delete")] {
        let e = refused(&s, "file_delete", json!({"target": t, "path": path, "recursive": true})).await;
        assert!(e.contains(says), "file_delete {path}: {e}");
    }
    // a link goes itself, never what it points to
    ok(&s, "file_delete", json!({"target": t, "path": "etc-link"})).await;
    let hosts = ok(&s, "exec", json!({"target": t, "argv": ["cat", "/etc/hosts"]})).await;
    assert_eq!(hosts["exit_code"], 0);
    let l = ok(&s, "file_list", json!({"target": t})).await;
    let link = l["entries"].as_array().unwrap().iter().find(|e| e["path"] == "shadow-link").cloned().unwrap();
    assert_eq!((link["kind"].as_str(), link["target"].as_str()), (Some("link"), Some("/etc/shadow")));

    // only managed containers of allowed projects
    let other = Unmanaged::start(&env);
    let e = refused(&s, "exec", json!({"target": other.0, "argv": ["true"]})).await;
    assert!(e.contains("not a container agentdock manages"), "{e}");
    let e = refused(&s, "file_read", json!({"target": other.0, "path": "/etc/hostname"})).await;
    assert!(e.contains("not a container agentdock manages"), "{e}");
    let e = refused(&s, "exec", json!({"target": "nothing-of-that-name", "argv": ["true"]})).await;
    assert!(e.contains("no project, task or container"), "{e}");
    s.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cp_copies_both_ways_and_a_hostile_tree_lands_only_in_the_destination() {
    let (env, p) = env_with("[]", "");
    env.ok(&["up", &p]);
    let exec = |line: &str| env.ok(&["exec", &p, "--sh", line]);
    exec("mkdir -p tree/sub && echo one > tree/a.txt && echo two > tree/sub/b.txt && ln -s a.txt tree/in-link \
          && ln -s /etc/passwd tree/abs-link && ln -s ../../../../../../tmp tree/out-link && ln tree/a.txt tree/hard \
          && mkfifo tree/fifo && head -c 3000 /dev/zero > big.bin");
    let out = env.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let before: Vec<_> = std::fs::read_dir(env.dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    let o = env.run(&["cp", &format!("{p}:tree"), out.to_str().unwrap()]);
    let err = common::stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(std::fs::read_to_string(out.join("tree/a.txt")).unwrap(), "one\n");
    assert_eq!(std::fs::read_to_string(out.join("tree/sub/b.txt")).unwrap(), "two\n");
    assert_eq!(std::fs::read_link(out.join("tree/in-link")).unwrap().to_str(), Some("a.txt"));
    for gone in ["abs-link", "out-link", "fifo"] {
        assert!(std::fs::symlink_metadata(out.join("tree").join(gone)).is_err(), "{gone} was made");
        assert!(err.contains(&format!("tree/{gone}")), "{gone} not reported: {err}");
    }
    assert!(err.contains("copied 2 files"), "{err}");
    let after: Vec<_> = std::fs::read_dir(env.dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(before, after, "something was written beside the destination");
    // a device: the container's /dev/null is not made on the host
    let o = env.run(&["cp", &format!("{p}:/dev/null"), out.join("null").to_str().unwrap()]);
    assert!(common::stderr(&o).contains("a device"), "{}", common::stderr(&o));
    assert!(!out.join("null").exists());
    // caps
    let o = env.run(&["cp", &format!("{p}:big.bin"), out.join("big").to_str().unwrap(), "--max-size", "1000"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(common::stderr(&o).contains("over 1000 bytes"), "{}", common::stderr(&o));

    // into the container, as docker cp does: into a directory, or as a new name
    let src = env.dir.path().join("src");
    std::fs::create_dir_all(src.join("deep")).unwrap();
    std::fs::write(src.join("deep/c.txt"), "three\n").unwrap();
    env.ok(&["cp", src.to_str().unwrap(), &format!("{p}:/workspace/")]);
    assert_eq!(exec("cat /workspace/src/deep/c.txt"), "three\n");
    env.ok(&["cp", src.join("deep/c.txt").to_str().unwrap(), &format!("{p}:renamed.txt")]);
    assert_eq!(exec("cat renamed.txt"), "three\n");
    // the container's links are not written through
    exec("ln -s /etc /workspace/etc-link");
    let o = env.run(&["cp", src.join("deep/c.txt").to_str().unwrap(), &format!("{p}:etc-link/c.txt")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(common::stderr(&o).contains("symbolic link"), "{}", common::stderr(&o));
    let o = env.run(&["cp", "/etc/hostname", "/tmp/x"]);
    assert_eq!(o.status.code(), Some(2), "two host paths are a usage error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_rails_hold_and_a_task_outlives_its_client() {
    let (env, p) = env_with(r#"[{"bash": "sleep 4; echo slow > slow.txt"}, {"text": "slow done"}]"#, "max_tasks_per_client = 1");
    let other = env.git_project("closed");
    env.write_config(&format!(
        "image = \"agentdock/agent-test:latest\"\nenv_passthrough = [\"MODEL_SCRIPT\"]\n[security]\nnetwork = \"none\"\n[mcp]\nmax_tasks_per_client = 1\nallow_projects = [\"{p}\"]"
    ));
    let (s, _) = connect(&env).await;
    let e = refused(&s, "task_run", json!({"project": other, "prompt": "x"})).await;
    assert!(e.contains("not open to MCP clients") && e.contains(&p), "{e}");
    let listed = ok(&s, "projects_list", json!({})).await;
    assert_eq!(listed["projects"].as_array().unwrap().len(), 1, "{listed}");
    let e = refused(&s, "task_run", json!({"repo_url": "file:///etc", "prompt": "x"})).await;
    assert!(e.contains("https://"), "{e}");

    let started = ok(&s, "task_run", json!({"project": p, "prompt": "slow work"})).await;
    let id = started["tasks"][0]["id"].as_str().unwrap().to_string();
    let e = refused(&s, "task_run", json!({"project": p, "prompt": "more"})).await;
    assert!(e.contains("1 tasks under way") && e.contains("max_tasks_per_client"), "{e}");

    // the client goes away in the middle of a wait: the task goes on and ends
    let waiting = {
        let peer = s.peer().clone();
        let id = id.clone();
        tokio::spawn(async move { peer.call_tool(CallToolRequestParams::new("task_wait").with_arguments(args(json!({"task": id})))).await })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    s.cancel().await.unwrap();
    let _ = waiting.await;
    let state = common::wait_for(Duration::from_secs(90), || {
        let v: Value = serde_json::from_str(&env.ok(&["task", "ls", "--json"])).ok()?;
        let t = v["tasks"].as_array()?.iter().find(|t| t["spec"]["id"] == id.as_str())?.clone();
        (t["state"] != "running").then_some(t)
    })
    .expect("the task did not end without its client");
    assert_eq!(state["state"], "succeeded", "{state}");
    let path = env.project_path(&p);
    assert_eq!(git(&path, &["show", &format!("agentdock/task-{id}:slow.txt")]), "slow\n");

    // inside an agent container: refused unless nested, and then only so deep
    let o = env.cmd(&["mcp"]).env("AGENTDOCK_NETWORK", "none").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(common::stderr(&o).contains("mcp.nested"), "{}", common::stderr(&o));
    env.write_config("[mcp]\nnested = true\nmax_depth = 1");
    let o = env.cmd(&["mcp"]).env("AGENTDOCK_NETWORK", "none").env("AGENTDOCK_DEPTH", "2").output().unwrap();
    assert!(common::stderr(&o).contains("max_depth"), "{}", common::stderr(&o));
    let mut nested = tokio::process::Command::from(env.cmd(&["mcp"]));
    nested.env("AGENTDOCK_NETWORK", "none").env("AGENTDOCK_DEPTH", "1");
    let s = Client::default().serve(TokioChildProcess::new(nested).unwrap()).await.expect("a nested server serves");
    ok(&s, "projects_list", json!({})).await;
    s.cancel().await.unwrap();
}

/// One HTTP/1.1 request to 127.0.0.1:`port`: the status line and the body.
fn http(port: u16, token: Option<&str>, body: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(
        c,
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    let status = out.lines().next().unwrap_or("").to_string();
    (status, out)
}

#[test]
fn http_needs_the_bearer_token() {
    let env = TestEnv::new("");
    let token = "0123456789abcdef0123456789abcdef";
    let mut child = env.cmd(&["mcp", "--http"]).env("AGENTDOCK_MCP_TOKEN", token).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(!line.contains(token), "the token was printed: {line}");
    let port: u16 = line.split("127.0.0.1:").nth(1).and_then(|r| r.split('/').next()).and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{line}"));
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"0"}}}"#;
    let (status, _) = http(port, None, init);
    assert!(status.contains("401"), "{status}");
    let (status, _) = http(port, Some("wrong-token-wrong-token-wrong-tok"), init);
    assert!(status.contains("401"), "{status}");
    let (status, body) = http(port, Some(token), init);
    let _ = child.kill();
    let _ = child.wait();
    assert!(status.contains("200"), "{status}\n{body}");
    assert!(body.contains("\"agentdock\""), "{body}");
}

/// `n` task_run calls made at once; each one's answer.
async fn at_once(s: &Session, p: &str, n: usize) -> Vec<CallToolResult> {
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let peer = s.peer().clone();
            let a = args(json!({"project": p, "prompt": format!("attempt {i}")}));
            tokio::spawn(async move { peer.call_tool(CallToolRequestParams::new("task_run").with_arguments(a)).await })
        })
        .collect();
    let mut out = Vec::new();
    for c in calls {
        out.push(c.await.unwrap().expect("every call is answered"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_task_runs_at_once_all_come_back_and_max_parallel_holds() {
    let (env, p) = env_with(
        r#"[{"text": "ok"}]"#,
        "max_tasks_per_client = 20\n[tasks]\nmax_parallel = 3",
    );
    let (s, _) = connect(&env).await;
    let answers = at_once(&s, &p, 20).await;
    let mut ids: Vec<String> = answers
        .iter()
        .map(|r| {
            assert_ne!(r.is_error, Some(true), "{}", text(r));
            r.structured_content.as_ref().unwrap()["tasks"][0]["id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "every call gets an id of its own");
    // never more than tasks.max_parallel task containers running, sampled until all ended
    // (every 2 s: the look itself costs the machine a process and the engine some calls)
    let mut most = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    let all_done = loop {
        let running = common::docker(&["ps", "-q", "--filter", &format!("label={}={}", common::TEST_LABEL, env.run_id), "--filter", "label=dev.agentdock.role=task"]);
        most = most.max(running.lines().filter(|l| !l.trim().is_empty()).count());
        let v: Value = serde_json::from_str(&env.ok(&["task", "ls", "--json"])).unwrap();
        let tasks = v["tasks"].as_array().cloned().unwrap_or_default();
        if tasks.len() == 20 && tasks.iter().all(|t| t["collected"] == true) {
            break tasks;
        }
        assert!(std::time::Instant::now() < deadline, "the 20 tasks did not all end: {}", env.ok(&["task", "ls"]));
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    println!("at most {most} task containers running at once");
    assert!(most <= 3, "{most} task containers ran at once (tasks.max_parallel = 3)");
    assert!(all_done.iter().all(|t| t["state"] == "succeeded"), "{all_done:?}");
    s.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_made_at_once_cannot_pass_the_clients_cap() {
    let (env, p) = env_with(r#"[{"bash": "sleep 30", "repeat": true}]"#, "max_tasks_per_client = 3\n[tasks]\nmax_parallel = 3");
    let (s, _) = connect(&env).await;
    let answers = at_once(&s, &p, 8).await;
    let ids: Vec<String> = answers
        .iter()
        .filter(|r| r.is_error != Some(true))
        .map(|r| r.structured_content.as_ref().unwrap()["tasks"][0]["id"].as_str().unwrap().to_string())
        .collect();
    let refusals: Vec<String> = answers.iter().filter(|r| r.is_error == Some(true)).map(text).collect();
    assert_eq!(ids.len(), 3, "started: {ids:?}; refused: {refusals:?}");
    assert!(refusals.iter().all(|r| r.contains("max_tasks_per_client is 3")), "{refusals:?}");
    // cancelled once their agents are at work (the runner in the container handles the signal)
    for id in &ids {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while ok(&s, "task_status", json!({"task": id})).await["turns"].as_u64().unwrap_or(0) == 0 {
            assert!(std::time::Instant::now() < deadline, "task {id} never got to work");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    for id in &ids {
        let r = ok(&s, "task_cancel", json!({"task": id})).await;
        assert_eq!(r["state"], "cancelled", "{r}");
    }
    s.cancel().await.unwrap();
}

/// The scripted model server with one addition, for an agent that orchestrates: `$TASK_ID` in a
/// step's input becomes the task id seen in the newest tool result (the id task_run returned).
/// Written at run time next to the test image's own server, which it imports unchanged.
const ORCHESTRATOR_MODEL: &str = r#"
import json, re, sys
sys.path.insert(0, "/opt/agentdock-test")
import model_server as ms
seen = {"id": None}
plain_messages = ms.Handler._messages
def messages(self, body, entry):
    for m in body.get("messages") or []:
        c = m.get("content")
        if isinstance(c, list):
            for b in c:
                if isinstance(b, dict) and b.get("type") == "tool_result":
                    ids = re.findall(r"\d{8}-[0-9a-f]{6}", ms.tool_result_text(b))
                    if ids:
                        seen["id"] = ids[0]
    return plain_messages(self, body, entry)
ms.Handler._messages = messages
plain_blocks = ms.build_blocks
ms.build_blocks = lambda step: plain_blocks(json.loads(json.dumps(step).replace("$TASK_ID", seen["id"] or "none")))
sys.exit(ms.main())
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port()
}

#[test]
fn claude_code_as_the_client_fans_a_task_out_and_collects_it() {
    // the nested task: its own container, the model answering this script
    let (env, p) = env_with(r#"[{"bash": "echo nested > nested.txt"}, {"text": "nested done"}]"#, "");
    let token = "feedfacefeedfacefeedfacefeedface";
    let mut server = env.cmd(&["mcp", "--http"]).env("AGENTDOCK_MCP_TOKEN", token).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut err = std::io::BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    let port: u16 = line.split("127.0.0.1:").nth(1).and_then(|r| r.split('/').next()).and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{line}"));

    // the orchestrating agent: the real Claude Code CLI in a container on the host's network
    // (so it reaches 127.0.0.1:port), its own scripted model server on another loopback port
    let cfg = env.dir.path().join("orchestrator");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("model.py"), ORCHESTRATOR_MODEL).unwrap();
    let mcp = json!({"mcpServers": {"agentdock": {"type": "http", "url": format!("http://127.0.0.1:{port}/mcp"),
        "headers": {"Authorization": format!("Bearer {token}")}}}});
    std::fs::write(cfg.join("mcp.json"), mcp.to_string()).unwrap();
    let script = json!([
        {"tool": "mcp__agentdock__task_run", "input": {"project": p, "prompt": "make nested.txt"}},
        {"tool": "mcp__agentdock__task_wait", "input": {"task": "$TASK_ID", "timeout_secs": 120}},
        {"tool": "mcp__agentdock__task_result", "input": {"task": "$TASK_ID"}},
        {"text": "orchestrated"}
    ]);
    let _ = Command::new("chmod").args(["-R", "a+rwX"]).arg(&cfg).status();
    let model_port = free_port();
    let run = "python3 /cfg/model.py >/cfg/model.log 2>&1 & \
               for i in $(seq 50); do grep -q listening /cfg/model.log 2>/dev/null && break; sleep 0.1; done; \
               cd /tmp && claude -p 'fan out' --mcp-config /cfg/mcp.json --strict-mcp-config \
               --output-format stream-json --verbose --permission-mode bypassPermissions";
    let out = Command::new("docker")
        .args(["run", "--rm", "--network", "host", "--label", &format!("{}={}", common::TEST_LABEL, env.run_id)])
        .args(["-v", &format!("{}:/cfg", cfg.display()), "--entrypoint", "bash"])
        .args(["-e", &format!("MODEL_SCRIPT={script}"), "-e", &format!("MODEL_PORT={model_port}"), "-e", "MODEL_LOG=/cfg/requests.jsonl"])
        .args(["-e", &format!("ANTHROPIC_BASE_URL=http://127.0.0.1:{model_port}"), "-e", "ANTHROPIC_API_KEY=sk-test-not-a-real-key"])
        .args(["-e", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "agentdock/agent-test:latest", "-c", run])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stream = String::from_utf8_lossy(&out.stdout);
    let requests = std::fs::read_to_string(cfg.join("requests.jsonl")).unwrap_or_default();
    let said = format!("{stream}\n{}\nmodel requests:\n{requests}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    let result = stream.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|v| v["type"] == "result").unwrap_or_else(|| panic!("{said}"));
    assert_eq!(result["result"], "orchestrated", "{said}");

    // what the agentdock tools told it, as the model saw them
    let results: Vec<String> = requests
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .flat_map(|v| v["tool_results"].as_array().cloned().unwrap_or_default())
        .map(|r| r["content"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(results.len(), 3, "{said}");
    let id = results[0].split("\"id\":\"").nth(1).and_then(|r| r.get(..15)).unwrap_or_else(|| panic!("{said}")).to_string();
    assert!(results[1].contains("\"state\":\"succeeded\""), "{said}");
    assert!(results[2].contains("nested done") && results[2].contains("\"client\":\"claude-code\""), "{said}");

    // the nested task ran in a container of its own and its branch is in the project
    let ls: Value = serde_json::from_str(&env.ok(&["task", "ls", "--json"])).unwrap();
    assert_eq!(ls["tasks"][0]["spec"]["id"], id.as_str());
    assert_eq!(ls["tasks"][0]["spec"]["container"], format!("agentdock-task-{id}"));
    assert_eq!(git(&env.project_path(&p), &["show", &format!("agentdock/task-{id}:nested.txt")]), "nested\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_clients_connected_and_marks_their_tasks() {
    let (env, p) = env_with(r#"[{"bash": "sleep 30", "repeat": true}]"#, "");
    let (s, _) = connect(&env).await;
    let started = ok(&s, "task_run", json!({"project": p, "prompt": "work"})).await;
    let id = started["tasks"][0]["id"].as_str().unwrap().to_string();
    let t = common::Tmux::start(&env);
    t.literal(common::BIN);
    t.keys(&["Enter"]);
    let screen = t.wait_for("MCP: agentdock-test", Duration::from_secs(15));
    println!("{screen}");
    t.keys(&["t"]);
    let screen = t.wait_until(Duration::from_secs(15), "the task marked with its client", |s| s.contains(&id) && s.contains("⇠agentdock-test"));
    println!("{screen}");
    assert!(screen.lines().next().unwrap_or("").contains("MCP: agentdock-test"), "{screen}");
    ok(&s, "task_cancel", json!({"task": id})).await;
    s.cancel().await.unwrap();
    t.wait_until(Duration::from_secs(10), "the client gone from the screen", |s| !s.contains("MCP: agentdock-test"));
    t.keys(&["q"]);
}
