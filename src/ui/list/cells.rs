//! The cells of one row of the list: a container's figures, a project's totals, a group's
//! heading.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Cell;

use super::super::theme;
use crate::app::{App, ContainerView, Group, Totals};
use crate::domain::container::{ContainerState, Health};
use crate::domain::stats::{human_age, human_bytes};

/// Which columns the list shows at a width: the name, state, CPU and memory always; then, by
/// priority, what each agent is doing (AGENT), what it cost today ($TODAY), the tool or prompt
/// (DOING), health, the workspace's git state, age, context use, tokens, disk and turns, as
/// many as fit. They are drawn
/// in a fixed order whatever fits.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cols {
    pub name_w: u16,
    /// Narrow screens (under 100 columns): short counts in the title, short group names.
    pub compact: bool,
    /// Short state and memory figures (narrow screens, or to make room for DOING).
    pub short: bool,
    /// Very narrow screens (under 60 columns): name, state, CPU and memory used only.
    pub tiny: bool,
    pub health: bool,
    pub disk: bool,
    pub age: bool,
    /// The projects' git state (branch, ahead / behind, files changed).
    pub git: bool,
    pub agent: bool,
    pub turns: bool,
    pub tokens: bool,
    pub cost: bool,
    pub ctx: bool,
    pub doing: bool,
    /// Columns left over beyond every shown column's least width (the REFRESH column may grow
    /// by this much and DOING still gets its least).
    pub spare: u16,
    pub refresh_min: u16,
}

/// Width of the AGENT column ("waiting 12m", "working 1h2m").
pub const AGENT_W: u16 = 13;
const DOING_MIN: u16 = 24;
/// Width of the GIT column ("main ↑2 ↓1 +3").
pub const GIT_W: u16 = 18;
/// The REFRESH column keeps at least this (its ⟳ mark and the start of a reason), and on
/// screens 100 columns wide or more a reason whole (`⟳ age 80h > 72h`).
const REFRESH_MIN: u16 = 4;
const REFRESH_WIDE: u16 = 16;

impl Cols {
    /// The columns for a list `w` wide whose widest name has `widest` characters; `git`: the
    /// projects' git state is read (a GIT column may show).
    pub fn for_width(w: u16, widest: usize, git: bool) -> Cols {
        // short figures rather than no DOING
        let wide = Cols::fit(w, widest, w < 100, git);
        if wide.doing || wide.short {
            return wide;
        }
        Cols::fit(w, widest, true, git)
    }

    fn fit(w: u16, widest: usize, short: bool, git: bool) -> Cols {
        let compact = w < 100;
        let mut c = Cols { compact, short, tiny: w < 60, ..Default::default() };
        c.name_w = (widest + 2).clamp(12, if short { 20 } else { 40 }) as u16;
        if c.tiny {
            return c;
        }
        let state_w = if short { 10 } else { 16 };
        let mem_w = if short { 11 } else { 19 };
        // borders, then each column with its space
        c.refresh_min = if short { REFRESH_MIN } else { REFRESH_WIDE };
        let fixed = c.name_w + 1 + state_w + 1 + 6 + 1 + mem_w + 1 + c.refresh_min;
        let mut left = w.saturating_sub(2).saturating_sub(fixed);
        let mut take = |width: u16| {
            let fits = left > width;
            if fits {
                left -= width + 1;
            }
            fits
        };
        c.agent = take(AGENT_W);
        c.cost = take(6);
        c.doing = take(DOING_MIN);
        c.health = take(9);
        c.git = git && take(GIT_W);
        c.age = take(6);
        c.ctx = take(4);
        c.tokens = take(6);
        c.disk = take(5);
        c.turns = take(5);
        c.spare = left;
        c
    }

    /// The REFRESH column's width beside DOING, for reasons `wanted` columns long.
    pub fn refresh_width(&self, wanted: u16) -> u16 {
        // no reasons on screen: the heading's width, the rest to DOING; else DOING gives up to
        // half its least width to reasons that need it
        if wanted <= 7 {
            return 7;
        }
        wanted.clamp(self.refresh_min, self.refresh_min + self.spare + if self.doing { DOING_MIN / 2 } else { 0 })
    }

