//! The broker's container and an agent container's tie to it.

use std::collections::BTreeMap;

use super::{broker_name, BrokerConfig, CredentialKind, Prices};
use crate::domain::{container, network, settings, spec};

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
    Env(String, spec::Secret),
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
pub fn credential_source(config: &settings::Config, env: &BTreeMap<String, String>, home: &std::path::Path) -> Option<CredentialSource> {
    let b = &config.broker;
    if !b.credential_file.trim().is_empty() {
        return Some(CredentialSource::File(settings::expand_home(b.credential_file.trim(), home)));
    }
    if b.from_env {
        for n in ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"] {
            if let Some(v) = env.get(n).filter(|v| !v.trim().is_empty()) {
                return Some(CredentialSource::Env(n.to_string(), spec::Secret::new(v.trim())));
            }
        }
    }
    None
}

/// The broker of the agentdock whose proxy is `proxy`, its state in `data_dir`.
pub fn broker_spec(config: &settings::Config, proxy: &network::ProxySpec, data_dir: &std::path::Path, home: &std::path::Path) -> BrokerSpec {
    let mut labels = config.labels.clone();
    labels.insert(container::labels::ROLE.into(), "broker".into());
    labels.insert(network::netlabels::PROXY.into(), proxy.name.clone());
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
        ca_file: Some(b.ca_file.trim()).filter(|f| !f.is_empty()).map(|f| settings::expand_home(f, home)),
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

