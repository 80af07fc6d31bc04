//! Files in a managed container, for the MCP server's file tools and `agentdock cp`: read,
//! write, list, delete and copy. Everything goes through the engine (an exec as the container's
//! user, or the engine's archive API), never through a host path: the container's content
//! (its links, names, sizes) is hostile and never becomes a path on the host. Reads are capped;
//! paths are checked ([`crate::domain::cpath`]) before anything is asked.

pub mod cp;
mod script;
pub mod untar;

use serde::Serialize;

use crate::domain::container::{container_name, ContainerInfo, ContainerState};
use crate::domain::text::strip;
use crate::engine::{Engine, ExecCommand, ExecOptions, ExecOutput};
use crate::ops::Context;

/// A container a caller may work in: a project's main container, a task's, or another
/// container of a configured project.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The engine's id.
    pub id: String,
    pub name: String,
    pub project_id: String,
    /// The task it runs, when it is a task's container.
    pub task: Option<String>,
}

/// The container `key` names: a configured project (its main container), a task (by id), or a
/// managed container of a configured project (by name or id). A container agentdock does not
/// manage, or one whose project is not configured (an orphan: labels are claims), is refused;
/// so is one that does not run.
pub async fn resolve(engine: &Engine, ctx: &Context, key: &str) -> Result<Target, String> {
    let all = engine.list(true).await.map_err(|e| e.to_string())?;
    let running = |c: &ContainerInfo, what: &str, start: &str| -> Result<(), String> {
        if c.state == ContainerState::Running {
            Ok(())
        } else {
            Err(format!("{what}'s container {} is {}{start}", c.name, c.state.as_str()))
        }
    };
    if let Some(p) = crate::domain::project::find(&ctx.projects, key) {
        let main = container_name(&p.id);
        let mine: Vec<&ContainerInfo> = all.iter().filter(|c| c.managed && c.project_id.as_deref() == Some(p.id.as_str())).collect();
        let c = mine
            .iter()
            .find(|c| c.name == main)
            .or_else(|| mine.first())
            .ok_or_else(|| format!("{} has no container; create it with `agentdock up {}`", p.name, p.id))?;
        running(c, &p.name, &format!("; start it with `agentdock up {}`", p.id))?;
        return Ok(Target { id: c.id.clone(), name: c.name.clone(), project_id: p.id.clone(), task: None });
    }
    if crate::domain::task::valid_id(key) {
        if let Ok(rec) = crate::tasks::api::find(key) {
            let c = all
                .iter()
                .find(|c| c.name == rec.spec.container && c.managed)
                .ok_or_else(|| format!("task {} has no container: it ended ({})", rec.spec.id, rec.state.label()))?;
            running(c, &format!("task {}", rec.spec.id), "")?;
            return Ok(Target { id: c.id.clone(), name: c.name.clone(), project_id: rec.spec.project_id.clone(), task: Some(rec.spec.id) });
        }
    }
    let by_name = all.iter().find(|c| c.name == key || (key.len() >= 12 && c.id.starts_with(key)));
    match by_name {
        Some(c) if !c.managed => Err(format!(
            "{} is not a container agentdock manages: exec and the file tools only reach project and task containers",
            strip(&c.name)
        )),
        Some(c) => {
            let pid = c.project_id.clone().unwrap_or_default();
            if !ctx.projects.iter().any(|p| p.id == pid) {
                return Err(format!("{} is orphaned (its project is not configured): agentdock only stops and removes it", strip(&c.name)));
            }
            running(c, &strip(&c.name), "")?;
            Ok(Target { id: c.id.clone(), name: c.name.clone(), project_id: pid, task: None })
        }
        None => {
            let close = crate::domain::suggest::closest(key, ctx.projects.iter().map(|p| p.name.as_str()), 3);
            let hint = if close.is_empty() { String::new() } else { format!("; closest projects: {}", close.join(", ")) };
            Err(format!("no project, task or container '{}'{hint}", strip(key)))
        }
    }
}

/// Runs one operation of the script in `c`, with `input` on its stdin when given.
async fn op(engine: &Engine, c: &Target, name: &str, path: &str, args: &[String], cap: usize, input: Option<Vec<u8>>) -> Result<ExecOutput, String> {
    let argv = script::argv(name, path, args);
    let opts = ExecOptions { user: None, workdir: "/".into(), timeout_secs: 120, cap_bytes: cap };
    let out = match input {
        Some(data) => engine.exec_with_input(&c.id, argv, &opts, std::io::Cursor::new(data)).await,
        None => engine.exec_capture(&c.id, ExecCommand::Argv(argv), &opts).await,
    }
    .map_err(|e| e.to_string())?;
    if out.exit_code == 0 {
        return Ok(out);
    }
    Err(refusal(&out))
}

/// The one line a failed operation says (the container's text, made safe to show).
fn refusal(out: &ExecOutput) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let line = crate::domain::task::cut(&strip(line), 500);
    match (out.exit_code, line.strip_prefix("agentdock: ")) {
        (script::REFUSED, Some(said)) => said.to_string(),
        (124, _) => "the operation took longer than 120 s".to_string(),
        (code, _) if line.is_empty() => format!("the operation failed in the container (exit {code})"),
        (code, _) => format!("the operation failed in the container (exit {code}): {line}"),
    }
}

