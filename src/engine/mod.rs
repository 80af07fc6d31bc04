//! The engine adaptor: the only module that imports bollard. It connects (honouring
//! `DOCKER_HOST`, negotiating the API version) and maps everything to domain types.

pub mod broker;
pub mod cgroup;
mod connect;
mod exec;
mod images;
mod lifecycle;
mod proxy;
pub mod network;
pub mod secrets;
mod task;
mod volumes;
pub mod stats;
pub mod targets;

use std::collections::HashMap;

use bollard::query_parameters::{InspectContainerOptions, ListContainersOptionsBuilder};
use bollard::Docker;

pub use exec::{ExecChunk, ExecCommand, ExecOptions, ExecOutput, ExecStream, OutputStream, TtySession};
pub use images::{ImageInfo, IMAGE_LABEL};
pub use lifecycle::{Ensured, EnsureAction, Refreshed};
pub use network::NetworkInfo;
pub use stats::{ContainerStats, DetailInfo};

use crate::domain::container::{labels, parse_rfc3339, ContainerInfo, ContainerState, Health};

/// What can go wrong talking to the engine; callers branch on the kind.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot reach the Docker engine at {host}: {reason}")]
    Unreachable { host: String, reason: String },
    #[error("image {image} is missing; build it with: {build}")]
    ImageMissing { image: String, build: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Failed(String),
}

impl EngineError {
    pub(crate) fn from_bollard(e: bollard::errors::Error, host: &str) -> EngineError {
        use bollard::errors::Error as B;
        match e {
            B::DockerResponseServerError { status_code: 404, message } => EngineError::NotFound(message),
            B::DockerResponseServerError { status_code: 409, message } => EngineError::Conflict(message),
            B::DockerResponseServerError { message, .. } => EngineError::Failed(message),
            B::JsonDataError { message, .. } => EngineError::Failed(format!("unexpected answer: {message}")),
            // the innermost cause says the most (a TLS refusal, ssh's own complaint)
            other => EngineError::Unreachable { host: host.to_string(), reason: connect::cause(&other) },
        }
    }
}

fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// Containers asked for per request when all are listed (see [`Engine::list`]).
const LIST_PAGE: usize = 100;
/// Pages asked for at most before the rest is asked for at once.
const LIST_PAGES_MAX: usize = 1000;

/// A connected engine. Cheap to clone (the client is shared).
#[derive(Clone)]
pub struct Engine {
    pub(crate) docker: Docker,
    name: String,
    host: String,
    transport: crate::domain::engines::Transport,
    api_version: String,
    server_version: String,
}

pub use connect::{CONNECT_TIMEOUT, FIRST_ANSWER_TIMEOUT};

impl Engine {
    /// The engine's name (`local`, or its `[[engine]]` / context name).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The API version in use (negotiated).
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// True when the engine runs on this machine (a unix socket), so host paths are its paths.
    pub fn is_local(&self) -> bool {
        self.transport == crate::domain::engines::Transport::Unix
    }

    /// How many requests to send side by side (stats of many containers): fewer where each
    /// connection costs more (over ssh, each one is an ssh session).
    pub fn parallel(&self) -> usize {
        use crate::domain::engines::Transport;
        match self.transport {
            Transport::Unix => 32,
            Transport::Tcp | Transport::Tls => 8,
            Transport::Ssh => 4,
        }
    }

    pub(crate) fn err(&self, e: bollard::errors::Error) -> EngineError {
        EngineError::from_bollard(e, &self.host)
    }

