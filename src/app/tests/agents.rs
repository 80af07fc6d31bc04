//! Agents in the list: each state with what it does, costs and needs; the keys that steer the
//! selected one (p, y, n, Esc, +, x) and the commands they give; the notifications per kind.

use super::*;
use crate::domain::agent::{AgentInfo, AgentStatus};
use crate::domain::pricing::Tokens;
use crate::domain::steer::{AgentKey, AgentTarget};
use crate::domain::task::ToolCall;
use crate::domain::transcript::{ApiError, Phase, Summary, DAY};

fn summary(phase: Phase, prompt: &str, turns: u64, tokens: u64, cost: f64, pending: Option<&str>) -> Summary {
    Summary {
        model: Some("claude-opus-5-5".into()),
        turns,
        last_prompt: Some(prompt.into()),
        pending: pending.map(|c| ("t1".to_string(), ToolCall { name: "Bash".into(), input: c.into() }, NOW - 20)),
        phase,
        day: NOW.div_euclid(DAY),
        tokens: Tokens { input: tokens * 9 / 10, output: tokens / 10, ..Default::default() },
        cost,
        context: Some((tokens * 9 / 10, 1_000_000)),
        lines: 10,
        recent: ["› ".to_string() + prompt, "● On it.".into()].into_iter().collect(),
        ..Default::default()
    }
}

fn info(s: Summary) -> Box<AgentInfo> {
    Box::new(AgentInfo { summary: Some(s), ..Default::default() })
}

/// Seven projects, one agent in each state (and a second agent beside the first).
fn agents_app() -> App {
    let names = ["api", "auth", "broken", "docs", "ml", "web", "www"];
    let mut app = app_with(&names);
    connected(&mut app);
    app.on_engine(EngineEvent::Containers(names.iter().map(|n| container(n, ContainerState::Running, Health::Healthy, 7200)).collect()));
    let id = |n: &str| format!("{n}000000000000000000");
    let events = [
        ("api", AgentStatus::Working { since: NOW - 95 }, Some(summary(Phase::Working { since: NOW - 400 }, "make the tests pass", 7, 184_000, 1.92, Some("npm test")))),
        ("web", AgentStatus::Waiting { since: NOW - 42 }, Some(summary(Phase::Working { since: NOW - 60 }, "deploy to staging", 3, 52_000, 0.61, Some("rm -rf build/")))),
        ("docs", AgentStatus::Idle { since: NOW - 600 }, Some(summary(Phase::Idle { since: NOW - 600 }, "fix the typos in the README", 2, 8_300, 0.04, None))),
        ("ml", AgentStatus::Input { since: NOW - 130 }, Some(summary(Phase::Working { since: NOW - 200 }, "pick a learning rate", 4, 21_000, 0.22, None))),
        ("www", AgentStatus::NotRunning { exit_code: Some(137), at: NOW - 300 }, None),
        ("auth", AgentStatus::Idle { since: NOW - 5 }, None),
        ("broken", AgentStatus::Idle { since: NOW - 50 }, None),
    ];
    for (n, status, s) in events {
        app.on_engine(EngineEvent::Agent { container: id(n), status });
        if let Some(s) = s {
            app.on_engine(EngineEvent::AgentInfo { container: id(n), extra: None, info: info(s) });
        }
    }
    let mut refused = summary(Phase::Idle { since: NOW - 5 }, "hello", 1, 0, 0.0, None);
    refused.error = Some(ApiError { at: NOW - 5, status: Some(401), auth: true, message: "Please run /login · API Error: 401".into() });
    app.on_engine(EngineEvent::AgentInfo { container: id("auth"), extra: None, info: info(refused) });
    let unreadable = AgentInfo { unreadable: Some("a FIFO".into()), ..Default::default() };
    app.on_engine(EngineEvent::AgentInfo { container: id("broken"), extra: None, info: Box::new(unreadable) });
    // a second agent beside api's
    let second = AgentInfo {
        status: Some(AgentStatus::Working { since: NOW - 12 }),
        ..*info(summary(Phase::Working { since: NOW - 12 }, "write the changelog", 1, 3_000, 0.01, Some("git log --oneline")))
    };
    app.on_engine(EngineEvent::AgentInfo { container: id("api"), extra: Some("claude-2".into()), info: Box::new(second) });
    let git = |branch: &str, ahead: u64, changed: u64| {
        crate::domain::gitstate::GitRead::State(crate::domain::gitstate::GitState { branch: Some(branch.into()), ahead, changed, ..Default::default() })
    };
    app.on_engine(EngineEvent::Git(vec![
        ("api".into(), git("main", 0, 4)),
        ("docs".into(), git("typos", 1, 0)),
        ("web".into(), git("deploy", 2, 1)),
        ("ml".into(), git("lr-sweep", 0, 7)),
    ]));
    let cpu = [("api", 87.5), ("auth", 0.3), ("broken", 1.2), ("docs", 0.4), ("ml", 12.0), ("web", 2.5), ("www", 0.1)];
    app.on_engine(EngineEvent::Stats(cpu.iter().map(|(n, c)| (id(n), sample(*c, 900 << 20, 8 << 30))).collect()));
    app.take_commands();
    app
}

