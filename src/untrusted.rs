//! Files the container controls (its mounted agent config, a task's run dir), read and written
//! on the host without trusting them. The directory given by path is the host's own; every name
//! under it is opened relative to a descriptor of that directory, never through a symlink. A
//! file is read only when it is a regular file (a FIFO would block, a device could act on being
//! opened), and never more than asked. A file is written by a new file of our own renamed over
//! the name, so a link there is replaced, not written through. Ownership is changed through
//! descriptors too, so a directory swapped for a symlink mid-walk is not entered.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

/// Deeper trees than this are not walked (each level holds a descriptor open).
const MAX_DEPTH: usize = 200;

/// Opens a directory the host made (its path is trusted) to work under it by descriptor.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rfs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

/// Opens the directory `name` in `dir`: a directory, not a symlink to one.
pub fn open_subdir(dir: BorrowedFd, name: &str) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(rfs::openat(dir, one_name(name)?, flags, Mode::empty())?)
}

fn one_name(name: &str) -> io::Result<&str> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("'{name}' is not a plain file name")));
    }
    Ok(name)
}

fn kind(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice | FileType::BlockDevice => "a device",
        _ => "not a regular file",
    }
}

fn not_regular(t: FileType) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}, not a regular file", kind(t)))
}

/// Opens `name` in `dir` for reading when it is a regular file, with its size. The name is
/// first opened as a path only (O_PATH, no-follow: nothing is opened for real), and reopened
/// for reading through that descriptor once it is known to be a regular file; where /proc is
/// missing, it is opened no-follow and non-blocking, and checked after.
pub fn open_file_at(dir: BorrowedFd, name: &str) -> io::Result<(File, u64)> {
    let name = one_name(name)?;
    let path = rfs::openat(dir, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    let seen = rfs::fstat(&path)?;
    let t = FileType::from_raw_mode(seen.st_mode);
    if t != FileType::RegularFile {
        return Err(not_regular(t));
    }
    let read = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rfs::open(format!("/proc/self/fd/{}", path.as_raw_fd()), read, Mode::empty())
        .or_else(|_| rfs::openat(dir, name, read | OFlags::NOFOLLOW, Mode::empty()))?;
    let st = rfs::fstat(&fd)?;
    let t = FileType::from_raw_mode(st.st_mode);
    if t != FileType::RegularFile || (st.st_dev, st.st_ino) != (seen.st_dev, seen.st_ino) {
        return Err(not_regular(t));
    }
    Ok((File::from(fd), u64::try_from(st.st_size).unwrap_or(0)))
}

/// Opens `rel` under the host's directory `dir` (see [`open_file_at`]); `rel` may go through
/// directories (`agentdock/status`), each opened no-follow in turn.
pub fn open(dir: &Path, rel: &str) -> io::Result<(File, u64)> {
    let mut d = open_dir(dir)?;
    let mut parts = rel.split('/').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            return open_file_at(d.as_fd(), part);
        }
        d = open_subdir(d.as_fd(), part)?;
    }
    Err(io::ErrorKind::InvalidInput.into())
}

/// At most `max` bytes from `f`.
pub fn read_at_most(f: File, max: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf)?;
    Ok(buf)
}

/// At most `max` bytes of `rel` under `dir` (see [`open`]).
pub fn read(dir: &Path, rel: &str, max: u64) -> io::Result<Vec<u8>> {
    read_at_most(open(dir, rel)?.0, max)
}

