//! The credential broker in agentdock's own terms, pure: what it is told (its config and the
//! capabilities agentdock issued), what it reads from each answer (the `usage` of a streamed or
//! whole Messages API answer), what that costs (a price table per model), what it records
//! (one JSON line per forwarded request, one per refusal) and when a budget stops an agent.
//! The broker module runs it; the engine keeps its container (`link`: what an agent container
//! needs to know of it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod link;
mod meter;
pub use link::*;
pub use meter::*;

/// The broker's name on every agent network: `ANTHROPIC_BASE_URL` points at it.
pub const BROKER_ALIAS: &str = "agentdock-broker";
pub const BROKER_PORT: u16 = 8080;
/// In the broker's container: its state dir (config, capabilities, records), the credential
/// file, agentdock's own binary.
pub const STATE_MOUNT: &str = "/broker";
pub const CREDENTIAL_MOUNT: &str = "/run/agentdock/broker";
pub const CREDENTIAL_FILE: &str = "credential";
pub const BIN_MOUNT: &str = "/usr/local/bin/agentdock-broker";
/// Files of the state dir.
pub const CONFIG_FILE: &str = "broker.json";
pub const CAPS_FILE: &str = "caps.json";
pub const USAGE_FILE: &str = "usage.jsonl";
pub const REFUSED_FILE: &str = "refused.jsonl";
/// Path prefix of the broker's own endpoints (health), never forwarded.
pub const OWN_PATH: &str = "/agentdock/";
/// What agents are given as their `ANTHROPIC_API_KEY`: this prefix, then random.
pub const TOKEN_PREFIX: &str = "agentdock-cap-";

/// `http://agentdock-broker:8080`.
pub fn base_url() -> String {
    format!("http://{BROKER_ALIAS}:{BROKER_PORT}")
}

/// The broker of the agentdock whose proxy is `proxy_name` (one per data dir, like it).
pub fn broker_name(proxy_name: &str) -> String {
    proxy_name.replacen("agentdock-proxy", "agentdock-broker", 1)
}

/// What the user's credential is: the header the broker sends it in differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// An API key: `x-api-key`.
    ApiKey,
    /// A long-lived OAuth token (`claude setup-token`): `Authorization: Bearer`, with the
    /// OAuth beta flag.
    OauthToken,
}

impl CredentialKind {
    /// Told by the value itself: OAuth tokens start `sk-ant-oat`.
    pub fn of(value: &str) -> CredentialKind {
        if value.trim().starts_with("sk-ant-oat") {
            CredentialKind::OauthToken
        } else {
            CredentialKind::ApiKey
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            CredentialKind::ApiKey => "an API key",
            CredentialKind::OauthToken => "an OAuth token",
        }
    }
}

/// The beta flag the Messages API wants with an OAuth token.
pub const OAUTH_BETA: &str = "oauth-2025-04-20";

/// Dollars per million tokens of one model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Writing the prompt cache (5-minute).
    pub cache_write: f64,
    pub cache_read: f64,
}

/// The price table: `assets/prices.toml`, with `broker.prices` over it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub models: BTreeMap<String, Price>,
}

/// The shipped price table.
pub const SHIPPED_PRICES: &str = include_str!("../../assets/prices.toml");

impl Prices {
    pub fn shipped() -> Prices {
        toml::from_str(SHIPPED_PRICES).expect("assets/prices.toml parses (tested)")
    }

    /// The shipped table with `overrides` over it (a model named there replaces its entry).
    pub fn with(overrides: &BTreeMap<String, Price>) -> Prices {
        let mut p = Prices::shipped();
        p.models.extend(overrides.iter().map(|(k, v)| (k.clone(), *v)));
        p
    }

    /// The price of `model`: its own entry, else the longest entry its name starts with, else
    /// `default`; and the entry used.
    pub fn of(&self, model: &str) -> (Price, String) {
        if let Some(p) = self.models.get(model) {
            return (*p, model.to_string());
        }
        let best = self.models.iter().filter(|(k, _)| k.as_str() != "default" && model.starts_with(k.as_str())).max_by_key(|(k, _)| k.len());
        match best {
            Some((k, p)) => (*p, k.clone()),
            None => (self.models.get("default").copied().unwrap_or(Price { input: 0.0, output: 0.0, cache_write: 0.0, cache_read: 0.0 }), "default".into()),
        }
    }