    /// Containers, managed ones only unless `all`; stopped ones included.
    pub async fn list(&self, include_unmanaged: bool) -> Result<Vec<ContainerInfo>, EngineError> {
        if !include_unmanaged {
            let filters = HashMap::from([("label".to_string(), vec![format!("{}=true", labels::MANAGED)])]);
            return self.list_page(filters, None).await;
        }
        // Every container of a busy host, in pages (newest first, each page the ones created
        // before the last seen): the engine's whole answer, each container with its labels,
        // networks and mounts, is a few MB parsed for a few hundred kB kept, and parsed at once
        // it would leave this process's heap that much bigger for good.
        let mut out: Vec<ContainerInfo> = Vec::new();
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        loop {
            let mark = out.last().map(|c| c.id.clone());
            let filters = mark.iter().map(|id| ("before".to_string(), vec![id.clone()])).collect();
            let page = match self.list_page(filters, Some(LIST_PAGE)).await {
                Ok(p) => p,
                Err(e) if mark.is_none() => return Err(e),
                // the mark removed meanwhile (a 404 from Docker 24 on, a 500 before)
                Err(_) => break,
            };
            // an engine that does not page newest first (a container comes twice), or pages
            // without end
            if page.iter().any(|c| seen.contains(&c.id)) || out.len() > LIST_PAGES_MAX * LIST_PAGE {
                break;
            }
            let full = page.len() >= LIST_PAGE;
            seen.extend(page.iter().map(|c| c.id.clone()));
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
        // paging did not take: all at once
        self.list_page(HashMap::new(), None).await
    }

    async fn list_page(&self, filters: HashMap<String, Vec<String>>, limit: Option<usize>) -> Result<Vec<ContainerInfo>, EngineError> {
        let mut opts = ListContainersOptionsBuilder::default().all(true).filters(&filters);
        if let Some(n) = limit {
            opts = opts.limit(n as i32);
        }
        let list = self.docker.list_containers(Some(opts.build())).await.map_err(|e| self.err(e))?;
        Ok(list.into_iter().map(map_summary).collect())
    }

    /// The containers made for one project (main first, then any others).
    pub async fn project_containers(&self, project_id: &str) -> Result<Vec<ContainerInfo>, EngineError> {
        let mut filters = HashMap::new();
        filters.insert("label".to_string(), vec![format!("{}={project_id}", labels::PROJECT)]);
        let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(opts)).await.map_err(|e| self.err(e))?;
        let mut out: Vec<ContainerInfo> = list.into_iter().map(map_summary).filter(|c| c.managed).collect();
        let main = crate::domain::container::container_name(project_id);
        out.sort_by_key(|c| (c.name != main, c.created));
        Ok(out)
    }

    pub async fn image_exists(&self, image: &str) -> Result<bool, EngineError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) => match self.err(e) {
                EngineError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Image size in bytes, when present.
    pub async fn image_size(&self, image: &str) -> Result<Option<i64>, EngineError> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(i.size),
            Err(e) => match self.err(e) {
                EngineError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }

    /// State of a container by name or id, None when there is none.
    pub async fn inspect_state(&self, name: &str) -> Result<Option<StateInfo>, EngineError> {
        match self.docker.inspect_container(name, None::<InspectContainerOptions>).await {
            Ok(i) => Ok(Some(map_inspect(&i))),
            Err(e) => match self.err(e) {
                EngineError::NotFound(_) => Ok(None),
                other => Err(other),
            },
        }
    }
}

/// A container event from the engine: which container, and what happened ("start", "die",
/// "health_status: healthy", "oom", "destroy"...).
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerEvent {
    pub id: String,
    pub action: String,
}

impl Engine {
    /// The engine's container events as they happen.
    pub fn container_events(&self) -> impl futures_util::Stream<Item = Result<ContainerEvent, EngineError>> + Send + 'static {
        use futures_util::StreamExt;
        let mut filters = HashMap::new();
        filters.insert("type".to_string(), vec!["container".to_string()]);
        let opts = bollard::query_parameters::EventsOptionsBuilder::default().filters(&filters).build();
        let host = self.host.clone();
        self.docker.events(Some(opts)).map(move |r| match r {
            Ok(m) => Ok(ContainerEvent {
                id: m.actor.and_then(|a| a.id).unwrap_or_default(),
                action: m.action.unwrap_or_default(),
            }),
            Err(e) => Err(EngineError::from_bollard(e, &host)),
        })
    }

    /// One container as listed, None when it is gone.
    pub async fn list_one(&self, id: &str) -> Result<Option<ContainerInfo>, EngineError> {
        let mut filters = HashMap::new();
        filters.insert("id".to_string(), vec![id.to_string()]);
        let opts = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(opts)).await.map_err(|e| self.err(e))?;
        Ok(list.into_iter().map(map_summary).find(|c| c.id == id))
    }
}

