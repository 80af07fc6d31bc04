//! What the app tells the user about events that are not about one container's state.

use std::collections::BTreeMap;

use super::{App, Command};
use crate::domain::network::RefusalCount;

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
}