    pub fn cost(&self, model: &str, u: &Usage) -> f64 {
        let (p, _) = self.of(model);
        (u.input_tokens as f64 * p.input
            + u.output_tokens as f64 * p.output
            + u.cache_creation_input_tokens as f64 * p.cache_write
            + u.cache_read_input_tokens as f64 * p.cache_read)
            / 1_000_000.0
    }
}

/// Tokens of one answer, as the API reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens
    }

    /// The fields `v` (a `usage` object) gives replace ours (the API's figures are running
    /// totals: a later event's are the newer).
    pub(super) fn take(&mut self, v: &serde_json::Value) {
        let set = |field: &mut u64, name: &str| {
            if let Some(n) = v.get(name).and_then(|n| n.as_u64()) {
                *field = n;
            }
        };
        set(&mut self.input_tokens, "input_tokens");
        set(&mut self.output_tokens, "output_tokens");
        set(&mut self.cache_creation_input_tokens, "cache_creation_input_tokens");
        set(&mut self.cache_read_input_tokens, "cache_read_input_tokens");
    }
}

/// One capability agentdock issued: the hash of its token, and who holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capability {
    /// SHA-256 of the token, hex.
    pub hash: String,
    pub container: String,
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The subnet of the network the container is on: a request from elsewhere is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// Dollars this task may spend in all (0: no budget).
    #[serde(default)]
    pub task_budget_usd: f64,
    /// Dollars this project may spend per day (UTC) (0: no budget).
    #[serde(default)]
    pub project_daily_budget_usd: f64,
    pub issued_at: i64,
}

/// The capabilities file: written by agentdock, read by the broker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Caps {
    pub caps: Vec<Capability>,
}

impl Caps {
    pub fn find(&self, hash: &str) -> Option<&Capability> {
        self.caps.iter().find(|c| c.hash == hash)
    }
}

/// SHA-256 of a token, hex.
pub fn token_hash(token: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A new token: the prefix, then 32 random bytes in hex. None when the system has no
/// randomness to give (never, on Linux).
pub fn new_token() -> Option<String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut b).ok()?;
    Some(format!("{TOKEN_PREFIX}{}", hex(&b)))
}

/// What the broker is told at start: where to forward, what the credential is, the prices,
/// the global budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokerConfig {
    pub upstream: String,
    pub kind: CredentialKind,
    #[serde(default = "Prices::shipped")]
    pub prices: Prices,
    /// Dollars all agents together may spend per day (UTC) (0: no budget).
    #[serde(default)]
    pub daily_budget_usd: f64,
    /// An extra CA bundle (PEM) trusted for the upstream, in the container (None: the image's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

/// One forwarded request, as recorded (`usage.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageLine {
    /// Unix seconds (with milliseconds) when the answer ended.
    pub at: f64,
    pub container: String,
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default)]
    pub model: String,
    #[serde(flatten)]
    pub usage: Usage,
    pub cost_usd: f64,
    /// The upstream's status.
    pub status: u16,
    /// The answer came to its end (a cut stream records what it read).
    pub complete: bool,
}

/// Why the broker refused a request (`refused.jsonl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refused {
    /// No token in `x-api-key` or `Authorization`.
    NoCapability,
    /// A token agentdock did not issue, or one revoked (its container gone).
    UnknownCapability,
    /// A capability used from another network than its container's.
    WrongNetwork,
    /// A budget was reached.
    Budget,
}

/// One refusal, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusalLine {
    pub at: f64,
    /// The address the request came from.
    pub peer: String,
    pub why: Refused,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    pub message: String,
}

/// The UTC day of unix time `at` (days since 1970).
pub fn day_of(at: f64) -> i64 {
    (at / 86_400.0).floor() as i64
}

/// What has been spent, kept by the broker to hold budgets: per task in all, per project and in
/// all per UTC day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spent {
    pub by_task: BTreeMap<String, f64>,
    pub by_project_day: BTreeMap<(String, i64), f64>,
    pub by_day: BTreeMap<i64, f64>,
}

impl Spent {
    pub fn add(&mut self, l: &UsageLine) {
        let day = day_of(l.at);
        if let Some(t) = &l.task {
            *self.by_task.entry(t.clone()).or_default() += l.cost_usd;
        }
        *self.by_project_day.entry((l.project.clone(), day)).or_default() += l.cost_usd;
        *self.by_day.entry(day).or_default() += l.cost_usd;
    }

