//! The list at a glance: counts that say what they count, names in natural order, folds, `:`
//! jumps with Tab, the output pane that takes room only when it has something, project totals,
//! why a cell is empty, and the screen at the usual sizes down to 40x10.

use super::*;

fn named(id: &str, name: &str, project: Option<&str>, state: ContainerState, age: i64) -> ContainerInfo {
    let base = container(project.unwrap_or("x"), state, Health::None, age);
    ContainerInfo {
        id: id.into(),
        name: name.into(),
        managed: project.is_some(),
        project_id: project.map(Into::into),
        project_name: project.map(Into::into),
        project_path: project.map(|p| format!("/src/{p}")),
        ..base
    }
}

/// A busy host seen at `w`x`h`: projects named so that text order and natural order differ,
/// one project with two further containers, two task containers, and 30 unmanaged containers
/// (big-1 … big-30, 28 running) listed with `u`.
fn glance_app(w: u16, h: u16) -> App {
    let mut app = app_with(&["api", "svc-10", "svc-2", "svc-1", "docs"]);
    app.on_resize(w, h);
    connected(&mut app);
    let mut list = vec![
        container("api", ContainerState::Running, Health::Healthy, 3600),
        named("api2", "agentdock-api-2", Some("api"), ContainerState::Running, 600),
        named("api10", "agentdock-api-10", Some("api"), ContainerState::Exited, 600),
        container("svc-1", ContainerState::Running, Health::Healthy, 7200),
        container("svc-2", ContainerState::Exited, Health::None, 7200),
        container("svc-10", ContainerState::Running, Health::Starting, 30),
        named("taskaa", "agentdock-task-20261125-0000aa", Some("api"), ContainerState::Running, 65),
        named("taskbb", "agentdock-task-20261125-0000bb", Some("docs"), ContainerState::Exited, 900),
    ];
    for i in 1..=30 {
        let state = if i % 15 == 0 { ContainerState::Exited } else { ContainerState::Running };
        list.push(named(&format!("big{i:02}"), &format!("big-{i}"), None, state, 86400));
    }
    app.on_engine(EngineEvent::Containers(list));
    let mut stats = vec![
        ("api000000000000000000".to_string(), sample(12.5, 512 << 20, 8 << 30)),
        ("api2".to_string(), sample(30.0, 1 << 30, 8 << 30)),
        ("svc-1000000000000000000".to_string(), sample(1.5, 100 << 20, 8 << 30)),
        ("taskaa".to_string(), sample(99.0, 2 << 30, 8 << 30)),
    ];
    for i in 1..=30 {
        stats.push((format!("big{i:02}"), LiveStats { disk_percent: None, ..sample(0.5, 64 << 20, 1 << 30) }));
    }
    app.on_engine(EngineEvent::Stats(stats));
    app.on_key(key('u'));
    app.take_commands();
    app
}

fn names(app: &App) -> Vec<String> {
    app.list
        .rows
        .iter()
        .map(|r| match r {
            Row::Project { project, .. } => app.model.projects[*project].name.clone(),
            Row::Group(g) => format!("[{}]", g.label(false)),
            other => row_container(&app.model, other).map(|c| c.info.name.clone()).unwrap_or_default(),
        })
        .collect()
}

fn selected_name(app: &App) -> String {
    let i = app.list.selected;
    names(app).get(i).cloned().unwrap_or_default()
}

fn colon(app: &mut App, text: &str) {
    app.on_key(key(':'));
    type_text(app, text);
    app.on_key(code(KeyCode::Enter));
}

