//! The list view: projects with their containers and the orphans, then the groups that fold
//! (the task containers; the unmanaged ones, on a toggle); its sort (names in natural order),
//! filter, folds and selection. Rows are rebuilt only when the containers, the sort, the filter
//! or a fold change, never per tick.

use std::collections::{HashMap, HashSet};

use crossterm::event::KeyEvent;

use super::cmdline::{edit_line, LineEdit};
use super::model::{is_service_container, is_task_container, ContainerView, Model};
pub use crate::domain::text::natural_cmp;

#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// A project, with its main container when it has one.
    Project { project: usize, container: Option<String> },
    /// A further container of a project, or a managed container whose project is gone.
    Extra { container: String, orphan: bool },
    /// The heading of a group that folds.
    Group(Group),
    /// A container in a group: a task's, or one agentdock does not manage.
    Member { group: Group, container: String },
    /// A further agent session (`+`) of a container, under the container's row.
    Agent { container: String, name: String },
    /// The heading of an engine's projects and containers (several engines only).
    Engine(usize),
}

/// The groups of containers that are not a project's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// agentdock's own services (the egress proxy, the broker): `r` makes one anew.
    Agentdock,
    /// Tasks' one-shot containers (the Tasks view, `t`, is theirs): folded at first.
    Tasks,
    /// Containers agentdock does not manage: folded at first when more than a screenful.
    Unmanaged,
}

impl Group {
    /// Its heading (`short` for narrow screens).
    pub fn label(self, short: bool) -> &'static str {
        match self {
            Group::Agentdock => "agentdock",
            Group::Tasks if short => "tasks",
            Group::Tasks => "task containers",
            Group::Unmanaged => "unmanaged",
        }
    }
}

/// What folds: a project's further containers, or a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Fold {
    Project(String),
    Group(Group),
    /// An engine's rows.
    Engine(usize),
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
    /// What is folded now.
    pub folded: HashSet<Fold>,
    /// Rows the list shows at once, set by the app before a rebuild: the unmanaged group starts
    /// folded when it holds more.
    pub screenful: usize,
    /// Each project's containers (by project index), the main one first; task containers are
    /// not among them. Kept by the rebuild for the totals on the project's row.
    pub members: Vec<Vec<String>>,
    /// The containers of each group that match the filter, in natural order.
    pub service_ids: Vec<String>,
    pub task_ids: Vec<String>,
    pub unmanaged_ids: Vec<String>,
    /// The widest name among the rows, in characters (the NAME column's width).
    pub widest: usize,
    /// Whether the unmanaged group's first fold was decided (once: then it is the user's).
    unmanaged_fold_decided: bool,
    /// Only this engine's rows (`E`); None: every engine's.
    pub engine_filter: Option<usize>,
}

/// First visible row so that `selected` is in view (the same for drawing and mouse hits).
pub fn list_offset(selected: usize, visible: usize) -> usize {
    if visible == 0 || selected < visible {
        0
    } else {
        selected + 1 - visible
    }
}

/// The rows of a container's further agent sessions (`+`), under its own row.
pub fn agent_rows(c: &ContainerView, widest: &mut usize) -> Vec<Row> {
    c.extra_agents
        .keys()
        .map(|name| {
            *widest = (*widest).max(name.chars().count() + 4);
            Row::Agent { container: c.info.id.clone(), name: name.clone() }
        })
        .collect()
}

pub fn row_container<'a>(m: &'a Model, row: &Row) -> Option<&'a ContainerView> {
    match row {
        Row::Project { container: Some(id), .. }
        | Row::Extra { container: id, .. }
        | Row::Member { container: id, .. }
        | Row::Agent { container: id, .. } => m.containers.get(id),
        Row::Project { container: None, .. } | Row::Group(_) | Row::Engine(_) => None,
    }
}

/// Where a container goes in the list.
enum Place {
    Project(usize),
    Orphan,
    Group(Group),
}