fn row<'a>(screen: &'a str, name: &str) -> &'a str {
    screen.lines().find(|l| l.contains(&format!("┃{name} "))).unwrap_or("")
}

#[test]
fn every_state_with_what_it_does_and_costs() {
    let mut app = agents_app();
    let s = screen(&mut app, 160, 14);
    insta::assert_snapshot!(s);
    assert!(row(&s, "web").contains("waiting 42s") && row(&s, "web").contains("allow Bash(rm -rf build/)? y / n"), "{s}");
    assert!(row(&s, "api").contains("working 1m") && row(&s, "api").contains("Bash(npm test)") && row(&s, "api").contains("$1.92"), "{s}");
    assert!(s.contains("  ├ claude-2"), "{s}");
    assert!(row(&s, "auth").contains("auth") && row(&s, "auth").contains("the API key or login was refused"), "{s}");
    assert!(row(&s, "broken").contains("transcript unreadable: a FIFO"), "{s}");
    assert!(row(&s, "www").contains("exited 137"), "{s}");
    assert!(row(&s, "ml").contains("input 2m"), "{s}");
    // 80 columns: the state and the cost stay
    let s = screen(&mut app, 80, 14);
    insta::assert_snapshot!(s);
    assert!(row(&s, "web").contains("waiting 42s") && row(&s, "api").contains("$1.92"), "{s}");
    assert!(row(&s, "broken").contains("unreadable"), "{s}");
}

fn select(app: &mut App, name: &str) {
    app.on_key(key(':'));
    type_text(app, name);
    app.on_key(code(KeyCode::Enter));
    app.take_commands();
}

fn target(name: &str, extra: Option<&str>) -> AgentTarget {
    AgentTarget {
        container: format!("{name}000000000000000000"),
        container_name: format!("agentdock-{name}"),
        session: extra.unwrap_or("claude").into(),
        extra: extra.map(Into::into),
    }
}

