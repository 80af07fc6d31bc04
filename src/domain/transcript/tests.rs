use super::*;

/// Real transcripts of Claude Code 2.1.331 against the scripted model server (the lines over
/// 4 kB, prompt snapshots and request shapes, left out).
const APPROVED: &str = include_str!("../../../tests/data/transcript-approved.jsonl");
const REFUSED: &str = include_str!("../../../tests/data/transcript-refused.jsonl");
const AUTH: &str = include_str!("../../../tests/data/transcript-auth-401.jsonl");

fn read(text: &str) -> Summary {
    let mut s = Summary::default();
    for l in text.lines() {
        s.push_line(l.as_bytes());
    }
    s
}

/// The lines of `text` up to and including the first one containing `marker`.
fn upto<'a>(text: &'a str, marker: &str) -> &'a str {
    let at = text.find(marker).unwrap();
    &text[..at + text[at..].find('\n').unwrap()]
}

#[test]
fn a_tool_call_waiting_then_approved_then_the_answer() {
    // the model asked for Bash; the permission dialog is up
    let s = read(upto(APPROVED, "\"stop_reason\":\"tool_use\""));
    let (_, call, _) = s.pending.clone().expect("a pending tool");
    assert_eq!(call.short(), "Bash(echo hi > made.txt)");
    assert_eq!(s.turns, 1);
    assert_eq!(s.last_prompt.as_deref(), Some("make a file with \"quotes\" and $(echo x)"));
    assert!(matches!(s.phase, Phase::Working { .. }));
    // the whole: answered, the turn over, the usage the server sent counted once each
    let s = read(APPROVED);
    assert!(s.pending.is_none(), "{:?}", s.pending);
    assert!(matches!(s.phase, Phase::Idle { .. }));
    assert_eq!(s.last_tool.as_ref().unwrap().short(), "Bash(echo hi > made.txt)");
    assert_eq!(s.tokens, Tokens { input: 120 + 200, output: 30 + 12, cache_write: 0, cache_read: 0 });
    assert_eq!(s.model.as_deref(), Some("claude-opus-5-5"));
    let want = (320.0 * 4.0 + 42.0 * 20.0) / 1e6;
    assert!((s.cost - want).abs() < 1e-12, "{}", s.cost);
    assert_eq!(s.context, Some((212, 1_000_000)));
    assert_eq!(s.error, None);
    let recent: Vec<&str> = s.recent.iter().map(String::as_str).collect();
    assert_eq!(recent, ["› make a file with \"quotes\" and $(echo x)", "→ Bash(echo hi > made.txt)", "  ⎿ (Bash completed with no output)", "● Made it."]);
    assert_eq!(s.bad_lines, 0);
    // today is the day of the answers; another day has nothing
    let day = s.last_at.div_euclid(DAY);
    assert_eq!(s.today(day * DAY + 5).0.total(), 362);
    assert_eq!(s.today((day + 1) * DAY).0.total(), 0);
}

#[test]
fn a_refused_tool_call_ends_the_turn() {
    let s = read(REFUSED);
    assert!(s.pending.is_none());
    assert!(s.refused);
    assert!(matches!(s.phase, Phase::Idle { .. }));
    assert_eq!(s.recent.iter().rev().take(2).cloned().collect::<Vec<_>>(), ["  ⎿ interrupted", "  ⎿ refused: The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file edit, the new_string was NOT written to the file). STOP what you are doing and wait for the user to tell you how to proceed."]);
}

