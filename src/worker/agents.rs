//! Agent status: the hook and runner files in each container's mounted agent dir, read on the
//! host when they change; each session's transcript, read where it grew (one lstat when it did
//! not); the tmux pane's activity, sampled by exec, for agents without hooks. All file work
//! happens off the loop's thread, once a second, for the running managed containers only.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Worker;
use crate::agent_status::{read_in, stamp_in, status_sub, transcript_of};
use crate::app::{AgentStatus, EngineEvent};
use crate::domain::agent::{changes_the_row, AgentInfo};
use crate::domain::container::ContainerState;
use crate::engine::{Engine, ExecOptions};
use crate::transcript::Reader;

/// The fallback samples an agent's tmux pane no more often than this.
const PANE_SAMPLE_MIN: Duration = Duration::from_secs(5);
/// At most this much of all transcripts is read per look (the rest at the next one).
const READ_BUDGET_ALL: u64 = 16 << 20;
/// An agent's numbers (turns, tokens, cost, context, the detail view's last lines) go out at
/// most this often when nothing else of its row changed: fifty agents writing a line a second
/// then redraw the list every few seconds, not every second. A new state, tool or error goes
/// out at once.
pub const NUMBERS_EVERY: Duration = Duration::from_secs(5);
/// A transcript is read this often, and at once when its session's hooks wrote (they are the
/// fast signal: a tool call, a dialog, the end of a turn).
pub const TRANSCRIPTS_EVERY: Duration = Duration::from_secs(2);
use crate::domain::steer::MAX_EXTRA_AGENTS;

type Stamp = Option<SystemTime>;

/// One agent session, as last looked at.
#[derive(Debug, Default)]
pub struct SessionWatch {
    /// Its status dir's stamp when last read (None: never read).
    stamp: Option<Stamp>,
    /// What its hooks last wrote.
    word: Option<AgentStatus>,
    /// Its state: the hooks' word, or the CLI's record over their wait ([`with_record`]).
    status: Option<AgentStatus>,
    /// What its permission dialog asks, read when its hooks say it waits.
    asking: Option<crate::domain::task::ToolCall>,
    reader: Option<Reader>,
    /// What was last sent to the app.
    sent: Option<AgentInfo>,
    /// Newer numbers than those sent wait for the next round of numbers.
    held_back: bool,
}

/// One look at every agent: what it may read, whether numbers go out, the time.
struct Round {
    budget: u64,
    numbers_due: bool,
    /// Every transcript is read (else only those whose hooks wrote).
    transcripts_due: bool,
    now: i64,
}

/// A container's agent sessions: the main one and the ones `+` started.
#[derive(Debug, Default)]
pub struct ContainerWatch {
    main: SessionWatch,
    extras: BTreeMap<String, SessionWatch>,
    /// The `agentdock/` dir's stamp when its further sessions were last listed.
    listed: Option<Stamp>,
    /// `projects/-workspace`'s stamp when its newest transcript was last looked for (the main
    /// session's fallback when its hooks recorded none).
    scanned: Option<Stamp>,
    newest: Option<String>,
}

/// A container's look, done off the loop's thread.
struct Look {
    id: String,
    dir: PathBuf,
    /// The main session's status dir stamp as the loop last saw it.
    main_stamp: Option<Stamp>,
    watch: ContainerWatch,
    /// The session name of further agents (`<session>-N`).
    session: String,
    /// The main session's status as last sent.
    main_known: Option<AgentStatus>,
}

/// What a look found: the main status when its files changed, and each session's info when it
/// changed.
struct Looked {
    id: String,
    main_stamp: Stamp,
    main_status: Option<Option<AgentStatus>>,
    infos: Vec<(Option<String>, AgentInfo)>,
    /// Further sessions no longer there.
    gone: Vec<String>,
    watch: ContainerWatch,
}