    /// The budget `cap` has reached at `now`, as the words the agent's CLI shows; None while
    /// it may go on. `daily` is the global daily budget (0: none).
    pub fn reached(&self, cap: &Capability, daily: f64, now: f64) -> Option<String> {
        let day = day_of(now);
        if let Some(t) = cap.task.as_ref().filter(|_| cap.task_budget_usd > 0.0) {
            if self.by_task.get(t).copied().unwrap_or(0.0) >= cap.task_budget_usd {
                return Some(format!("agentdock: budget of {} for task {t} reached", usd(cap.task_budget_usd)));
            }
        }
        if cap.project_daily_budget_usd > 0.0 && self.by_project_day.get(&(cap.project.clone(), day)).copied().unwrap_or(0.0) >= cap.project_daily_budget_usd {
            return Some(format!("agentdock: daily budget of {} for project {} reached (it starts again at 00:00 UTC)", usd(cap.project_daily_budget_usd), cap.project));
        }
        if daily > 0.0 && self.by_day.get(&day).copied().unwrap_or(0.0) >= daily {
            return Some(format!("agentdock: daily budget of {} for all agents reached (it starts again at 00:00 UTC)", usd(daily)));
        }
        None
    }
}

/// `$5.00`, `$0.0042`.
pub fn usd(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 {
        format!("${v:.4}")
    } else {
        format!("${v:.2}")
    }
}

/// Sums of recorded usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct UsageTotals {
    pub requests: u64,
    #[serde(flatten)]
    pub usage: Usage,
    pub cost_usd: f64,
}

impl UsageTotals {
    pub fn add(&mut self, l: &UsageLine) {
        self.requests += 1;
        self.usage.input_tokens += l.usage.input_tokens;
        self.usage.output_tokens += l.usage.output_tokens;
        self.usage.cache_creation_input_tokens += l.usage.cache_creation_input_tokens;
        self.usage.cache_read_input_tokens += l.usage.cache_read_input_tokens;
        self.cost_usd += l.cost_usd;
    }

    pub fn tokens(&self) -> u64 {
        self.usage.total()
    }
}

/// Recorded usage summed per container, task, project and model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UsageReport {
    pub total: UsageTotals,
    pub by_project: BTreeMap<String, UsageTotals>,
    pub by_task: BTreeMap<String, UsageTotals>,
    pub by_model: BTreeMap<String, UsageTotals>,
    pub by_container: BTreeMap<String, UsageTotals>,
}

impl UsageReport {
    pub fn add(&mut self, l: &UsageLine) {
        self.total.add(l);
        self.by_project.entry(l.project.clone()).or_default().add(l);
        if let Some(t) = &l.task {
            self.by_task.entry(t.clone()).or_default().add(l);
        }
        self.by_model.entry(if l.model.is_empty() { "-".into() } else { l.model.clone() }).or_default().add(l);
        self.by_container.entry(l.container.clone()).or_default().add(l);
    }

    /// The lines of `text` (a usage record) at or after `since`, summed; lines that do not
    /// parse are skipped (and counted).
    pub fn of_text(text: &str, since: f64) -> (UsageReport, usize) {
        let mut r = UsageReport::default();
        let mut bad = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<UsageLine>(line) {
                Ok(l) if l.at >= since => r.add(&l),
                Ok(_) => {}
                Err(_) => bad += 1,
            }
        }
        (r, bad)
    }
}

/// Tasks with their tokens and cost as the broker recorded them, where it did (exact), over
/// what their agent's stream said (the CLI's own estimate).
pub fn metered_tasks(tasks: &[super::task::TaskRecord], by_task: &BTreeMap<String, UsageTotals>) -> Vec<super::task::TaskRecord> {
    tasks
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(u) = by_task.get(&r.spec.id) {
                let s = &mut r.summary;
                s.input_tokens = u.usage.input_tokens;
                s.output_tokens = u.usage.output_tokens;
                s.cache_read_tokens = u.usage.cache_read_input_tokens;
                s.cache_creation_tokens = u.usage.cache_creation_input_tokens;
                s.cost_usd = Some(u.cost_usd);
            }
            r
        })
        .collect()
}

/// An Anthropic-style error body (what the CLI shows of a refused request).
pub fn error_body(kind: &str, message: &str) -> String {
    serde_json::json!({"type": "error", "error": {"type": kind, "message": message}}).to_string()
}

#[cfg(test)]
mod tests;
