//! The credential broker in agentdock's own terms, pure: what it is told (its config and the
//! capabilities agentdock issued), what it reads from each answer (the `usage` of a streamed or
//! whole Messages API answer), what that costs (a price table per model), what it records
//! (one JSON line per forwarded request, one per refusal) and when a budget stops an agent.
//! `crate::broker` runs it; `engine::broker` keeps its container.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    fn take(&mut self, v: &serde_json::Value) {
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

/// The longest line of a streamed answer that is read for its usage; longer ones (text the
/// model writes) are passed on unread.
const MAX_EVENT_LINE: usize = 256 * 1024;
/// The most of a whole (not streamed) answer kept to read its usage.
const MAX_JSON_BODY: usize = 8 * 1024 * 1024;

/// Reads the usage out of an answer as it passes (the bytes go on untouched): a stream's
/// `message_start` and `message_delta` events, or a whole answer's `usage`.
#[derive(Debug, Default)]
pub struct Meter {
    sse: bool,
    line: Vec<u8>,
    /// The current line is too long to be an event of interest: skipped to its end.
    skipping: bool,
    body: Vec<u8>,
    pub usage: Usage,
    pub model: Option<String>,
    /// The stream's `message_stop` came (or a whole answer was read).
    pub complete: bool,
}

impl Meter {
    /// `content_type`: the answer's; a stream is `text/event-stream`.
    pub fn new(content_type: &str) -> Meter {
        Meter { sse: content_type.trim().to_ascii_lowercase().starts_with("text/event-stream"), ..Default::default() }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if !self.sse {
            let room = MAX_JSON_BODY.saturating_sub(self.body.len());
            self.body.extend_from_slice(&bytes[..bytes.len().min(room)]);
            return;
        }
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            let ends = chunk.last() == Some(&b'\n');
            if !self.skipping {
                if self.line.len() + chunk.len() > MAX_EVENT_LINE {
                    self.line.clear();
                    self.skipping = true;
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            if ends {
                if !self.skipping {
                    let line = std::mem::take(&mut self.line);
                    self.event_line(&line);
                }
                self.skipping = false;
            }
        }
    }

    fn event_line(&mut self, line: &[u8]) {
        let Some(data) = line.strip_prefix(b"data:") else { return };
        // only the events that carry usage are parsed
        let interesting = |w: &[u8]| data.windows(w.len()).any(|x| x == w);
        if !(interesting(b"message_start") || interesting(b"message_delta") || interesting(b"message_stop")) {
            return;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return };
        match v.get("type").and_then(|t| t.as_str()) {
            Some("message_start") => {
                if let Some(m) = v.get("message") {
                    if let Some(model) = m.get("model").and_then(|x| x.as_str()) {
                        self.model = Some(model.to_string());
                    }
                    if let Some(u) = m.get("usage") {
                        self.usage.take(u);
                    }
                }
            }
            Some("message_delta") => {
                if let Some(u) = v.get("usage") {
                    self.usage.take(u);
                }
            }
            Some("message_stop") => self.complete = true,
            _ => {}
        }
    }

    /// The end of the answer (whole or cut): a whole answer is read now.
    pub fn finish(&mut self) {
        if self.sse {
            return;
        }
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.body) {
            if let Some(model) = v.get("model").and_then(|x| x.as_str()) {
                self.model = Some(model.to_string());
            }
            if let Some(u) = v.get("usage") {
                self.usage.take(u);
                self.complete = true;
            }
        }
        self.body = Vec::new();
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

/// The broker's container of one agentdock (one data dir).
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerSpec {
    pub name: String,
    /// The image it runs in (the proxy's: Debian, with CAs), with agentdock's own binary
    /// mounted.
    pub image: String,
    /// Its network with a route out (the proxy's).
    pub egress: String,
    /// The proxy whose agent networks it is attached to.
    pub proxy: String,
    pub labels: BTreeMap<String, String>,
    /// Host dirs: its state (mounted read-write) and where agentdock's binary is copied.
    pub state_dir: std::path::PathBuf,
    pub bin_dir: std::path::PathBuf,
    pub upstream: String,
    /// Extra CA bundle on the host, mounted read-only.
    pub ca_file: Option<std::path::PathBuf>,
    pub prices: Prices,
    pub daily_budget_usd: f64,
    pub subnet_pool: String,
    pub health_interval_secs: u64,
    pub health_timeout_secs: u64,
    pub health_retries: u32,
}

/// Where the broker's credential comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialSource {
    /// `broker.credential_file`.
    File(std::path::PathBuf),
    /// `broker.from_env`: the host's variable (name, value).
    Env(String, super::spec::Secret),
}

impl CredentialSource {
    pub fn describe(&self) -> String {
        match self {
            CredentialSource::File(p) => format!("the file {}", p.display()),
            CredentialSource::Env(n, _) => format!("${n}"),
        }
    }
}

/// The broker's credential as configured: `broker.credential_file` (`~` expanded), else with
/// `broker.from_env` the host's `ANTHROPIC_API_KEY` or `CLAUDE_CODE_OAUTH_TOKEN` (from
/// `env`); None: no broker.
pub fn credential_source(config: &super::settings::Config, env: &BTreeMap<String, String>, home: &std::path::Path) -> Option<CredentialSource> {
    let b = &config.broker;
    if !b.credential_file.trim().is_empty() {
        return Some(CredentialSource::File(super::settings::expand_home(b.credential_file.trim(), home)));
    }
    if b.from_env {
        for n in ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"] {
            if let Some(v) = env.get(n).filter(|v| !v.trim().is_empty()) {
                return Some(CredentialSource::Env(n.to_string(), super::spec::Secret::new(v.trim())));
            }
        }
    }
    None
}