/// What `inspect` tells of a container's life.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StateInfo {
    pub id: String,
    pub name: String,
    pub state: ContainerState,
    pub health: Health,
    pub managed: bool,
    pub project_id: Option<String>,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub created: Option<i64>,
    pub started_at: Option<i64>,
    /// Output of the newest health check, trimmed.
    pub last_health_output: Option<String>,
    pub failing_streak: i64,
    /// The main process's pid on the host (0 or None when not running).
    pub pid: Option<i64>,
    pub restart_count: i64,
}

/// Text the engine reports about a container (its name, image, status, labels, health-check
/// output) comes from the container's side: only its printable text is kept, for the screen
/// and the CLI alike.
pub(crate) fn shown(s: &str) -> String {
    crate::domain::text::strip(s)
}

fn map_summary(c: bollard::models::ContainerSummary) -> ContainerInfo {
    let labels_map = c.labels.unwrap_or_default();
    let status = c.status.unwrap_or_default();
    let managed = labels_map.get(labels::MANAGED).map(|v| v == "true").unwrap_or(false);
    ContainerInfo {
        id: c.id.unwrap_or_default(),
        name: c
            .names
            .and_then(|n| n.into_iter().next())
            .map(|n| shown(n.trim_start_matches('/')))
            .unwrap_or_default(),
        image: shown(&c.image.unwrap_or_default()),
        state: c.state.map(|s| ContainerState::parse(s.as_ref())).unwrap_or(ContainerState::Unknown),
        health: Health::from_status_text(&status),
        status: shown(&status),
        created: c.created.unwrap_or(0),
        project_id: managed.then(|| labels_map.get(labels::PROJECT).cloned()).flatten(),
        project_name: managed.then(|| labels_map.get(labels::PROJECT_NAME).map(|n| shown(n))).flatten(),
        project_path: managed.then(|| labels_map.get(labels::PROJECT_PATH).cloned()).flatten(),
        agent_dir: managed.then(|| labels_map.get(labels::AGENT_DIR).cloned()).flatten(),
        role: labels_map.get(labels::ROLE).map(|r| shown(r)),
        managed,
    }
}

pub(crate) fn map_inspect(i: &bollard::models::ContainerInspectResponse) -> StateInfo {
    let st = i.state.clone().unwrap_or_default();
    let labels_map = i.config.as_ref().and_then(|c| c.labels.clone()).unwrap_or_default();
    let health = st.health.clone().unwrap_or_default();
    StateInfo {
        id: i.id.clone().unwrap_or_default(),
        name: shown(i.name.as_deref().unwrap_or_default().trim_start_matches('/')),
        state: st.status.map(|s| ContainerState::parse(s.as_ref())).unwrap_or(ContainerState::Unknown),
        health: health.status.map(|h| Health::parse(h.as_ref())).unwrap_or(Health::None),
        managed: labels_map.get(labels::MANAGED).map(|v| v == "true").unwrap_or(false),
        project_id: labels_map.get(labels::PROJECT).cloned(),
        exit_code: st.exit_code,
        oom_killed: st.oom_killed.unwrap_or(false),
        created: i.created.as_deref().and_then(parse_rfc3339),
        started_at: st.started_at.as_deref().and_then(parse_rfc3339),
        last_health_output: health
            .log
            .as_ref()
            .and_then(|l| l.last())
            .and_then(|r| r.output.as_ref())
            .map(|o| shown(o.trim())),
        failing_streak: health.failing_streak.unwrap_or(0),
        pid: st.pid,
        restart_count: i.restart_count.unwrap_or(0),
    }
}
