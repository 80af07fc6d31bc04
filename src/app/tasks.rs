//! The Tasks view (`t`): every task, newest first, with its state and numbers; a new task's
//! prompt in a text area; the selected task's run or diff in the output pane.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use super::overlay::{Confirm, Mode};
use super::{App, Command, Focus};
use crate::domain::project::Project;
use crate::domain::fleet::FleetInfo;
use crate::domain::task::TaskRecord;
use crate::keymap::Action;

#[derive(Default)]
pub struct TasksView {
    /// The list area shows the tasks instead of the containers.
    pub shown: bool,
    /// Newest first.
    pub tasks: Vec<TaskRecord>,
    pub selected: usize,
    /// The new task's form, kept (with its draft) while closed.
    pub form: TaskForm,
    /// Whether a first look at the tasks on disk came back yet.
    pub loaded: bool,
    /// The pool, the cleanup's last run, the runner.
    pub fleet: FleetInfo,
}

#[derive(Default)]
pub struct TaskForm {
    pub prompt: TextArea<'static>,
    /// The project (index into the model's projects) the task runs on.
    pub project: usize,
}

/// What a key typed into the new task's form asks for.
#[derive(Debug, PartialEq)]
pub enum FormKey {
    Typing,
    Close,
    Submit,
}

impl TaskForm {
    pub fn text(&self) -> String {
        self.prompt.lines().join("\n")
    }

    /// Ctrl-S (or Alt-Enter) starts the task, Enter is a new line, Tab / Shift-Tab change the
    /// project, Esc closes and keeps the draft.
    pub fn on_key(&mut self, key: KeyEvent, projects: usize) -> FormKey {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => FormKey::Close,
            KeyCode::Char('s') if ctrl => FormKey::Submit,
            KeyCode::Enter if key.modifiers.contains(KeyModifiers::ALT) => FormKey::Submit,
            KeyCode::Tab if projects > 0 => {
                self.project = (self.project + 1) % projects;
                FormKey::Typing
            }
            KeyCode::BackTab if projects > 0 => {
                self.project = (self.project + projects - 1) % projects;
                FormKey::Typing
            }
            _ => {
                self.prompt.input(key);
                FormKey::Typing
            }
        }
    }

    pub fn paste(&mut self, text: &str) {
        // a paste is text, never keys: no Enter submits, no control character gets in
        let clean: String = text.replace("\r\n", "\n").replace('\r', "\n").chars().filter(|c| *c == '\n' || *c == '\t' || !c.is_control()).collect();
        self.prompt.insert_str(clean);
    }
}

impl TasksView {
    /// The tasks as they stand now (newest first, the attempts of one prompt together, in
    /// their order); the selection stays on the same task.
    pub fn set(&mut self, tasks: Vec<TaskRecord>, fleet: FleetInfo) {
        let keep = self.selected_task().map(|t| t.spec.id.clone());
        self.tasks = group_attempts(tasks);
        self.fleet = fleet;
        self.loaded = true;
        self.selected = keep.and_then(|id| self.tasks.iter().position(|t| t.spec.id == id)).unwrap_or(0);
        self.clamp();
    }

    /// A task that just started goes on top and is selected.
    pub fn started(&mut self, rec: TaskRecord) {
        self.tasks.retain(|t| t.spec.id != rec.spec.id);
        self.tasks.insert(0, rec);
        self.selected = 0;
    }

    pub fn selected_task(&self) -> Option<&TaskRecord> {
        self.tasks.get(self.selected)
    }

    pub fn select(&mut self, i: usize) {
        self.selected = i;
        self.clamp();
    }

    fn clamp(&mut self) {
        self.selected = self.selected.min(self.tasks.len().saturating_sub(1));
    }

    /// Tasks not over yet, and all of them.
    pub fn counts(&self) -> (usize, usize) {
        (self.tasks.iter().filter(|t| !t.state.is_final()).count(), self.tasks.len())
    }

    /// The attempts the selected task is one of (with it), in their order: empty when it is
    /// no attempt.
    pub fn attempts_of_selected(&self) -> Vec<&TaskRecord> {
        let Some(group) = self.selected_task().and_then(|t| t.spec.group.clone()) else { return Vec::new() };
        self.tasks.iter().filter(|t| t.spec.group.as_ref() == Some(&group)).collect()
    }
}

/// What became of a task handed in: started, queued (the others under way fill
/// `tasks.max_parallel`), or failed to start.
pub fn verb(r: &TaskRecord) -> &'static str {
    match r.state {
        crate::domain::task::TaskState::Queued => "queued",
        crate::domain::task::TaskState::Failed => "failed to start",
        _ => "started",
    }
}