impl ListView {
    pub fn new(show_unmanaged: bool) -> ListView {
        ListView {
            rows: Vec::new(),
            selected: 0,
            filter: String::new(),
            sort: SortKey::Name,
            sort_desc: false,
            show_unmanaged,
            folded: HashSet::from([Fold::Group(Group::Tasks)]),
            screenful: 20,
            members: Vec::new(),
            service_ids: Vec::new(),
            task_ids: Vec::new(),
            unmanaged_ids: Vec::new(),
            widest: 0,
            unmanaged_fold_decided: false,
            engine_filter: None,
        }
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

    /// Whether a fold holds its rows back now (a filter shows every match, folded or not).
    pub fn is_folded(&self, f: &Fold) -> bool {
        self.filter.is_empty() && self.folded.contains(f)
    }

    /// What the selected row folds: its project's further containers, or its group.
    pub fn fold_of_selected(&self, m: &Model) -> Option<Fold> {
        match self.selected_row()? {
            Row::Project { project, .. } => Some(Fold::Project(m.projects.get(*project)?.id.clone())),
            Row::Extra { orphan: false, container } => Some(Fold::Project(m.containers.get(container)?.info.project_id.clone()?)),
            Row::Extra { orphan: true, .. } => None,
            Row::Agent { container, .. } => Some(Fold::Project(m.containers.get(container)?.info.project_id.clone()?)),
            Row::Group(g) | Row::Member { group: g, .. } => Some(Fold::Group(*g)),
            Row::Engine(i) => Some(Fold::Engine(*i)),
        }
    }

    /// The row that heads a fold.
    pub fn head_of(&self, m: &Model, f: &Fold) -> Option<usize> {
        self.rows.iter().position(|r| match (r, f) {
            (Row::Project { project, .. }, Fold::Project(id)) => m.projects.get(*project).is_some_and(|p| &p.id == id),
            (Row::Group(g), Fold::Group(h)) => g == h,
            (Row::Engine(i), Fold::Engine(j)) => i == j,
            _ => false,
        })
    }

    /// Folds or unfolds what the selected row belongs to and selects its head; what it did.
    pub fn toggle_fold(&mut self, m: &Model) -> Result<&'static str, String> {
        if !self.filter.is_empty() {
            return Err("a filter shows every match, folded or not (Esc clears it)".into());
        }
        let Some(f) = self.fold_of_selected(m) else { return Err("nothing to fold here".into()) };
        if let Fold::Project(id) = &f {
            let i = m.projects.iter().position(|p| &p.id == id);
            if i.and_then(|i| self.members.get(i)).is_none_or(|ids| ids.len() < 2) {
                return Err("nothing to fold: this project has no further containers".into());
            }
        }
        let folded = if self.folded.remove(&f) {
            false
        } else {
            self.folded.insert(f.clone());
            true
        };
        self.rebuild(m);
        if let Some(i) = self.head_of(m, &f) {
            self.selected = i;
        }
        Ok(if folded { "folded" } else { "unfolded" })
    }

    fn matches_filter(&self, text: &str) -> bool {
        self.filter.is_empty() || text.to_lowercase().contains(&self.filter.to_lowercase())
    }

    /// Sort key of a head row (a project's or an orphan's): containerless rows after the
    /// others (except by name); a project by the sum of its containers' CPU or memory.
    fn sort_value(&self, m: &Model, row: &Row) -> (bool, i64, String) {
        // by the name the row shows (an orphan shows its project's)
        let name = match row {
            Row::Project { project, .. } => m.projects[*project].name.clone(),
            other => row_container(m, other).map(|c| c.info.project_name.clone().unwrap_or_else(|| c.info.name.clone())).unwrap_or_default(),
        };
        if self.sort == SortKey::Name {
            return (false, 0, name);
        }
        let Some(c) = row_container(m, row) else { return (true, 0, name) };
        let sum = |f: fn(&ContainerView) -> Option<i64>| -> i64 {
            let ids: &[String] = match row {
                Row::Project { project, .. } => self.members.get(*project).map(Vec::as_slice).unwrap_or_default(),
                _ => std::slice::from_ref(&c.info.id),
            };
            let v: Vec<i64> = ids.iter().filter_map(|id| m.containers.get(id)).filter_map(f).collect();
            if v.is_empty() {
                -1
            } else {
                v.iter().sum()
            }
        };
        let v = match self.sort {
            SortKey::Name => 0,
            SortKey::State => c.info.state as i64,
            SortKey::Health => c.info.health as i64,
            SortKey::Cpu => sum(|c| c.stats.map(|s| (s.sample.cpu_percent * 100.0) as i64)),
            SortKey::Mem => sum(|c| c.stats.map(|s| s.sample.mem_used as i64)),
            SortKey::Disk => (c.stats.and_then(|s| s.disk_percent).unwrap_or(-1.0) * 100.0) as i64,
            SortKey::Age => -c.info.created,
        };
        (false, v, name)
    }

