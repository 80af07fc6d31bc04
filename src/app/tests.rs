//! App-level tests: feed engine events and keys, check the commands and the screen
//! (TestBackend + insta snapshots; colours checked on the buffer).

use super::*;
use crate::domain::gitstate::{GitRead, GitState};
use crate::domain::container::{ContainerInfo, ContainerState, Health};
use crate::domain::stats::StatsSample;
use crate::engine::{DetailInfo, StateInfo};
use crossterm::event::{KeyCode, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use crate::domain::project::ProjectSettings;
use crossterm::event::{KeyEventKind, KeyEventState};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const NOW: i64 = 1_800_000_000;

fn project(name: &str) -> Project {
    let c = Config::default();
    Project {
        id: name.into(),
        name: name.into(),
        path: format!("/src/{name}").into(),
        exists: true,
        settings: ProjectSettings {
            image: c.image.clone(),
            agent_command: "claude".into(),
            env_passthrough: vec![],
            limits: c.limits.clone(),
            refresh: c.refresh.clone(),
            ..Default::default()
        },
    }
}

fn container(project: &str, state: ContainerState, health: Health, age: i64) -> ContainerInfo {
    ContainerInfo {
        id: format!("{project}000000000000000000"),
        name: format!("agentdock-{project}"),
        image: "agentdock/agent:latest".into(),
        state,
        status: "Up".into(),
        health,
        created: NOW - age,
        project_id: Some(project.into()),
        project_name: Some(project.into()),
        project_path: Some(format!("/src/{project}")),
        agent_dir: None,
        managed: true,
        role: Some("main".into()),
    }
}

fn app_with(projects: &[&str]) -> App {
    let mut app = App::new(Config::default(), projects.iter().map(|p| project(p)).collect()).unwrap();
    app.model.now = NOW;
    app
}

fn connected(app: &mut App) {
    app.on_engine(EngineEvent::Connected { host: "unix:///var/run/docker.sock".into(), version: "20.10.24".into(), api: "1.41".into() });
}

fn sample(cpu: f64, used: u64, limit: u64) -> LiveStats {
    LiveStats {
        sample: StatsSample {
            cpu_percent: cpu,
            mem_used: used,
            mem_limit: limit,
            mem_percent: used as f64 / limit as f64 * 100.0,
            ..Default::default()
        },
        disk_percent: Some(42.0),
    }
}

/// A populated dashboard: three projects, one unhealthy and old, one without a container.
fn busy_app() -> App {
    let mut app = app_with(&["api", "web", "docs"]);
    connected(&mut app);
    app.on_engine(EngineEvent::Containers(vec![
        container("api", ContainerState::Running, Health::Healthy, 3600),
        container("web", ContainerState::Running, Health::Unhealthy, 80 * 3600),
        ContainerInfo { managed: false, project_id: None, project_name: None, project_path: None, name: "postgres".into(), id: "pg".into(), ..container("x", ContainerState::Running, Health::None, 60) },
    ]));
    app.on_engine(EngineEvent::Stats(vec![
        ("api000000000000000000".into(), sample(12.5, 512 << 20, 8 << 30)),
        ("web000000000000000000".into(), sample(150.0, 7 << 30, 8 << 30)),
    ]));
    app.on_engine(EngineEvent::Git(vec![
        ("api".into(), GitRead::State(GitState { branch: Some("main".into()), head: Some("1a2b3c4d5e".into()), upstream: Some("origin/main".into()), ahead: 2, changed: 3, untracked: 1, diff: Some((3, 40, 7)), ..Default::default() })),
        ("web".into(), GitRead::NotRepo),
        ("docs".into(), GitRead::State(GitState { branch: Some("docs-v2".into()), head: Some("9f8e7d6c5b".into()), ..Default::default() })),
    ]));
    app.take_commands();
    app
}

fn key(c: char) -> KeyEvent {
    KeyEvent { code: KeyCode::Char(c), modifiers: KeyModifiers::NONE, kind: KeyEventKind::Press, state: KeyEventState::NONE }
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn render(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    app.on_resize(w, h);
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| crate::ui::draw(f, app)).unwrap();
    t
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    render(app, w, h).backend().to_string()
}

fn type_text(app: &mut App, s: &str) {
    for c in s.chars() {
        app.on_key(key(c));
    }
}

#[test]
fn normal_screen() {
    let mut app = busy_app();
    insta::assert_snapshot!(screen(&mut app, 160, 48));
}

#[test]
fn narrow_screen() {
    let mut app = busy_app();
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn empty_no_projects() {
    let mut app = app_with(&[]);
    connected(&mut app);
    app.on_engine(EngineEvent::Containers(vec![]));
    insta::assert_snapshot!(screen(&mut app, 100, 16));
}

#[test]
fn no_engine_says_reconnecting() {
    let mut app = app_with(&[]);
    app.on_engine(EngineEvent::Disconnected { reason: "cannot reach the Docker engine at unix:///x.sock".into(), retry_in_ms: 2000 });
    let s = screen(&mut app, 100, 16);
    assert!(s.contains("reconnecting (retry in 2.0s)"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn error_in_status_line_is_red() {
    let mut app = busy_app();
    app.on_engine(EngineEvent::OpDone { project: "api".into(), result: Err("refresh of api: image missing".into()) });
    let t = render(&mut app, 120, 20);
    let buf = t.backend().buffer();
    let row = buf.area.height - 1;
    let line: String = (0..buf.area.width).map(|x| buf[(x, row)].symbol().to_string()).collect();
    let col = line.find("error: refresh of api").expect("error shown") as u16;
    assert_eq!(buf[(col, row)].fg, ratatui::style::Color::Red);
    insta::assert_snapshot!(t.backend().to_string());
}

#[test]
fn health_and_refresh_marks_have_colours() {
    let mut app = busy_app();
    let t = render(&mut app, 160, 30);
    let buf = t.backend().buffer();
    let find = |text: &str| -> (u16, u16) {
        for y in 0..buf.area.height {
            let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol().to_string()).collect();
            if let Some(i) = line.find(text) {
                return (line[..i].chars().count() as u16, y);
            }
        }
        panic!("{text} not on screen");
    };
    let (x, y) = find("unhealthy ");
    assert_eq!(buf[(x, y)].fg, ratatui::style::Color::Red);
    let (x, y) = find("⟳ age 80h > 72h");
    assert_eq!(buf[(x, y)].fg, ratatui::style::Color::Yellow);
    let (x, y) = find("healthy     12.5");
    assert_eq!(buf[(x, y)].fg, ratatui::style::Color::Green);
}

#[test]
fn detail_with_history_plots() {
    let mut app = busy_app();
    for i in 0..30 {
        app.model.now = NOW + i * 2;
        app.on_engine(EngineEvent::Stats(vec![("api000000000000000000".into(), sample((i % 7) as f64 * 10.0, (200 + i as u64 * 10) << 20, 1 << 30))]));
    }
    app.on_key(code(KeyCode::Enter));
    assert_eq!(app.take_commands(), vec![Command::Detail("api000000000000000000".into())]);
    app.on_engine(EngineEvent::Detail {
        id: "api000000000000000000".into(),
        state: StateInfo {
            id: "api000000000000000000".into(),
            name: "agentdock-api".into(),
            state: ContainerState::Running,
            health: Health::Healthy,
            managed: true,
            project_id: Some("api".into()),
            exit_code: Some(0),
            oom_killed: false,
            created: Some(NOW - 3600),
            started_at: Some(NOW - 3600),
            last_health_output: Some("OK".into()),
            failing_streak: 0,
            restart_count: 0,
            pid: None,
        },
        detail: DetailInfo {
            image: "agentdock/agent:latest".into(),
            mounts: vec!["/src/api -> /workspace".into()],
            ports: vec![],
            memory_limit: Some(1 << 30),
            nano_cpus: Some(2_000_000_000),
            pids_limit: Some(1000),
            health_log: vec!["[0] OK: disk 18%".into()],
        },
    });
    insta::assert_snapshot!(screen(&mut app, 160, 48));
    app.on_key(code(KeyCode::Enter));
    assert_eq!(app.take_commands(), vec![Command::CloseDetail]);
}

#[test]
fn help_lists_the_live_keymap() {
    let mut cfg = Config::default();
    cfg.keys.insert("x".into(), "refresh".into());
    let mut app = App::new(cfg, vec![project("api")]).unwrap();
    app.model.now = NOW;
    app.on_key(key('?'));
    let s = screen(&mut app, 120, 50);
    assert!(s.contains("r x"), "remapped key shown: {s}");
    insta::assert_snapshot!(s);
}

mod agents;
mod behaviour;
mod engines;
mod glance;
mod task_view;
mod services;

#[test]
fn u_tells_the_workers_whether_others_containers_are_listed() {
    let mut app = busy_app();
    let _ = app.take_commands();
    assert!(!app.list.show_unmanaged);
    app.on_key(key('u'));
    assert_eq!(app.take_commands(), vec![Command::ShowUnmanaged(true)]);
    app.on_key(key('u'));
    assert_eq!(app.take_commands(), vec![Command::ShowUnmanaged(false)]);
}
