//! The callback: when a task ends and `tasks.webhook_url` was set when it was queued, its
//! result (JSON, no secrets: no environment, no prompt, no URL) is POSTed there by the runner,
//! tried 3 times with a pause between (1 s, then 4 s), each try cut after
//! `tasks.webhook_timeout_secs`. How it went is kept in the task's record (`webhook`): the
//! task's own state never changes for it. A runner killed meanwhile leaves it `pending`, and
//! the next one tries again.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{store, TaskRecord};
use crate::domain::container::now_unix;
use crate::ops::Context;

pub const TRIES: u32 = 3;
const PAUSES: [u64; 2] = [1, 4];

/// What is POSTed: the task's result.
pub fn body(r: &TaskRecord) -> serde_json::Value {
    let s = &r.summary;
    json!({
        "event": "task.ended",
        "id": r.spec.id,
        "state": r.state,
        "reason": r.reason,
        "project": r.spec.project_name,
        "repo_url": r.spec.repo_url.as_deref().map(public_url),
        "branch": r.spec.branch,
        "base_ref": r.spec.base_ref,
        "base_commit": r.spec.base_commit,
        "head": r.head,
        "diffstat": r.diffstat,
        "group": r.spec.group,
        "attempt": r.spec.attempt,
        "created_at": r.spec.created_at,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "duration_secs": r.started_at.zip(r.ended_at).map(|(a, b)| b - a),
        "turns": s.turns,
        "tokens": s.tokens(),
        "cost_usd": s.cost_usd,
        "is_error": s.is_error,
        "final_text": s.final_text,
    })
}

/// A URL without what may be a secret in it: scheme, host and port only.
pub fn public_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    if scheme.is_empty() { host.to_string() } else { format!("{scheme}://{host}") }
}

/// Sends task `id`'s callback (tries left of 3), saving how it went after each try.
pub async fn deliver(ctx: &Context, id: &str) {
    let url = ctx.config().tasks.webhook_url.trim().to_string();
    let timeout = Duration::from_secs(ctx.config().tasks.webhook_timeout_secs.max(1));
    loop {
        let Some(mut rec) = store::load(id) else { return };
        let Some(mut w) = rec.webhook.clone().filter(|w| w.state == "pending") else { return };
        let result = if url.is_empty() { Err("tasks.webhook_url is no longer set".to_string()) } else { post(&url, &body(&rec), timeout).await };
        w.tries += 1;
        w.at = Some(now_unix());
        match result {
            Ok(()) => {
                w.state = "sent".into();
                w.error = None;
            }
            Err(e) => {
                tracing::warn!(task = %id, tries = w.tries, "callback to {} failed: {e}", public_url(&url));
                w.error = Some(e);
                if w.tries >= TRIES {
                    w.state = "failed".into();
                }
            }
        }
        let pending = w.state == "pending";
        let tries = w.tries;
        rec.webhook = Some(w);
        if store::save(&rec).is_err() || !pending {
            return;
        }
        tokio::time::sleep(Duration::from_secs(PAUSES[(tries as usize - 1).min(PAUSES.len() - 1)])).await;
    }
}

/// One POST of `body` to `url`: Ok on a 2xx answer.
pub async fn post(url: &str, body: &serde_json::Value, timeout: Duration) -> Result<(), String> {
    let text = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    match tokio::time::timeout(timeout, post_http(url, &text)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
    }
}

/// Splits `http://host[:port][/path]` into (host, port, path).
fn parse(url: &str) -> Result<(String, u16, String), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!("{}: only http:// callbacks are supported here", public_url(url)));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err("a user or password in the callback URL is not supported: put a token in its path or query".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p.parse::<u16>().map_err(|_| format!("bad port in {}", public_url(url)))?),
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("no host in the callback URL".into());
    }
    let path = if path.starts_with('?') { format!("/{path}") } else { path.split('#').next().unwrap_or("/").to_string() };
    Ok((host.to_string(), port, path))
}

async fn post_http(url: &str, body: &[u8]) -> Result<(), String> {
    let (host, port, path) = parse(url)?;
    let mut s = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| format!("cannot connect to {}: {e}", public_url(url)))?;
    let host_header = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host_header}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: agentdock/{}\r\nConnection: close\r\n\r\n",
        body.len(),
        env!("CARGO_PKG_VERSION")
    );
    s.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
    s.write_all(body).await.map_err(|e| e.to_string())?;
    // the status line is all that counts
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !buf.contains(&b'\n') && buf.len() < 4096 {
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let status = line.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok());
    match status {
        Some(c) if (200..300).contains(&c) => Ok(()),
        Some(c) => Err(format!("HTTP {c}")),
        None => Err("no HTTP answer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_shown_without_their_secrets() {
        assert_eq!(parse("http://127.0.0.1:8080/hook?t=1").unwrap(), ("127.0.0.1".into(), 8080, "/hook?t=1".into()));
        assert_eq!(parse("http://example.com").unwrap(), ("example.com".into(), 80, "/".into()));
        assert_eq!(parse("http://[::1]:9/x").unwrap(), ("::1".into(), 9, "/x".into()));
        assert!(parse("http://u:p@h/x").is_err());
        assert_eq!(public_url("https://hooks.example.com/services/SECRET?token=x"), "https://hooks.example.com");
        assert_eq!(public_url("http://u:pw@h:1/x"), "http://h:1");
    }

    #[test]
    fn the_body_has_the_result_and_no_prompt_or_environment() {
        let mut r = TaskRecord::default();
        r.spec.id = "20261125-aaaaaa".into();
        r.spec.repo_url = Some("https://user:s3cr3t@github.com/o/r.git".into());
        let text = body(&r).to_string();
        assert!(text.contains("\"id\":\"20261125-aaaaaa\"") && text.contains("task.ended"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}
