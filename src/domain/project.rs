//! Projects: host directories (normally git repositories) found under the configured roots
//! and/or listed in the config, each with a stable, unique id.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::domain::settings::{expand_home, Config, Limits, NetworkMode, ProjectEntry, RefreshPolicy};
use crate::domain::container::ContainerInfo;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    /// Stable slug of the name; unique among the projects.
    pub id: String,
    pub name: String,
    pub path: PathBuf,
    /// False when the directory is gone (its container, if any, is orphaned).
    pub exists: bool,
    #[serde(skip)]
    pub settings: ProjectSettings,
}

/// The config values in force for one project (global values with its overrides applied).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProjectSettings {
    pub image: String,
    pub agent_command: String,
    pub env_passthrough: Vec<String>,
    pub limits: Limits,
    pub refresh: RefreshPolicy,
    /// How its agents reach the network.
    pub network: NetworkMode,
    /// The domains its agents may reach in allowlist mode: `security.allow_default`, then
    /// `security.allow`, then its own, lower-cased, each once.
    pub allow: Vec<String>,
    /// Dollars it may spend per day through the broker (0: no budget).
    pub daily_budget_usd: f64,
    /// The engine it is pinned to (`engine = "box"`); None: the default engine.
    pub engine: Option<String>,
}

/// Lower-case slug: letters and digits kept, every other run of characters one `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    if trimmed.is_empty() {
        "project".to_string()
    } else {
        trimmed.to_string()
    }
}

/// Short stable hash of a path (FNV-1a), to tell apart projects with the same name.
fn path_hash(path: &Path) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in path.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:06x}", h & 0xff_ffff)
}

struct Found {
    name: String,
    path: PathBuf,
    entry: Option<usize>,
}

/// A project is known by its engine (None: the default) and its path there.
type Key = (Option<String>, PathBuf);

/// Finds the projects of `config`: children of each root that hold `.git`, then the explicit
/// entries (an entry for a path already found replaces it). Sorted by name, then path.
pub fn discover(config: &Config, home: &Path) -> Vec<Project> {
    let mut by_path: BTreeMap<Key, Found> = BTreeMap::new();
    for root in &config.roots {
        let root = expand_home(root, home);
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() && path.join(".git").exists() {
                let name = entry.file_name().to_string_lossy().into_owned();
                by_path.insert((None, path.clone()), Found { name, path, entry: None });
            }
        }
    }
    for (i, e) in config.projects.iter().enumerate() {
        let path = expand_home(&e.path, home);
        // a path on another engine's host is taken as written
        let path = if e.engine.is_some() { path } else { std::fs::canonicalize(&path).unwrap_or(path) };
        let name = e.name.clone().unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "project".into())
        });
        by_path.insert((e.engine.clone(), path.clone()), Found { name, path, entry: Some(i) });
    }

    let mut slug_count: HashMap<String, usize> = HashMap::new();
    for f in by_path.values() {
        *slug_count.entry(slug(&f.name)).or_default() += 1;
    }
    let mut projects: Vec<Project> = by_path
        .into_iter()
        .map(|((engine, _), f)| {
            let s = slug(&f.name);
            // Same-named projects all get a path-derived suffix (and engine-derived, for a path
            // on another engine's host), so no id depends on the others' order.
            let id = match (slug_count[&s] > 1, engine) {
                (false, _) => s,
                (true, None) => format!("{s}-{}", path_hash(&f.path)),
                (true, Some(e)) => format!("{s}-{}", path_hash(&Path::new(&e).join(&f.path))),
            };
            let entry = f.entry.map(|i| &config.projects[i]);
            Project {
                id,
                exists: f.path.is_dir(),
                settings: settings_for(config, entry),
                name: f.name,
                path: f.path,
            }
        })
        .collect();
    projects.sort_by(|a, b| super::text::natural_cmp(&a.name, &b.name).then(a.path.cmp(&b.path)));
    projects
}