    /// How many of the agent's columns show.
    pub fn agent_count(&self) -> usize {
        [self.agent, self.turns, self.tokens, self.cost, self.ctx, self.doing].iter().filter(|b| **b).count()
    }

    /// How many columns are between MEM and REFRESH.
    pub fn between_mem_and_refresh(&self) -> usize {
        usize::from(self.disk) + usize::from(self.age) + self.agent_count()
    }
}

fn state_style(s: ContainerState) -> Style {
    match s {
        ContainerState::Running => Style::new().fg(theme::OK),
        ContainerState::Restarting | ContainerState::Paused | ContainerState::Created => Style::new().fg(theme::WARN),
        _ => Style::new().fg(theme::BAD),
    }
}

fn health_style(h: Health) -> Style {
    match h {
        Health::Healthy => Style::new().fg(theme::OK),
        Health::Starting => Style::new().fg(theme::WARN),
        Health::Unhealthy => Style::new().fg(theme::BAD).add_modifier(Modifier::BOLD),
        Health::None => Style::new().fg(theme::DIM),
    }
}

/// "512MiB" -> "512M" for narrow screens.
fn short_bytes(b: u64) -> String {
    human_bytes(b).replace("iB", "")
}

fn mem_text(used: u64, limit: u64, cols: &Cols) -> String {
    if cols.tiny {
        short_bytes(used)
    } else if cols.short {
        format!("{}/{}", short_bytes(used), short_bytes(limit))
    } else {
        format!("{} / {}", human_bytes(used), human_bytes(limit))
    }
}

/// A sum is marked Σ, so it is never read as one container's figure.
fn totals_text(t: &Totals, cols: &Cols) -> (String, String) {
    if t.with_figures == 0 {
        return ("-".into(), "-".into());
    }
    let cpu = if t.cpu >= 1000.0 { format!("Σ{:.0}", t.cpu) } else { format!("Σ{:.1}", t.cpu) };
    let mem = if t.unlimited { human_bytes(t.mem_used) } else { mem_text(t.mem_used, t.mem_limit, cols) };
    (cpu, format!("Σ{mem}"))
}

fn right(text: String) -> Cell<'static> {
    Cell::from(Line::from(text).right_aligned())
}