/// Replaces `name` in `dir` with `data`: a new file of our own (mode `mode`, given to `owner`
/// before it takes the name) renamed over whatever `name` was, a symlink included.
pub fn replace_at(dir: BorrowedFd, name: &str, data: &[u8], mode: u32, owner: Option<(u32, u32)>) -> io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let name = one_name(name)?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    // a name taken (the container may guess ours) is passed over
    let (mut tries, nanos) = (0, std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos());
    let (tmp, mut f) = loop {
        let tmp = format!(".{name}.{}.{nanos}.{}.agentdock-tmp", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        match rfs::openat(dir, &tmp, flags, Mode::from_raw_mode(mode)) {
            Ok(fd) => break (tmp, File::from(fd)),
            Err(Errno::EXIST) if tries < 10 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    };
    let done = fill_new(&mut f, data, owner).and_then(|()| rfs::renameat(dir, &tmp, dir, name).map_err(io::Error::from));
    if done.is_err() {
        let _ = rfs::unlinkat(dir, &tmp, AtFlags::empty());
    }
    done
}

fn fill_new(f: &mut File, data: &[u8], owner: Option<(u32, u32)>) -> io::Result<()> {
    f.write_all(data)?;
    if let Some((uid, gid)) = owner {
        rfs::fchown(&*f, Some(uid_of(uid)), Some(gid_of(gid)))?;
    }
    Ok(())
}

/// Moves `name` in `dir` aside, link or not, to a free `<name>.invalid-<unix time>`, and says
/// to what.
pub fn set_aside(dir: BorrowedFd, name: &str) -> io::Result<String> {
    let name = one_name(name)?;
    let secs = crate::domain::container::now_unix();
    for i in 0..20 {
        let to = if i == 0 { format!("{name}.invalid-{secs}") } else { format!("{name}.invalid-{secs}-{i}") };
        let moved = match rfs::renameat_with(dir, name, dir, &to, RenameFlags::NOREPLACE) {
            // a filesystem without RENAME_NOREPLACE: look first
            Err(Errno::INVAL) => match rfs::statat(dir, &to, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(_) => Err(Errno::EXIST),
                Err(_) => rfs::renameat(dir, name, dir, &to),
            },
            other => other,
        };
        match moved {
            Ok(()) => return Ok(to),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("no free name to set {name} aside")))
}

fn uid_of(uid: u32) -> rfs::Uid {
    rfs::Uid::from_raw(uid)
}
fn gid_of(gid: u32) -> rfs::Gid {
    rfs::Gid::from_raw(gid)
}

/// Gives the directory `top` (the host's; not followed if a symlink) and everything under it to
/// `uid:gid`. Each directory is opened no-follow before it is changed or listed, so one swapped
/// for a symlink mid-walk is not entered; symlinks, FIFOs, devices and files with other links
/// are left as they are.
pub fn chown_tree(top: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rfs::open(top, flags, Mode::empty())?;
    chown_dir(fd, (uid_of(uid), gid_of(gid)), None, 0)
}

/// As [`chown_tree`], but only what `from` owns changes hands (what root just wrote into a
/// user's repository, say).
pub fn chown_tree_owned_by(top: &Path, from: u32, uid: u32, gid: u32) -> io::Result<()> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rfs::open(top, flags, Mode::empty())?;
    chown_dir(fd, (uid_of(uid), gid_of(gid)), Some(from), 0)
}

