//! What the Claude Code CLI must find in its `.claude.json` to start straight into a usable
//! session, with no first-run dialog blocking an agent nobody is looking at. Found by running
//! the real CLI (2.1.331) in the agent image on a fresh config dir and answering each dialog:
//! - the onboarding (theme, login, a connection check to api.anthropic.com): skipped once
//!   `hasCompletedOnboarding` is true;
//! - "Quick safety check: is this a project you trust?" for the working dir: recorded as
//!   `projects["/workspace"].hasTrustDialogAccepted = true`;
//! - "Detected a custom API key in your environment. Do you want to use this API key?": the
//!   answer is recorded under `customApiKeyResponses.approved` (or `rejected`) as the key's
//!   last 20 characters.
//!
//! Everything else in the file is the user's (copied from their own config) or the CLI's, and
//! is kept as it is.

use serde_json::{json, Map, Value};

/// The working dir of the agent in its container (the project's mount).
pub const WORKSPACE: &str = "/workspace";

/// How many trailing characters of an API key the CLI records as its approval.
pub const KEY_TAIL: usize = 20;

/// The part of an API key the CLI records (its last 20 characters, the whole key if shorter).
pub fn key_tail(key: &str) -> &str {
    let n = key.chars().count();
    match key.char_indices().nth(n.saturating_sub(KEY_TAIL)) {
        Some((i, _)) if n > KEY_TAIL => &key[i..],
        _ => key,
    }
}

fn object<'a>(parent: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = parent.entry(key).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    v.as_object_mut().expect("object")
}

fn list<'a>(parent: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let v = parent.entry(key).or_insert_with(|| json!([]));
    if !v.is_array() {
        *v = json!([]);
    }
    v.as_array_mut().expect("array")
}

/// Marks onboarding done and the workspace trusted, and approves the API key agentdock gives
/// the agent (`api_key`, when it gives one), keeping every other setting. True when `config`
/// changed. A config that is not a JSON object is replaced by one.
pub fn apply(config: &mut Value, api_key: Option<&str>) -> bool {
    let before = config.clone();
    if !config.is_object() {
        *config = json!({});
    }
    let top = config.as_object_mut().expect("object");
    if top.get("hasCompletedOnboarding") != Some(&Value::Bool(true)) {
        top.insert("hasCompletedOnboarding".into(), Value::Bool(true));
    }
    let workspace = object(object(top, "projects"), WORKSPACE);
    if workspace.get("hasTrustDialogAccepted") != Some(&Value::Bool(true)) {
        workspace.insert("hasTrustDialogAccepted".into(), Value::Bool(true));
    }
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        let tail = Value::String(key_tail(key).to_string());
        let responses = object(top, "customApiKeyResponses");
        // agentdock is told to give the agent this key: an earlier "no" to it is taken back
        list(responses, "rejected").retain(|v| *v != tail);
        let approved = list(responses, "approved");
        if !approved.contains(&tail) {
            approved.push(tail);
        }
    }
    *config != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_recorded_by_its_last_twenty_characters() {
        assert_eq!(key_tail("sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789"), "qrstuvwxyz0123456789");
        assert_eq!(key_tail("test-key"), "test-key");
        assert_eq!(key_tail("ééééééééééééééééééééééé"), "éééééééééééééééééééé");
    }

    #[test]
    fn a_fresh_config_gets_onboarding_trust_and_the_key() {
        let mut v = json!({});
        assert!(apply(&mut v, Some("sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789")));
        assert_eq!(v["hasCompletedOnboarding"], true);
        assert_eq!(v["projects"]["/workspace"]["hasTrustDialogAccepted"], true);
        assert_eq!(v["customApiKeyResponses"]["approved"], json!(["qrstuvwxyz0123456789"]));
        // a second time changes nothing
        assert!(!apply(&mut v, Some("sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789")));
    }

    #[test]
    fn what_the_user_and_the_cli_wrote_is_kept() {
        let mut v = json!({
            "oauthAccount": {"a": 1},
            "theme": "light",
            "projects": {"/workspace": {"allowedTools": ["Bash"], "hasTrustDialogAccepted": false}, "/other": {"x": 1}},
            "customApiKeyResponses": {"approved": ["old-key"], "rejected": ["test-key"]}
        });
        assert!(apply(&mut v, Some("test-key")));
        assert_eq!(v["oauthAccount"]["a"], 1);
        assert_eq!(v["theme"], "light");
        assert_eq!(v["projects"]["/workspace"]["allowedTools"], json!(["Bash"]));
        assert_eq!(v["projects"]["/workspace"]["hasTrustDialogAccepted"], true);
        assert_eq!(v["projects"]["/other"]["x"], 1);
        assert_eq!(v["customApiKeyResponses"]["approved"], json!(["old-key", "test-key"]));
        assert_eq!(v["customApiKeyResponses"]["rejected"], json!([]));
        // no key: nothing about keys changes
        let mut w = json!({"hasCompletedOnboarding": true, "projects": {"/workspace": {"hasTrustDialogAccepted": true}}});
        assert!(!apply(&mut w, None));
        assert!(w.get("customApiKeyResponses").is_none());
        // garbage in odd places is replaced, not a panic
        let mut x = json!({"projects": [1], "customApiKeyResponses": {"approved": "x"}});
        assert!(apply(&mut x, Some("k")));
        assert_eq!(x["customApiKeyResponses"]["approved"], json!(["k"]));
        let mut y = json!([1, 2]);
        assert!(apply(&mut y, None));
        assert_eq!(y["hasCompletedOnboarding"], true);
    }
}
