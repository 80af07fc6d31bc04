//! Interactive agents with the real Claude Code CLI in the project's container, talking to the
//! scripted model server (tests/fixtures/model_server.py) on the container's own loopback:
//! onboarding, what the list shows of each agent, and answering it from the list.

mod common;
use common::*;
use std::process::Command;
use std::time::Duration;

fn row_of<'a>(screen: &'a str, name: &str) -> &'a str {
    let start = format!("┃{name}");
    screen.lines().find(|l| l.starts_with(&start)).unwrap_or("")
}

/// The test image (agent image + model server), built once and shared.
fn test_image() {
    let status = Command::new("tests/fixtures/build-test-image.sh").arg("--if-missing").status().expect("build script");
    assert!(status.success(), "the test image could not be built");
}

/// Where the model server logs the requests of project `p`'s agent: a file in its agent config
/// dir (mounted from the host).
fn model_log(env: &TestEnv, p: &str) -> std::path::PathBuf {
    env.data_dir().join("agents").join(p).join("model-requests.jsonl")
}

/// An environment whose project containers run the test image, the model answering `script`,
/// with an API key in the environment; `config` is added to the config.
fn env_with(script: &str, config: &str) -> TestEnv {
    test_image();
    let mut env = TestEnv::new(&format!(
        "image = \"agentdock/agent-test:latest\"\nenv_passthrough = [\"MODEL_SCRIPT\", \"MODEL_LOG\"]\n{config}"
    ));
    env.extra_env.push(("MODEL_SCRIPT".into(), script.into()));
    env.extra_env.push(("MODEL_LOG".into(), "/home/agent/.claude/model-requests.jsonl".into()));
    env.extra_env.push(("ANTHROPIC_API_KEY".into(), "sk-ant-api03-not-a-real-key-0123456789abcdef".into()));
    env
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
fn a_fresh_projects_agent_starts_at_its_prompt_with_no_first_run_dialog() {
    let env = env_with("[]", "");
    let p = env.project("onboard");
    env.ok(&["up", &p]);
    // what the CLI records of the answers is in the agent's own config, the rest kept
    let claude: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.data_dir().join("agents").join(&p).join(".claude.json")).unwrap()).unwrap();
    assert_eq!(claude["hasCompletedOnboarding"], true);
    assert_eq!(claude["projects"]["/workspace"]["hasTrustDialogAccepted"], true);
    assert_eq!(claude["customApiKeyResponses"]["approved"][0], "key-0123456789abcdef");
    let t = Tmux::start(&env);
    start_dashboard(&t, &p);
    // the entrypoint made the session (the runner said it started the agent)
    t.wait_until(Duration::from_secs(30), "the agent", |s| ["started", "idle", "working"].iter().any(|w| row_of(s, &p).contains(w)));
    t.keys(&["a"]);
    // the prompt line: "❯" alone (a dialog's choices read "❯ 1. Yes")
    let s = t.wait_until(Duration::from_secs(30), "the ready prompt", |s| s.contains("Claude Code v") && s.lines().any(|l| l.trim() == "❯"));
    for dialog in ["Detected a custom API key", "Do you trust", "trust this folder", "Select login method", "Choose the text style", "Not logged in", "Unable to connect"] {
        assert!(!s.contains(dialog), "{dialog}:\n{s}");
    }
    t.keys(&["C-]"]);
    t.wait_for("┏ projects", Duration::from_secs(5));
    t.keys(&["q"]);
    t.wait_for("READY$", Duration::from_secs(10));
}