pub fn settings_for(config: &Config, entry: Option<&ProjectEntry>) -> ProjectSettings {
    let mut s = ProjectSettings {
        image: config.image.clone(),
        agent_command: config.agent_command.clone(),
        env_passthrough: config.env_passthrough.clone(),
        limits: config.limits.clone(),
        refresh: config.refresh.clone(),
        network: if config.security.network_none { NetworkMode::None } else { config.security.network },
        allow: Vec::new(),
        daily_budget_usd: config.broker.project_daily_budget_usd,
        engine: None,
    };
    let own = entry.and_then(|e| e.allow.as_deref()).unwrap_or_default();
    for d in config.security.allow_default.iter().chain(&config.security.allow).chain(own) {
        let d = d.trim().to_ascii_lowercase();
        if !d.is_empty() && !s.allow.contains(&d) {
            s.allow.push(d);
        }
    }
    if let Some(e) = entry {
        if let Some(n) = e.network {
            s.network = n;
        }
        if let Some(b) = e.daily_budget_usd {
            s.daily_budget_usd = b;
        }
        if let Some(i) = &e.image {
            s.image = i.clone();
        }
        if let Some(c) = &e.agent_command {
            s.agent_command = c.clone();
        }
        if let Some(extra) = &e.env_passthrough {
            s.env_passthrough.extend(extra.iter().cloned());
        }
        s.limits = config.limits.patched(&e.limits);
        s.refresh = config.refresh.patched(&e.refresh);
        s.engine = e.engine.clone();
    }
    s
}

/// Longest id accepted: `<id>.lock` must stay a valid file name.
pub const MAX_ID_LEN: usize = 200;

/// True for an id agentdock could have made: a slug (lower-case ASCII letters and digits, one
/// `-` between runs), at most [`MAX_ID_LEN`] long. An id read from a container label names a
/// file or directory (lock, agent config) only when this holds: labels are not trusted.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && slug(id) == id
}

/// A project a container was made for, rebuilt from the container's labels when the project
/// is not among the configured ones (an orphan), so its containers can be stopped and removed;
/// nothing else. Labels are not trusted: the directory they name is never used (`exists` is
/// false whatever is there; [`Orphaned::of`] tells the user what is there), and the id, kept
/// as written to find the containers by their label, names a path only if [`valid_id`].
/// None for a container without agentdock's project label.
pub fn orphan(c: &ContainerInfo, config: &Config) -> Option<Project> {
    let id = c.project_id.as_deref()?;
    let path = c.project_path.as_deref().unwrap_or("");
    Some(Project {
        id: id.to_string(),
        name: c.project_name.as_deref().unwrap_or(id).to_string(),
        path: PathBuf::from(path),
        exists: false,
        settings: settings_for(config, None),
    })
}

/// Why a container's project is an orphan, in the user's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphaned {
    /// Its project label is missing or not an id agentdock makes (no path is made of it).
    BadId,
    /// The directory its label names is not there.
    DirectoryGone,
    /// The directory is there, but outside the roots and not a configured project.
    OutsideRoots,
    /// The directory is a child of a root, but no git repository (so no project).
    NotARepository,
}

impl Orphaned {
    /// The reason for a container labelled with project `id` at `path` (label values).
    pub fn of(id: &str, path: &Path, config: &Config, home: &Path) -> Orphaned {
        if !valid_id(id) {
            return Orphaned::BadId;
        }
        if path.as_os_str().is_empty() || !path.is_dir() {
            return Orphaned::DirectoryGone;
        }
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let parent = canon(path).parent().map(Path::to_path_buf);
        let under_root = config.roots.iter().any(|r| Some(canon(&expand_home(r, home))) == parent);
        if under_root {
            Orphaned::NotARepository
        } else {
            Orphaned::OutsideRoots
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Orphaned::BadId => "its project label is not an id agentdock makes",
            Orphaned::DirectoryGone => "directory gone",
            Orphaned::OutsideRoots => "directory outside the configured roots and projects",
            Orphaned::NotARepository => "directory in a root but not a git repository",
        }
    }
}