    /// Recomputes the rows from projects, containers, filter, sort and folds (one pass over
    /// the containers); keeps the selection on the same row when it is still there.
    pub fn rebuild(&mut self, m: &Model) {
        let keep = self.selected_row().cloned();
        let index: HashMap<&str, usize> = m.projects.iter().enumerate().map(|(i, p)| (p.id.as_str(), i)).collect();
        let mut members: Vec<Vec<&ContainerView>> = vec![Vec::new(); m.projects.len()];
        let (mut orphans, mut services, mut tasks, mut unmanaged) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let service_names = m.services();
        let shown = |engine: usize| m.engine_shown(engine, self.engine_filter);
        for c in m.containers.values().filter(|c| shown(c.engine)) {
            let place = if is_service_container(&c.info, &service_names) {
                Place::Group(Group::Agentdock)
            } else if !c.info.managed {
                Place::Group(Group::Unmanaged)
            } else if is_task_container(&c.info) {
                Place::Group(Group::Tasks)
            } else {
                match c.info.project_id.as_deref().and_then(|id| index.get(id)) {
                    Some(i) => Place::Project(*i),
                    None => Place::Orphan,
                }
            };
            match place {
                Place::Project(i) => members[i].push(c),
                Place::Orphan => orphans.push(c),
                Place::Group(Group::Agentdock) => services.push(c),
                Place::Group(Group::Tasks) => tasks.push(c),
                Place::Group(Group::Unmanaged) => unmanaged.push(c),
            }
        }
        // the main container first (by its name, else the oldest), then the others by name
        for (i, cs) in members.iter_mut().enumerate() {
            let main = crate::domain::container::container_name(&m.projects[i].id);
            cs.sort_by_key(|c| (c.info.name != main, c.info.created));
            if cs.len() > 2 {
                cs[1..].sort_by(|a, b| natural_cmp(&a.info.name, &b.info.name));
            }
        }
        self.members = members.iter().map(|cs| cs.iter().map(|c| c.info.id.clone()).collect()).collect();
        let mut widest = 0;
        let mut heads: Vec<(Row, Vec<Row>)> = Vec::new();
        for (i, p) in m.projects.iter().enumerate() {
            let cs = &members[i];
            if !shown(m.project_engine(p)) {
                continue;
            }
            if !(self.matches_filter(&p.name) || cs.iter().any(|c| self.matches_filter(&c.info.name))) {
                continue;
            }
            let head = Row::Project { project: i, container: cs.first().map(|c| c.info.id.clone()) };
            let mut extras = Vec::new();
            widest = widest.max(p.name.chars().count() + if cs.len() > 1 { 4 } else { 0 });
            extras.extend(cs.first().map(|c| agent_rows(c, &mut widest)).unwrap_or_default());
            if !self.is_folded(&Fold::Project(p.id.clone())) {
                for c in cs.iter().skip(1) {
                    widest = widest.max(c.info.name.chars().count() + 4);
                    extras.push(Row::Extra { container: c.info.id.clone(), orphan: false });
                    extras.extend(agent_rows(c, &mut widest));
                }
            }
            heads.push((head, extras));
        }
        for c in orphans.into_iter().filter(|c| self.matches_filter(&c.info.name)) {
            let name = c.info.project_name.as_ref().unwrap_or(&c.info.name);
            widest = widest.max(name.chars().count() + 11);
            heads.push((Row::Extra { container: c.info.id.clone(), orphan: true }, Vec::new()));
        }
        let keys: Vec<(bool, i64, String)> = heads.iter().map(|(h, _)| self.sort_value(m, h)).collect();
        let mut order: Vec<usize> = (0..heads.len()).collect();
        order.sort_by(|&a, &b| {
            let (ka, kb) = (&keys[a], &keys[b]);
            // containerless rows stay last whichever the direction
            let o = ka.1.cmp(&kb.1).then_with(|| natural_cmp(&ka.2, &kb.2));
            ka.0.cmp(&kb.0).then(if self.sort_desc { o.reverse() } else { o })
        });
        let engine_of_head: Vec<usize> = heads.iter().map(|(h, _)| head_engine(m, h)).collect();
        let mut slots: Vec<Option<(Row, Vec<Row>)>> = heads.into_iter().map(Some).collect();
        let mut rows: Vec<Row> = Vec::new();
        // with several engines, each one's heads under its own row, in the engines' order
        let engines: Vec<Option<usize>> =
            if m.several_engines() { (0..m.engines.len()).filter(|e| shown(*e)).map(Some).collect() } else { vec![None] };
        for engine in engines {
            if let Some(e) = engine {
                // a filter shows the engines with a match only
                if !self.filter.is_empty() && !engine_of_head.contains(&e) {
                    continue;
                }
                rows.push(Row::Engine(e));
                widest = widest.max(m.engines[e].name.chars().count() + 2);
                if self.is_folded(&Fold::Engine(e)) {
                    continue;
                }
            }
            for &i in &order {
                if engine.is_some_and(|e| engine_of_head[i] != e) {
                    continue;
                }
                if let Some((head, extras)) = slots[i].take() {
                    rows.push(head);
                    rows.extend(extras);
                }
            }
        }
        let services = self.group_ids(services);
        let tasks = self.group_ids(tasks);
        let unmanaged = if self.show_unmanaged { self.group_ids(unmanaged) } else { Vec::new() };
        if !self.unmanaged_fold_decided && !unmanaged.is_empty() && self.filter.is_empty() {
            self.unmanaged_fold_decided = true;
            if unmanaged.len() > self.screenful {
                self.folded.insert(Fold::Group(Group::Unmanaged));
            }
        }
        for (g, ids) in [(Group::Agentdock, &services), (Group::Tasks, &tasks), (Group::Unmanaged, &unmanaged)] {
            if ids.is_empty() {
                continue;
            }
            rows.push(Row::Group(g));
            widest = widest.max(g.label(false).len() + 8);
            if !self.is_folded(&Fold::Group(g)) {
                for id in ids {
                    // with several engines a member's name says its engine (" @box")
                    let engine = |c: &ContainerView| if m.several_engines() { m.engines.get(c.engine).map_or(0, |e| e.name.chars().count() + 2) } else { 0 };
                    let name = m.containers.get(id).map(|c| c.info.name.chars().count() + engine(c)).unwrap_or(0);
                    widest = widest.max(name + 4);
                    rows.push(Row::Member { group: g, container: id.clone() });
                }
            }
        }
        (self.service_ids, self.task_ids, self.unmanaged_ids) = (services, tasks, unmanaged);
        self.widest = widest;
        self.rows = rows;
        if let Some(k) = keep {
            if let Some(i) = self.rows.iter().position(|r| same_row(r, &k)) {
                self.selected = i;
            }
        }
        self.selected = self.selected.min(self.rows.len().saturating_sub(1));
    }

    /// A group's containers that match the filter, by name in natural order.
    fn group_ids(&self, mut cs: Vec<&ContainerView>) -> Vec<String> {
        cs.retain(|c| self.matches_filter(&c.info.name));
        cs.sort_by(|a, b| natural_cmp(&a.info.name, &b.info.name));
        cs.into_iter().map(|c| c.info.id.clone()).collect()
    }
}

/// The engine a head row's containers live on.
fn head_engine(m: &Model, row: &Row) -> usize {
    match row {
        Row::Project { project, container } => {
            container.as_ref().and_then(|id| m.containers.get(id)).map(|c| c.engine).unwrap_or_else(|| m.project_engine(&m.projects[*project]))
        }
        other => row_container(m, other).map(|c| c.engine).unwrap_or(0),
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
        (Row::Member { container: x, .. }, Row::Member { container: y, .. }) => x == y,
        (Row::Group(x), Row::Group(y)) => x == y,
        (Row::Agent { container: x, name: a }, Row::Agent { container: y, name: b }) => x == y && a == b,
        (Row::Engine(x), Row::Engine(y)) => x == y,
        _ => false,
    }
}
