//! What the app tells the user about events that are not about one container's state, and
//! the notifications about agents.

use std::collections::BTreeMap;

use super::{App, Command};
use crate::domain::network::RefusalCount;
use crate::domain::notify::Alert;

impl App {
    /// The egress proxy's refusals: the first one of a container is said (and rings the bell
    /// when notifications are on); the detail view counts them all.
    pub(super) fn on_refusals(&mut self, counts: BTreeMap<String, RefusalCount>, first: Vec<String>) {
        if let Some(name) = first.first() {
            let last = counts.get(name).map(|c| format!("{}:{}", c.last_host, c.last_port)).unwrap_or_default();
            self.message = Some(format!("{name} was refused {last} by the egress proxy (agentdock net lists what it refused; security.allow adds a domain)"));
            if self.model.config.ui.notifications {
                self.emit(Command::Bell);
            }
        }
        self.model.refusals = counts;
    }

    /// A change of an agent: rung (the bell, and a desktop notification) when `[notify]`
    /// asks for its kind, and said.
    pub(super) fn on_alert(&mut self, alert: Alert, who: String) {
        let n = &self.model.config.notify;
        let text = match alert {
            Alert::Waiting if n.waiting => format!("{who} is waiting for you"),
            Alert::TurnDone { secs } if n.turn_minutes > 0 && secs >= n.turn_minutes as i64 * 60 => {
                format!("{who} finished its turn after {}", crate::domain::stats::human_age(secs))
            }
            Alert::Died if n.died => format!("{who} exited"),
            _ => return,
        };
        let desktop = n.desktop;
        self.message = Some(text.clone());
        self.emit(Command::Notify { text, desktop });
    }
}