/// Finds a project by id, name or path.
pub fn find<'a>(projects: &'a [Project], key: &str) -> Option<&'a Project> {
    projects
        .iter()
        .find(|p| p.id == key)
        .or_else(|| projects.iter().find(|p| p.name == key))
        .or_else(|| {
            let k = Path::new(key);
            let canon = std::fs::canonicalize(k).unwrap_or_else(|_| k.to_path_buf());
            projects.iter().find(|p| p.path == canon)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("My Project!"), "my-project");
        assert_eq!(slug("__x__y"), "x-y");
        assert_eq!(slug("***"), "project");
    }

    #[test]
    fn only_slugs_are_ids() {
        for ok in ["api", "my-project", "api-1a2b3c", "repo-x"] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "..", "../../x", "a/b", "a--b", "-a", "a-", "Api", "a b", "a.lock", "a\nb", "é", &"a".repeat(MAX_ID_LEN + 1)] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn an_orphan_never_counts_its_directory_as_there() {
        let tmp = tempfile::tempdir().unwrap();
        let c = ContainerInfo {
            project_id: Some("../../x".into()),
            project_path: Some(tmp.path().to_string_lossy().into()),
            managed: true,
            ..Default::default()
        };
        let p = orphan(&c, &Config::default()).unwrap();
        assert_eq!(p.id, "../../x");
        assert!(!p.exists);
    }

    #[test]
    fn orphans_are_told_why() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("projects");
        std::fs::create_dir_all(root.join("plain")).unwrap();
        let cfg = Config { roots: vec!["~/projects".into()], ..Config::default() };
        let why = |id: &str, p: &Path| Orphaned::of(id, p, &cfg, tmp.path());
        assert_eq!(why("../x", tmp.path()), Orphaned::BadId);
        assert_eq!(why("x", &tmp.path().join("nope")), Orphaned::DirectoryGone);
        assert_eq!(why("x", Path::new("")), Orphaned::DirectoryGone);
        assert_eq!(why("x", tmp.path()), Orphaned::OutsideRoots);
        assert_eq!(why("x", &root.join("plain")), Orphaned::NotARepository);
    }

    #[test]
    fn discovers_git_children_and_entries_with_unique_ids() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("projects");
        for d in ["api", "web", "notgit"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::create_dir(root.join("api/.git")).unwrap();
        std::fs::create_dir(root.join("web/.git")).unwrap();
        let other = tmp.path().join("elsewhere/api");
        std::fs::create_dir_all(&other).unwrap();

        let cfg = Config {
            roots: vec!["~/projects".into()],
            projects: vec![ProjectEntry {
                path: other.to_string_lossy().into(),
                image: Some("img:1".into()),
                ..Default::default()
            }],
            ..Config::default()
        };
        let ps = discover(&cfg, tmp.path());
        let names: Vec<_> = ps.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["api", "api", "web"]);
        assert_ne!(ps[0].id, ps[1].id);
        assert!(ps[0].id.starts_with("api-") && ps[1].id.starts_with("api-"));
        assert_eq!(ps[2].id, "web");
        // ids are stable: a second discovery gives the same ones
        let again = discover(&cfg, tmp.path());
        assert_eq!(ps, again);
        let explicit = ps.iter().find(|p| p.settings.image == "img:1").unwrap();
        assert!(explicit.path.ends_with("elsewhere/api"));
        assert_eq!(find(&ps, "web").unwrap().id, "web");
    }

    #[test]
    fn projects_come_in_natural_order() {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["svc-10", "svc-2", "Svc-1", "svc-9"] {
            std::fs::create_dir_all(tmp.path().join("projects").join(d).join(".git")).unwrap();
        }
        let cfg = Config { roots: vec!["~/projects".into()], ..Config::default() };
        let names: Vec<_> = discover(&cfg, tmp.path()).into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["Svc-1", "svc-2", "svc-9", "svc-10"]);
    }

    #[test]
    fn missing_root_is_no_error() {
        let cfg = Config {
            roots: vec!["/nonexistent/agentdock".into()],
            ..Config::default()
        };
        assert!(discover(&cfg, Path::new("/")).is_empty());
    }
}