#[test]
fn names_sort_in_natural_order() {
    use std::cmp::Ordering::*;
    let mut v = vec!["big-10", "big-1", "big-100", "big-1000", "big-101", "big-2", "Big-3", "big-02", "big"];
    v.sort_by(|a, b| natural_cmp(a, b));
    assert_eq!(v, ["big", "big-1", "big-02", "big-2", "Big-3", "big-10", "big-100", "big-101", "big-1000"]);
    assert_eq!(natural_cmp("a2b", "a10a"), Less);
    assert_eq!(natural_cmp("x99999999999999999999999", "x100000000000000000000000"), Less, "no overflow");
    assert_eq!(natural_cmp("ä1", "ä01"), Greater, "equal values: the exact text decides");
    assert_eq!(natural_cmp("é-2", "é-10"), Less);
    assert_eq!(natural_cmp("", "a"), Less);

    let app = glance_app(160, 48);
    let n = names(&app);
    let at = |s: &str| n.iter().position(|x| x == s).unwrap_or_else(|| panic!("{s} in {n:?}"));
    assert!(at("svc-1") < at("svc-2") && at("svc-2") < at("svc-10"), "{n:?}");
    assert!(at("agentdock-api-2") < at("agentdock-api-10"), "{n:?}");
    assert!(at("big-2") < at("big-10") && at("big-9") < at("big-10") && at("big-29") < at("big-30"), "{n:?}");
}

#[test]
fn counts_say_what_they_count() {
    let mut app = glance_app(160, 48);
    app.on_engine(EngineEvent::Tasks(vec![], Default::default()));
    let s = screen(&mut app, 160, 48);
    let title = s.lines().next().unwrap();
    // the projects' own containers: api's three and svc's three; task containers apart
    assert!(title.contains("4/6 managed running"), "{title}");
    assert!(title.contains("28/30 unmanaged running"), "{title}");
    let status = s.lines().last().unwrap();
    assert!(status.contains("4/6 managed running · 28/30 unmanaged running"), "{status}");
    // hidden unmanaged containers: the count says where they are
    app.on_key(key('u'));
    assert!(screen(&mut app, 160, 48).lines().next().unwrap().contains("28/30 unmanaged running, u lists them"));
    assert_eq!(app.model.counts().task_containers, (1, 2));
}

#[test]
fn task_containers_have_their_own_group_folded_at_first() {
    let mut app = glance_app(160, 48);
    let n = names(&app);
    assert!(!n.iter().any(|x| x.starts_with("agentdock-task-")), "folded: {n:?}");
    let g = n.iter().position(|x| x == "[task containers]").expect("the group's heading");
    app.list.select(g);
    app.on_key(key(' '));
    let n = names(&app);
    assert_eq!(&n[g + 1..g + 3], ["agentdock-task-20261125-0000aa", "agentdock-task-20261125-0000bb"]);
    let s = screen(&mut app, 160, 48);
    assert!(s.contains("▾ task containers (2)"), "{s}");
    // space on a member folds its group and selects the heading
    app.list.select(g + 2);
    app.on_key(key(' '));
    assert_eq!(app.list.selected, g);
    assert_eq!(names(&app).len(), n.len() - 2);
}

#[test]
fn a_project_of_several_containers_folds_and_sums_them() {
    let mut app = glance_app(160, 48);
    assert_eq!(selected_name(&app), "api");
    let row = |s: &str, start: &str| s.lines().find(|l| l.contains(&format!("┃{start}"))).unwrap_or("").to_string();
    let s = screen(&mut app, 160, 48);
    // 12.5 + 30.0 of the running ones; memory 512MiB + 1GiB of 16GiB
    let api = row(&s, "api ▾");
    assert!(api.contains("Σ42.5") && api.contains("Σ1.5GiB / 16.0GiB"), "{api}");
    assert!(row(&s, "  └ agentdock-api-2").contains("30.0"), "{s}");
    app.on_key(key(' '));
    let s = screen(&mut app, 160, 48);
    assert!(row(&s, "api ▸+2").contains("Σ42.5"), "{s}");
    assert!(!s.contains("agentdock-api-2"), "{s}");
    // a project of one container shows its own figures, no fold
    app.on_key(key('j'));
    assert_eq!(selected_name(&app), "docs");
    app.on_key(key(' '));
    assert!(app.message.as_deref().unwrap().contains("no further containers"));
    // sorting by CPU goes by the project's sum: api (42.5) before svc-1 (1.5), descending
    app.on_key(key('>'));
    app.on_key(key('>'));
    app.on_key(key('>'));
    app.on_key(key('<'));
    assert_eq!(app.list.sort, SortKey::Cpu);
    assert_eq!(names(&app)[0], "api");
}