/// The names of the further sessions in `dir/agentdock` (`<session>-<n>`), at most
/// [`MAX_EXTRA_AGENTS`]: directories the runner of `+` made. The names are the container's, so
/// only that exact shape passes.
fn extra_sessions(dir: &Path, session: &str) -> Vec<String> {
    let Ok(entries) = crate::untrusted::list(dir, "agentdock", 256) else { return Vec::new() };
    let prefix = format!("{session}-");
    let mut names: Vec<String> = entries
        .into_iter()
        .filter(|(_, kind, _)| *kind == rustix::fs::FileType::Directory)
        .map(|(name, _, _)| name)
        .filter(|n| n.strip_prefix(&prefix).is_some_and(|k| !k.is_empty() && k.len() <= 3 && k.bytes().all(|b| b.is_ascii_digit())))
        .collect();
    names.sort_by(|a, b| crate::app::natural_cmp(a, b));
    names.truncate(MAX_EXTRA_AGENTS);
    names
}

/// The newest transcript of the workspace (for a session whose hooks named none).
fn newest_transcript(dir: &Path) -> Option<String> {
    crate::untrusted::list(dir, "projects/-workspace", 10_000)
        .ok()?
        .into_iter()
        .filter(|(name, kind, _)| *kind == rustix::fs::FileType::RegularFile && name.ends_with(".jsonl"))
        .map(|(name, _, mtime)| (mtime, name))
        .max()
        .map(|(_, name)| format!("projects/-workspace/{name}"))
        .filter(|rel| crate::transcript::relative_path(&format!("\"transcript_path\":\"/x/{rel}\"")).is_some())
}

/// The hooks' word, with the CLI's own record of the session over a wait: a dialog answered,
/// the hooks say nothing until the tool ends, the record says "busy" at once; a tool then
/// interrupted ends the turn with no hook, the record says "idle". Looked at every round while
/// the hooks' last word is a wait (and only then), so a turn the record ended is not left
/// "working".
fn with_record(dir: &Path, session: &str, word: Option<&AgentStatus>) -> Option<AgentStatus> {
    let Some(AgentStatus::Waiting { since }) = word else { return word.cloned() };
    let moved = crate::agent_status::cli_status(dir, session).map(|(state, at_ms)| (state, at_ms / 1000)).filter(|(_, at)| at >= since);
    match moved {
        Some((state, at)) if state == "busy" => Some(AgentStatus::Working { since: at }),
        Some((state, at)) if state == "idle" => Some(AgentStatus::Idle { since: at }),
        _ => word.cloned(),
    }
}

