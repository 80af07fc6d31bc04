//! Actions (user intents, with serde names for the config) and the keymap that maps keys to
//! them. A `[keys]` table in the config overrides only the keys it lists.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    Up,
    Down,
    Top,
    Bottom,
    PageUp,
    PageDown,
    ToggleDetail,
    FocusNext,
    Create,
    CommandLine,
    Logs,
    Refresh,
    RefreshAll,
    Remove,
    StartStop,
    Filter,
    CommandMode,
    Help,
    ToggleUnmanaged,
    SortNext,
    SortReverse,
    ToggleFollow,
    ToggleWrap,
    ToggleAnsi,
    SearchNext,
    SearchPrev,
    Attach,
    Shell,
    History,
    Cancel,
    Tasks,
    NewTask,
    OpenRun,
    TaskDiff,
    CancelTask,
    ToggleFold,
    ToggleOutput,
    OutputTaller,
    OutputShorter,
    Prompt,
    Allow,
    StopAgent,
    EngineFilter,
}

impl Action {
    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::Up => "move up / scroll up",
            Action::Down => "move down / scroll down",
            Action::Top => "first row / top of output",
            Action::Bottom => "last row / end of output",
            Action::PageUp => "page up",
            Action::PageDown => "page down",
            Action::ToggleDetail => "detail view of the selected container",
            Action::FocusNext => "focus list / output",
            Action::Create => "create / start the selected project's container",
            Action::CommandLine => "run a command in the selected container",
            Action::Logs => "follow the container's log in the output pane",
            Action::Refresh => "refresh the selected container",
            Action::RefreshAll => "refresh every container that needs it",
            Action::Remove => "remove the selected container (asks y/n)",
            Action::StartStop => "start / stop the selected container",
            Action::Filter => "filter the list (in the output pane: search)",
            Action::CommandMode => "commands (:refresh, :rm, :up NAME, :q); :NAME jumps there, Tab completes",
            Action::Help => "this help",
            Action::ToggleUnmanaged => "show / hide containers agentdock does not manage",
            Action::SortNext => "sort by the next column",
            Action::SortReverse => "reverse the sort",
            Action::ToggleFollow => "output: follow on / off",
            Action::ToggleWrap => "output: wrap on / off",
            Action::ToggleAnsi => "output: keep / strip colours",
            Action::SearchNext => "output: next match; on an agent waiting for a permission: refuse it",
            Action::SearchPrev => "output: previous match",
            Action::Attach => "attach to the agent's tmux session",
            Action::Shell => "open a shell in the container",
            Action::History => "refresh history",
            Action::Cancel => "cancel the running command / close; on a working agent: interrupt it (asks y/n)",
            Action::Tasks => "tasks / containers",
            Action::NewTask => "tasks: new task (a prompt for a headless agent)",
            Action::OpenRun => "tasks: the task's run in the output pane",
            Action::TaskDiff => "tasks: the task branch's diff",
            Action::CancelTask => "tasks: cancel the running task (asks y/n)",
            Action::ToggleFold => "fold / unfold the row's project or group (task containers, unmanaged)",
            Action::ToggleOutput => "show / hide the output pane (it shows by itself when it has output)",
            Action::OutputTaller => "output pane taller (the height is kept); on an agent's row: another agent beside it",
            Action::OutputShorter => "output pane shorter",
            Action::Prompt => "send a prompt to the selected agent (a text area; Ctrl-S sends)",
            Action::Allow => "allow what the selected agent waits for (n refuses)",
            Action::StopAgent => "end the selected agent session that + started (asks y/n)",
            Action::EngineFilter => "engines: the next engine alone, then all again",
        }
    }
}