/// The broker of the agentdock whose proxy is `proxy`, its state in `data_dir`.
pub fn broker_spec(config: &super::settings::Config, proxy: &super::network::ProxySpec, data_dir: &std::path::Path, home: &std::path::Path) -> BrokerSpec {
    let mut labels = config.labels.clone();
    labels.insert(super::container::labels::ROLE.into(), "broker".into());
    labels.insert(super::network::netlabels::PROXY.into(), proxy.name.clone());
    let b = &config.broker;
    BrokerSpec {
        name: broker_name(&proxy.name),
        image: proxy.image.clone(),
        egress: proxy.egress.clone(),
        proxy: proxy.name.clone(),
        labels,
        state_dir: data_dir.join("broker"),
        bin_dir: data_dir.join("broker-bin"),
        upstream: b.upstream.trim().to_string(),
        ca_file: Some(b.ca_file.trim()).filter(|f| !f.is_empty()).map(|f| super::settings::expand_home(f, home)),
        prices: Prices::with(&b.prices),
        daily_budget_usd: b.daily_budget_usd,
        subnet_pool: proxy.subnet_pool.clone(),
        health_interval_secs: proxy.health_interval_secs,
        health_timeout_secs: proxy.health_timeout_secs,
        health_retries: proxy.health_retries,
    }
}

/// What the broker is told of the user's settings.
pub fn broker_config(spec: &BrokerSpec, kind: CredentialKind) -> BrokerConfig {
    BrokerConfig {
        upstream: spec.upstream.clone(),
        kind,
        prices: spec.prices.clone(),
        daily_budget_usd: spec.daily_budget_usd,
        ca_file: spec.ca_file.as_ref().map(|_| CA_MOUNT.to_string()),
    }
}

/// Where `broker.ca_file` is in the broker's container.
pub const CA_MOUNT: &str = "/run/agentdock/broker-ca.pem";

