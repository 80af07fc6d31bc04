//! `agentdock cp`: files between the host and a managed container, as `docker cp` does it.
//! Out of the container: the engine's archive API, unpacked on the host by [`super::untar`]
//! (nothing written outside the destination). Into it: a tar made on the host, unpacked by
//! `tar` in the container as the container's user, after the destination is checked for links
//! (so no link the agent planted makes agentdock write where the agent itself could not).

use std::io::Read;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use serde::Serialize;

use super::untar::{self, Limits, Root, Unpacked};
use super::{kind_of, op, Target};
use crate::domain::cpath;
use crate::engine::Engine;

/// One side of a copy, as written on the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Side {
    /// A host path; `-` is a tar stream on stdin or stdout.
    Host(String),
    /// `KEY:PATH`: a project, task or container, and a path in it.
    Container { key: String, path: String },
}

/// `KEY:PATH` names a container (KEY without `/`, as docker cp reads it); anything else is a
/// host path (`./a:b` is a host file).
pub fn side(arg: &str) -> Side {
    match arg.split_once(':') {
        Some((key, path)) if !key.is_empty() && !key.contains('/') && !arg.starts_with('.') => {
            Side::Container { key: key.to_string(), path: path.to_string() }
        }
        _ => Side::Host(arg.to_string()),
    }
}

/// What a copy did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Copied {
    pub to: String,
    #[serde(flatten)]
    pub unpacked: Unpacked,
}

/// Copies `path` in the container to the host's `dest` (`-`: the raw tar to stdout).
pub async fn from_container(engine: &Engine, c: &Target, path: &str, dest: &str, limits: Limits) -> Result<Copied, String> {
    let path = cpath::normalize(path)?;
    let mut stream = Box::pin(engine.archive(&c.id, &path));
    if dest == "-" {
        use std::io::{IsTerminal, Write};
        if std::io::stdout().is_terminal() {
            return Err("refusing to write a tar stream to a terminal: give a destination, or pipe it".into());
        }
        let mut out = std::io::stdout().lock();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            n += chunk.len() as u64;
            out.write_all(&chunk).map_err(|e| format!("cannot write to stdout: {e}"))?;
        }
        return Ok(Copied { to: "-".into(), unpacked: Unpacked { bytes: n, ..Default::default() } });
    }
    let (dir, root) = host_destination(Path::new(dest))?;
    // the stream comes in on the runtime, is unpacked on a thread of its own
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
    let unpack = tokio::task::spawn_blocking(move || untar::unpack(ChannelReader { rx, buf: Vec::new(), at: 0 }, &dir, &root, limits));
    let mut failed = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => {
                // the unpacker stopped (a cap, a bad archive): its error says why
                if tx.send(b).is_err() {
                    break;
                }
            }
            Err(e) => {
                failed = Some(e.to_string());
                break;
            }
        }
    }
    drop(tx);
    let done = unpack.await.map_err(|e| e.to_string())?;
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(Copied { to: dest.to_string(), unpacked: done? })
}

/// Where the archive goes on the host, as docker cp places it: into an existing directory;
/// as `dest` itself when it does not exist (its directory must); over an existing file.
fn host_destination(dest: &Path) -> Result<(PathBuf, Root), String> {
    let name = || dest.file_name().map(|n| n.to_string_lossy().into_owned()).ok_or_else(|| format!("{} names no file", dest.display()));
    let parent = || match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(dest) {
        Ok(m) if m.is_dir() => Ok((dest.to_path_buf(), Root::default())),
        Ok(_) => Ok((parent(), Root { rename: Some(name()?), file_only: true })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let p = parent();
            if !p.is_dir() {
                return Err(format!("the directory {} does not exist", p.display()));
            }
            Ok((p, Root { rename: Some(name()?), file_only: false }))
        }
        Err(e) => Err(format!("cannot use {}: {e}", dest.display())),
    }
}

