//! Stats read straight from a local container's cgroup files: no cost to the engine, which
//! matters when the dashboard shows 50 containers every 2 s. Works for a local engine with
//! read access to /sys/fs/cgroup (cgroup v1 or v2); the caller falls back to the engine's
//! stats API otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::domain::stats::{self, RawStats, StatsSample};

const ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone)]
enum Layout {
    /// v1: one directory per controller.
    V1 { cpu: PathBuf, memory: PathBuf, pids: PathBuf },
    /// v2: one unified directory.
    V2(PathBuf),
}

/// Cgroup files kept open between samples, by container: each read is a seek and one read,
/// not an open, a stat, reads and a close (the dashboard reads a few hundred every 2 s).
#[derive(Debug, Default)]
struct OpenFiles {
    files: HashMap<String, HashMap<PathBuf, std::fs::File>>,
    /// How many are open: past [`MAX_OPEN`] a file is opened, read and closed each time.
    open: usize,
    buf: Vec<u8>,
}

/// Cgroup files kept open at most (a few per container): at 1,000 containers and more the
/// dashboard still has descriptors to spare.
const MAX_OPEN: usize = 2048;

impl OpenFiles {
    fn read(&mut self, id: &str, p: &Path) -> Option<String> {
        use std::io::{Read, Seek, SeekFrom};
        let files = self.files.entry(id.to_string()).or_default();
        let mut once = None;
        let f = match files.get_mut(p) {
            Some(f) => f,
            None if self.open < MAX_OPEN => {
                self.open += 1;
                files.entry(p.to_path_buf()).or_insert(std::fs::File::open(p).ok()?)
            }
            None => once.insert(std::fs::File::open(p).ok()?),
        };
        if self.buf.len() < 16384 {
            self.buf.resize(16384, 0);
        }
        let mut len = 0;
        let ok = f.seek(SeekFrom::Start(0)).is_ok()
            && loop {
                match f.read(&mut self.buf[len..]) {
                    Ok(0) => break true,
                    Ok(n) => {
                        len += n;
                        // cgroup files fit in one read; a full buffer means read on
                        if len < self.buf.len() {
                            break true;
                        }
                        let grown = self.buf.len() * 2;
                        self.buf.resize(grown, 0);
                    }
                    Err(_) => break false,
                }
            };
        if !ok {
            if files.remove(p).is_some() {
                self.open -= 1;
            }
            return None;
        }
        Some(String::from_utf8_lossy(&self.buf[..len]).into_owned())
    }

    fn read_u64(&mut self, id: &str, p: &Path) -> Option<u64> {
        self.read(id, p)?.trim().parse().ok()
    }

    fn retain(&mut self, ids: &std::collections::HashSet<&str>) {
        self.files.retain(|id, _| ids.contains(id.as_str()));
        self.open = self.files.values().map(HashMap::len).sum();
    }
}

fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == key).then(|| it.next()?.parse().ok()).flatten()
    })
}

fn find_layout(root: &Path, id: &str) -> Option<Layout> {
    let v1_mem = root.join("memory/docker").join(id);
    if v1_mem.is_dir() {
        let cpu = ["cpuacct/docker", "cpu,cpuacct/docker", "cpu/docker"]
            .iter()
            .map(|d| root.join(d).join(id))
            .find(|p| p.join("cpuacct.usage").exists())?;
        return Some(Layout::V1 { cpu, memory: v1_mem, pids: root.join("pids/docker").join(id) });
    }
    for dir in [root.join("system.slice").join(format!("docker-{id}.scope")), root.join("docker").join(id)] {
        if dir.join("memory.current").exists() {
            return Some(Layout::V2(dir));
        }
    }
    None
}

/// The cached value of `id`, or a fresh one from `read` when it is older than 10 s.
fn cached(cache: &mut HashMap<String, (Option<u64>, Instant)>, id: &str, now: Instant, read: impl FnOnce() -> Option<u64>) -> Option<u64> {
    if let Some((v, at)) = cache.get(id) {
        if now.duration_since(*at) < MEMORY_STAT_EVERY {
            return *v;
        }
    }
    let v = read();
    cache.insert(id.to_string(), (v, now));
    v
}

