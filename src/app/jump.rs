//! Getting around a long list: folds (`space`), and `:` jumps to a project or a container by
//! name (`:api`, `:go api`), with Tab completing in the prompt.

use super::cmdline::COLON_VERBS;
use super::list::{natural_cmp, Fold, Group};
use super::model::{is_service_container, is_task_container};
use super::{row_container, App, Row};

/// What a name jumps to.
#[derive(Debug, PartialEq)]
enum Target {
    Project(usize),
    Container(String),
}

impl App {
    /// `space`: folds or unfolds the selected row's project or group.
    pub(super) fn toggle_fold(&mut self) {
        if self.tasks.shown {
            self.message = Some("folds are the container list's (t shows it)".into());
            return;
        }
        self.list.screenful = self.list_page();
        let before = self.list.selected;
        if let Err(why) = self.list.toggle_fold(&self.model) {
            self.message = Some(why);
        }
        self.dirty = true;
        if self.list.selected != before {
            self.request_detail();
        }
    }

    /// Names Tab completes in the `:` prompt: the projects', then every container's.
    pub fn jump_names(&self) -> Vec<String> {
        let projects = self.model.projects.iter().map(|p| p.name.clone());
        projects.chain(self.model.containers.values().map(|c| c.info.name.clone())).collect()
    }

    /// Tab in the `:` prompt.
    pub(super) fn complete_colon(&mut self) {
        let names = self.jump_names();
        if !self.cmdline.complete(&names) {
            self.message = Some("no command or name starts so".into());
        }
    }

    /// A `:` line that jumps: `go NAME`, or one word that is no command. True when it was one.
    pub(super) fn colon_jump(&mut self, text: &str) -> bool {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["go" | "g" | "goto"] => {
                self.message = Some("go where? :go NAME (Tab completes)".into());
                true
            }
            ["go" | "g" | "goto", rest @ ..] => {
                self.jump(&rest.join(" "));
                true
            }
            [word] if !COLON_VERBS.contains(word) && !matches!(*word, "quit" | "q!" | "remove" | "create") => {
                self.jump(word);
                true
            }
            _ => false,
        }
    }

    /// The project or container a name means: an exact name (a project's id too) first, then
    /// the first in natural order that starts with it, then one that holds it; case ignored
    /// past the exact match.
    fn resolve(&self, name: &str) -> Option<Target> {
        let m = &self.model;
        if let Some(i) = m.projects.iter().position(|p| p.name == name || p.id == name) {
            return Some(Target::Project(i));
        }
        if let Some(c) = m.containers.values().find(|c| c.info.name == name) {
            return Some(Target::Container(c.info.id.clone()));
        }
        let low = name.to_lowercase();
        let tests: [fn(&str, &str) -> bool; 2] = [|n, w| n.starts_with(w), |n, w| n.contains(w)];
        for fits in tests {
            let mut projects: Vec<usize> = (0..m.projects.len()).filter(|&i| fits(&m.projects[i].name.to_lowercase(), &low)).collect();
            projects.sort_by(|&a, &b| natural_cmp(&m.projects[a].name, &m.projects[b].name));
            if let Some(&i) = projects.first() {
                return Some(Target::Project(i));
            }
            let found = m.containers.values().filter(|c| fits(&c.info.name.to_lowercase(), &low)).min_by(|a, b| natural_cmp(&a.info.name, &b.info.name));
            if let Some(c) = found {
                return Some(Target::Container(c.info.id.clone()));
            }
        }
        None
    }

    /// Selects what a name means, unfolding its group and clearing a filter that hides it.
    pub fn jump(&mut self, name: &str) {
        let Some(target) = self.resolve(name) else {
            self.message = Some(format!("no project or container named '{name}' (:help lists the commands; Tab completes names)"));
            return;
        };
        if self.tasks.shown {
            self.toggle_tasks();
        }
        // the fold that may hide it
        let fold = match &target {
            Target::Project(_) => None,
            Target::Container(id) => self.model.containers.get(id).and_then(|c| {
                if is_service_container(&c.info, &self.model.services()) {
                    Some(Fold::Group(Group::Agentdock))
                } else if !c.info.managed {
                    Some(Fold::Group(Group::Unmanaged))
                } else if is_task_container(&c.info) {
                    Some(Fold::Group(Group::Tasks))
                } else {
                    c.info.project_id.clone().map(Fold::Project)
                }
            }),
        };
        if fold == Some(Fold::Group(Group::Unmanaged)) {
            self.show_unmanaged(true);
        }
        if let Some(f) = &fold {
            self.list.folded.remove(f);
        }
        // and its engine's rows, shown again
        let engine = match &target {
            Target::Project(i) => self.model.projects.get(*i).map(|p| self.model.project_engine(p)),
            Target::Container(id) => self.model.containers.get(id).map(|c| c.engine),
        };
        if let Some(e) = engine {
            self.list.folded.remove(&Fold::Engine(e));
            if self.list.engine_filter.is_some_and(|f| f != e) {
                self.list.engine_filter = None;
            }
        }
        // a project's main container is its project's row
        let is_it = |app: &App, r: &Row| match (&target, r) {
            (Target::Project(i), Row::Project { project, .. }) => project == i,
            (Target::Container(id), r) => row_container(&app.model, r).is_some_and(|c| &c.info.id == id),
            _ => false,
        };
        self.rebuild_rows();
        if !self.list.rows.iter().any(|r| is_it(self, r)) && !self.list.filter.is_empty() {
            self.message = Some(format!("the filter /{} hid it: cleared", self.list.filter));
            self.list.filter.clear();
            self.rebuild_rows();
        }
        if let Some(i) = self.list.rows.iter().position(|r| is_it(self, r)) {
            self.select(i);
        }
    }
}
