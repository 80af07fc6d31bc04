//! The tools' arguments: their JSON schemas come from these types (doc comments are the field
//! descriptions); an unknown field is an error that names the known ones.

use rmcp::schemars::{self, JsonSchema, Schema};
use serde::Deserialize;
use serde_json::Value;

/// An optional argument is one a caller may leave out, not one it must send as `null`: its
/// schema says one type (`["string","null"]` becomes `"string"`), which every client's schema
/// dialect takes (some map tool schemas onto a single-`type` subset).
fn plain_optionals(schema: &mut Schema) {
    let Some(Value::Object(props)) = schema.get_mut("properties") else { return };
    for p in props.values_mut() {
        let Value::Object(p) = p else { continue };
        if let Some(Value::Array(types)) = p.get("type") {
            let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
            if kept.len() == 1 {
                p.insert("type".into(), kept[0].clone());
            }
        }
        if let Some(Value::Array(any)) = p.get("anyOf") {
            let kept: Vec<Value> = any.iter().filter(|a| a.get("type").is_none_or(|t| t != "null")).cloned().collect();
            if kept.len() == 1 {
                p.remove("anyOf");
                if let Value::Object(only) = &kept[0] {
                    p.extend(only.clone());
                }
            }
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = plain_optionals)]
pub struct NoArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = plain_optionals)]
pub struct TaskRun {
    /// The project (id or name, from projects_list). Leave out with repo_url.
    pub project: Option<String>,
    /// An https URL of a git repository to work on instead of a local project.
    pub repo_url: Option<String>,
    /// What the agent is to do.
    pub prompt: String,
    /// Branch or commit to start from (default: the project's HEAD).
    pub base_branch: Option<String>,
    /// Time limit in seconds (default: the config's, 300).
    pub timeout_secs: Option<u64>,
    /// Model the agent uses (default: the config's, else the CLI's).
    pub model: Option<String>,
    /// Run the same prompt this many times, each in its own container and branch (1–10).
    pub attempts: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = plain_optionals)]
pub struct TaskId {
    /// The task id task_run returned (a unique start or end of it will do).
    pub task: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = plain_optionals)]
pub struct TaskStatus {
    /// A task id; leave out for every task of yours (the newest 50).
    pub task: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = plain_optionals)]
pub struct TaskWait {
    /// The task id task_run returned.
    pub task: String,
    /// Give up waiting after this many seconds (default 300, at most 3600); the task goes on.
    pub timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = plain_optionals)]
pub struct TaskDiff {
    /// The task id.
    pub task: String,
    /// Another task on the same project: the diff from the first task's work to this one's.
    pub other_task: Option<String>,
    /// Cut the diff after this many bytes (default 100000, at most 5000000).
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = plain_optionals)]
pub struct Exec {
    /// A project (its main container), a task id (its container while it runs), or the name of a container agentdock manages.
    pub target: String,
    /// The program and its arguments, each passed as given (no shell: use ["bash","-c","…"] for one).
    pub argv: Vec<String>,
    /// Directory to run in (default /workspace).
    pub workdir: Option<String>,
    /// Kill the command after this many seconds (default 60).
    pub timeout_secs: Option<u64>,
    /// Bytes kept of stdout and of stderr, the newest (default 65536, at most 1048576).
    pub max_output_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// UTF-8 text (bytes that are not UTF-8 are replaced).
    #[default]
    Text,
    /// The bytes as base64.
    Base64,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = plain_optionals)]
pub struct FileRead {
    /// A project, a task id, or the name of a container agentdock manages.
    pub target: String,
    /// The file (relative paths are under /workspace; no '..'; links are not followed).
    pub path: String,
    /// Start at this byte (to read a big file in parts).
    pub offset: Option<u64>,
    /// Read at most this many bytes (default 262144; the config's mcp.max_file_bytes at most).
    pub max_bytes: Option<u64>,
    /// "text" (default) or "base64" for binary files.
    pub encoding: Option<Encoding>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = plain_optionals)]
pub struct FileWrite {
    /// A project, a task id, or the name of a container agentdock manages.
    pub target: String,
    /// The file to write (made, or replaced; relative paths are under /workspace).
    pub path: String,
    /// The whole content.
    pub content: String,
    /// "text" (default) or "base64".
    pub encoding: Option<Encoding>,
    /// Make the missing directories on the way.
    pub create_dirs: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = plain_optionals)]
pub struct FileList {
    /// A project, a task id, or the name of a container agentdock manages.
    pub target: String,
    /// The directory (default /workspace).
    pub path: Option<String>,
    /// Levels down (default 1, at most 10).
    pub depth: Option<u32>,
    /// At most this many entries (default 500, at most 5000).
    pub max_entries: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = plain_optionals)]
pub struct FileDelete {
    /// A project, a task id, or the name of a container agentdock manages.
    pub target: String,
    /// The file, link or directory to delete (a link goes, never what it points to).
    pub path: String,
    /// Needed to delete a directory and all it holds.
    pub recursive: Option<bool>,
}