/// Reads CPU (as a delta between two reads), memory and pids of containers by id.
#[derive(Debug)]
pub struct CgroupReader {
    root: PathBuf,
    layouts: HashMap<String, Layout>,
    /// Previous CPU usage (ns) and when it was read.
    prev: HashMap<String, (u64, Instant)>,
    open: OpenFiles,
    /// The page cache figure of memory.stat (the costliest file for the kernel to write) and
    /// when it was read: read again every 10 s, as the cache moves slowly.
    inactive: HashMap<String, (Option<u64>, Instant)>,
}

/// How long a memory.stat reading is used.
const MEMORY_STAT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Default for CgroupReader {
    fn default() -> Self {
        CgroupReader::new(Path::new(ROOT))
    }
}

impl CgroupReader {
    pub fn new(root: &Path) -> Self {
        CgroupReader {
            root: root.to_path_buf(),
            layouts: HashMap::new(),
            prev: HashMap::new(),
            open: OpenFiles::default(),
            inactive: HashMap::new(),
        }
    }

    /// Whether `id`'s cgroup can be read here.
    pub fn available(&mut self, id: &str) -> bool {
        self.layout(id).is_some()
    }

    fn layout(&mut self, id: &str) -> Option<Layout> {
        if let Some(l) = self.layouts.get(id) {
            return Some(l.clone());
        }
        let l = find_layout(&self.root, id)?;
        self.layouts.insert(id.to_string(), l.clone());
        Some(l)
    }

    /// Forgets containers no longer running.
    pub fn retain(&mut self, ids: &[String]) {
        self.layouts.retain(|k, _| ids.contains(k));
        self.prev.retain(|k, _| ids.contains(k));
        self.inactive.retain(|k, _| ids.contains(k));
        self.open.retain(&ids.iter().map(String::as_str).collect());
    }

    /// Bytes read and written by the container's block devices.
    pub fn block_io(&mut self, id: &str) -> Option<(u64, u64)> {
        let (mut r, mut w) = (0, 0);
        match self.layout(id)? {
            Layout::V1 { .. } => {
                let dir = self.root.join("blkio/docker").join(id);
                let text = self.open.read(id, &dir.join("blkio.throttle.io_service_bytes"))?;
                for l in text.lines() {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    match (f.get(1), f.get(2).and_then(|v| v.parse::<u64>().ok())) {
                        (Some(&"Read"), Some(v)) => r += v,
                        (Some(&"Write"), Some(v)) => w += v,
                        _ => {}
                    }
                }
            }
            Layout::V2(dir) => {
                let text = self.open.read(id, &dir.join("io.stat"))?;
                for kv in text.split_whitespace() {
                    if let Some(v) = kv.strip_prefix("rbytes=").and_then(|v| v.parse::<u64>().ok()) {
                        r += v;
                    } else if let Some(v) = kv.strip_prefix("wbytes=").and_then(|v| v.parse::<u64>().ok()) {
                        w += v;
                    }
                }
            }
        }
        Some((r, w))
    }

