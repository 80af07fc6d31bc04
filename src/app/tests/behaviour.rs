//! Whole-app behaviour: keys, mouse and engine events in, commands and state out.

use super::*;

#[test]
fn keys_move_selection_and_unmapped_keys_do_nothing() {
    let mut app = busy_app();
    assert_eq!(app.list.selected, 0);
    app.on_key(key('j'));
    app.on_key(code(KeyCode::Down));
    assert_eq!(app.list.selected, 2);
    app.on_key(key('j'));
    assert_eq!(app.list.selected, 2, "stays on the last row");
    app.on_key(key('g'));
    assert_eq!(app.list.selected, 0);
    app.on_key(key('G'));
    assert_eq!(app.list.selected, app.list.rows.len() - 1);
    let before = (app.list.selected, app.mode.clone(), app.list.rows.clone(), app.detail_open);
    app.on_key(key('z'));
    app.on_key(code(KeyCode::F(9)));
    assert_eq!((app.list.selected, app.mode.clone(), app.list.rows.clone(), app.detail_open), before);
    assert!(app.take_commands().is_empty());
    assert!(!app.quit);
}

#[test]
fn create_refresh_and_remove_emit_commands() {
    let mut app = busy_app();
    // rows sorted by name: api, docs, web
    assert!(matches!(app.list.rows[1], Row::Project { container: None, .. }), "{:?}", app.list.rows);
    app.on_key(key('j'));
    app.on_key(key('c'));
    assert_eq!(app.take_commands(), vec![Command::Up(project("docs"))]);
    assert_eq!(app.model.ops.get("docs").map(String::as_str), Some("creating"));
    // a second c while it runs is refused with a message
    app.on_key(key('c'));
    assert!(app.take_commands().is_empty());
    assert!(app.message.as_deref().unwrap().contains("busy"));

    app.on_key(key('j'));
    app.on_key(key('r'));
    let cmds = app.take_commands();
    assert_eq!(cmds.len(), 1);
    match &cmds[0] {
        Command::Refresh { project, reason } => {
            assert_eq!(project.id, "web");
            assert!(reason.contains("unhealthy") && reason.contains("age"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // two refresh keys: the second is refused
    app.on_key(key('r'));
    assert!(app.take_commands().is_empty());

    app.on_key(key('g'));
    app.on_key(key('d'));
    assert_eq!(app.mode, Mode::Confirm(Confirm::Remove { project: "api".into() }));
    let s = screen(&mut app, 120, 30);
    assert!(s.contains("Remove agentdock-api ?"), "{s}");
    app.on_key(key('n'));
    assert!(app.take_commands().is_empty());
    app.on_key(key('d'));
    app.on_key(key('y'));
    assert_eq!(app.take_commands(), vec![Command::Remove(project("api"))]);
}

#[test]
fn refresh_all_runs_one_at_a_time_and_a_failure_does_not_stop_the_rest() {
    let mut app = app_with(&["a", "b", "c"]);
    connected(&mut app);
    app.on_engine(EngineEvent::Containers(vec![
        container("a", ContainerState::Running, Health::Unhealthy, 60),
        container("b", ContainerState::Running, Health::Healthy, 60),
        container("c", ContainerState::Running, Health::Unhealthy, 60),
    ]));
    app.on_key(key('R'));
    let cmds = app.take_commands();
    assert!(matches!(&cmds[..], [Command::Refresh { project, .. }] if project.id == "a"), "{cmds:?}");
    app.on_engine(EngineEvent::OpDone { project: "a".into(), result: Err("rolled back".into()) });
    let cmds = app.take_commands();
    assert!(matches!(&cmds[..], [Command::Refresh { project, .. }] if project.id == "c"), "{cmds:?}");
    assert_eq!(app.last_error.as_deref(), Some("rolled back"));
    app.on_engine(EngineEvent::OpDone { project: "c".into(), result: Ok("done".into()) });
    assert!(app.take_commands().is_empty());
    assert!(app.refresh.queue.is_empty());
}

#[test]
fn command_line_runs_streams_and_keeps_history() {
    let mut app = busy_app();
    app.on_key(key('e'));
    assert_eq!(app.mode, Mode::CommandLine);
    // an empty command line does nothing
    app.on_key(code(KeyCode::Enter));
    assert!(app.take_commands().is_empty());
    type_text(&mut app, "echo one; sleep 1; echo two");
    app.on_key(code(KeyCode::Enter));
    let cmds = app.take_commands();
    assert_eq!(
        cmds,
        vec![Command::Exec { stream: 1, container: "api000000000000000000".into(), cmd: "echo one; sleep 1; echo two".into() }]
    );
    app.on_engine(EngineEvent::Output { stream: 1, data: b"one\n".to_vec() });
    let s = screen(&mut app, 120, 30);
    assert!(s.contains("│one"), "{s}");
    assert!(s.contains("running"), "{s}");
    app.on_engine(EngineEvent::Output { stream: 1, data: b"two\n".to_vec() });
    app.on_engine(EngineEvent::OutputEnd { stream: 1, exit_code: Some(0), error: None });
    let s = screen(&mut app, 120, 30);
    assert!(s.contains("[exit 0]"), "{s}");
    // output of an older stream is ignored
    app.on_engine(EngineEvent::Output { stream: 99, data: b"stale\n".to_vec() });
    assert!(!screen(&mut app, 120, 30).contains("stale"));
    // history: up brings the last command back
    app.on_key(code(KeyCode::Up));
    assert_eq!(app.cmdline.prompt.lines()[0], "echo one; sleep 1; echo two");
    app.on_key(code(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn ctrl_c_cancels_a_running_command() {
    let mut app = busy_app();
    app.on_key(key('e'));
    type_text(&mut app, "sleep 100");
    app.on_key(code(KeyCode::Enter));
    app.take_commands();
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(app.take_commands(), vec![Command::StopStream(1)]);
    assert_eq!(app.output.status.as_deref(), Some("cancelled"));
}

#[test]
fn filter_narrows_and_says_when_nothing_matches() {
    let mut app = busy_app();
    app.on_key(key('/'));
    type_text(&mut app, "we");
    assert_eq!(app.list.rows.len(), 1);
    app.on_key(code(KeyCode::Enter));
    type_text(&mut app, "");
    app.on_key(key('/'));
    type_text(&mut app, "zzz");
    assert!(app.list.rows.is_empty());
    let s = screen(&mut app, 120, 20);
    assert!(s.contains("no project or container matches 'wezzz'"), "{s}");
    app.on_key(code(KeyCode::Esc));
    assert_eq!(app.list.rows.len(), 3);
}

#[test]
fn unmanaged_containers_show_on_toggle_and_cannot_be_changed() {
    let mut app = busy_app();
    assert!(!screen(&mut app, 160, 30).contains("postgres"));
    app.on_key(key('u'));
    assert!(screen(&mut app, 160, 30).contains("· postgres"));
    assert_eq!(app.take_commands(), vec![Command::ShowUnmanaged(true)]);
    app.on_key(key('G'));
    app.on_key(key('s'));
    app.on_key(key('r'));
    app.on_key(key('d'));
    app.on_key(key('e'));
    app.on_key(key('a'));
    assert!(app.take_commands().is_empty());
    assert_eq!(app.mode, Mode::Normal);
    // reading its log changes nothing, so that works
    app.on_key(key('l'));
    assert!(matches!(&app.take_commands()[..], [Command::Logs { .. }]));
}

#[test]
fn sort_by_cpu_descending() {
    let mut app = busy_app();
    app.on_key(key('>'));
    app.on_key(key('>'));
    app.on_key(key('>'));
    assert_eq!(app.list.sort, SortKey::Cpu);
    app.on_key(key('<'));
    let first = match &app.list.rows[0] {
        Row::Project { project, .. } => app.model.projects[*project].name.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(first, "web");
}

#[test]
fn output_flood_is_bounded_and_scroll_search_work() {
    let mut app = busy_app();
    app.on_key(key('l'));
    assert_eq!(app.take_commands(), vec![Command::Logs { stream: 1, container: "api000000000000000000".into() }]);
    let mut data = Vec::new();
    for i in 0..20_000 {
        data.extend_from_slice(format!("line {i} \x1b[32mgreen\x1b[0m\n").as_bytes());
    }
    app.on_engine(EngineEvent::Output { stream: 1, data });
    assert_eq!(app.output.lines.len(), 10_000);
    assert_eq!(app.output.lines.dropped(), 10_000);
    let s = screen(&mut app, 120, 30);
    assert!(s.contains("line 19999 green"), "{s}");
    app.on_key(code(KeyCode::Tab));
    app.on_key(key('/'));
    type_text(&mut app, "line 15000 ");
    app.on_key(code(KeyCode::Enter));
    assert_eq!(app.output.search_hit, Some(5000));
    let s = screen(&mut app, 120, 30);
    assert!(s.contains("line 15000 green"), "{s}");
    assert!(!app.output.follow);
    app.on_key(key('G'));
    assert!(app.output.follow);
}

#[test]
fn colon_commands() {
    let mut app = busy_app();
    app.on_key(key(':'));
    type_text(&mut app, "refresh web");
    app.on_key(code(KeyCode::Enter));
    assert!(matches!(&app.take_commands()[..], [Command::Refresh { project, .. }] if project.id == "web"));
    app.on_key(key(':'));
    type_text(&mut app, "up nosuch");
    app.on_key(code(KeyCode::Enter));
    assert_eq!(app.message.as_deref(), Some("unknown project 'nosuch'"));
    app.on_key(key(':'));
    type_text(&mut app, "q");
    app.on_key(code(KeyCode::Enter));
    assert!(app.quit);
}

#[test]
fn mouse_click_selects_and_wheel_scrolls() {
    let mut app = busy_app();
    app.on_resize(160, 48);
    let a = app.areas();
    let click = MouseEvent { kind: MouseEventKind::Down(MouseButton::Left), column: 5, row: a.list.y + 2 + 2, modifiers: KeyModifiers::NONE };
    app.on_mouse(click);
    assert_eq!(app.list.selected, 2);
    let wheel = MouseEvent { kind: MouseEventKind::ScrollUp, column: 5, row: a.list.y + 3, modifiers: KeyModifiers::NONE };
    app.on_mouse(wheel);
    assert_eq!(app.list.selected, 1);
}

#[test]
fn exited_container_shows_code_and_oom() {
    let mut app = app_with(&["api"]);
    connected(&mut app);
    app.on_engine(EngineEvent::Containers(vec![container("api", ContainerState::Exited, Health::None, 60)]));
    app.on_engine(EngineEvent::State(StateInfo {
        id: "api000000000000000000".into(),
        name: "agentdock-api".into(),
        state: ContainerState::Exited,
        health: Health::None,
        managed: true,
        project_id: Some("api".into()),
        exit_code: Some(137),
        oom_killed: true,
        created: Some(NOW - 60),
        started_at: None,
        last_health_output: None,
        failing_streak: 0,
        restart_count: 0,
        pid: None,
    }));
    let s = screen(&mut app, 160, 20);
    assert!(s.contains("exited (137) OOM"), "{s}");
}

#[test]
fn notifications_ring_when_a_container_turns_unhealthy() {
    let mut cfg = Config::default();
    cfg.ui.notifications = true;
    let mut app = App::new(cfg, vec![project("api")]).unwrap();
    app.on_engine(EngineEvent::Containers(vec![container("api", ContainerState::Running, Health::Healthy, 60)]));
    app.on_engine(EngineEvent::Container(container("api", ContainerState::Running, Health::Unhealthy, 60)));
    assert_eq!(app.take_commands(), vec![Command::Bell]);
    assert!(app.message.as_deref().unwrap().contains("unhealthy"));
}

#[test]
fn auto_refresh_is_opt_in_with_cooldown_and_at_most_max_tries() {
    let mut off = busy_app();
    off.on_engine(EngineEvent::Stats(vec![]));
    assert!(off.take_commands().is_empty(), "off by default");

    let mut cfg = Config::default();
    cfg.refresh.auto = true;
    cfg.refresh.max_tries = 2;
    cfg.refresh.cooldown_minutes = 10;
    let mut p = project("web");
    p.settings.refresh = cfg.refresh.clone();
    let mut app = App::new(cfg, vec![p]).unwrap();
    app.model.now = NOW;
    app.on_engine(EngineEvent::Containers(vec![container("web", ContainerState::Running, Health::Unhealthy, 60)]));
    app.on_engine(EngineEvent::Stats(vec![]));
    assert!(matches!(&app.take_commands()[..], [Command::Refresh { project, .. }] if project.id == "web"));
    app.on_engine(EngineEvent::OpDone { project: "web".into(), result: Err("rolled back".into()) });
    // within the cooldown: nothing
    app.model.now = NOW + 60;
    app.on_engine(EngineEvent::Stats(vec![]));
    assert!(app.take_commands().is_empty());
    // after it: the second and last try
    app.model.now = NOW + 11 * 60;
    app.on_engine(EngineEvent::Stats(vec![]));
    assert_eq!(app.take_commands().len(), 1);
    app.on_engine(EngineEvent::OpDone { project: "web".into(), result: Err("rolled back".into()) });
    app.model.now = NOW + 30 * 60;
    app.on_engine(EngineEvent::Stats(vec![]));
    assert!(app.take_commands().is_empty());
    assert!(app.last_error.as_deref().unwrap().contains("auto refresh of web stopped after 2 tries"));
}

#[test]
fn agent_labels() {
    assert_eq!(AgentStatus::Quiet { last_output: NOW - 3 }.label(NOW), "active");
    assert_eq!(AgentStatus::Quiet { last_output: NOW - 180 }.label(NOW), "output 3m ago");
    assert_eq!(AgentStatus::Waiting { since: NOW - 65 }.label(NOW), "waiting 1m");
    assert_eq!(AgentStatus::NotRunning { exit_code: Some(1), at: NOW }.label(NOW), "exited 1");
}

#[test]
fn a_first_refusal_is_said_and_the_detail_counts_them() {
    let mut app = busy_app();
    let mut counts = std::collections::BTreeMap::new();
    counts.insert("agentdock-api".to_string(), crate::domain::network::RefusalCount { count: 3, last_host: "evil.example".into(), last_port: 443, last_at: (NOW - 5) as f64 });
    app.on_engine(EngineEvent::Refusals { counts, first: vec!["agentdock-api".into()] });
    assert!(app.message.as_deref().unwrap().contains("agentdock-api was refused evil.example:443"));
    app.on_key(code(KeyCode::Enter));
    let s = screen(&mut app, 160, 48);
    assert!(s.contains("3 requests by the egress proxy; last evil.example:443, 5s ago"), "{s}");
}
