//! The MCP server's state and protocol side: the engine (connected on first use, again after a
//! failure), who the client is, the guard rails, and how results and refusals go back. A refusal
//! the caller can act on (bad argument, project not allowed, task unknown) is a tool result
//! with `isError`, so the agent reads it; an unknown tool is a protocol error naming the tools.

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde::Serialize;

use crate::engine::Engine;
use crate::ops::Context;

#[derive(Clone)]
pub struct Server {
    pub(super) ctx: Arc<Context>,
    engine: Arc<tokio::sync::Mutex<Option<Engine>>>,
    /// How deep this server runs (0 on the host); its tasks are one deeper.
    pub(super) depth: u32,
    transport: &'static str,
    router: ToolRouter<Server>,
    redact: Arc<Redactor>,
    registered: Arc<std::sync::Mutex<Option<super::clients::Registration>>>,
}

/// What a tool gives back: a result, or a refusal the caller can fix its call from.
pub type ToolResult = Result<CallToolResult, McpError>;

impl Server {
    pub fn new(ctx: Arc<Context>, depth: u32, transport: &'static str) -> Server {
        let redact = Arc::new(Redactor::from_env(&ctx.config().env_passthrough));
        Server {
            ctx,
            engine: Arc::default(),
            depth,
            transport,
            router: Self::task_tools() + Self::file_tools(),
            redact,
            registered: Arc::default(),
        }
    }

    /// The engine, connected now if it was not (or went away).
    pub(super) async fn engine(&self) -> Result<Engine, String> {
        let mut slot = self.engine.lock().await;
        if let Some(e) = slot.as_ref() {
            return Ok(e.clone());
        }
        let e = Engine::connect().await.map_err(|e| e.to_string())?;
        *slot = Some(e.clone());
        Ok(e)
    }

    /// The client's name, as it introduced itself (`claude-code`): in the request's `_meta`
    /// (stateless HTTP), at initialize, or in its HTTP User-Agent; else the transport's.
    pub(super) fn client(&self, rc: &RequestContext<RoleServer>) -> String {
        // the SDK fills its own placeholder identity in for a stateless request
        let placeholder = Implementation::default().name;
        let said = rc
            .meta
            .client_info()
            .map(|i| i.name)
            .or_else(|| rc.peer.peer_info().map(|i| i.client_info.name.clone()).filter(|n| *n != placeholder))
            .or_else(|| {
                let parts = rc.extensions.get::<hyper::http::request::Parts>()?;
                let ua = parts.headers.get(hyper::header::USER_AGENT)?.to_str().ok()?;
                ua.split(['/', ' ']).next().map(str::to_string)
            });
        if let Some(name) = said {
            let name = crate::domain::text::strip(&name);
            let name: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || "-_. ".contains(*c)).take(60).collect();
            if !name.trim().is_empty() {
                return name.trim().to_string();
            }
        }
        format!("mcp-{}", self.transport)
    }

    /// Whether the client may use project `id` (`mcp.allow_projects`); else the refusal.
    pub(super) fn allowed(&self, id: &str, name: &str) -> Result<(), String> {
        let m = &self.ctx.config().mcp;
        if m.allows(id, name) {
            return Ok(());
        }
        let allowed: Vec<&str> =
            self.ctx.projects.iter().filter(|p| m.allows(&p.id, &p.name)).map(|p| p.name.as_str()).collect();
        Err(format!(
            "project {} is not open to MCP clients (mcp.allow_projects); open ones: {}",
            crate::domain::text::strip(name),
            if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") }
        ))
    }

    pub(super) fn redact_bytes(&self, b: &mut Vec<u8>) {
        self.redact.bytes(b);
    }
}

/// A result as structured JSON (with its text the same JSON, for clients that read text only).
pub(super) fn json_result<T: Serialize>(v: &T) -> ToolResult {
    let value = serde_json::to_value(v).map_err(|e| McpError::internal_error(e.to_string(), None))?;
    Ok(CallToolResult::structured(value))
}