/// Reads what changed of one session: its status files when their dir moved, its transcript
/// where it grew. Returns the info when it differs from what was sent.
/// `main`: the main session's status (its own is read by the loop); None for a further one.
/// `stamp`: its status dir's stamp (the caller has the main one's already).
fn look_at_session(dir: &Path, sub: &str, stamp: Option<std::time::SystemTime>, w: &mut SessionWatch, fallback: Option<&str>, round: &mut Round, main: Option<Option<&AgentStatus>>) -> Option<AgentInfo> {
    let extra = main.is_none();
    let mut changed = false;
    let hooked = w.stamp != Some(stamp);
    if hooked {
        w.stamp = Some(stamp);
        if extra {
            w.word = read_in(dir, sub);
        }
        let waiting = matches!(main.unwrap_or(w.word.as_ref()), Some(AgentStatus::Waiting { .. }));
        let asking = if waiting { crate::agent_status::asking(dir, sub) } else { None };
        changed |= asking != w.asking;
        w.asking = asking;
        let rel = transcript_of(dir, sub).or_else(|| fallback.map(str::to_string));
        if rel.is_some() && rel.as_deref() != w.reader.as_ref().map(|r| r.rel.as_str()) {
            w.reader = rel.map(Reader::new);
            changed = true;
        }
    } else if w.reader.is_none() {
        if let Some(rel) = fallback {
            w.reader = Some(Reader::new(rel.to_string()));
            changed = true;
        }
    }
    if let Some(name) = sub.strip_prefix("agentdock/").filter(|_| extra) {
        let status = with_record(dir, name, w.word.as_ref());
        changed |= status != w.status;
        w.status = status;
    }
    let mut grew = false;
    if let Some(r) = w.reader.as_mut().filter(|_| round.budget > 0 && (hooked || round.transcripts_due || changed)) {
        let before = r.offset();
        grew = r.poll(dir);
        round.budget = round.budget.saturating_sub(r.offset().saturating_sub(before));
    }
    let moved = changed || grew || w.sent.is_none() || (w.held_back && round.numbers_due);
    if !moved {
        return None;
    }
    // only the transcript moved, and not what the row says: the numbers wait for their round
    // (looked at on the reader's summary, not on a copy of it)
    if !changed && !round.numbers_due && w.sent.as_ref().is_some_and(|sent| same_row(sent, w)) {
        w.held_back = true;
        return None;
    }
    let info = AgentInfo {
        status: w.status.clone(),
        summary: w.reader.as_ref().filter(|r| r.summary.lines > 0).map(|r| r.summary.clone()),
        unreadable: w.reader.as_ref().and_then(|r| r.unreadable.clone()),
        asking: w.asking.clone(),
    };
    if w.sent.as_ref() == Some(&info) {
        w.held_back = false;
        return None;
    }
    if w.sent.as_ref().is_some_and(|sent| !round.numbers_due && !changes_the_row(sent, &info, main.flatten(), round.now)) {
        w.held_back = true;
        return None;
    }
    w.held_back = false;
    w.sent = Some(info.clone());
    Some(info)
}

/// Whether `every` has gone by since `at` (or it never was); if so, `at` is now.
fn due(at: &mut Option<std::time::Instant>, every: Duration) -> bool {
    let due = at.is_none_or(|t| t.elapsed() >= every);
    if due {
        *at = Some(std::time::Instant::now());
    }
    due
}

/// Whether what was sent of a session says what its row would say now (numbers aside).
fn same_row(sent: &AgentInfo, w: &SessionWatch) -> bool {
    let summary = w.reader.as_ref().filter(|r| r.summary.lines > 0).map(|r| &r.summary);
    let same_summary = match (&sent.summary, summary) {
        (Some(a), Some(b)) => a.same_row(b),
        (None, None) => true,
        _ => false,
    };
    same_summary && sent.status == w.status && sent.asking == w.asking && sent.unreadable.as_deref() == w.reader.as_ref().and_then(|r| r.unreadable.as_deref())
}

fn look(mut l: Look, round: &mut Round) -> Looked {
    let w = &mut l.watch;
    let main_stamp = stamp_in(&l.dir, "agentdock");
    let read = l.main_stamp != Some(main_stamp);
    if read {
        w.main.word = read_in(&l.dir, "agentdock");
    }
    let status = with_record(&l.dir, &l.session, w.main.word.as_ref());
    let main_status = (read || status != l.main_known).then_some(status);
    // further sessions: listed again when the dir they are in changed
    let mut gone = Vec::new();
    if w.listed != Some(main_stamp) {
        w.listed = Some(main_stamp);
        let names = extra_sessions(&l.dir, &l.session);
        gone = w.extras.keys().filter(|n| !names.contains(n)).cloned().collect();
        w.extras.retain(|n, _| names.contains(n));
        for n in names {
            w.extras.entry(n).or_default();
        }
    }
    // the main session's transcript when its hooks named none: the workspace's newest
    // (looked at when the workspace's transcripts dir changed, whatever the hooks say: the
    // session file is read only then, not every second)
    let projects = stamp_in(&l.dir, "projects/-workspace");
    if w.scanned != Some(projects) {
        w.scanned = Some(projects);
        w.newest = if transcript_of(&l.dir, "agentdock").is_none() { newest_transcript(&l.dir) } else { None };
    }
    let mut infos = Vec::new();
    let main_now = main_status.clone().unwrap_or(l.main_known.clone());
    if let Some(i) = look_at_session(&l.dir, "agentdock", main_stamp, &mut w.main, w.newest.as_deref(), round, Some(main_now.as_ref())) {
        infos.push((None, i));
    }
    for (name, s) in w.extras.iter_mut() {
        let sub = status_sub(Some(name));
        if let Some(i) = look_at_session(&l.dir, &sub, stamp_in(&l.dir, &sub), s, None, round, None) {
            infos.push((Some(name.clone()), i));
        }
    }
    Looked { id: l.id, main_stamp, main_status, infos, gone, watch: l.watch }
}

