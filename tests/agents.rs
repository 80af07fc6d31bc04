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

/// The test image (agent image + model server), built once and shared. The agent image is
/// `.ci/run`'s to build (these tests need nothing new of it).
fn test_image() {
    let status = Command::new("tests/fixtures/build-test-image.sh").args(["--if-missing", "--no-base-build"]).status().expect("build script");
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

/// Types `text` into the agent's session and submits it (as a person at the pane would).
fn type_prompt(env: &TestEnv, p: &str, text: &str) {
    env.ok(&["exec", p, "--", "tmux", "send-keys", "-t", "claude", "-l", text]);
    std::thread::sleep(Duration::from_millis(300));
    env.ok(&["exec", p, "--", "tmux", "send-keys", "-t", "claude", "Enter"]);
}

/// Waits until the agent's session is at its prompt (the runner started it, its hooks spoke).
fn wait_ready(t: &Tmux, p: &str) {
    t.wait_until(Duration::from_secs(40), "the agent", |s| ["started", "idle", "working"].iter().any(|w| row_of(s, p).contains(w)));
    // the CLI takes a moment after its start to read keys
    std::thread::sleep(Duration::from_secs(3));
}

#[test]
fn tokens_and_cost_are_what_the_model_server_reported() {
    let script = r#"[{"text": "First answer.", "usage": {"input_tokens": 1234, "output_tokens": 56}},
                     {"text": "Second answer.", "usage": {"input_tokens": 2345, "output_tokens": 78}}]"#;
    let env = env_with(script, "");
    let p = env.project("usage");
    env.ok(&["up", &p]);
    let t = Tmux::start(&env);
    start_dashboard(&t, &p);
    wait_ready(&t, &p);
    type_prompt(&env, &p, "first question");
    t.wait_until(Duration::from_secs(30), "the first answer", |s| row_of(s, &p).contains("idle") && row_of(s, &p).contains("› first"));
    type_prompt(&env, &p, "second question");
    // the list: the cost today at the model's price (Opus 5.5: $4 in, $20 out per million)
    let (input, output) = (1234 + 2345, 56 + 78);
    let cost = (input as f64 * 4.0 + output as f64 * 20.0) / 1e6;
    t.wait_until(Duration::from_secs(30), "the second answer", |s| {
        let row = row_of(s, &p);
        row.contains("idle") && row.contains("› second") && row.contains(&format!("${cost:.2}"))
    });
    // the detail: the exact figures and the last turns
    t.keys(&["Enter"]);
    let s = t.wait_for("tokens (in", Duration::from_secs(5));
    assert!(s.contains(&format!("{} tokens (in {input}, out {output}, cache 0 read / 0 written), ${cost:.4}", input + output)), "{s}");
    assert!(s.contains("2 turns") && s.contains("● Second answer.") && s.contains("› second question"), "{s}");
    t.keys(&["q"]);
}

#[test]
fn a_transcript_that_is_a_fifo_a_link_or_an_endless_line_is_unreadable_and_the_dashboard_answers() {
    let env = env_with("[]", "");
    let p = env.project("hostile");
    env.ok(&["up", &p]);
    let agent_dir = env.data_dir().join("agents").join(&p);
    // the session's transcript path, as its SessionStart hook recorded it
    let rel = wait_for(Duration::from_secs(40), || {
        let text = std::fs::read_to_string(agent_dir.join("agentdock/session")).ok()?;
        let path = text.split("\"transcript_path\":\"").nth(1)?.split('"').next()?.to_string();
        Some(path.split("/.claude/").nth(1)?.to_string())
    })
    .expect("no session recorded");
    let transcript = agent_dir.join(&rel);
    std::fs::create_dir_all(transcript.parent().unwrap()).unwrap();
    let t = Tmux::start(&env);
    start_dashboard(&t, &p);
    wait_ready(&t, &p);
    let plants: [(&str, &dyn Fn()); 3] = [
        ("a FIFO", &|| {
            Command::new("mkfifo").arg(&transcript).status().unwrap();
        }),
        ("a symbolic link", &|| std::os::unix::fs::symlink("/dev/zero", &transcript).unwrap()),
        ("a line over 8 MiB", &|| {
            // 1 GiB with no newline (sparse)
            std::fs::File::create(&transcript).unwrap().set_len(1 << 30).unwrap();
        }),
    ];
    // the detail open: it says why in full (the row as far as its DOING column goes)
    t.keys(&["Enter"]);
    for (why, plant) in plants {
        let _ = std::fs::remove_file(&transcript);
        plant();
        let start: String = why.chars().take(10).collect();
        let s = t.wait_until(Duration::from_secs(10), why, |s| row_of(s, &p).contains(&format!("transcript unreadable: {start}")));
        assert!(s.contains(&format!("· transcript unreadable: {why}")), "{s}");
        // the dashboard still answers at once
        t.keys(&["?"]);
        t.wait_for("keys (remap", Duration::from_secs(3));
        t.keys(&["Escape"]);
        std::thread::sleep(Duration::from_millis(300));
    }
    let _ = std::fs::remove_file(&transcript);
    t.keys(&["q"]);
    t.wait_for("READY$", Duration::from_secs(10));
}