/// Reads what the channel brings until its sender goes.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.buf = b;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Copies the host's `src` (`-`: a tar stream on stdin) to `path` in the container.
pub async fn to_container(engine: &Engine, c: &Target, src: &str, path: &str) -> Result<Copied, String> {
    let path = cpath::normalize(path)?;
    if src == "-" {
        op(engine, c, "untar", &path, &[], 64 * 1024, Some(read_stdin()?)).await?;
        return Ok(Copied { to: format!("{}:{path}", c.name), ..Default::default() });
    }
    let src_path = PathBuf::from(src);
    let meta = std::fs::symlink_metadata(&src_path).map_err(|e| format!("cannot read {src}: {e}"))?;
    let base = src_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| ".".into());
    let (dir, name) = match kind_of(engine, c, &path).await?.as_str() {
        "dir" => (path.clone(), base),
        "file" if meta.is_dir() => return Err(format!("cannot copy the directory {src} onto the file {path}")),
        _ => (cpath::parent(&path).to_string(), cpath::base_name(&path).to_string()),
    };
    if name == "/" || name == "." || name.is_empty() {
        return Err(format!("{src} names no file to copy"));
    }
    let (tar, done) = tokio::task::spawn_blocking(move || pack(&src_path, &name)).await.map_err(|e| e.to_string())??;
    op(engine, c, "untar", &dir, &[], 64 * 1024, Some(tar)).await?;
    Ok(Copied { to: format!("{}:{path}", c.name), unpacked: done })
}

fn read_stdin() -> Result<Vec<u8>, String> {
    let mut v = Vec::new();
    std::io::stdin().lock().read_to_end(&mut v).map_err(|e| format!("cannot read stdin: {e}"))?;
    Ok(v)
}

/// A tar of the host's `src` under the name `name`: files, directories and links as they are
/// (links not followed); FIFOs, sockets and devices left out.
fn pack(src: &Path, name: &str) -> Result<(Vec<u8>, Unpacked), String> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let mut done = Unpacked::default();
    let mut stack = vec![(src.to_path_buf(), name.to_string())];
    while let Some((path, name)) = stack.pop() {
        let m = std::fs::symlink_metadata(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let ft = m.file_type();
        if ft.is_dir() {
            b.append_dir(&name, &path).map_err(|e| format!("cannot pack {}: {e}", path.display()))?;
            done.dirs += 1;
            let mut kids: Vec<_> = std::fs::read_dir(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?.flatten().collect();
            kids.sort_by_key(|k| std::cmp::Reverse(k.file_name()));
            for k in kids {
                stack.push((k.path(), format!("{name}/{}", k.file_name().to_string_lossy())));
            }
        } else if ft.is_file() || ft.is_symlink() {
            b.append_path_with_name(&path, &name).map_err(|e| format!("cannot pack {}: {e}", path.display()))?;
            if ft.is_file() {
                done.files += 1;
                done.bytes += m.len();
            } else {
                done.links += 1;
            }
        } else {
            done.skipped.push(format!("{}: not a file, directory or link (not copied)", path.display()));
        }
    }
    b.into_inner().map(|t| (t, done)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_read_as_docker_cp_reads_them() {
        assert_eq!(side("api:/workspace/a"), Side::Container { key: "api".into(), path: "/workspace/a".into() });
        assert_eq!(side("api:src"), Side::Container { key: "api".into(), path: "src".into() });
        assert_eq!(side("./a:b"), Side::Host("./a:b".into()));
        assert_eq!(side("/tmp/a:b"), Side::Host("/tmp/a:b".into()));
        assert_eq!(side("-"), Side::Host("-".into()));
        assert_eq!(side(":x"), Side::Host(":x".into()));
    }

    #[test]
    fn a_packed_tree_unpacks_the_same() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("a.txt"), "a").unwrap();
        std::fs::write(src.join("sub/b.txt"), "bb").unwrap();
        std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
        let (tar, packed) = pack(&src, "copy").unwrap();
        assert_eq!((packed.files, packed.dirs, packed.links, packed.bytes), (2, 2, 1, 3));
        let out = d.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let done = untar::unpack(&tar[..], &out, &Root::default(), Limits { max_bytes: 100, max_entries: 10 }).unwrap();
        assert!(done.skipped.is_empty(), "{:?}", done.skipped);
        assert_eq!(std::fs::read_to_string(out.join("copy/sub/b.txt")).unwrap(), "bb");
        assert_eq!(std::fs::read_link(out.join("copy/link")).unwrap().to_str(), Some("a.txt"));
    }
}