impl Worker {
    /// Where a container's status files are: its configured project's agent config dir, never
    /// a directory its labels name (any image can carry agentdock's labels).
    pub(super) fn status_dir(&self, c: &crate::domain::container::ContainerInfo) -> Option<String> {
        // another machine's engine: its containers' files are not here
        if !self.ctx.engines[self.engine].is_local() {
            return None;
        }
        let id = c.project_id.as_deref()?;
        let path = c.project_path.as_deref()?;
        let p = self.ctx.projects.iter().find(|p| p.id == id && p.path.to_str() == Some(path))?;
        Some(crate::paths::agent_config_dir(&p.id).to_string_lossy().into_owned())
    }

    /// Reads each running managed container's agent status files and transcripts (host files,
    /// no exec; read again only when they change) and sends what changed. An agent that never
    /// reports through hooks gets its tmux pane's last activity sampled instead, by exec, in a
    /// task of its own, at most every `ui.pane_sample_secs` (never under 5 s).
    pub(super) async fn agent_statuses(&mut self, engine: &Engine) {
        let session = self.ctx.config().session_name.clone();
        let every = Duration::from_secs(self.ctx.config().ui.pane_sample_secs).max(PANE_SAMPLE_MIN);
        let running: Vec<(String, Option<String>)> = self
            .containers
            .values()
            .filter(|c| c.managed && c.state == ContainerState::Running)
            .map(|c| (c.id.clone(), self.status_dir(c)))
            .collect();
        let alive = |id: &String| running.iter().any(|(r, _)| r == id);
        self.agents.retain(|id, _| alive(id));
        self.stamps.retain(|id, _| alive(id));
        self.file_status.retain(|id, _| alive(id));
        self.watch.retain(|id, _| alive(id));
        self.sampled.retain(|id, _| alive(id));
        // the files are the container's: looked at off the loop's thread, which serves the keys
        let looks: Vec<Look> = running
            .iter()
            .filter_map(|(id, dir)| {
                Some(Look {
                    id: id.clone(),
                    dir: PathBuf::from(dir.as_ref()?),
                    main_stamp: self.stamps.get(id).cloned(),
                    watch: self.watch.remove(id).unwrap_or_default(),
                    session: session.clone(),
                    main_known: self.file_status.get(id).cloned().flatten(),
                })
            })
            .collect();
        if !looks.is_empty() {
            let numbers_due = due(&mut self.numbers_at, NUMBERS_EVERY);
            let transcripts_due = due(&mut self.transcripts_at, TRANSCRIPTS_EVERY);
            let mut round = Round { budget: READ_BUDGET_ALL, numbers_due, transcripts_due, now: crate::domain::container::now_unix() };
            let looked = tokio::task::spawn_blocking(move || looks.into_iter().map(|l| look(l, &mut round)).collect::<Vec<_>>())
            .await
            .unwrap_or_default();
            for l in looked {
                self.stamps.insert(l.id.clone(), l.main_stamp);
                if let Some(status) = l.main_status {
                    self.file_status.insert(l.id.clone(), status);
                }
                for (extra, info) in l.infos {
                    self.send(EngineEvent::AgentInfo { container: l.id.clone(), extra, info: Box::new(info) }).await;
                }
                for extra in l.gone {
                    self.send(EngineEvent::AgentGone { container: l.id.clone(), extra }).await;
                }
                self.watch.insert(l.id, l.watch);
            }
        }
        // on another machine's engine there are no files to read: every agent is sampled
        if !engine.is_local() {
            for (id, _) in &running {
                self.sample_pane(engine, id, every, &session);
            }
        }
        for (id, _) in running.iter().filter(|(_, dir)| dir.is_some()) {
            let Some(Some(status)) = self.file_status.get(id).cloned() else { continue };
            if !matches!(status, AgentStatus::Started { .. }) {
                self.sampled.remove(id);
                self.agent_changed(id.clone(), status).await;
                continue;
            }
            // no hook has spoken: fall back to the pane's activity
            if !self.agents.contains_key(id) {
                self.agent_changed(id.clone(), status).await;
            }
            self.sample_pane(engine, id, every, &session);
        }
    }

