//! A task on disk: one directory each under `<data>/tasks/<id>/`:
//! `task.json` (the host's record, written by rename), `run/` (mounted in the container at
//! `/agentdock/task`: prompt, events, state, result, bundle), `workspace/` (the clone, mounted at
//! `/workspace`), `claude/` (the task's own agent config). Everything under `run/` and
//! `workspace/` is written by the container, so it is read here as untrusted: regular files
//! only, never through a link, never more than asked.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

pub use crate::domain::task::{DiffStat, TaskRecord, TaskSpec};
use crate::domain::task::{valid_id, Summary};

pub fn tasks_dir() -> PathBuf {
    crate::paths::data_dir().join("tasks")
}

pub fn task_dir(id: &str) -> PathBuf {
    tasks_dir().join(id)
}

pub fn run_dir(id: &str) -> PathBuf {
    task_dir(id).join("run")
}

pub fn save(r: &TaskRecord) -> std::io::Result<()> {
    replace_file(&task_dir(&r.spec.id), "task.json", &serde_json::to_vec_pretty(r)?)?;
    if r.collected {
        let _ = std::fs::remove_file(open_dir().join(&r.spec.id));
    }
    Ok(())
}

/// The tasks not over and done with (queued, starting, running, ended but not collected), one
/// empty file each: what starting a task reads, however many finished tasks there are.
fn open_dir() -> PathBuf {
    tasks_dir().join(".open")
}

/// Marks a new task open (see [`load_open`]); its save as collected unmarks it.
pub fn mark_open(id: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(open_dir())?;
    std::fs::write(open_dir().join(id), b"")
}

/// The tasks marked open (every task, when none was ever marked), oldest first.
pub fn load_open() -> Vec<TaskRecord> {
    let Ok(entries) = std::fs::read_dir(open_dir()) else { return load_all() };
    let mut v: Vec<TaskRecord> = entries.flatten().filter_map(|e| load(&e.file_name().to_string_lossy())).collect();
    v.sort_by(|a, b| (a.spec.created_at, &a.spec.id).cmp(&(b.spec.created_at, &b.spec.id)));
    v
}

/// Writes `dir/name` whole, by rename. Several agentdock processes may save the same record at
/// once (`task run` following it, `task ls` in another terminal), so each write has a temp file
/// of its own: a shared one lets one writer rename the other's half-written (or mixed) bytes.
fn replace_file(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let written = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp).and_then(|mut f| f.write_all(data));
    let done = written.and_then(|()| std::fs::rename(&tmp, dir.join(name)));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done
}

pub fn load(id: &str) -> Option<TaskRecord> {
    if !valid_id(id) {
        return None;
    }
    let text = std::fs::read(task_dir(id).join("task.json")).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The ids of the tasks on disk (directory names only: nothing is read).
pub fn ids() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(tasks_dir()) else { return Vec::new() };
    entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|id| valid_id(id)).collect()
}

/// Every task on disk, oldest first.
pub fn load_all() -> Vec<TaskRecord> {
    let Ok(entries) = std::fs::read_dir(tasks_dir()) else { return Vec::new() };
    let mut v: Vec<TaskRecord> =
        entries.flatten().filter_map(|e| load(&e.file_name().to_string_lossy())).collect();
    v.sort_by(|a, b| (a.spec.created_at, &a.spec.id).cmp(&(b.spec.created_at, &b.spec.id)));
    v
}