    /// One sample; the CPU figure is over the time since the previous read of this container
    /// (0 on the first read). None when the cgroup is gone.
    pub fn sample(&mut self, id: &str) -> Option<StatsSample> {
        let layout = self.layout(id)?;
        let now = Instant::now();
        let mut raw = RawStats::default();
        let cpu_ns = match &layout {
            Layout::V1 { cpu, memory, pids } => {
                let f = &mut self.open;
                let Some(usage) = f.read_u64(id, &cpu.join("cpuacct.usage")) else {
                    self.layouts.remove(id);
                    return None;
                };
                raw.mem_usage = f.read_u64(id, &memory.join("memory.usage_in_bytes")).unwrap_or(0);
                raw.mem_limit = f.read_u64(id, &memory.join("memory.limit_in_bytes")).unwrap_or(0);
                raw.mem_total_inactive_file = cached(&mut self.inactive, id, now, || {
                    stat_value(&f.read(id, &memory.join("memory.stat")).unwrap_or_default(), "total_inactive_file")
                });
                raw.pids = f.read_u64(id, &pids.join("pids.current")).unwrap_or(0);
                usage
            }
            Layout::V2(dir) => {
                let f = &mut self.open;
                let st = f.read(id, &dir.join("cpu.stat"));
                let Some(usec) = st.as_deref().and_then(|s| stat_value(s, "usage_usec")) else {
                    self.layouts.remove(id);
                    return None;
                };
                raw.mem_usage = f.read_u64(id, &dir.join("memory.current")).unwrap_or(0);
                // "max" (no limit) reads as None
                raw.mem_limit = f.read_u64(id, &dir.join("memory.max")).unwrap_or(0);
                raw.mem_inactive_file = cached(&mut self.inactive, id, now, || {
                    stat_value(&f.read(id, &dir.join("memory.stat")).unwrap_or_default(), "inactive_file")
                });
                raw.pids = f.read_u64(id, &dir.join("pids.current")).unwrap_or(0);
                usec * 1000
            }
        };
        // The Docker CLI's formula over wall time: the host's system time advances by
        // (wall time x CPUs), so cpu_delta / (wall_delta x CPUs) x CPUs = cpu_delta / wall_delta.
        if let Some((prev_ns, prev_at)) = self.prev.get(id) {
            let wall = now.duration_since(*prev_at).as_nanos() as u64;
            raw.cpu_total = cpu_ns;
            raw.precpu_total = *prev_ns;
            raw.precpu_system = 1;
            raw.cpu_system = 1 + wall;
            raw.online_cpus = 1;
        }
        self.prev.insert(id.to_string(), (cpu_ns, now));
        Some(stats::sample(&raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn reads_v1_files() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        write(&r.join("cpuacct/docker/abc/cpuacct.usage"), "1000000000\n");
        write(&r.join("memory/docker/abc/memory.usage_in_bytes"), "3000\n");
        write(&r.join("memory/docker/abc/memory.limit_in_bytes"), "10000\n");
        write(&r.join("memory/docker/abc/memory.stat"), "cache 5\ntotal_inactive_file 1000\n");
        write(&r.join("pids/docker/abc/pids.current"), "7\n");
        let mut reader = CgroupReader::new(r);
        let s = reader.sample("abc").unwrap();
        assert_eq!(s.cpu_percent, 0.0);
        assert_eq!(s.mem_used, 2000);
        assert!((s.mem_percent - 20.0).abs() < 1e-9);
        assert_eq!(s.pids, 7);
        std::thread::sleep(std::time::Duration::from_millis(50));
        write(&r.join("cpuacct/docker/abc/cpuacct.usage"), "1025000000\n");
        let s = reader.sample("abc").unwrap();
        // 25 ms of CPU in about 50 ms of wall time: about 50 %
        assert!(s.cpu_percent > 10.0 && s.cpu_percent <= 50.0, "{}", s.cpu_percent);
        assert!(reader.sample("nope").is_none());
    }

    #[test]
    fn reads_v2_files() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("system.slice/docker-xyz.scope");
        write(&d.join("cpu.stat"), "usage_usec 500\nuser_usec 300\n");
        write(&d.join("memory.current"), "4096\n");
        write(&d.join("memory.max"), "max\n");
        write(&d.join("memory.stat"), "anon 1\ninactive_file 96\n");
        write(&d.join("pids.current"), "2\n");
        let s = CgroupReader::new(tmp.path()).sample("xyz").unwrap();
        assert_eq!(s.mem_used, 4000);
        assert_eq!(s.mem_limit, 0);
        assert_eq!(s.pids, 2);
    }
}
