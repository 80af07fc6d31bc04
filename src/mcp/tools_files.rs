//! exec and the file tools, on a managed container of a project the client may use: through
//! the engine only (an exec as the container's user), paths checked, everything read capped.

use base64::Engine as _;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use serde::Serialize;

use super::params::{self, Encoding};
use super::server::{json_result, refused, Server, ToolResult};
use crate::domain::cpath;
use crate::engine::{Engine, ExecCommand, ExecOptions};
use crate::files::{self, Target};

#[derive(Serialize)]
struct ExecResult {
    target: String,
    exit_code: i64,
    timed_out: bool,
    stdout: String,
    stderr: String,
    /// Bytes cut from the start of stdout / stderr (the newest are kept).
    stdout_cut_bytes: u64,
    stderr_cut_bytes: u64,
}

impl Server {
    /// The engine and the container `key` names, when the client may use its project.
    async fn target(&self, key: &str) -> Result<(Engine, Target), String> {
        let engine = self.engine().await?;
        let t = files::resolve(&engine, &self.ctx, key).await?;
        let name = self.ctx.projects.iter().find(|p| p.id == t.project_id).map(|p| p.name.clone()).unwrap_or_else(|| t.project_id.clone());
        let repo_task = t.task.is_some() && !self.ctx.projects.iter().any(|p| p.id == t.project_id);
        if !(repo_task && self.ctx.config().mcp.allow_repo_urls) {
            self.allowed(&t.project_id, &name)?;
        }
        Ok((engine, t))
    }

    /// The path a file tool was given, checked, and the container it is in.
    async fn file_target(&self, key: &str, path: &str) -> Result<(String, Engine, Target), String> {
        let path = cpath::for_file_tools(path)?;
        let (engine, t) = self.target(key).await?;
        Ok((path, engine, t))
    }

    fn max_file(&self) -> u64 {
        self.ctx.config().mcp.max_file_bytes.max(1)
    }
}

#[tool_router(router = file_tools, vis = "pub(super)")]
impl Server {
    #[tool(description = "Run a program in a project's or task's container (argv, no shell) as its user; returns exit code, stdout and stderr (capped: the newest bytes kept).")]
    async fn exec(&self, Parameters(p): Parameters<params::Exec>) -> ToolResult {
        if p.argv.is_empty() || p.argv[0].is_empty() {
            return refused("argv is empty: give the program and its arguments, e.g. [\"ls\", \"-la\"]");
        }
        let workdir = match p.workdir.as_deref().map(cpath::normalize).transpose() {
            Ok(w) => w.unwrap_or_else(|| cpath::WORKDIR.to_string()),
            Err(e) => return refused(e),
        };
        let (engine, t) = match self.target(&p.target).await {
            Ok(x) => x,
            Err(e) => return refused(e),
        };
        let cfg = &self.ctx.config().exec;
        let limit = if cfg.timeout_secs == 0 { 3600 } else { cfg.timeout_secs };
        let timeout = p.timeout_secs.unwrap_or(60).clamp(1, limit);
        let cap = p.max_output_bytes.unwrap_or(65_536).clamp(1, 1 << 20) as usize;
        let opts = ExecOptions { user: None, workdir, timeout_secs: timeout, cap_bytes: cap };
        match engine.exec_capture(&t.id, ExecCommand::Argv(p.argv), &opts).await {
            Ok(mut out) => {
                self.redact_bytes(&mut out.stdout);
                self.redact_bytes(&mut out.stderr);
                json_result(&ExecResult {
                    target: t.name,
                    timed_out: out.exit_code == 124,
                    exit_code: out.exit_code,
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    stdout_cut_bytes: out.stdout_dropped,
                    stderr_cut_bytes: out.stderr_dropped,
                })
            }
            Err(e) => refused(e.to_string()),
        }
    }

    #[tool(description = "Read a file in a project's or task's container (capped at max_bytes; read on from offset). Links are not followed; /proc, /sys, /dev are out of reach.")]
    async fn file_read(&self, Parameters(p): Parameters<params::FileRead>) -> ToolResult {
        let (path, engine, t) = match self.file_target(&p.target, &p.path).await {
            Ok(x) => x,
            Err(e) => return refused(e),
        };
        let max = p.max_bytes.unwrap_or(256 * 1024).clamp(1, self.max_file());
        match files::read(&engine, &t, &path, p.offset.unwrap_or(0), max).await {
            Ok(mut r) => {
                self.redact_bytes(&mut r.data);
                let content = match p.encoding.unwrap_or_default() {
                    Encoding::Text => String::from_utf8_lossy(&r.data).into_owned(),
                    Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(&r.data),
                };
                let mut v = serde_json::to_value(&r).unwrap_or_default();
                v["content"] = content.into();
                v["bytes_read"] = r.data.len().into();
                if r.truncated {
                    v["note"] = format!("cut: read on with offset {}", r.offset + r.data.len() as u64).into();
                }
                json_result(&v)
            }
            Err(e) => refused(e),
        }
    }

    #[tool(description = "Write a whole file in a project's or task's container (made or replaced, as the container's user). Refused through a link, over the size cap, or with '..'.")]
    async fn file_write(&self, Parameters(p): Parameters<params::FileWrite>) -> ToolResult {
        let path = match cpath::for_file_tools(&p.path) {
            Ok(x) => x,
            Err(e) => return refused(e),
        };
        let data = match p.encoding.unwrap_or_default() {
            Encoding::Text => p.content.into_bytes(),
            Encoding::Base64 => match base64::engine::general_purpose::STANDARD.decode(p.content.trim()) {
                Ok(d) => d,
                Err(e) => return refused(format!("content is not base64: {e}")),
            },
        };
        if data.len() as u64 > self.max_file() {
            return refused(format!("{} bytes is over mcp.max_file_bytes ({})", data.len(), self.max_file()));
        }
        let (engine, t) = match self.target(&p.target).await {
            Ok(x) => x,
            Err(e) => return refused(e),
        };
        match files::write(&engine, &t, &path, data, p.create_dirs.unwrap_or(false)).await {
            Ok(n) => json_result(&serde_json::json!({ "path": path, "size": n })),
            Err(e) => refused(e),
        }
    }

    #[tool(description = "List a directory in a project's or task's container: name, kind (file, dir, link…), size, mode, mtime; links shown with their target, never followed.")]
    async fn file_list(&self, Parameters(p): Parameters<params::FileList>) -> ToolResult {
        let (path, engine, t) = match self.file_target(&p.target, p.path.as_deref().unwrap_or(cpath::WORKDIR)).await {
            Ok(x) => x,
            Err(e) => return refused(e),
        };
        let max = p.max_entries.unwrap_or(500).clamp(1, 5000);
        match files::list(&engine, &t, &path, p.depth.unwrap_or(1), max).await {
            Ok((entries, more)) => json_result(&serde_json::json!({ "path": path, "entries": entries, "truncated": more })),
            Err(e) => refused(e),
        }
    }

    #[tool(description = "Delete a file, link or (with recursive) directory in a project's or task's container. Links go themselves, never what they point to.")]
    async fn file_delete(&self, Parameters(p): Parameters<params::FileDelete>) -> ToolResult {
        let (path, engine, t) = match self.file_target(&p.target, &p.path).await {
            Ok(x) => x,
            Err(e) => return refused(e),
        };
        match files::delete(&engine, &t, &path, p.recursive.unwrap_or(false)).await {
            Ok(()) => json_result(&serde_json::json!({ "path": path, "deleted": true })),
            Err(e) => refused(e),
        }
    }
}