#[test]
fn p_sends_a_multi_line_prompt_to_the_selected_agent() {
    let mut app = agents_app();
    select(&mut app, "docs");
    app.on_key(key('p'));
    assert_eq!(app.mode, Mode::Prompt);
    type_text(&mut app, "first 'line'");
    app.on_key(code(KeyCode::Enter));
    app.on_paste("second $(line)\u{1b}[201~\r\n");
    let s = screen(&mut app, 120, 30);
    assert!(s.contains("prompt for claude in agentdock-docs"), "{s}");
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    let want = Steer::Prompt { target: target("docs", None), text: "first 'line'\nsecond $(line)[201~\n".into() };
    assert_eq!(app.take_commands(), [Command::Steer(want)]);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn y_and_n_answer_only_an_agent_that_waits_and_esc_interrupts_after_a_confirm() {
    let mut app = agents_app();
    select(&mut app, "web");
    app.on_key(key('y'));
    assert_eq!(app.take_commands(), [Command::Steer(Steer::Key { target: target("web", None), key: AgentKey::Allow })]);
    app.on_key(key('n'));
    assert_eq!(app.take_commands(), [Command::Steer(Steer::Key { target: target("web", None), key: AgentKey::Deny })]);
    // an idle agent: y says why not, n is the output's search again
    select(&mut app, "docs");
    app.on_key(key('y'));
    assert!(app.take_commands().is_empty());
    assert!(app.message.as_deref().unwrap().contains("is not waiting for a permission"));
    app.on_key(key('n'));
    assert!(app.take_commands().is_empty());
    // Esc on a working agent asks; y interrupts
    select(&mut app, "api");
    app.on_key(code(KeyCode::Esc));
    assert!(matches!(app.mode, Mode::Confirm(Confirm::Interrupt { .. })));
    app.on_key(key('y'));
    assert_eq!(app.take_commands(), [Command::Steer(Steer::Key { target: target("api", None), key: AgentKey::Interrupt })]);
}

#[test]
fn plus_starts_another_agent_and_x_ends_it() {
    let mut app = agents_app();
    select(&mut app, "api");
    app.on_key(key('+'));
    let cmds = app.take_commands();
    assert!(
        matches!(&cmds[..], [Command::Steer(Steer::NewAgent { name, .. })] if name == "claude-3"),
        "claude-2 is taken: {cmds:?}"
    );
    // x on the main agent says how it stops; on claude-2's row it asks, then ends it
    app.on_key(key('x'));
    assert!(app.take_commands().is_empty());
    app.on_key(key('j'));
    assert!(matches!(app.list.selected_row(), Some(Row::Agent { name, .. }) if name == "claude-2"));
    app.on_key(key('x'));
    assert!(matches!(app.mode, Mode::Confirm(Confirm::StopAgent { .. })));
    app.on_key(key('y'));
    assert_eq!(app.take_commands(), [Command::Steer(Steer::Stop { target: target("api", Some("claude-2")) })]);
    // a on its row attaches to its session
    app.on_key(key('a'));
    assert!(matches!(&app.take_commands()[..], [Command::Attach { session: Some(s), .. }] if s == "claude-2"));
    app.on_engine(EngineEvent::AgentGone { container: "api000000000000000000".into(), extra: "claude-2".into() });
    assert!(!app.list.rows.iter().any(|r| matches!(r, Row::Agent { .. })));
}

#[test]
fn notifications_ring_per_kind_and_only_when_asked() {
    let notified = |app: &mut App| -> Vec<String> {
        app.take_commands().into_iter().filter_map(|c| if let Command::Notify { text, desktop: true } = c { Some(text) } else { None }).collect()
    };
    let id = "api000000000000000000".to_string();
    let mut app = agents_app();
    app.on_engine(EngineEvent::Agent { container: id.clone(), status: AgentStatus::Waiting { since: NOW } });
    assert!(notified(&mut app).is_empty(), "off by default");
    let mut app = agents_app();
    app.model.config.notify.waiting = true;
    app.model.config.notify.turn_minutes = 5;
    app.on_engine(EngineEvent::Agent { container: id.clone(), status: AgentStatus::Waiting { since: NOW } });
    assert_eq!(notified(&mut app), ["the agent in agentdock-api is waiting for you"]);
    // a turn of 6 minutes ends (it started before the waiting), one of a minute does not ring
    app.on_engine(EngineEvent::Agent { container: id.clone(), status: AgentStatus::Idle { since: NOW + 265 } });
    assert_eq!(notified(&mut app), ["the agent in agentdock-api finished its turn after 6m"]);
    app.on_engine(EngineEvent::Agent { container: id.clone(), status: AgentStatus::Working { since: NOW + 300 } });
    app.on_engine(EngineEvent::Agent { container: id.clone(), status: AgentStatus::Idle { since: NOW + 360 } });
    assert!(notified(&mut app).is_empty());
    // died: off here
    app.on_engine(EngineEvent::Agent { container: id, status: AgentStatus::NotRunning { exit_code: Some(1), at: NOW + 400 } });
    assert!(notified(&mut app).is_empty());
}