/// A container's row; `totals` replaces its CPU and memory with its project's sums.
pub fn container(app: &App, c: &ContainerView, name: Line<'static>, busy: Option<&str>, totals: Option<Totals>, cols: &Cols) -> Vec<Cell<'static>> {
    let state = match (busy, c.info.state) {
        (Some(b), _) => Cell::from(Span::styled(format!("{b}…"), Style::new().fg(theme::WARN))),
        (None, ContainerState::Exited) => {
            let st = c.state.as_ref();
            let code = st.and_then(|s| s.exit_code).map(|e| format!(" ({e})")).unwrap_or_default();
            let oom = if st.map(|s| s.oom_killed).unwrap_or(false) { " OOM" } else { "" };
            Cell::from(Span::styled(format!("exited{code}{oom}"), state_style(c.info.state)))
        }
        (None, ContainerState::Running) if c.last_exit.map(|(at, _, _)| app.model.now - at < 300).unwrap_or(false) => {
            // it died a moment ago and its restart policy brought it back
            let (_, code, oom) = c.last_exit.unwrap_or_default();
            let code = code.map(|c| format!(" {c}")).unwrap_or_default();
            let oom = if oom { " OOM" } else { "" };
            Cell::from(Span::styled(format!("restarted{code}{oom}"), Style::new().fg(theme::WARN)))
        }
        (None, ContainerState::Running) if c.oom_at.map(|at| app.model.now - at < 300).unwrap_or(false) => {
            Cell::from(Span::styled("running OOM", Style::new().fg(theme::BAD).add_modifier(Modifier::BOLD)))
        }
        (None, s) => Cell::from(Span::styled(s.as_str(), state_style(s))),
    };
    let running = c.info.state == ContainerState::Running;
    let s = c.stats.filter(|_| running);
    let (cpu, mem) = match totals {
        Some(t) => totals_text(&t, cols),
        None => (
            s.map(|s| format!("{:.1}", s.sample.cpu_percent)).unwrap_or_else(|| "-".into()),
            s.map(|s| mem_text(s.sample.mem_used, s.sample.mem_limit, cols)).unwrap_or_else(|| "-".into()),
        ),
    };
    let disk = s.and_then(|s| s.disk_percent).map(|d| format!("{d:.0}%")).unwrap_or_else(|| "-".into());
    let created = c.state.as_ref().and_then(|s| s.created).unwrap_or(c.info.created);
    let age = if created > 0 { human_age(app.model.now - created) } else { "-".into() };
    let reasons = app.model.reasons(c);
    let refresh = if reasons.is_empty() {
        Cell::from(Span::styled("", Style::new()))
    } else {
        let text = reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        Cell::from(Span::styled(format!("⟳ {text}"), Style::new().fg(theme::WARN)))
    };
    if cols.tiny {
        return vec![Cell::from(name), state, right(cpu), right(mem)];
    }
    let mut cells = vec![Cell::from(name), state];
    if cols.health {
        cells.push(Cell::from(Span::styled(c.info.health.as_str(), health_style(c.info.health))));
    }
    cells.push(right(cpu));
    cells.push(right(mem));
    if cols.disk {
        cells.push(right(disk));
    }
    if cols.age {
        cells.push(right(age));
    }
    cells.extend(super::agent_cells::cells(app, c.agent.as_ref(), c.agent_info.as_deref(), c.info.managed, cols));
    cells.push(refresh);
    cells
}

/// A group's heading: how many of its containers run, their sums, and the key that unfolds it.
pub fn group(app: &App, g: Group, ids: &[String], folded: bool, cols: &Cols) -> Vec<Cell<'static>> {
    let running = ids.iter().filter_map(|id| app.model.containers.get(id)).filter(|c| c.info.state == ContainerState::Running).count();
    let mark = if folded { "▸" } else { "▾" };
    let name = Line::from(vec![
        Span::styled(format!("{mark} {}", g.label(cols.short)), theme::header()),
        Span::styled(format!(" ({})", ids.len()), Style::new().fg(theme::DIM)),
    ]);
    let state = if cols.short { format!("{running} run") } else { format!("{running} running") };
    let (cpu, mem) = totals_text(&app.model.totals(ids), cols);
    if cols.tiny {
        return vec![Cell::from(name), Cell::from(state), right(cpu), right(mem)];
    }
    let mut cells = vec![Cell::from(name), Cell::from(Span::styled(state, Style::new().fg(if running > 0 { theme::OK } else { theme::DIM })))];
    if cols.health {
        cells.push(Cell::from(""));
    }
    cells.push(right(cpu));
    cells.push(right(mem));
    // the hint goes in the widest column there is: DOING when it shows, else REFRESH
    let blanks = cols.between_mem_and_refresh() - usize::from(cols.doing);
    cells.extend((0..blanks).map(|_| Cell::from("")));
    let what = if folded { "space unfolds" } else { "space folds" };
    let hint = match g {
        _ if cols.compact && !cols.doing => "space".to_string(),
        Group::Tasks => format!("{what} · t: the Tasks view"),
        Group::Unmanaged => format!("{what} · u hides · shown, never changed"),
    };
    cells.push(Cell::from(Span::styled(hint, Style::new().fg(theme::DIM))));
    if cols.doing {
        cells.push(Cell::from(""));
    }
    cells
}

/// Puts the GIT cell (empty on rows that are no project's) in its column, after AGE.
pub fn with_git(mut cells: Vec<Cell<'static>>, git: Option<&crate::domain::gitstate::GitRead>, cols: &Cols) -> Vec<Cell<'static>> {
    if !cols.git || cols.tiny {
        return cells;
    }
    let at = 4 + usize::from(cols.health) + usize::from(cols.disk) + usize::from(cols.age);
    while cells.len() < at {
        cells.push(Cell::from(""));
    }
    let cell = match git {
        Some(g @ crate::domain::gitstate::GitRead::State(s)) => {
            let style = if s.dirty() > 0 { Style::new().fg(theme::WARN) } else { Style::new() };
            Cell::from(Span::styled(g.cell(), style))
        }
        Some(g) => Cell::from(Span::styled(g.cell(), Style::new().fg(theme::DIM))),
        None => Cell::from(""),
    };
    cells.insert(at, cell);
    cells
}
