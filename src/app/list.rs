//! The list view: projects with their containers, then (toggle) the unmanaged ones; its sort,
//! filter and selection.

use crossterm::event::KeyEvent;

use super::cmdline::{edit_line, LineEdit};
use super::model::{ContainerView, Model};

#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// A project, with its main container when it has one.
    Project { project: usize, container: Option<String> },
    /// A further container of a project, or a managed container whose project is gone.
    Extra { container: String, orphan: bool },
    /// A container agentdock does not manage.
    Unmanaged { container: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    State,
    Health,
    Cpu,
    Mem,
    Disk,
    Age,
}

impl SortKey {
    pub const ALL: [SortKey; 7] =
        [SortKey::Name, SortKey::State, SortKey::Health, SortKey::Cpu, SortKey::Mem, SortKey::Disk, SortKey::Age];
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Name => "NAME",
            SortKey::State => "STATE",
            SortKey::Health => "HEALTH",
            SortKey::Cpu => "CPU%",
            SortKey::Mem => "MEM",
            SortKey::Disk => "DISK",
            SortKey::Age => "AGE",
        }
    }
}

pub struct ListView {
    pub rows: Vec<Row>,
    pub selected: usize,
    pub filter: String,
    pub sort: SortKey,
    pub sort_desc: bool,
    pub show_unmanaged: bool,
}

/// First visible row so that `selected` is in view (the same for drawing and mouse hits).
pub fn list_offset(selected: usize, visible: usize) -> usize {
    if visible == 0 || selected < visible {
        0
    } else {
        selected + 1 - visible
    }
}

pub fn row_container<'a>(m: &'a Model, row: &Row) -> Option<&'a ContainerView> {
    match row {
        Row::Project { container: Some(id), .. } | Row::Extra { container: id, .. } | Row::Unmanaged { container: id } => {
            m.containers.get(id)
        }
        Row::Project { container: None, .. } => None,
    }
}

impl ListView {
    pub fn new(show_unmanaged: bool) -> ListView {
        ListView { rows: Vec::new(), selected: 0, filter: String::new(), sort: SortKey::Name, sort_desc: false, show_unmanaged }
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.selected)
    }

    /// Moves the selection; true when it changed.
    pub fn select(&mut self, i: usize) -> bool {
        let i = i.min(self.rows.len().saturating_sub(1));
        let changed = i != self.selected;
        self.selected = i;
        changed
    }

    pub fn next_sort(&mut self) {
        let i = SortKey::ALL.iter().position(|k| *k == self.sort).unwrap_or(0);
        self.sort = SortKey::ALL[(i + 1) % SortKey::ALL.len()];
    }

    /// Keys while the filter is typed; true when the filter changed (the rows need rebuilding).
    pub fn on_filter_key(&mut self, key: KeyEvent) -> FilterKey {
        match edit_line(&mut self.filter, key) {
            LineEdit::Edited => FilterKey::Changed,
            LineEdit::Enter => FilterKey::Done,
            LineEdit::Esc => {
                self.filter.clear();
                FilterKey::Done
            }
            LineEdit::Other => FilterKey::Ignored,
        }
    }

    /// Sort key of a row: containerless rows after the others (except by name).
    fn sort_value(&self, m: &Model, row: &Row) -> (bool, i64, String) {
        let name = match row {
            Row::Project { project, .. } => m.projects[*project].name.clone(),
            other => row_container(m, other).map(|c| c.info.name.clone()).unwrap_or_default(),
        };
        if self.sort == SortKey::Name {
            return (false, 0, name);
        }
        let Some(c) = row_container(m, row) else { return (true, 0, name) };
        let s = c.stats;
        let v = match self.sort {
            SortKey::Name => 0,
            SortKey::State => c.info.state as i64,
            SortKey::Health => c.info.health as i64,
            SortKey::Cpu => (s.map(|s| s.sample.cpu_percent).unwrap_or(-1.0) * 100.0) as i64,
            SortKey::Mem => s.map(|s| s.sample.mem_used as i64).unwrap_or(-1),
            SortKey::Disk => (s.and_then(|s| s.disk_percent).unwrap_or(-1.0) * 100.0) as i64,
            SortKey::Age => -c.info.created,
        };
        (false, v, name)
    }

    fn matches_filter(&self, text: &str) -> bool {
        self.filter.is_empty() || text.to_lowercase().contains(&self.filter.to_lowercase())
    }

    /// Recomputes the rows from projects, containers, filter and sort; keeps the selection on
    /// the same row when it is still there.
    pub fn rebuild(&mut self, m: &Model) {
        let keep = self.selected_row().cloned();
        let mut groups: Vec<(Row, Vec<Row>)> = Vec::new();
        for (i, p) in m.projects.iter().enumerate() {
            let cs = m.project_containers(&p.id);
            let names_match = self.matches_filter(&p.name) || cs.iter().any(|c| self.matches_filter(&c.info.name));
            if !names_match {
                continue;
            }
            let main = cs.first().map(|c| c.info.id.clone());
            let extras = cs.iter().skip(1).map(|c| Row::Extra { container: c.info.id.clone(), orphan: false }).collect();
            groups.push((Row::Project { project: i, container: main }, extras));
        }
        // managed containers whose project is not among the projects
        for c in m.containers.values() {
            let known = c.info.project_id.as_deref().map(|id| m.project(id).is_some()).unwrap_or(false);
            if c.info.managed && !known && self.matches_filter(&c.info.name) {
                groups.push((Row::Extra { container: c.info.id.clone(), orphan: true }, Vec::new()));
            }
        }
        groups.sort_by(|a, b| {
            let (ka, kb) = (self.sort_value(m, &a.0), self.sort_value(m, &b.0));
            // containerless rows stay last whichever the direction
            let o = (ka.1, &ka.2).cmp(&(kb.1, &kb.2));
            ka.0.cmp(&kb.0).then(if self.sort_desc { o.reverse() } else { o })
        });
        let mut rows: Vec<Row> = Vec::new();
        for (head, extras) in groups {
            rows.push(head);
            rows.extend(extras);
        }
        if self.show_unmanaged {
            let mut un: Vec<&ContainerView> =
                m.containers.values().filter(|c| !c.info.managed && self.matches_filter(&c.info.name)).collect();
            un.sort_by(|a, b| a.info.name.cmp(&b.info.name));
            rows.extend(un.into_iter().map(|c| Row::Unmanaged { container: c.info.id.clone() }));
        }
        self.rows = rows;
        if let Some(k) = keep {
            if let Some(i) = self.rows.iter().position(|r| same_row(r, &k)) {
                self.selected = i;
            }
        }
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }
}

/// What a key did to the filter.
#[derive(Debug, PartialEq)]
pub enum FilterKey {
    Changed,
    Done,
    Ignored,
}

fn same_row(a: &Row, b: &Row) -> bool {
    match (a, b) {
        (Row::Project { project: x, .. }, Row::Project { project: y, .. }) => x == y,
        (Row::Extra { container: x, .. }, Row::Extra { container: y, .. }) => x == y,
        (Row::Unmanaged { container: x }, Row::Unmanaged { container: y }) => x == y,
        _ => false,
    }
}