#[test]
fn the_unmanaged_group_starts_folded_when_it_holds_more_than_a_screenful() {
    let app = glance_app(160, 48);
    assert!(names(&app).contains(&"big-30".to_string()), "30 rows fit at 160x48");
    let mut app = glance_app(80, 24);
    let n = names(&app);
    assert!(n.contains(&"[unmanaged]".to_string()) && !n.contains(&"big-1".to_string()), "{n:?}");
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("▸ unmanaged (30)"), "{s}");
    // once the user unfolds it, it stays so
    app.on_key(key('G'));
    app.on_key(key(' '));
    assert!(names(&app).contains(&"big-1".to_string()));
    app.on_engine(EngineEvent::ContainerGone("big30".into()));
    assert!(names(&app).contains(&"big-1".to_string()));
    // a filter looks into folded groups
    app.on_key(key(' '));
    app.on_key(key('/'));
    type_text(&mut app, "big-2");
    let n = names(&app);
    assert!(n.contains(&"big-2".to_string()) && n.contains(&"big-29".to_string()), "{n:?}");
}

#[test]
fn colon_jumps_to_a_name_and_tab_completes_it() {
    let mut app = glance_app(80, 24);
    // the group is folded: a jump unfolds it
    colon(&mut app, "big-17");
    assert_eq!(selected_name(&app), "big-17");
    colon(&mut app, "go svc-2");
    assert_eq!(selected_name(&app), "svc-2");
    // a prefix: the first in natural order
    colon(&mut app, "sv");
    assert_eq!(selected_name(&app), "svc-1");
    // a task container: its group unfolds
    colon(&mut app, "agentdock-task-20261125-0000bb");
    assert_eq!(selected_name(&app), "agentdock-task-20261125-0000bb");
    colon(&mut app, "nosuchname");
    assert!(app.message.as_deref().unwrap().contains("no project or container named 'nosuchname'"));
    // a filter that hides the name is cleared
    app.on_key(key('/'));
    type_text(&mut app, "docs");
    app.on_key(code(KeyCode::Enter));
    colon(&mut app, "api");
    assert_eq!(selected_name(&app), "api");
    assert!(app.list.filter.is_empty());
    // the commands still work
    colon(&mut app, "refresh svc-1");
    assert!(matches!(&app.take_commands()[..], [Command::Refresh { project, .. }] if project.id == "svc-1"));

    // Tab: as far as the names agree, then each in turn
    app.on_key(key(':'));
    type_text(&mut app, "go sv");
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.cmdline.text(), "go svc-");
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("svc-1 · svc-2 · svc-10"), "the candidates under the prompt:\n{s}");
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.cmdline.text(), "go svc-1");
    app.on_key(code(KeyCode::Tab));
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.cmdline.text(), "go svc-10");
    app.on_key(code(KeyCode::Enter));
    assert_eq!(selected_name(&app), "svc-10");
    // the first word completes commands too; a unique match is put in whole
    app.on_key(key(':'));
    type_text(&mut app, "refresh-");
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.cmdline.text(), "refresh-all");
    app.on_key(code(KeyCode::Esc));
    app.on_key(key(':'));
    type_text(&mut app, "zz");
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.cmdline.text(), "zz");
    assert_eq!(app.mode, Mode::Command);
}

