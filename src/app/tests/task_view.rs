//! The Tasks view: keys to commands, the form, the screen.

use super::*;
use crate::domain::task::{DiffStat, Summary, TaskRecord, TaskSpec, TaskState, ToolCall};

fn task(id: &str, project: &str, state: TaskState, started_ago: i64) -> TaskRecord {
    TaskRecord {
        spec: TaskSpec {
            id: id.into(),
            project_id: project.into(),
            project_name: project.into(),
            repo_dir: format!("/src/{project}").into(),
            repo_url: None,
            base_ref: "HEAD".into(),
            base_commit: "0123456789abcdef".into(),
            branch: format!("agentdock/task-{id}"),
            timeout_secs: 300,
            max_output: 10 << 20,
            model: None,
            permission_mode: "bypassPermissions".into(),
            image: "agentdock/agent:latest".into(),
            container: format!("agentdock-task-{id}"),
            created_at: NOW - started_ago,
            ..Default::default()
        },
        state,
        reason: None,
        started_at: Some(NOW - started_ago),
        ended_at: state.is_final().then_some(NOW - started_ago + 42),
        collected: state.is_final(),
        diffstat: state.is_final().then_some(DiffStat { files: 2, insertions: 30, deletions: 4 }),
        head: None,
        summary: Summary {
            turns: 3,
            tool_calls: vec![ToolCall { name: "Bash".into(), input: "npm test".into() }],
            input_tokens: 1200,
            output_tokens: 300,
            cost_usd: state.is_final().then_some(0.0421),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// The task list on screen with three tasks: one running, one done, one failed.
fn tasks_app() -> App {
    let mut app = busy_app();
    app.on_key(key('t'));
    assert_eq!(app.take_commands(), vec![Command::WatchTasks(true)]);
    let mut failed = task("20261125-0000cc", "web", TaskState::Failed, 900);
    failed.reason = Some("API Error: 529 \x1b[31mOverloaded\x1b[0m".into());
    app.on_engine(EngineEvent::Tasks(vec![
        task("20261125-0000aa", "api", TaskState::Running, 65),
        task("20261125-0000bb", "api", TaskState::Succeeded, 600),
        failed,
    ], Default::default()));
    app
}

#[test]
fn task_list_screen() {
    let mut app = tasks_app();
    insta::assert_snapshot!(screen(&mut app, 160, 48));
}

#[test]
fn task_list_fits_80_columns() {
    let mut app = tasks_app();
    let s = screen(&mut app, 80, 24);
    insta::assert_snapshot!(s);
    // the container's escape never reaches the screen
    assert!(!s.contains('\x1b'));
}

#[test]
fn keys_of_the_task_list_give_their_commands() {
    let mut app = tasks_app();
    app.on_key(code(KeyCode::Enter));
    assert!(matches!(app.take_commands().as_slice(), [Command::TaskRun { id, .. }] if id == "20261125-0000aa"));
    app.on_key(key('j'));
    app.on_key(key('D'));
    assert!(matches!(app.take_commands().as_slice(), [Command::StopStream(_), Command::TaskDiff { id, .. }] if id == "20261125-0000bb"));
    // an ended task is not cancelled
    app.on_key(key('x'));
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.message.as_deref().unwrap_or("").contains("already ended"));
    // a running one is, after a y
    app.on_key(key('g'));
    app.on_key(key('x'));
    assert_eq!(app.mode, Mode::Confirm(Confirm::CancelTask { id: "20261125-0000aa".into() }));
    app.on_key(key('n'));
    assert!(app.take_commands().is_empty(), "n declines");
    app.on_key(key('x'));
    app.on_key(key('y'));
    assert_eq!(app.take_commands(), vec![Command::CancelTask("20261125-0000aa".into())]);
    // container keys say where they are
    app.on_key(key('c'));
    assert!(app.take_commands().is_empty());
    assert!(app.message.as_deref().unwrap_or("").contains("t back to the containers"));
    // t goes back; there n searches the output again and x means nothing
    app.on_key(key('t'));
    assert_eq!(app.take_commands(), vec![Command::WatchTasks(false)]);
    assert!(!app.tasks.shown);
}

#[test]
fn the_selection_stays_on_its_task_when_the_list_changes() {
    let mut app = tasks_app();
    app.on_key(key('j'));
    let mut newer = vec![task("20261125-0000dd", "docs", TaskState::Starting, 1)];
    newer.extend(app.tasks.tasks.clone());
    app.on_engine(EngineEvent::Tasks(newer, Default::default()));
    assert_eq!(app.tasks.selected_task().unwrap().spec.id, "20261125-0000bb");
}

#[test]
fn a_new_task_takes_a_multi_line_prompt_and_starts_on_the_chosen_project() {
    let mut app = tasks_app();
    // the form opens on the selected task's project
    app.on_key(key('n'));
    assert_eq!(app.mode, Mode::NewTask);
    insta::assert_snapshot!(screen(&mut app, 100, 30));
    type_text(&mut app, "fix the tests");
    app.on_key(code(KeyCode::Enter));
    // a paste is text: its newline does not start the task, its escape is dropped
    app.on_paste("and then\r\n$(say \"hi\")\x1b[2J");
    assert!(app.take_commands().is_empty());
    app.on_key(code(KeyCode::Tab));
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    match app.take_commands().as_slice() {
        [Command::StartTask { project, prompt }] => {
            assert_eq!(project.name, "web", "Tab moved from api to the next project");
            assert_eq!(prompt, "fix the tests\nand then\n$(say \"hi\")[2J");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(app.mode, Mode::Normal);
    // the form is empty for the next task; Esc keeps a draft
    app.on_key(key('n'));
    assert!(app.tasks.form.text().is_empty());
    type_text(&mut app, "draft");
    app.on_key(code(KeyCode::Esc));
    app.on_key(key('n'));
    assert_eq!(app.tasks.form.text(), "draft");
    // an empty prompt does not start
    app.tasks.form.prompt = Default::default();
    app.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    assert!(app.take_commands().is_empty());
    assert_eq!(app.mode, Mode::NewTask);
}

#[test]
fn a_started_task_is_selected_and_a_refused_one_says_why() {
    let mut app = tasks_app();
    app.on_engine(EngineEvent::TaskStarted(Ok(Box::new(task("20261125-0000ee", "docs", TaskState::Running, 0)))));
    assert_eq!(app.tasks.selected_task().unwrap().spec.id, "20261125-0000ee");
    assert!(app.message.as_deref().unwrap().contains("started on docs"));
    app.on_engine(EngineEvent::TaskStarted(Err("'nope' does not exist".into())));
    assert_eq!(app.last_error.as_deref(), Some("task not started: 'nope' does not exist"));
    let s = screen(&mut app, 160, 48);
    assert!(s.contains("2 tasks under way"), "{s}");
}

#[test]
fn queued_tasks_attempts_and_the_fleet_are_shown() {
    let mut app = busy_app();
    app.on_key(key('t'));
    app.take_commands();
    let mut queued = vec![];
    for (i, id) in ["20261125-0000q1", "20261125-0000q2"].iter().enumerate() {
        let mut q = task(id, "api", TaskState::Queued, 0);
        q.started_at = None;
        q.queued_at = Some(NOW - 90 + i as i64 * 30);
        q.seq = 10 + i as u64;
        queued.push(q);
    }
    // two attempts of one prompt, listed apart: they come together, in attempt order
    let mut a2 = task("20261125-0000a2", "web", TaskState::Failed, 300);
    a2.spec.group = Some("20261125-0000a1".into());
    a2.spec.attempt = Some(2);
    a2.diffstat = Some(DiffStat { files: 1, insertions: 3, deletions: 0 });
    a2.webhook = Some(crate::domain::task::Webhook { state: "failed".into(), tries: 3, error: Some("HTTP 500".into()), at: Some(NOW) });
    let mut a1 = task("20261125-0000a1", "web", TaskState::Succeeded, 300);
    a1.spec.group = Some("20261125-0000a1".into());
    a1.spec.attempt = Some(1);
    let mut all = vec![queued[1].clone(), queued[0].clone(), a2, task("20261125-0000bb", "api", TaskState::Running, 65)];
    all.push(a1);
    let fleet = crate::domain::fleet::FleetInfo {
        pool: vec![crate::domain::fleet::PoolState { project: "api".into(), image: "agentdock/agent:latest".into(), ready: 2, warming: 1 }],
        sweep: Some(crate::domain::fleet::Sweep { at: NOW - 20, checked: 1, acted_at: Some(NOW - 600), stopped: vec!["x".into()], removed: vec![] }),
        runner: true,
    };
    app.on_engine(EngineEvent::Tasks(all, fleet));
    let order: Vec<&str> = app.tasks.tasks.iter().map(|t| t.spec.id.as_str()).collect();
    assert_eq!(order, ["20261125-0000q2", "20261125-0000q1", "20261125-0000a1", "20261125-0000a2", "20261125-0000bb"]);
    // on an attempt: its group side by side under the list
    app.on_key(key('j'));
    app.on_key(key('j'));
    let s = screen(&mut app, 160, 30);
    insta::assert_snapshot!(s);
    assert!(s.contains("queued 1/2") && s.contains("queued 2/2"), "{s}");
    assert!(s.contains("attempts #1 succeeded 2 +30 -4 │ #2 failed 1 +3 -0"), "{s}");
    assert!(s.contains("pool api: 2 ready 1 warming"), "{s}");
    assert!(s.contains("callback failed (HTTP 500)"), "{s}");
}
