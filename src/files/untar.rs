//! A tar stream out of a container, unpacked on the host without trusting a byte of it: the
//! engine writes the archive, but the names, links, types and sizes in it are the container's.
//! Every entry is placed under the destination directory by descriptor (each directory opened
//! without following a link, files created without following one), so nothing lands outside it:
//! names with `..` or a leading `/` are skipped, as are hard links, devices, FIFOs and symbolic
//! links whose target leaves the copy. A link inside the copy is made, but never followed by a
//! later entry. Sizes and the entry count are capped.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use serde::Serialize;

/// How much a copy may bring.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

/// How the archive's top entry is placed.
#[derive(Debug, Clone, Default)]
pub struct Root {
    /// The name it gets (docker cp's `DEST` that does not exist yet); else its own.
    pub rename: Option<String>,
    /// It must be a file (the destination is an existing file).
    pub file_only: bool,
}

/// What an unpack made, and what it left out and why.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Unpacked {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    pub bytes: u64,
    /// `name: why`, for each entry not made.
    pub skipped: Vec<String>,
}

/// Unpacks `archive` into the host's directory `dest` (its path is the user's: trusted).
pub fn unpack(archive: impl Read, dest: &Path, root: &Root, limits: Limits) -> Result<Unpacked, String> {
    let top = crate::untrusted::open_dir(dest).map_err(|e| format!("cannot open {}: {e}", dest.display()))?;
    let mut ar = tar::Archive::new(archive);
    let mut done = Unpacked::default();
    let mut seen = 0u64;
    let mut root_name: Option<String> = None;
    for entry in ar.entries().map_err(|e| format!("the archive cannot be read: {e}"))? {
        let mut e = entry.map_err(|e| format!("the archive cannot be read: {e}"))?;
        seen += 1;
        if seen > limits.max_entries {
            return Err(format!("the copy holds more than {} entries; stopped (raise --max-entries)", limits.max_entries));
        }
        let raw = e.path_bytes().into_owned();
        let shown = crate::domain::text::strip(&String::from_utf8_lossy(&raw));
        let mut parts = match plain_parts(&raw) {
            Ok(p) => p,
            Err(why) => {
                done.skipped.push(format!("{shown}: {why}"));
                continue;
            }
        };
        let kind = e.header().entry_type();
        // the first entry is the top of the copy; every other one must be under it
        match &root_name {
            None => {
                if root.file_only && !(kind.is_file() || kind.is_contiguous()) {
                    return Err("cannot copy a directory (or anything but a file) onto an existing file".into());
                }
                root_name = Some(parts[0].clone());
            }
            Some(r) if *r != parts[0] => {
                done.skipped.push(format!("{shown}: outside the copied path"));
                continue;
            }
            Some(_) => {}
        }
        if let Some(name) = &root.rename {
            parts[0] = name.clone();
        }
        let mode = e.header().mode().unwrap_or(0o644) & 0o777;
        let made = if kind.is_file() || kind.is_contiguous() {
            let size = e.header().size().unwrap_or(0);
            if done.bytes + size > limits.max_bytes {
                return Err(format!("the copy is over {} bytes; stopped (raise --max-size)", limits.max_bytes));
            }
            write_file(top.as_fd(), &parts, &mut e, size, mode).map(|n| {
                done.files += 1;
                done.bytes += n;
            })
        } else if kind.is_dir() {
            dir_path(top.as_fd(), &parts).map(|_| done.dirs += 1)
        } else if kind.is_symlink() {
            let target = e.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
            make_link(top.as_fd(), &parts, &target).map(|()| done.links += 1)
        } else if kind.is_hard_link() {
            Err("a hard link (not copied)".into())
        } else if kind.is_character_special() || kind.is_block_special() {
            Err("a device (not copied)".into())
        } else if kind.is_fifo() {
            Err("a FIFO (not copied)".into())
        } else {
            Err("an entry of a kind agentdock does not copy".into())
        };
        if let Err(why) = made {
            done.skipped.push(format!("{shown}: {why}"));
        }
    }
    if root_name.is_none() {
        return Err("the archive was empty".into());
    }
    Ok(done)
}