/// An agent container's tie to the broker: which broker, with which credential, and what its
/// capability carries (task, budgets).
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerLink {
    pub broker: BrokerSpec,
    pub credential: CredentialSource,
    pub task: Option<String>,
    pub task_budget_usd: f64,
    pub project_daily_budget_usd: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_comes_from_its_file_or_with_from_env_the_host_and_else_there_is_no_broker() {
        let mut config = super::super::settings::Config::default();
        let mut env = BTreeMap::new();
        env.insert("ANTHROPIC_API_KEY".to_string(), "sk-ant-api03-x".to_string());
        let home = std::path::Path::new("/home/u");
        assert_eq!(credential_source(&config, &env, home), None, "no broker unless asked");
        config.broker.from_env = true;
        assert!(matches!(credential_source(&config, &env, home), Some(CredentialSource::Env(n, _)) if n == "ANTHROPIC_API_KEY"));
        config.broker.credential_file = "~/.config/agentdock/key".into();
        assert_eq!(credential_source(&config, &env, home), Some(CredentialSource::File("/home/u/.config/agentdock/key".into())));
        let proxy = super::super::network::proxy_spec(&config, "agentdock-proxy-abc", "/d/proxy".into());
        let b = broker_spec(&config, &proxy, std::path::Path::new("/d"), home);
        assert_eq!((b.name.as_str(), b.egress.as_str()), ("agentdock-broker-abc", "agentdock-egress-abc"));
        assert_eq!(b.state_dir, std::path::PathBuf::from("/d/broker"));
        assert!(!format!("{:?}", credential_source(&super::super::settings::Config { broker: super::super::settings::BrokerSettings { from_env: true, ..Default::default() }, ..Default::default() }, &env, home)).contains("sk-ant"));
    }

    #[test]
    fn the_shipped_prices_parse_and_a_model_takes_its_longest_prefix() {
        let p = Prices::shipped();
        assert!(p.models.contains_key("default"));
        let (sonnet, key) = p.of("claude-sonnet-4-5-20250929");
        assert_eq!(key, "claude-sonnet-4-5");
        assert_eq!((sonnet.input, sonnet.output), (3.0, 15.0));
        assert_eq!(p.of("something-else").1, "default");
        let mut over = BTreeMap::new();
        over.insert("claude-test".to_string(), Price { input: 1000.0, output: 2000.0, cache_write: 0.0, cache_read: 0.0 });
        let p = Prices::with(&over);
        let u = Usage { input_tokens: 1000, output_tokens: 500, ..Default::default() };
        assert!((p.cost("claude-test-1", &u) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn a_stream_is_metered_from_its_events_whatever_the_chunks() {
        let stream = concat!(
            "event: message_start\n",
            "data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-test\",\"usage\":{\"input_tokens\":120,\"cache_read_input_tokens\":30,\"cache_creation_input_tokens\":7,\"output_tokens\":1}}}\n\n",
            "event: content_block_delta\n",
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"message_delta is text here\"}}\n\n",
            "event: message_delta\n",
            "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":42}}\n\n",
            "event: message_stop\n",
            "data: {\"type\":\"message_stop\"}\n\n",
        );
        for size in [1, 3, 17, 4096] {
            let mut m = Meter::new("text/event-stream; charset=utf-8");
            for c in stream.as_bytes().chunks(size) {
                m.feed(c);
            }
            m.finish();
            assert_eq!(m.model.as_deref(), Some("claude-test"));
            assert_eq!(m.usage, Usage { input_tokens: 120, output_tokens: 42, cache_creation_input_tokens: 7, cache_read_input_tokens: 30 }, "chunks of {size}");
            assert!(m.complete);
        }
        // cut before its end: what came so far, not complete
        let cut = &stream[..stream.find("event: message_delta").unwrap()];
        let mut m = Meter::new("text/event-stream");
        m.feed(cut.as_bytes());
        m.finish();
        assert_eq!((m.usage.input_tokens, m.usage.output_tokens, m.complete), (120, 1, false));
        // a huge line is passed over, the next ones still read
        let mut m = Meter::new("text/event-stream");
        m.feed(format!("data: {}\n", "x".repeat(MAX_EVENT_LINE * 2)).as_bytes());
        m.feed(b"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n");
        assert_eq!(m.usage.output_tokens, 9);
    }

    #[test]
    fn a_whole_answer_is_metered_from_its_usage() {
        let mut m = Meter::new("application/json");
        m.feed(br#"{"id":"msg_1","model":"claude-x","usage":{"input_tokens":5,"output_tokens":"#);
        m.feed(br#"6}}"#);
        m.finish();
        assert_eq!((m.model.as_deref(), m.usage.input_tokens, m.usage.output_tokens, m.complete), (Some("claude-x"), 5, 6, true));
        let mut m = Meter::new("application/json");
        m.feed(br#"{"type":"error","error":{"type":"overloaded_error"}}"#);
        m.finish();
        assert_eq!((m.usage, m.complete), (Usage::default(), false));
    }

    #[test]
    fn tokens_are_random_and_known_by_their_hash() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let caps = Caps { caps: vec![Capability { hash: token_hash(&a), container: "agentdock-api".into(), project: "api".into(), task: None, subnet: None, task_budget_usd: 0.0, project_daily_budget_usd: 0.0, issued_at: 0 }] };
        assert_eq!(caps.find(&token_hash(&a)).unwrap().container, "agentdock-api");
        assert!(caps.find(&token_hash(&b)).is_none());
        assert_eq!(CredentialKind::of("sk-ant-oat01-xyz"), CredentialKind::OauthToken);
        assert_eq!(CredentialKind::of("sk-ant-api03-xyz"), CredentialKind::ApiKey);
    }

    #[test]
    fn budgets_stop_at_their_sum_per_task_project_day_and_day() {
        let now = 1_795_000_000.0;
        let line = |task: Option<&str>, project: &str, cost: f64, at: f64| UsageLine {
            at,
            container: "c".into(),
            project: project.into(),
            task: task.map(Into::into),
            model: "m".into(),
            usage: Usage::default(),
            cost_usd: cost,
            status: 200,
            complete: true,
        };
        let cap = |task: Option<&str>, tb: f64, pb: f64| Capability {
            hash: "h".into(),
            container: "c".into(),
            project: "api".into(),
            task: task.map(Into::into),
            subnet: None,
            task_budget_usd: tb,
            project_daily_budget_usd: pb,
            issued_at: 0,
        };
        let mut s = Spent::default();
        s.add(&line(Some("7"), "api", 4.0, now));
        assert_eq!(s.reached(&cap(Some("7"), 5.0, 0.0), 0.0, now), None);
        s.add(&line(Some("7"), "api", 1.0, now));
        assert_eq!(s.reached(&cap(Some("7"), 5.0, 0.0), 0.0, now).as_deref(), Some("agentdock: budget of $5.00 for task 7 reached"));
        // another task of the project is not held by task 7's budget, but by the project's day
        assert_eq!(s.reached(&cap(Some("8"), 5.0, 0.0), 0.0, now), None);
        assert!(s.reached(&cap(Some("8"), 5.0, 5.0), 0.0, now).unwrap().contains("project api"));
        // yesterday's spending does not count today
        assert_eq!(s.reached(&cap(None, 0.0, 5.0), 0.0, now + 86_400.0), None);
        assert!(s.reached(&cap(None, 0.0, 0.0), 5.0, now).unwrap().contains("all agents"));
        assert_eq!(usd(0.0042), "$0.0042");
    }

    #[test]
    fn usage_lines_are_summed_and_bad_ones_skipped() {
        let text = concat!(
            "{\"at\":10.0,\"container\":\"agentdock-api\",\"project\":\"api\",\"model\":\"m1\",\"input_tokens\":10,\"output_tokens\":5,\"cost_usd\":0.5,\"status\":200,\"complete\":true}\n",
            "not json\n",
            "{\"at\":20.0,\"container\":\"agentdock-task-7\",\"project\":\"api\",\"task\":\"7\",\"model\":\"m2\",\"input_tokens\":1,\"output_tokens\":1,\"cache_read_input_tokens\":3,\"cost_usd\":0.25,\"status\":200,\"complete\":false}\n",
        );
        let (r, bad) = UsageReport::of_text(text, 0.0);
        assert_eq!(bad, 1);
        assert_eq!(r.total.requests, 2);
        assert_eq!(r.by_project["api"].tokens(), 20);
        assert_eq!(r.by_task["7"].cost_usd, 0.25);
        assert_eq!(r.by_container["agentdock-api"].usage.output_tokens, 5);
        let (r, _) = UsageReport::of_text(text, 15.0);
        assert_eq!(r.total.requests, 1);
    }
}