/// What [`read`] got.
#[derive(Debug, Clone, Serialize)]
pub struct FileRead {
    pub path: String,
    /// The file's whole size.
    pub size: u64,
    pub offset: u64,
    #[serde(skip)]
    pub data: Vec<u8>,
    /// More of the file follows what was read.
    pub truncated: bool,
}

/// At most `max` bytes of the regular file `path`, from `offset` on.
pub async fn read(engine: &Engine, c: &Target, path: &str, offset: u64, max: u64) -> Result<FileRead, String> {
    let args = [max.to_string(), offset.to_string()];
    let out = op(engine, c, "read", path, &args, max as usize + 64, None).await?;
    let nl = out.stdout.iter().position(|b| *b == b'\n').ok_or("the container said nothing of the file")?;
    let size: u64 = std::str::from_utf8(&out.stdout[..nl]).ok().and_then(|s| s.trim().parse().ok()).ok_or("the container gave no size")?;
    let mut data = out.stdout[nl + 1..].to_vec();
    data.truncate(max as usize);
    let truncated = offset + (data.len() as u64) < size;
    Ok(FileRead { path: path.to_string(), size, offset, data, truncated })
}

/// Writes `data` as the file `path` (made, or replaced in place), its directory made first
/// when `create_dirs`. The size written.
pub async fn write(engine: &Engine, c: &Target, path: &str, data: Vec<u8>, create_dirs: bool) -> Result<u64, String> {
    let out = op(engine, c, "write", path, &[if create_dirs { "1" } else { "0" }.to_string()], 4096, Some(data)).await?;
    String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| "the container did not say what it wrote".to_string())
}

/// One entry of a directory listing.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Entry {
    /// Relative to the listed directory.
    pub path: String,
    /// file, dir, link, fifo, socket, char device, block device
    pub kind: &'static str,
    pub size: u64,
    /// Permission bits, octal.
    pub mode: String,
    pub modified: i64,
    /// Where a link points (as text: never followed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The entries under the directory `path`, `depth` levels down, at most `max`; true when there
/// were more.
pub async fn list(engine: &Engine, c: &Target, path: &str, depth: u32, max: usize) -> Result<(Vec<Entry>, bool), String> {
    let args = [depth.clamp(1, 10).to_string(), max.to_string()];
    // each entry: six fields; names are at most 4 KiB each
    let cap = (max + 1) * (2 * 4096 + 64);
    let out = op(engine, c, "list", path, &args, cap, None).await?;
    let mut entries = parse_listing(&out.stdout);
    let more = entries.len() > max;
    entries.truncate(max);
    Ok((entries, more))
}

fn parse_listing(raw: &[u8]) -> Vec<Entry> {
    let fields: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    fields
        .chunks_exact(6)
        .map(|f| Entry {
            kind: match f[0] {
                b"f" => "file",
                b"d" => "dir",
                b"l" => "link",
                b"p" => "fifo",
                b"s" => "socket",
                b"c" => "char device",
                b"b" => "block device",
                _ => "other",
            },
            size: text(f[1]).parse().unwrap_or(0),
            mode: text(f[2]),
            modified: text(f[3]).split('.').next().and_then(|s| s.parse().ok()).unwrap_or(0),
            path: text(f[4]),
            target: (f[0] == b"l").then(|| text(f[5])),
        })
        .collect()
}

/// Deletes `path` (a link is removed, never followed); a directory only when `recursive`.
pub async fn delete(engine: &Engine, c: &Target, path: &str, recursive: bool) -> Result<(), String> {
    op(engine, c, "delete", path, &[if recursive { "1" } else { "0" }.to_string()], 4096, None).await.map(|_| ())
}

/// What `path` is in the container: "dir", "file" or "none" (its directory exists).
async fn kind_of(engine: &Engine, c: &Target, path: &str) -> Result<String, String> {
    let out = op(engine, c, "stat", path, &[], 4096, None).await?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_are_parsed_whole_entries_only() {
        let raw = b"f\x0012\x00644\x001700000000.5\x00a.txt\x00\x00l\x000\x00777\x001700000001.0\x00sub/link\x00/etc/shadow\x00d\x004096";
        let e = parse_listing(raw);
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].kind, e[0].size, e[0].path.as_str(), e[0].modified), ("file", 12, "a.txt", 1_700_000_000));
        assert_eq!((e[1].kind, e[1].target.as_deref()), ("link", Some("/etc/shadow")));
    }

    #[test]
    fn refusals_say_the_scripts_line_or_the_exit() {
        let out = |code, err: &str| ExecOutput { stdout: vec![], stderr: err.as_bytes().to_vec(), exit_code: code, stdout_dropped: 0, stderr_dropped: 0 };
        assert_eq!(refusal(&out(3, "agentdock: /x is a symbolic link\n")), "/x is a symbolic link");
        assert_eq!(refusal(&out(4, "dd: failed\x1b[31m\n")), "the operation failed in the container (exit 4): dd: failed");
        assert_eq!(refusal(&out(124, "")), "the operation took longer than 120 s");
    }
}
