//! Detail of the selected container: facts on the left, CPU and memory history on the right.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph, Wrap};
use ratatui::Frame;

use super::{panel, theme};
use crate::app::{App, ContainerView, HISTORY_SECS};
use crate::domain::stats::human_bytes;

fn kv(k: &str, v: String) -> Line<'static> {
    Line::from(vec![Span::styled(format!("{k:<9}"), Style::new().fg(theme::DIM)), Span::raw(v)])
}

fn facts(app: &App, c: &ContainerView) -> Vec<Line<'static>> {
    let mut lines = vec![
        kv("name", format!("{}  {}", c.info.name, c.info.short_id())),
        kv("image", c.info.image.clone()),
        // the engine's status text ("Up 2 seconds") ages at once: the state and its start
        // time say the same and stay true
        kv(
            "status",
            match c.state.as_ref().and_then(|s| s.started_at).filter(|_| c.info.state == crate::domain::container::ContainerState::Running) {
                Some(t) => format!("running for {}, {}", crate::domain::stats::human_age(app.model.now - t), c.info.health.as_str()),
                None => format!("{}, {}", c.info.state.as_str(), c.info.health.as_str()),
            },
        ),
    ];
    if let Some(st) = &c.state {
        if let Some(code) = st.exit_code.filter(|_| c.info.state != crate::domain::container::ContainerState::Running) {
            lines.push(kv("exit", format!("{code}{}", if st.oom_killed { " (OOM-killed)" } else { "" })));
        }
    }
    if let Some(a) = &c.agent {
        lines.push(kv("agent", a.label(app.model.now)));
    }
    if let Some(g) = c.info.project_id.as_ref().filter(|_| c.info.managed).and_then(|p| app.model.git.get(p)) {
        lines.push(kv("git", g.describe()));
    }
    if let Some(r) = app.model.refusals.get(&c.info.name) {
        let ago = crate::domain::stats::human_age(app.model.now - r.last_at as i64);
        lines.push(kv("refused", format!("{} requests by the egress proxy; last {}:{}, {ago} ago", r.count, r.last_host, r.last_port)));
    }
    if let Some(s) = c.stats {
        let x = s.sample;
        lines.push(kv(
            "usage",
            format!(
                "cpu {:.1}%  mem {} / {} ({:.0}%)  pids {}  disk {}",
                x.cpu_percent,
                human_bytes(x.mem_used),
                human_bytes(x.mem_limit),
                x.mem_percent,
                x.pids,
                s.disk_percent.map(|d| format!("{d:.0}%")).unwrap_or_else(|| "-".into())
            ),
        ));
        if x.net_rx + x.net_tx + x.blk_read + x.blk_write > 0 {
            lines.push(kv(
                "io",
                format!(
                    "net {} in / {} out  block {} read / {} written",
                    human_bytes(x.net_rx),
                    human_bytes(x.net_tx),
                    human_bytes(x.blk_read),
                    human_bytes(x.blk_write)
                ),
            ));
        }
    }
    if let Some(d) = &c.detail {
        let cpus = d.nano_cpus.filter(|n| *n > 0).map(|n| format!("{:.1} cpus", n as f64 / 1e9)).unwrap_or("no cpu limit".into());
        let mem = d.memory_limit.filter(|m| *m > 0).map(|m| human_bytes(m as u64)).unwrap_or("no memory limit".into());
        let pids = d.pids_limit.filter(|p| *p > 0).map(|p| format!("{p} pids")).unwrap_or("no pids limit".into());
        lines.push(kv("limits", format!("{mem}, {cpus}, {pids}")));
        for m in &d.mounts {
            lines.push(kv("mount", m.clone()));
        }
        if !d.ports.is_empty() {
            lines.push(kv("ports", d.ports.join(", ")));
        }
        for h in d.health_log.iter().rev().take(3) {
            lines.push(kv("health", h.clone()));
        }
    }
    let reasons = app.model.reasons(c);
    if !reasons.is_empty() {
        let text = reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        lines.push(Line::from(Span::styled(format!("needs refresh: {text}  (r refreshes)"), Style::new().fg(theme::WARN))));
    }
    lines
}

fn plot<'a>(title: &'a str, points: &'a [(f64, f64)], max: f64, color: ratatui::style::Color) -> Chart<'a> {
    let ds = Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(Style::new().fg(color)).data(points);
    Chart::new(vec![ds])
        .block(panel(Line::from(Span::styled(format!(" {title} "), theme::header())), false))
        .x_axis(Axis::default().bounds([-(HISTORY_SECS as f64), 0.0]).labels(["-5m", "now"]).style(Style::new().fg(theme::DIM)))
        .y_axis(
            Axis::default()
                .bounds([0.0, max])
                .labels([Span::raw("0"), Span::raw(format!("{max:.0}"))])
                .style(Style::new().fg(theme::DIM)),
        )
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let Some(c) = app.selected_container() else {
        let mut lines = vec![Line::from("no container selected: c creates the project's container")];
        if let Some(g) = app.selected_project().and_then(|p| app.model.git.get(&p.id)) {
            lines.push(kv("git", g.describe()));
        }
        let p = Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .style(Style::new().fg(theme::DIM))
            .block(panel(Line::from(Span::styled(" detail ", theme::header())), false));
        f.render_widget(p, area);
        return;
    };
    let [left, right] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let p = Paragraph::new(facts(app, c))
        .wrap(Wrap { trim: false })
        .block(panel(Line::from(Span::styled(" detail ", theme::header().add_modifier(Modifier::BOLD))), false));
    f.render_widget(p, left);

    let now = app.model.now;
    let cpu: Vec<(f64, f64)> = c.cpu_hist.iter().map(|(t, v)| ((t - now) as f64, *v)).collect();
    let mem: Vec<(f64, f64)> = c.mem_hist.iter().map(|(t, v)| ((t - now) as f64, *v)).collect();
    let cpu_max = cpu.iter().map(|p| p.1).fold(100.0, f64::max).ceil();
    let [top, bottom] = Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(right);
    f.render_widget(plot("cpu %", &cpu, cpu_max, theme::ACCENT), top);
    f.render_widget(plot("memory % of limit", &mem, 100.0, theme::OK), bottom);
}