#[test]
fn a_refused_key_is_an_auth_error() {
    let s = read(AUTH);
    let e = s.error.clone().expect("an error");
    assert!(e.auth && e.status == Some(401), "{e:?}");
    assert_eq!(e.message, "Please run /login · API Error: 401 error 401");
    assert!(matches!(s.phase, Phase::Idle { .. }));
    // the synthetic answer costs nothing
    assert_eq!(s.tokens.total(), 0);
    // a good answer later clears it
    let mut s = s;
    s.push_line(br#"{"type":"assistant","timestamp":"2026-11-25T09:00:00Z","message":{"id":"m1","model":"claude-opus-5-5","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}}"#);
    assert_eq!(s.error, None);
}

#[test]
fn hostile_lines_are_passed_over_and_text_is_made_safe() {
    let mut s = Summary::default();
    for l in [
        &b"not json"[..],
        b"[1,2]",
        b"{\"type\": 5}",
        b"\xff\xfe",
        b"{}",
        br#"{"type":"user","message":{"role":"user","content":"evil \u001b]0;title\u0007 \u001b[2J prompt\u202e"}}"#,
        br#"{"type":"assistant","message":{"id":"x","model":"claude-opus-5-5","content":[{"type":"tool_use","id":"t","name":"Bash\u001b[31m","input":{"command":"rm\u0000 -rf /"}}],"usage":{"input_tokens":18446744073709551615}}}"#,
        br#"{"type":"assistant","message":{"id":"y","model":"claude-opus-5-5","content":"just a string","usage":{"input_tokens":-1}}}"#,
    ] {
        s.push_line(l);
    }
    assert_eq!(s.last_prompt.as_deref(), Some("evil prompt"));
    let call = s.pending.as_ref().unwrap().1.short();
    assert_eq!(call, "Bash(rm -rf /)");
    assert!(s.recent.iter().all(|l| !l.chars().any(|c| c.is_control())), "{:?}", s.recent);
    assert_eq!(s.bad_lines, 6, "{s:?}");
    // sums saturate, never overflow
    s.push_line(br#"{"type":"assistant","message":{"id":"z","model":"claude-opus-5-5","content":[],"usage":{"input_tokens":18446744073709551615,"output_tokens":18446744073709551615}}}"#);
    assert_eq!(s.tokens.total(), u64::MAX);
    // the recent lines stay bounded
    for i in 0..500 {
        s.push_line(format!(r#"{{"type":"user","message":{{"content":"prompt {i}"}}}}"#).as_bytes());
    }
    assert_eq!(s.recent.len(), RECENT_LINES);
    assert_eq!(s.turns, 501);
}

#[test]
fn an_answer_in_several_lines_is_counted_once_and_days_start_over() {
    let mut s = Summary::default();
    let line = |id: &str, day: u32, out: u64| {
        format!(r#"{{"type":"assistant","timestamp":"2026-11-{day:02}T10:00:00Z","message":{{"id":"{id}","model":"claude-sonnet-4-5","content":[],"usage":{{"input_tokens":100,"output_tokens":{out},"cache_read_input_tokens":1000,"cache_creation_input_tokens":10}}}}}}"#)
    };
    s.push_line(line("a", 24, 5).as_bytes());
    s.push_line(line("b", 25, 5).as_bytes());
    s.push_line(line("b", 25, 50).as_bytes());
    assert_eq!(s.tokens, Tokens { input: 100, output: 50, cache_write: 10, cache_read: 1000 });
    let want = (100.0 * 3.0 + 50.0 * 15.0 + 10.0 * 3.75 + 1000.0 * 0.3) / 1e6;
    assert!((s.cost - want).abs() < 1e-12);
    assert_eq!(s.context, Some((1160, 200_000)));
    // an unknown model: tokens counted, cost marked partial
    s.push_line(br#"{"type":"assistant","timestamp":"2026-11-25T11:00:00Z","message":{"id":"c","model":"other-model","content":[],"usage":{"input_tokens":7}}}"#);
    assert!(s.cost_partial && s.tokens.input == 107);
}

#[test]
fn counts_read_short() {
    assert_eq!(human_count(999), "999");
    assert_eq!(human_count(1_500), "1.5k");
    assert_eq!(human_count(2_345_678), "2.3M");
    assert_eq!(human_cost(0.0), "$0");
    assert_eq!(human_cost(0.004), "<$0.01");
    assert_eq!(human_cost(1.234), "$1.23");
    assert_eq!(human_cost(1234.5), "$1234");
}

#[test]
fn the_row_moves_with_a_new_prompt_not_with_the_numbers() {
    let before = read(upto(APPROVED, "\"stop_reason\":\"tool_use\""));
    let mut more = before.clone();
    more.push_line(br#"{"type":"assistant","message":{"id":"m2","model":"claude-opus-5-5","content":[],"usage":{"input_tokens":5}}}"#);
    assert!(more.tokens != before.tokens, "{:?}", more.tokens);
    assert!(more.same_row(&before));
    // the same command called again: the row says the same
    let (_, call, _) = before.pending.clone().unwrap();
    let again = |id: &str, command: &str| {
        format!(r#"{{"type":"assistant","message":{{"id":"{id}","model":"claude-opus-5-5","content":[{{"type":"tool_use","id":"{id}","name":"Bash","input":{{"command":"{command}"}}}}],"stop_reason":"tool_use"}}}}"#)
    };
    let command = call.input.replace('"', "\\\"");
    more.push_line(again("toolu_again", &command).as_bytes());
    assert_ne!(more.pending.as_ref().unwrap().0, before.pending.as_ref().unwrap().0);
    assert!(more.same_row(&before), "{:?}", more.pending);
    more.push_line(again("toolu_other", "npm test").as_bytes());
    assert!(!more.same_row(&before));
    let mut more = before.clone();
    more.push_line(br#"{"type":"user","message":{"content":"another prompt"}}"#);
    assert!(!more.same_row(&before));
}

#[test]
fn content_of_any_shape_is_read_or_passed_over() {
    let mut s = Summary::default();
    for l in [
        &br#"{"type":"user","message":{"content":{"text":"a map"}}}"#[..],
        br#"{"type":"user","message":{"content":5}}"#,
        br#"{"type":"user","message":{"content":null}}"#,
        br#"{"type":"user","message":{"content":[]}}"#,
    ] {
        s.push_line(l);
    }
    assert_eq!((s.turns, s.bad_lines, s.lines), (0, 0, 4));
    s.push_line(br#"{"type":"user","message":{"content":"a string"}}"#);
    s.push_line(br#"{"type":"user","message":{"content":[{"type":"text","text":"in a block"}]}}"#);
    assert_eq!((s.turns, s.last_prompt.as_deref()), (2, Some("in a block")));
}