/// The plain components of an entry's name, or why it is refused.
fn plain_parts(raw: &[u8]) -> Result<Vec<String>, &'static str> {
    if raw.starts_with(b"/") {
        return Err("an absolute name (not copied)");
    }
    let mut parts = Vec::new();
    for p in raw.split(|b| *b == b'/') {
        match p {
            b"" | b"." => {}
            b".." => return Err("a name with '..' (not copied)"),
            p => parts.push(std::str::from_utf8(p).map_err(|_| "a name that is not UTF-8 (not copied)")?.to_string()),
        }
    }
    if parts.is_empty() {
        return Err("an empty name (not copied)");
    }
    Ok(parts)
}

/// Opens (making it when missing) the directory `name` in `dir`, never through a link.
fn subdir(dir: BorrowedFd, name: &str) -> Result<OwnedFd, String> {
    match crate::untrusted::open_subdir(dir, name) {
        Ok(d) => Ok(d),
        Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => {
            match rfs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(format!("cannot make the directory {name}: {e}")),
            }
            crate::untrusted::open_subdir(dir, name).map_err(|e| format!("cannot open the directory {name}: {e}"))
        }
        Err(_) => Err(format!("{name} on the way is not a directory (a link or a file): not copied through it")),
    }
}

/// The directory the entry `parts` names, made as needed: every step opened without following
/// a link.
fn dir_path(top: BorrowedFd, parts: &[String]) -> Result<OwnedFd, String> {
    let mut d = subdir(top, &parts[0])?;
    for p in &parts[1..] {
        d = subdir(d.as_fd(), p)?;
    }
    Ok(d)
}

/// The directory holding the entry `parts`, and its last name.
fn parent_of<'a>(top: BorrowedFd, parts: &'a [String]) -> Result<(OwnedFd, &'a str), String> {
    let (name, dirs) = parts.split_last().ok_or("an empty name")?;
    let d = match dirs {
        [] => rustix::io::fcntl_dupfd_cloexec(top, 0).map_err(|e| e.to_string())?,
        dirs => dir_path(top, dirs)?,
    };
    Ok((d, name))
}

fn write_file(top: BorrowedFd, parts: &[String], data: &mut impl Read, size: u64, mode: u32) -> Result<u64, String> {
    let (dir, name) = parent_of(top, parts)?;
    let opened = match rfs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
            rfs::openat(dir.as_fd(), name, OFlags::WRONLY | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
        }
        Ok(_) => return Err("would replace something that is not a regular file (a link, a directory…): not copied".into()),
        Err(Errno::NOENT) => rfs::openat(
            dir.as_fd(),
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode | 0o600),
        ),
        Err(e) => return Err(e.to_string()),
    };
    let fd = opened.map_err(|e| format!("cannot write it: {e}"))?;
    let mut f = std::fs::File::from(fd);
    let n = io::copy(&mut data.take(size), &mut f).map_err(|e| format!("cannot write it: {e}"))?;
    f.flush().map_err(|e| e.to_string())?;
    let _ = rfs::fchmod(&f, Mode::from_raw_mode(mode));
    Ok(n)
}

/// Makes a symbolic link when its target, read from where it stands, stays inside the copy.
fn make_link(top: BorrowedFd, parts: &[String], target: &[u8]) -> Result<(), String> {
    let t = std::str::from_utf8(target).map_err(|_| "a link whose target is not UTF-8 (not copied)")?;
    if !inside(parts, t) {
        return Err(format!("a symbolic link to {} that leads out of the copy (not copied)", crate::domain::text::strip(t)));
    }
    let (dir, name) = parent_of(top, parts)?;
    rfs::symlinkat(t, dir.as_fd(), name).map_err(|e| format!("cannot make the link: {e}"))
}

