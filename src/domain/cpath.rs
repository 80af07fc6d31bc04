//! Paths inside a container, as a caller names them (an MCP client, `agentdock cp`): checked
//! and made plain before anything is asked of the engine. A relative path is under the
//! workspace; `..` is refused outright (never resolved: what it climbs out of is the
//! container's to decide); `.` and repeated slashes go. The checks on the container's side
//! (no symbolic link on the way) come after, in the container, as its own user.

/// Where a relative path starts: the workspace, as in every agentdock container.
pub const WORKDIR: &str = "/workspace";

/// Longer paths are refused (Linux's PATH_MAX).
pub const MAX_PATH: usize = 4096;

/// What the file tools of an MCP client never reach: the kernel's views (a process's
/// environment holds the secrets the entrypoint exported), devices, and agentdock's secrets.
const OFF_LIMITS: &[&str] = &["/proc", "/sys", "/dev", "/run/agentdock"];

/// `path` made absolute and plain (`/workspace/src/main.rs`), or why it is refused.
pub fn normalize(path: &str) -> Result<String, String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.len() > MAX_PATH {
        return Err(format!("the path is longer than {MAX_PATH} bytes"));
    }
    if path.chars().any(|c| c.is_control()) {
        return Err("the path holds a control character (NUL, newline, escape…)".into());
    }
    let mut out = String::new();
    if !path.starts_with('/') {
        out.push_str(WORKDIR);
    }
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("'..' is not allowed in a path ({path}): name the file from / or from {WORKDIR}")),
            p => {
                out.push('/');
                out.push_str(p);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// [`normalize`], then refused when it lies under what the file tools never reach.
pub fn for_file_tools(path: &str) -> Result<String, String> {
    let p = normalize(path)?;
    if let Some(root) = OFF_LIMITS.iter().find(|r| under(&p, r)) {
        return Err(format!("{p} is under {root}, which the file tools do not reach"));
    }
    Ok(p)
}

/// Whether `p` is `root` or below it (by whole components).
pub fn under(p: &str, root: &str) -> bool {
    p == root || (p.starts_with(root) && p.as_bytes().get(root.len()) == Some(&b'/'))
}

/// The last component (`main.rs`), or `/` for the root.
pub fn base_name(p: &str) -> &str {
    match p.rsplit('/').next() {
        Some("") | None => "/",
        Some(b) => b,
    }
}

/// The directory holding `p` (`/` for a top-level name).
pub fn parent(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &p[..i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_made_plain_and_relative_ones_start_in_the_workspace() {
        assert_eq!(normalize("src/main.rs").unwrap(), "/workspace/src/main.rs");
        assert_eq!(normalize("./a//b/./c").unwrap(), "/workspace/a/b/c");
        assert_eq!(normalize("/etc//hosts/").unwrap(), "/etc/hosts");
        assert_eq!(normalize("/").unwrap(), "/");
        assert_eq!(normalize(".").unwrap(), "/workspace");
    }

    #[test]
    fn dot_dot_control_characters_and_empty_paths_are_refused() {
        for bad in ["../etc/passwd", "/workspace/../etc/shadow", "a/..", "", "a\0b", "a\nb", "\u{1b}[2J"] {
            assert!(normalize(bad).is_err(), "{bad:?} passed");
        }
        assert!(normalize(&"a/".repeat(3000)).is_err());
        assert!(normalize("..").unwrap_err().contains("'..' is not allowed"));
    }

    #[test]
    fn the_file_tools_stay_out_of_proc_sys_dev_and_the_secrets() {
        for bad in ["/proc/1/environ", "/proc", "/sys/kernel", "/dev/zero", "/run/agentdock/secrets/GITHUB_TOKEN", "//proc/self/root"] {
            let e = for_file_tools(bad).unwrap_err();
            assert!(e.contains("do not reach"), "{bad}: {e}");
        }
        assert_eq!(for_file_tools("/procedures/x").unwrap(), "/procedures/x");
        assert_eq!(for_file_tools("/run/agentdocks").unwrap(), "/run/agentdocks");
    }

    #[test]
    fn names_and_parents() {
        assert_eq!(base_name("/workspace/a.txt"), "a.txt");
        assert_eq!(base_name("/"), "/");
        assert_eq!(parent("/workspace/a.txt"), "/workspace");
        assert_eq!(parent("/a"), "/");
        assert!(under("/workspace/x", "/workspace") && under("/workspace", "/workspace") && !under("/workspaces", "/workspace"));
    }
}