/// A key as written in the config: "j", "G", "ctrl-c", "enter", "up", "f5", "tab".
pub fn parse_key(s: &str) -> Option<KeyEvent> {
    let mut mods = KeyModifiers::NONE;
    let mut rest = s.trim();
    loop {
        let lower = rest.to_ascii_lowercase();
        if let Some(r) = lower.strip_prefix("ctrl-").or_else(|| lower.strip_prefix("ctrl+")) {
            mods |= KeyModifiers::CONTROL;
            rest = &rest[rest.len() - r.len()..];
        } else if let Some(r) = lower.strip_prefix("alt-").or_else(|| lower.strip_prefix("alt+")) {
            mods |= KeyModifiers::ALT;
            rest = &rest[rest.len() - r.len()..];
        } else {
            break;
        }
    }
    let code = match rest.to_ascii_lowercase().as_str() {
        "enter" => KeyCode::Enter,
        "esc" | "escape" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "backtab" => KeyCode::BackTab,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "pageup" => KeyCode::PageUp,
        "pagedown" => KeyCode::PageDown,
        "space" => KeyCode::Char(' '),
        "backspace" => KeyCode::Backspace,
        "delete" | "del" => KeyCode::Delete,
        f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => KeyCode::F(f[1..].parse().ok()?),
        _ => {
            let mut chars = rest.chars();
            let c = chars.next()?;
            if chars.next().is_some() {
                return None;
            }
            KeyCode::Char(c)
        }
    };
    Some(KeyEvent::new(code, mods))
}

/// The key's canonical form for lookups: shift is carried by the character itself.
fn normalize(k: KeyEvent) -> (KeyCode, KeyModifiers) {
    let mods = k.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
    let code = match k.code {
        KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => KeyCode::Char(c.to_ascii_lowercase()),
        other => other,
    };
    (code, mods)
}

pub fn key_name(k: KeyEvent) -> String {
    let (code, mods) = normalize(k);
    let mut s = String::new();
    if mods.contains(KeyModifiers::CONTROL) {
        s.push_str("ctrl-");
    }
    if mods.contains(KeyModifiers::ALT) {
        s.push_str("alt-");
    }
    match code {
        KeyCode::Char(' ') => s.push_str("space"),
        KeyCode::Char(c) => s.push(c),
        KeyCode::Enter => s.push_str("enter"),
        KeyCode::Esc => s.push_str("esc"),
        KeyCode::Tab => s.push_str("tab"),
        KeyCode::BackTab => s.push_str("backtab"),
        KeyCode::Up => s.push_str("up"),
        KeyCode::Down => s.push_str("down"),
        KeyCode::Left => s.push_str("left"),
        KeyCode::Right => s.push_str("right"),
        KeyCode::Home => s.push_str("home"),
        KeyCode::End => s.push_str("end"),
        KeyCode::PageUp => s.push_str("pageup"),
        KeyCode::PageDown => s.push_str("pagedown"),
        KeyCode::F(n) => s.push_str(&format!("f{n}")),
        other => s.push_str(&format!("{other:?}").to_lowercase()),
    }
    s
}

pub const DEFAULT_KEYS: &[(&str, Action)] = &[
    ("q", Action::Quit),
    ("ctrl-c", Action::Cancel),
    ("k", Action::Up),
    ("up", Action::Up),
    ("j", Action::Down),
    ("down", Action::Down),
    ("g", Action::Top),
    ("home", Action::Top),
    ("G", Action::Bottom),
    ("end", Action::Bottom),
    ("pageup", Action::PageUp),
    ("ctrl-b", Action::PageUp),
    ("pagedown", Action::PageDown),
    ("ctrl-f", Action::PageDown),
    ("enter", Action::ToggleDetail),
    ("tab", Action::FocusNext),
    ("c", Action::Create),
    ("e", Action::CommandLine),
    ("l", Action::Logs),
    ("r", Action::Refresh),
    ("R", Action::RefreshAll),
    ("d", Action::Remove),
    ("s", Action::StartStop),
    ("/", Action::Filter),
    (":", Action::CommandMode),
    ("?", Action::Help),
    ("u", Action::ToggleUnmanaged),
    (">", Action::SortNext),
    ("<", Action::SortReverse),
    ("f", Action::ToggleFollow),
    ("w", Action::ToggleWrap),
    ("A", Action::ToggleAnsi),
    ("n", Action::SearchNext),
    ("N", Action::SearchPrev),
    ("a", Action::Attach),
    ("S", Action::Shell),
    ("H", Action::History),
    ("esc", Action::Cancel),
    ("t", Action::Tasks),
    ("E", Action::EngineFilter),
    ("space", Action::ToggleFold),
    ("o", Action::ToggleOutput),
    ("+", Action::OutputTaller),
    ("-", Action::OutputShorter),
    ("p", Action::Prompt),
    ("y", Action::Allow),
    ("x", Action::StopAgent),
];