/// Keeps the order of `tasks` but moves each attempt next to the first of its group to come,
/// the group in attempt order.
pub fn group_attempts(tasks: Vec<TaskRecord>) -> Vec<TaskRecord> {
    let mut out: Vec<TaskRecord> = Vec::with_capacity(tasks.len());
    let mut rest = tasks;
    while !rest.is_empty() {
        let first = rest.remove(0);
        let Some(group) = first.spec.group.clone() else {
            out.push(first);
            continue;
        };
        let (mut same, others): (Vec<_>, Vec<_>) = rest.into_iter().partition(|t| t.spec.group.as_ref() == Some(&group));
        same.push(first);
        same.sort_by_key(|t| t.spec.attempt.unwrap_or(0));
        out.extend(same);
        rest = others;
    }
    out
}

impl App {
    /// A key in the task list (focus on the list, no prompt open): true when it was a task
    /// list key.
    pub(super) fn on_task_action(&mut self, action: Action) -> bool {
        let page = self.list_page();
        let t = &mut self.tasks;
        match action {
            Action::Up => t.select(t.selected.saturating_sub(1)),
            Action::Down => t.select(t.selected + 1),
            Action::PageUp => t.select(t.selected.saturating_sub(page)),
            Action::PageDown => t.select(t.selected + page),
            Action::Top => t.select(0),
            Action::Bottom => t.select(usize::MAX),
            Action::NewTask => self.open_task_form(),
            Action::OpenRun => self.open_run(),
            Action::TaskDiff => self.open_diff(),
            Action::CancelTask => match self.tasks.selected_task() {
                Some(r) if !r.state.is_final() => self.mode = Mode::Confirm(Confirm::CancelTask { id: r.spec.id.clone() }),
                Some(r) => self.message = Some(format!("task {} already ended ({})", r.spec.id, r.state.label())),
                None => self.message = Some("no task selected".into()),
            },
            Action::Create
            | Action::CommandLine
            | Action::Refresh
            | Action::Remove
            | Action::StartStop
            | Action::Attach
            | Action::Shell
            | Action::ToggleDetail
            | Action::Filter
            | Action::ToggleUnmanaged
            | Action::SortNext
            | Action::SortReverse => {
                self.message = Some("in the task list: n new · Enter its run · D diff · x cancel · t back to the containers".into());
            }
            _ => return false,
        }
        true
    }

    pub(super) fn toggle_tasks(&mut self) {
        self.tasks.shown = !self.tasks.shown;
        self.focus = Focus::List;
        self.emit(Command::WatchTasks(self.tasks.shown));
    }

    /// The form opens on the selected task's project, else the container list's, else the
    /// first project.
    fn open_task_form(&mut self) {
        let projects: Vec<String> = self.task_projects().iter().map(|p| p.id.clone()).collect();
        if projects.is_empty() {
            self.message = Some("no project to run a task on (put a git repository under a root)".into());
            return;
        }
        let want = self
            .tasks
            .selected_task()
            .filter(|_| self.tasks.shown)
            .map(|t| t.spec.project_id.clone())
            .or_else(|| self.selected_project().map(|p| p.id));
        if let Some(i) = want.and_then(|id| projects.iter().position(|p| *p == id)) {
            self.tasks.form.project = i;
        }
        self.tasks.form.project = self.tasks.form.project.min(projects.len() - 1);
        self.mode = Mode::NewTask;
    }

    /// Projects a task can run on: those whose directory is there.
    pub fn task_projects(&self) -> Vec<&Project> {
        self.model.projects.iter().filter(|p| p.exists).collect()
    }

    pub(super) fn on_task_form_key(&mut self, key: KeyEvent) {
        let n = self.task_projects().len();
        match self.tasks.form.on_key(key, n) {
            FormKey::Typing => {}
            FormKey::Close => self.mode = Mode::Normal,
            FormKey::Submit => {
                let prompt = self.tasks.form.text();
                if prompt.trim().is_empty() {
                    self.message = Some("the prompt is empty".into());
                    return;
                }
                let Some(project) = self.task_projects().get(self.tasks.form.project).map(|p| (*p).clone()) else {
                    self.mode = Mode::Normal;
                    return;
                };
                self.message = Some(format!("starting a task on {}…", project.name));
                self.tasks.form.prompt = TextArea::default();
                self.mode = Mode::Normal;
                if !self.tasks.shown {
                    self.toggle_tasks();
                }
                self.emit(Command::StartTask { project, prompt });
            }
        }
    }

    fn open_run(&mut self) {
        let Some(r) = self.tasks.selected_task() else {
            self.message = Some("no task selected (n starts one)".into());
            return;
        };
        let (id, title) = (r.spec.id.clone(), format!("task {} · {}", r.spec.id, r.spec.project_name));
        let stream = self.new_stream(title);
        self.emit(Command::TaskRun { stream, id });
    }

    fn open_diff(&mut self) {
        let Some(r) = self.tasks.selected_task() else {
            self.message = Some("no task selected".into());
            return;
        };
        let (id, title) = (r.spec.id.clone(), format!("diff {} · {}", r.spec.branch, r.spec.project_name));
        let stream = self.new_stream(title);
        self.emit(Command::TaskDiff { stream, id });
    }
}