    /// Samples an agent's tmux pane for its last activity, by exec in a task of its own, at
    /// most every `every`.
    fn sample_pane(&mut self, engine: &Engine, id: &str, every: Duration, session: &str) {
        if self.sampled.get(id).map(|t| t.elapsed() < every).unwrap_or(false) {
            return;
        }
        self.sampled.insert(id.to_string(), std::time::Instant::now());
        let (engine, tx, id) = (engine.clone(), self.samples_tx.clone(), id.to_string());
        let cmd = format!("tmux display-message -p -t {session} '#{{window_activity}}'");
        tokio::spawn(async move {
            if let Ok(out) = engine.exec_capture(&id, &cmd, &ExecOptions::quick()).await {
                if let Ok(at) = String::from_utf8_lossy(&out.stdout).trim().parse::<i64>() {
                    // the label ages with the clock: "active" now, "output 3m ago" later
                    let _ = tx.send((id, AgentStatus::Quiet { last_output: at }));
                }
            }
        });
    }
}

/// Per container id.
pub type Watches = HashMap<String, ContainerWatch>;

#[cfg(test)]
mod tests {
    use super::*;

    /// The CLI's record of the session in tmux session `claude`, as the CLI writes it.
    fn record(dir: &Path, status: &str, at_ms: i64) {
        std::fs::create_dir_all(dir.join("sessions")).unwrap();
        let body = serde_json::json!({"pid": 30, "tmux": "claude:@0.%0", "status": status, "statusUpdatedAt": at_ms});
        std::fs::write(dir.join("sessions/30.json"), body.to_string()).unwrap();
    }

    #[test]
    fn the_record_answers_a_wait_and_ends_the_turn_it_ended() {
        let d = tempfile::tempdir().unwrap();
        let waiting = AgentStatus::Waiting { since: 1000 };
        // no record: the hooks' word
        assert_eq!(with_record(d.path(), "claude", Some(&waiting)), Some(waiting.clone()));
        // the dialog up: still waiting
        record(d.path(), "waiting", 1_000_400);
        assert_eq!(with_record(d.path(), "claude", Some(&waiting)), Some(waiting.clone()));
        // answered: working at once, though no hook wrote
        record(d.path(), "busy", 1_002_100);
        assert_eq!(with_record(d.path(), "claude", Some(&waiting)), Some(AgentStatus::Working { since: 1002 }));
        // the tool interrupted: no hook, the record says idle, and so does the row
        record(d.path(), "idle", 1_009_700);
        assert_eq!(with_record(d.path(), "claude", Some(&waiting)), Some(AgentStatus::Idle { since: 1009 }));
        // a record older than the wait, or another tmux session's, says nothing
        record(d.path(), "idle", 999_000);
        assert_eq!(with_record(d.path(), "claude", Some(&waiting)), Some(waiting.clone()));
        record(d.path(), "busy", 1_002_100);
        assert_eq!(with_record(d.path(), "claude-2", Some(&waiting)), Some(waiting.clone()));
        // any other word of the hooks stands as it is
        let working = AgentStatus::Working { since: 990 };
        assert_eq!(with_record(d.path(), "claude", Some(&working)), Some(working));
        assert_eq!(with_record(d.path(), "claude", None), None);
    }
}