/// Keys of the task list (they win over the global ones while it has the focus). Remapped in
/// `[keys]` as `"tasks.<key>" = "action"`.
pub const TASK_KEYS: &[(&str, Action)] = &[
    ("n", Action::NewTask),
    ("enter", Action::OpenRun),
    ("l", Action::OpenRun),
    ("D", Action::TaskDiff),
    ("x", Action::CancelTask),
];

const TASKS_PREFIX: &str = "tasks.";

#[derive(Debug, Clone)]
pub struct Keymap {
    map: BTreeMap<String, Action>,
    tasks: BTreeMap<String, Action>,
}

impl Keymap {
    /// The defaults with the user's `[keys]` applied; a bad key or action is an error.
    pub fn new(overrides: &BTreeMap<String, String>) -> Result<Keymap, String> {
        let defaults = |keys: &[(&str, Action)]| -> BTreeMap<String, Action> {
            keys.iter().map(|(k, a)| (key_name(parse_key(k).expect("default keys parse")), *a)).collect()
        };
        let (mut map, mut tasks) = (defaults(DEFAULT_KEYS), defaults(TASK_KEYS));
        for (k, a) in overrides {
            let (target, k) = match k.strip_prefix(TASKS_PREFIX) {
                Some(rest) => (&mut tasks, rest),
                None => (&mut map, k.as_str()),
            };
            let key = parse_key(k).ok_or_else(|| format!("keys: '{k}' is not a key"))?;
            if a == "none" {
                target.remove(&key_name(key));
                continue;
            }
            let action: Action = serde_json::from_value(serde_json::Value::String(a.clone()))
                .map_err(|_| format!("keys: '{a}' is not an action"))?;
            target.insert(key_name(key), action);
        }
        Ok(Keymap { map, tasks })
    }

    pub fn action(&self, key: KeyEvent) -> Option<Action> {
        self.map.get(&key_name(key)).copied()
    }

    /// A key in the task list: its own keys first, then the global ones.
    pub fn task_action(&self, key: KeyEvent) -> Option<Action> {
        self.tasks.get(&key_name(key)).copied().or_else(|| self.action(key))
    }

    /// Keys bound to each action, for the help screen (task-list keys as `tasks.<key>`).
    pub fn bindings(&self) -> Vec<(Action, Vec<String>)> {
        let mut by_action: BTreeMap<Action, Vec<String>> = BTreeMap::new();
        for (k, a) in &self.map {
            by_action.entry(*a).or_default().push(k.clone());
        }
        for (k, a) in &self.tasks {
            by_action.entry(*a).or_default().push(format!("{TASKS_PREFIX}{k}"));
        }
        by_action.into_iter().collect()
    }
}

impl Default for Keymap {
    fn default() -> Self {
        Keymap::new(&BTreeMap::new()).expect("defaults")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys() {
        assert_eq!(parse_key("ctrl-c"), Some(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert_eq!(parse_key("G"), Some(KeyEvent::new(KeyCode::Char('G'), KeyModifiers::NONE)));
        assert_eq!(parse_key("f5"), Some(KeyEvent::new(KeyCode::F(5), KeyModifiers::NONE)));
        assert_eq!(parse_key("nonsense"), None);
    }

    #[test]
    fn shifted_letters_match_their_binding() {
        let km = Keymap::default();
        assert_eq!(km.action(KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT)), Some(Action::RefreshAll));
        assert_eq!(km.action(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE)), Some(Action::Refresh));
        assert_eq!(km.action(KeyEvent::new(KeyCode::Char('z'), KeyModifiers::NONE)), None);
    }

    #[test]
    fn overrides_change_only_listed_keys() {
        let mut o = BTreeMap::new();
        o.insert("x".to_string(), "remove".to_string());
        o.insert("d".to_string(), "none".to_string());
        let km = Keymap::new(&o).unwrap();
        assert_eq!(km.action(parse_key("x").unwrap()), Some(Action::Remove));
        assert_eq!(km.action(parse_key("d").unwrap()), None);
        assert_eq!(km.action(parse_key("q").unwrap()), Some(Action::Quit));
        assert!(Keymap::new(&BTreeMap::from([("x".to_string(), "fly".to_string())])).is_err());
    }
}
