//! Several engines in one dashboard: a row per engine with its state, each engine's list
//! replacing its own containers only, commands going to the row's engine, `E` and folds.

use super::*;

/// Two engines, `local` (api) and `box` (remote, pinned), `box` not answering.
fn two_engines() -> App {
    let mut remote = project("remote");
    remote.settings.engine = Some("box".into());
    let mut app = App::new(Config::default(), vec![project("api"), remote]).unwrap();
    app.model.now = NOW;
    app.set_engines(&["local".into(), "box".into()], &[]);
    connected(&mut app);
    app.on_engine_from(0, EngineEvent::RoundTrip { micros: 420 });
    app.on_engine_from(0, EngineEvent::Containers(vec![container("api", ContainerState::Running, Health::Healthy, 3600)]));
    app.on_engine_from(1, EngineEvent::Disconnected { reason: "tcp://box:2376: connection refused".into(), retry_in_ms: 4000 });
    app.take_commands();
    app
}

#[test]
fn each_engine_has_a_row_with_its_state_and_its_projects_under_it() {
    let mut app = two_engines();
    let s = screen(&mut app, 140, 14);
    let lines: Vec<&str> = s.lines().collect();
    let at = |text: &str| lines.iter().position(|l| l.contains(text)).unwrap_or_else(|| panic!("{text} not on screen:\n{s}"));
    assert!(at("▾ local") < at("api") && at("api") < at("▾ box") && at("▾ box") < at("remote"), "{s}");
    assert!(lines[at("▾ local")].contains("● connected · Docker 20.10.24 · API 1.41 · rtt 0.4ms · 1/1 managed running"), "{s}");
    assert!(lines[at("▾ box")].contains("○ reconnecting (retry in 4.0s): tcp://box:2376: connection refused"), "{s}");
    assert!(s.contains("1/2 engines, reconnecting: box"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn one_engine_shows_no_engine_rows() {
    let mut app = busy_app();
    app.set_engines(&["local".into()], &[]);
    assert!(!app.list.rows.iter().any(|r| matches!(r, Row::Engine(_))));
    // --engine box: only box in view, no rows of its own either
    let mut app = two_engines();
    app.set_engines(&["local".into(), "box".into()], &[1]);
    assert!(!app.list.rows.iter().any(|r| matches!(r, Row::Engine(_))));
    let names: Vec<String> = app.list.rows.iter().filter_map(|r| match r {
        Row::Project { project, .. } => Some(app.model.projects[*project].name.clone()),
        _ => None,
    }).collect();
    assert_eq!(names, ["remote"]);
}

#[test]
fn an_engine_list_replaces_its_own_containers_only() {
    let mut app = two_engines();
    let mut c = container("remote", ContainerState::Running, Health::Healthy, 60);
    c.id = "remote-box".into();
    app.on_engine_from(1, EngineEvent::Containers(vec![c]));
    assert_eq!(app.model.containers.len(), 2);
    // the local engine lists again: box's container stays
    app.on_engine_from(0, EngineEvent::Containers(vec![container("api", ContainerState::Exited, Health::None, 3600)]));
    assert_eq!(app.model.containers.len(), 2);
    assert_eq!(app.model.containers["remote-box"].engine, 1);
    assert_eq!(app.model.engine_counts(0), (0, 1));
    assert_eq!(app.model.engine_counts(1), (1, 1));
}

#[test]
fn commands_go_to_the_engine_of_the_row() {
    let mut app = two_engines();
    let mut c = container("remote", ContainerState::Running, Health::Healthy, 60);
    c.id = "remote-box".into();
    app.on_engine_from(1, EngineEvent::Containers(vec![c]));
    let remote = app.model.projects[1].clone();
    assert_eq!(app.route(&Command::Up(remote.clone())), Route::Engine(1));
    assert_eq!(app.route(&Command::Refresh { project: remote, reason: String::new() }), Route::Engine(1));
    assert_eq!(app.route(&Command::Exec { stream: 1, container: "remote-box".into(), cmd: "ls".into() }), Route::Engine(1));
    assert_eq!(app.route(&Command::Attach { container: "remote-box".into(), project: "remote".into(), session: None }), Route::Engine(1));
    assert_eq!(app.route(&Command::Logs { stream: 2, container: "api000000000000000000".into() }), Route::Engine(0));
    assert_eq!(app.route(&Command::Up(app.model.projects[0].clone())), Route::Engine(0));
    assert_eq!(app.route(&Command::StopStream(1)), Route::All);
    assert_eq!(app.route(&Command::WatchTasks(true)), Route::Engine(0));
    // a project pinned to box that has no container yet is made there
    let mut fresh = project("fresh");
    fresh.settings.engine = Some("box".into());
    app.model.projects.push(fresh.clone());
    assert_eq!(app.route(&Command::Up(fresh)), Route::Engine(1));
    // selecting the remote project and pressing c sends Up for it
    app.rebuild_rows();
    let row = app.list.rows.iter().position(|r| matches!(r, Row::Project { project: 1, .. })).unwrap();
    app.list.selected = row;
    app.on_key(key('c'));
    let cmds = app.take_commands();
    assert!(matches!(&cmds[..], [Command::Up(p)] if p.name == "remote"), "{cmds:?}");
    assert_eq!(app.route(&cmds[0]), Route::Engine(1));
}

#[test]
fn e_shows_one_engine_then_the_next_then_all_and_space_folds_an_engine() {
    let mut app = two_engines();
    let engines = |app: &App| app.list.rows.iter().filter_map(|r| if let Row::Engine(i) = r { Some(*i) } else { None }).collect::<Vec<_>>();
    assert_eq!(engines(&app), [0, 1]);
    app.on_key(key('E'));
    assert_eq!(engines(&app), [0]);
    assert!(app.message.as_deref().unwrap_or("").contains("local only"));
    app.on_key(key('E'));
    assert_eq!(engines(&app), [1]);
    app.on_key(key('E'));
    assert_eq!(engines(&app), [0, 1]);
    // space on an engine's row folds its rows; again unfolds
    let n = app.list.rows.len();
    app.list.selected = 0;
    app.on_key(key(' '));
    assert_eq!(app.list.rows.len(), n - 1);
    assert!(matches!(app.list.rows[0], Row::Engine(0)) && matches!(app.list.rows[1], Row::Engine(1)));
    app.on_key(key(' '));
    assert_eq!(app.list.rows.len(), n);
    // one engine: E says so
    let mut one = busy_app();
    one.on_key(key('E'));
    assert!(one.message.as_deref().unwrap_or("").contains("one engine only"));
}

#[test]
fn two_names_of_one_daemon_list_its_containers_once() {
    let mut app = App::new(Config::default(), vec![project("api")]).unwrap();
    app.model.now = NOW;
    app.set_engines(&["local".into(), "two".into(), "tls".into()], &[]);
    let mut c = container("api", ContainerState::Running, Health::Healthy, 60);
    c.id = "shared".into();
    // the later name answers first and lists the daemon's container
    app.on_engine_from(2, EngineEvent::Containers(vec![c.clone()]));
    assert_eq!(app.model.containers["shared"].engine, 2);
    // the earlier one lists the same container: it is that one's, once
    app.on_engine_from(1, EngineEvent::Containers(vec![c.clone()]));
    assert_eq!(app.model.engines[2].same_as, Some(1));
    assert_eq!(app.model.containers["shared"].engine, 1);
    // the later one's news is dropped from now on
    app.on_engine_from(2, EngineEvent::Containers(vec![c.clone()]));
    app.on_engine_from(2, EngineEvent::ContainerGone("shared".into()));
    assert_eq!(app.model.containers.len(), 1);
    assert_eq!(app.model.containers["shared"].engine, 1);
    // and an engine of its own is not touched
    let mut own = container("api", ContainerState::Running, Health::Healthy, 60);
    own.id = "own".into();
    app.on_engine_from(0, EngineEvent::Containers(vec![own]));
    assert_eq!((app.model.containers.len(), app.model.engines[0].same_as), (2, None));
    app.on_engine_from(2, EngineEvent::Connected { host: "tcp://x:1".into(), version: "20.10".into(), api: "1.41".into() });
    let s = screen(&mut app, 140, 10);
    assert!(s.contains("▾ tls  ● connected · the same engine as two: its containers are listed there"), "{s}");
}
