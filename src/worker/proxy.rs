//! agentdock's services, watched: the egress proxy and the broker made ready again every
//! health interval (one killed from outside comes back); what the proxy refused read every few
//! seconds while it exists, so the dashboard counts refusals per container and says when an
//! agent is refused the first time; the broker's usage record read as it grows.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::Worker;
use crate::app::EngineEvent;
use crate::domain::broker::{UsageLine, UsageReport};
use crate::domain::network::{this_proxy, Refusal, RefusalTally};
use crate::engine::Engine;

/// How often the proxy's log is read for new refusals.
const READ_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(super) struct ProxyWatch {
    tally: RefusalTally,
    /// Whether the last look found a proxy that agents need.
    present: bool,
    last_ensure: Option<Instant>,
    last_read: Option<Instant>,
    task: Option<JoinHandle<Look>>,
    /// The proxy's staleness as last said (said again only when it changes).
    stale_said: Vec<String>,
    /// The broker's usage record: summed so far, read up to this byte, and a read under way.
    usage: UsageReport,
    usage_offset: u64,
    usage_read: Option<JoinHandle<(Vec<UsageLine>, u64)>>,
}

struct Look {
    present: Option<bool>,
    refusals: Vec<Refusal>,
    error: Option<String>,
    /// Why the proxy is stale (looked at with each ensure).
    stale: Option<Vec<String>>,
}

impl Worker {
    /// Reads the broker's usage record when it grew (a look at its size each second).
    pub(super) async fn watch_usage(&mut self) {
        if self.proxy.usage_read.as_ref().is_some_and(|t| t.is_finished()) {
            if let Some(Ok((lines, to))) = self.proxy.usage_read.take().and_then(futures_util::FutureExt::now_or_never) {
                if to < self.proxy.usage_offset {
                    // the record started over
                    self.proxy.usage = UsageReport::default();
                }
                self.proxy.usage_offset = to;
                if !lines.is_empty() {
                    for l in &lines {
                        self.proxy.usage.add(l);
                    }
                    self.send(EngineEvent::Usage(Box::new(self.proxy.usage.clone()))).await;
                }
            }
        }
        if self.proxy.usage_read.is_some() {
            return;
        }
        let dir = crate::broker::store::state_dir();
        let len = std::fs::metadata(dir.join(crate::domain::broker::USAGE_FILE)).map(|m| m.len()).unwrap_or(0);
        if len == self.proxy.usage_offset {
            return;
        }
        let from = if len < self.proxy.usage_offset { 0 } else { self.proxy.usage_offset };
        self.proxy.usage_read = Some(tokio::task::spawn_blocking(move || crate::broker::store::usage_since_offset(&dir, from)));
    }

    pub(super) async fn watch_proxy(&mut self, engine: &Engine) {
        if self.proxy.task.as_ref().is_some_and(|t| t.is_finished()) {
            if let Some(Ok(look)) = self.proxy.task.take().and_then(futures_util::FutureExt::now_or_never) {
                if let Some(p) = look.present {
                    self.proxy.present = p;
                }
                if let Some(e) = look.error {
                    tracing::warn!("egress proxy: {e}");
                }
                if let Some(stale) = look.stale.filter(|s| *s != self.proxy.stale_said) {
                    if !stale.is_empty() {
                        self.send(EngineEvent::Message(format!("warning: {}", stale.join("; ")))).await;
                    }
                    self.proxy.stale_said = stale;
                }
                let before = self.proxy.tally.by_container.clone();
                let first = self.proxy.tally.add(&look.refusals);
                if self.proxy.tally.by_container != before {
                    self.send(EngineEvent::Refusals { counts: self.proxy.tally.by_container.clone(), first }).await;
                }
            }
        }
        if self.proxy.task.is_some() {
            return;
        }
        let health = Duration::from_secs(self.ctx.config().health.interval_secs.max(5));
        let ensure = self.proxy.last_ensure.is_none_or(|t| t.elapsed() >= health);
        let read = self.proxy.present && self.proxy.last_read.is_none_or(|t| t.elapsed() >= READ_EVERY);
        if !ensure && !read {
            return;
        }
        let now = Instant::now();
        if ensure {
            self.proxy.last_ensure = Some(now);
        }
        if read || ensure {
            self.proxy.last_read = Some(now);
        }
        let (engine, ctx) = (engine.clone(), self.ctx.clone());
        let since = self.proxy.tally.newest as i64;
        let was_present = self.proxy.present;
        self.proxy.task = Some(tokio::spawn(async move {
            let mut look = Look { present: None, refusals: Vec::new(), error: None, stale: None };
            if ensure {
                if let Err(e) = crate::ops::ensure_broker(&engine, &ctx).await {
                    tracing::warn!("broker: {e}");
                }
                match crate::ops::ensure_proxy(&engine, &ctx).await {
                    Ok(state) => {
                        look.present = Some(state.is_some());
                        if state.is_some() {
                            look.stale = Some(engine.proxy_staleness(&this_proxy(ctx.config())).await);
                        }
                    }
                    Err(e) => look.error = Some(e.to_string()),
                }
            }
            if look.present.unwrap_or(was_present) {
                match engine.refusals(&this_proxy(ctx.config()).name, since).await {
                    Ok(r) => look.refusals = r,
                    Err(e) => look.error = Some(e.to_string()),
                }
            }
            look
        }));
    }
}