/// Whether the link `parts` -> `target` resolves (by its text) under the copy's top.
fn inside(parts: &[String], target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') || parts.len() < 2 {
        return false;
    }
    let mut at: Vec<&str> = parts[..parts.len() - 1].iter().map(String::as_str).collect();
    for p in target.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                at.pop();
                if at.is_empty() {
                    return false;
                }
            }
            p => at.push(p),
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits { max_bytes: 1 << 20, max_entries: 100 }
    }

    /// A tar with raw names and kinds, as a hostile writer would make it (the tar crate's own
    /// builder refuses `..`, so the headers are filled by hand).
    fn archive(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, data, link) in entries {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if !link.is_empty() {
                h.set_link_name(link).unwrap();
            }
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn names_climbing_out_absolute_names_links_out_devices_and_hard_links_are_not_made() {
        use tar::EntryType as T;
        let base = tempfile::tempdir().unwrap();
        let dest = base.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let tar = archive(&[
            ("top/", T::Directory, b"", ""),
            ("top/ok.txt", T::Regular, b"fine", ""),
            ("top/../../escaped.txt", T::Regular, b"x", ""),
            ("/tmp/absolute.txt", T::Regular, b"x", ""),
            ("top/out", T::Symlink, b"", "../../.."),
            ("top/abs", T::Symlink, b"", "/etc/shadow"),
            ("top/in", T::Symlink, b"", "ok.txt"),
            ("top/in/through.txt", T::Regular, b"x", ""),
            ("top/null", T::Char, b"", ""),
            ("top/fifo", T::Fifo, b"", ""),
            ("top/hard", T::Link, b"", "/etc/passwd"),
            ("other/x", T::Regular, b"x", ""),
        ]);
        let done = unpack(&tar[..], &dest, &Root::default(), lim()).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("top/ok.txt")).unwrap(), "fine");
        assert_eq!(std::fs::read_link(dest.join("top/in")).unwrap().to_str(), Some("ok.txt"));
        assert_eq!((done.files, done.dirs, done.links), (1, 1, 1), "{done:?}");
        assert_eq!(done.skipped.len(), 9, "{:#?}", done.skipped);
        let mut made: Vec<String> = walk(base.path());
        made.sort();
        assert_eq!(made, ["dest", "dest/top", "dest/top/in", "dest/top/ok.txt"]);
        assert!(!Path::new("/tmp/absolute.txt").exists());
    }

    fn walk(p: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![p.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                out.push(e.path().strip_prefix(p).unwrap().to_string_lossy().into_owned());
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                }
            }
        }
        out
    }

    #[test]
    fn an_existing_link_in_the_destination_is_never_written_through() {
        use tar::EntryType as T;
        let base = tempfile::tempdir().unwrap();
        let dest = base.path().join("dest");
        std::fs::create_dir_all(dest.join("top")).unwrap();
        std::fs::write(base.path().join("victim"), "keep").unwrap();
        std::os::unix::fs::symlink(base.path().join("victim"), dest.join("top/f")).unwrap();
        std::os::unix::fs::symlink(base.path(), dest.join("top/d")).unwrap();
        let tar = archive(&[("top/", T::Directory, b"", ""), ("top/f", T::Regular, b"evil", ""), ("top/d/victim", T::Regular, b"evil", "")]);
        let done = unpack(&tar[..], &dest, &Root::default(), lim()).unwrap();
        assert_eq!(done.skipped.len(), 2, "{:?}", done.skipped);
        assert_eq!(std::fs::read_to_string(base.path().join("victim")).unwrap(), "keep");
    }

    #[test]
    fn caps_stop_a_copy_and_the_top_can_be_renamed() {
        use tar::EntryType as T;
        let d = tempfile::tempdir().unwrap();
        let big = vec![b'x'; 2000];
        let tar = archive(&[("f.txt", T::Regular, &big, "")]);
        let e = unpack(&tar[..], d.path(), &Root::default(), Limits { max_bytes: 1000, max_entries: 10 }).unwrap_err();
        assert!(e.contains("over 1000 bytes"), "{e}");
        let done = unpack(&tar[..], d.path(), &Root { rename: Some("g.txt".into()), file_only: true }, lim()).unwrap();
        assert_eq!((done.files, done.bytes), (1, 2000));
        assert_eq!(std::fs::read(d.path().join("g.txt")).unwrap().len(), 2000);
        let tar = archive(&[("top/", T::Directory, b"", "")]);
        let e = unpack(&tar[..], d.path(), &Root { rename: Some("g.txt".into()), file_only: true }, lim()).unwrap_err();
        assert!(e.contains("onto an existing file"), "{e}");
        let many: Vec<(&str, T, &[u8], &str)> = (0..20).map(|_| ("top/", T::Directory, &b""[..], "")).collect();
        let e = unpack(&archive(&many)[..], d.path(), &Root::default(), Limits { max_bytes: 10, max_entries: 5 }).unwrap_err();
        assert!(e.contains("more than 5 entries"), "{e}");
    }
}