fn chown_dir(dir: OwnedFd, owner: (rfs::Uid, rfs::Gid), from: Option<u32>, depth: usize) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other(format!("more than {MAX_DEPTH} directories deep")));
    }
    if from.is_none_or(|f| rfs::fstat(&dir).map(|st| st.st_uid == f).unwrap_or(false)) {
        rfs::fchown(&dir, Some(owner.0), Some(owner.1))?;
    }
    let mut entries = rfs::Dir::read_from(&dir)?;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    while let Some(entry) = entries.read() {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        match rfs::openat(&dir, name, flags, Mode::empty()) {
            Ok(sub) => chown_dir(sub, owner, from, depth + 1)?,
            // not a directory (or a link to one): a regular file with no other name is changed
            Err(Errno::NOTDIR | Errno::LOOP) => {
                let fd = match rfs::openat(&dir, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                };
                let st = rfs::fstat(&fd)?;
                let theirs = from.is_none_or(|f| st.st_uid == f);
                if theirs && FileType::from_raw_mode(st.st_mode) == FileType::RegularFile && st.st_nlink == 1 {
                    rfs::chownat(&fd, "", Some(owner.0), Some(owner.1), AtFlags::EMPTY_PATH)?;
                }
            }
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn fifo(path: &Path) {
        rfs::mknodat(rfs::CWD, path, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
    }

    #[test]
    fn reads_only_regular_files_never_through_links_and_bounded() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir(p.join("sub")).unwrap();
        std::fs::write(p.join("sub/f"), "0123456789").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", p.join("link")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", p.join("zero")).unwrap();
        std::os::unix::fs::symlink(p.join("sub"), p.join("linked-dir")).unwrap();
        fifo(&p.join("fifo"));
        assert_eq!(read(p, "sub/f", 4).unwrap(), b"0123");
        assert_eq!(open(p, "sub/f").unwrap().1, 10);
        for (rel, why) in [("link", "symbolic link"), ("zero", "symbolic link"), ("fifo", "FIFO"), ("sub", "directory")] {
            let e = read(p, rel, 100).unwrap_err();
            assert!(e.to_string().contains(why), "{rel}: {e}");
        }
        // a directory on the way may not be a link either
        let e = read(p, "linked-dir/f", 100).unwrap_err().raw_os_error();
        assert!([Errno::NOTDIR, Errno::LOOP].iter().any(|x| Some(x.raw_os_error()) == e), "{e:?}");
        assert_eq!(read(p, "missing", 100).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert!(read(p, "../x", 100).is_err() && read(p, "sub/../sub/f", 100).is_err());
    }

    #[test]
    fn replace_and_set_aside_never_write_through_a_link() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, "{}").unwrap();
        let inner = d.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        std::os::unix::fs::symlink(&victim, inner.join("settings.json")).unwrap();
        let fd = open_dir(&inner).unwrap();
        let aside = set_aside(fd.as_fd(), "settings.json").unwrap();
        assert!(aside.starts_with("settings.json.invalid-"), "{aside}");
        assert!(std::fs::symlink_metadata(inner.join(&aside)).unwrap().file_type().is_symlink());
        // a second one gets a name of its own
        std::os::unix::fs::symlink(&victim, inner.join("settings.json")).unwrap();
        let again = set_aside(fd.as_fd(), "settings.json").unwrap();
        assert_ne!(again, aside);
        // a link in the way is replaced, not followed
        std::os::unix::fs::symlink(&victim, inner.join("settings.json")).unwrap();
        replace_at(fd.as_fd(), "settings.json", b"new", 0o600, None).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "{}");
        let m = std::fs::symlink_metadata(inner.join("settings.json")).unwrap();
        assert!(m.is_file() && m.mode() & 0o777 == 0o600, "{m:?}");
        assert_eq!(std::fs::read_to_string(inner.join("settings.json")).unwrap(), "new");
        let left: Vec<String> = std::fs::read_dir(&inner).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        assert!(!left.iter().any(|n| n.contains("agentdock-tmp")), "{left:?}");
    }

    /// As root: the walk gives away everything in the tree and nothing outside it, while a
    /// thread keeps swapping a directory in the tree for a symlink to a victim directory.
    #[test]
    fn chown_tree_stays_in_the_tree_while_dirs_are_swapped_for_links() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let (tree, victim) = (d.path().join("tree"), d.path().join("victim"));
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::create_dir_all(&victim).unwrap();
        std::fs::write(tree.join("a/b/f"), "x").unwrap();
        std::fs::write(victim.join("secret"), "x").unwrap();
        std::fs::hard_link(victim.join("secret"), tree.join("hardlink")).unwrap();
        std::os::unix::fs::symlink(victim.join("secret"), tree.join("link")).unwrap();
        fifo(&tree.join("fifo"));
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let (real, moved) = (tree.join("a"), tree.join("a.real"));
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = std::fs::rename(&real, &moved);
                    let _ = std::os::unix::fs::symlink(&victim, &real);
                    std::thread::yield_now();
                    let _ = std::fs::remove_file(&real);
                    let _ = std::fs::rename(&moved, &real);
                }
            });
            for _ in 0..300 {
                chown_tree(&tree, 4321, 4321).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        chown_tree(&tree, 4321, 4321).unwrap();
        for p in [&victim, &victim.join("secret")] {
            assert_eq!(std::fs::metadata(p).unwrap().uid(), 0, "{} given away", p.display());
        }
        for p in ["", "a", "a/b", "a/b/f"] {
            assert_eq!(std::fs::symlink_metadata(tree.join(p)).unwrap().uid(), 4321, "{p}");
        }
        assert_eq!(std::fs::symlink_metadata(tree.join("link")).unwrap().uid(), 0);
        assert_eq!(std::fs::symlink_metadata(tree.join("fifo")).unwrap().uid(), 0);
    }
}