/// A new task id: the date and a random part (`20261125-3f9a1c`), safe in paths and labels.
pub fn new_id() -> String {
    let mut b = [0u8; 3];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    let (y, m, day) = civil(crate::domain::container::now_unix() / 86_400);
    format!("{y:04}{m:02}{day:02}-{:02x}{:02x}{:02x}", b[0], b[1], b[2])
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Opens `dir/name`, a file the container may have written: only a regular file, never
/// through a symlink, never blocking on a FIFO (see [`crate::untrusted`]). None when it is not so.
fn open_untrusted(dir: &Path, name: &str) -> Option<(std::fs::File, u64)> {
    crate::untrusted::open(dir, name).ok()
}

/// Reads at most `max` bytes of an untrusted file (see [`open_untrusted`]).
pub fn read_untrusted(dir: &Path, name: &str, max: u64) -> Option<Vec<u8>> {
    read_untrusted_from(dir, name, 0, max)
}

/// Reads at most `max` bytes of an untrusted file, from byte `offset` on (what came since the
/// last look).
pub fn read_untrusted_from(dir: &Path, name: &str, offset: u64, max: u64) -> Option<Vec<u8>> {
    let (mut f, _) = open_untrusted(dir, name)?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// Copies an untrusted file to a host-owned one (so nothing can swap it while git reads it).
pub fn copy_untrusted(dir: &Path, name: &str, max: u64, to: &Path) -> Option<u64> {
    let (f, len) = open_untrusted(dir, name)?;
    if len > max {
        return None;
    }
    let mut out = std::fs::File::create(to).ok()?;
    std::io::copy(&mut f.take(max), &mut out).ok()
}

/// The stream so far, summed up (read bounded: the output cap and a little more).
/// The whole lines of a task's event stream after `offset` (moved past them); the stream is
/// read no further than the task's output allowance.
pub fn new_event_lines(id: &str, max_output: u64, offset: &mut u64) -> Vec<String> {
    let left = (max_output + 64 * 1024).saturating_sub(*offset);
    let Some(bytes) = read_untrusted_from(&run_dir(id), "events.jsonl", *offset, left) else { return Vec::new() };
    let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else { return Vec::new() };
    *offset += end as u64 + 1;
    String::from_utf8_lossy(&bytes[..end]).lines().map(str::to_string).collect()
}

pub fn summary_of(id: &str, max_output: u64) -> Summary {
    let mut s = Summary::default();
    if let Some(bytes) = read_untrusted(&run_dir(id), "events.jsonl", max_output + 64 * 1024) {
        String::from_utf8_lossy(&bytes).lines().for_each(|l| s.push_line(l));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dated_and_valid() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(20_517), (2026, 3, 5));
        assert_eq!(civil(11_016), (2000, 2, 29));
        let id = new_id();
        assert!(valid_id(&id) && id.len() == 15, "{id}");
    }

    #[test]
    fn concurrent_saves_never_leave_a_mixed_file() {
        let d = tempfile::tempdir().unwrap();
        let texts: Vec<String> = (0..4).map(|i| format!("{{\"n\": \"{}\"}}", "x".repeat(100 + i * 3000))).collect();
        std::fs::write(d.path().join("r.json"), &texts[0]).unwrap();
        std::thread::scope(|s| {
            for t in &texts {
                let dir = d.path();
                s.spawn(move || (0..300).for_each(|_| { let _ = replace_file(dir, "r.json", t.as_bytes()); }));
            }
            for _ in 0..2000 {
                let got = std::fs::read_to_string(d.path().join("r.json")).unwrap();
                assert!(texts.contains(&got), "a torn file: {} bytes", got.len());
            }
        });
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(left, ["r.json"], "temp files left behind");
    }

    #[test]
    fn untrusted_reads_refuse_links_and_fifos_and_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), "0123456789").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("link")).unwrap();
        rustix::fs::mknodat(rustix::fs::CWD, d.path().join("fifo"), rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap();
        assert_eq!(read_untrusted(d.path(), "f", 4).unwrap(), b"0123");
        assert_eq!(read_untrusted_from(d.path(), "f", 8, 100).unwrap(), b"89");
        assert!(read_untrusted(d.path(), "link", 100).is_none());
        assert!(read_untrusted(d.path(), "fifo", 100).is_none());
        assert!(copy_untrusted(d.path(), "f", 5, &d.path().join("copy")).is_none(), "over the cap");
        assert_eq!(copy_untrusted(d.path(), "f", 50, &d.path().join("copy")), Some(10));
    }
}