#[test]
fn the_output_pane_takes_room_only_with_something_to_show() {
    let mut app = glance_app(80, 24);
    assert_eq!(app.areas().output.height, 0);
    assert_eq!(app.areas().list.height, 23, "the list has the whole body");
    // Tab gives it the focus: it shows, and goes again with the focus
    app.on_key(code(KeyCode::Tab));
    assert!(app.areas().output.height > 0);
    app.on_key(code(KeyCode::Tab));
    assert_eq!(app.areas().output.height, 0);
    // a log: it shows by itself
    app.on_key(key('l'));
    assert!(matches!(&app.take_commands()[..], [Command::Logs { .. }]));
    let h = app.areas().output.height;
    assert_eq!(h, 9, "two fifths of the body");
    // + and -: its height, remembered when hidden and shown again
    app.on_key(key('+'));
    app.on_key(key('+'));
    assert_eq!(app.areas().output.height, h + 4);
    app.on_key(key('o'));
    assert_eq!(app.areas().output.height, 0, "o hides it");
    assert_eq!(app.areas().list.height, 23);
    app.on_key(key('+'));
    assert!(app.message.as_deref().unwrap().contains("o shows it"));
    app.on_key(key('o'));
    assert_eq!(app.areas().output.height, h + 4);
    app.on_key(key('-'));
    assert_eq!(app.areas().output.height, h + 2);
    // hidden, a new stream shows it again
    app.on_key(key('o'));
    app.on_key(key('l'));
    assert_eq!(app.areas().output.height, h + 2);
    // the list keeps its minimum however tall the pane is asked to be
    for _ in 0..20 {
        app.on_key(key('+'));
    }
    assert_eq!(app.areas().list.height, 5);
}

#[test]
fn the_help_says_why_a_cell_is_empty() {
    let mut app = glance_app(160, 48);
    colon(&mut app, "svc-2");
    let s = screen(&mut app, 160, 48);
    assert!(s.lines().last().unwrap().contains("? help, why -"), "{s}");
    app.on_key(key('?'));
    let s = screen(&mut app, 160, 48);
    assert!(s.contains("why - in agentdock-svc-2"), "{s}");
    assert!(s.contains("the container is exited: figures are read only while it runs"), "{s}");
    app.on_key(code(KeyCode::Esc));
    colon(&mut app, "big-3");
    app.on_key(key('?'));
    let s = screen(&mut app, 160, 48);
    assert!(s.contains("no workspace to measure"), "{s}");
    assert!(s.contains("agentdock reads agent status only in the containers it manages"), "{s}");
}

#[test]
fn screens_at_the_usual_sizes() {
    for (w, h) in [(80, 24), (120, 40), (160, 48), (200, 60)] {
        let mut app = glance_app(w, h);
        insta::assert_snapshot!(format!("glance_{w}x{h}"), screen(&mut app, w, h));
    }
}

#[test]
fn a_log_with_the_detail_open_at_120x40() {
    let mut app = glance_app(120, 40);
    app.on_key(key('l'));
    app.on_engine(EngineEvent::Output { stream: 1, data: b"first line\nsecond line\n".to_vec() });
    app.on_key(code(KeyCode::Enter));
    insta::assert_snapshot!(screen(&mut app, 120, 40));
}

#[test]
fn resized_to_40x10_and_back_the_list_still_works() {
    let mut app = glance_app(160, 48);
    app.on_key(key('l'));
    app.on_key(code(KeyCode::Enter));
    let small = screen(&mut app, 40, 10);
    insta::assert_snapshot!(small);
    for k in ['j', 'j', ' ', 'G', 'k', '+', '-', 'o', 'o'] {
        app.on_key(key(k));
        screen(&mut app, 40, 10);
    }
    for (w, h) in [(1, 1), (2, 1), (3, 2), (40, 10)] {
        screen(&mut app, w, h);
    }
    app.on_key(key('g'));
    let s = screen(&mut app, 160, 48);
    assert!(s.lines().nth(2).unwrap().contains("┃api"), "{s}");
    assert!(s.contains("┃api ▸+2") && s.contains("▾ unmanaged (30)") && s.contains("big-20"), "{s}");
}

#[test]
fn sums_of_containers_without_a_memory_limit_do_not_overflow() {
    let mut app = glance_app(160, 48);
    // cgroup v1's "no limit", three times over: more than a u64 holds
    let no_limit = 9_223_372_036_854_771_712;
    let stats = (1..=3).map(|i| (format!("big{i:02}"), LiveStats { disk_percent: None, ..sample(1.0, 64 << 20, no_limit) })).collect();
    app.on_engine(EngineEvent::Stats(stats));
    let s = screen(&mut app, 160, 48);
    let heading = s.lines().find(|l| l.contains("▾ unmanaged (30)")).unwrap();
    assert!(heading.contains("Σ1.8GiB ") && !heading.contains("PiB") && !heading.contains("EiB"), "{heading}");
}