/// A refusal the caller reads: one line that says what to change.
pub(super) fn refused(msg: impl Into<String>) -> ToolResult {
    Ok(CallToolResult::error(vec![ContentBlock::text(msg.into())]))
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("agentdock", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "agentdock runs coding agents in hardened Docker containers. Start work with task_run (a prompt on a \
                 project; each task gets its own container and git branch), follow it with task_wait, read task_result \
                 and task_diff. projects_list names the projects. exec and the file_* tools work in a running project's \
                 or task's container.",
            )
    }

    async fn call_tool(&self, request: CallToolRequestParams, context: RequestContext<RoleServer>) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        if self.router.get(&name).is_none() {
            let known: Vec<String> = self.router.list_all().into_iter().map(|t| t.name.to_string()).collect();
            return Err(McpError::invalid_params(
                format!("unknown tool '{}'; agentdock's tools are: {}", crate::domain::text::strip(&name), known.join(", ")),
                None,
            ));
        }
        self.register(&context);
        let tcc = ToolCallContext::new(self, request, context);
        let mut response = self.router.call(tcc).await?;
        if let CallToolResponse::Complete(result) = &mut response {
            self.redact.result(result);
            tracing::info!(tool = %name, is_error = result.is_error.unwrap_or(false), "MCP tool call");
        }
        Ok(response)
    }

    async fn list_tools(&self, _request: Option<PaginatedRequestParams>, context: RequestContext<RoleServer>) -> Result<ListToolsResult, McpError> {
        self.register(&context);
        Ok(ListToolsResult { tools: self.router.list_all(), ..Default::default() })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.router.get(name).cloned()
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let Some(info) = context.peer.peer_info() {
            tracing::info!(client = %crate::domain::text::strip(&info.client_info.name), transport = self.transport, "MCP client initialized");
        }
    }
}

impl Server {
    /// Says in the data dir that this client is connected (the dashboard shows it), once.
    fn register(&self, rc: &RequestContext<RoleServer>) {
        // over HTTP the listener is registered once, not each request's server
        if self.transport != "stdio" {
            return;
        }
        let Ok(mut slot) = self.registered.lock() else { return };
        if slot.is_none() {
            *slot = super::clients::Registration::new(&self.client(rc), self.transport);
        }
    }
}

/// Takes the user's secret values out of what goes back to a client: a container can read its
/// own secrets (the agent runs as their owner) and print them; agentdock never passes them on.
struct Redactor {
    secrets: Vec<(String, Vec<u8>)>,
}

impl Redactor {
    fn from_env(passthrough: &[String]) -> Redactor {
        let names = crate::domain::spec::SECRET_ENV.iter().map(|s| s.to_string()).chain(passthrough.iter().cloned());
        let secrets = names
            .filter_map(|n| std::env::var(&n).ok().filter(|v| v.len() >= 8).map(|v| (n, v.into_bytes())))
            .collect();
        Redactor { secrets }
    }

    fn bytes(&self, b: &mut Vec<u8>) {
        for (name, value) in &self.secrets {
            let mark = format!("[agentdock: {name} redacted]").into_bytes();
            let mut at = 0;
            while let Some(i) = b[at..].windows(value.len()).position(|w| w == value.as_slice()) {
                let i = at + i;
                b.splice(i..i + value.len(), mark.iter().copied());
                at = i + mark.len();
            }
        }
    }

    fn text(&self, s: &mut String) {
        if self.secrets.iter().any(|(_, v)| s.as_bytes().windows(v.len()).any(|w| w == v.as_slice())) {
            let mut b = std::mem::take(s).into_bytes();
            self.bytes(&mut b);
            *s = String::from_utf8_lossy(&b).into_owned();
        }
    }

    fn result(&self, r: &mut CallToolResult) {
        if self.secrets.is_empty() {
            return;
        }
        let Ok(mut v) = serde_json::to_value(&*r) else { return };
        redact_value(self, &mut v);
        if let Ok(clean) = serde_json::from_value(v) {
            *r = clean;
        }
    }
}

fn redact_value(r: &Redactor, v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => r.text(s),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| redact_value(r, x)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| redact_value(r, x)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_redacted_wherever_they_are() {
        let r = Redactor { secrets: vec![("GITHUB_TOKEN".into(), b"ghp_secretvalue".to_vec())] };
        let mut b = b"a ghp_secretvalue b ghp_secretvalue".to_vec();
        r.bytes(&mut b);
        assert_eq!(String::from_utf8(b).unwrap(), "a [agentdock: GITHUB_TOKEN redacted] b [agentdock: GITHUB_TOKEN redacted]");
        let mut v = serde_json::json!({"out": ["x ghp_secretvalue"], "n": 1});
        redact_value(&r, &mut v);
        assert_eq!(v["out"][0], "x [agentdock: GITHUB_TOKEN redacted]");
    }
}
