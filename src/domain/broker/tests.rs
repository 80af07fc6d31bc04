use super::*;

#[test]
fn the_credential_comes_from_its_file_or_with_from_env_the_host_and_else_there_is_no_broker() {
    let mut config = super::super::settings::Config::default();
    let mut env = BTreeMap::new();
    env.insert("ANTHROPIC_API_KEY".to_string(), "sk-ant-api03-x".to_string());
    let home = std::path::Path::new("/home/u");
    assert_eq!(credential_source(&config, &env, home), None, "no broker unless asked");
    config.broker.from_env = true;
    assert!(matches!(credential_source(&config, &env, home), Some(CredentialSource::Env(n, _)) if n == "ANTHROPIC_API_KEY"));
    config.broker.credential_file = "~/.config/agentdock/key".into();
    assert_eq!(credential_source(&config, &env, home), Some(CredentialSource::File("/home/u/.config/agentdock/key".into())));
    let proxy = super::super::network::proxy_spec(&config, "agentdock-proxy-abc", "/d/proxy".into());
    let b = broker_spec(&config, &proxy, std::path::Path::new("/d"), home);
    assert_eq!((b.name.as_str(), b.egress.as_str()), ("agentdock-broker-abc", "agentdock-egress-abc"));
    assert_eq!(b.state_dir, std::path::PathBuf::from("/d/broker"));
    assert!(!format!("{:?}", credential_source(&super::super::settings::Config { broker: super::super::settings::BrokerSettings { from_env: true, ..Default::default() }, ..Default::default() }, &env, home)).contains("sk-ant"));
}

#[test]
fn the_shipped_prices_parse_and_a_model_takes_its_longest_prefix() {
    let p = Prices::shipped();
    assert!(p.models.contains_key("default"));
    let (sonnet, key) = p.of("claude-sonnet-4-5-20250929");
    assert_eq!(key, "claude-sonnet-4-5");
    assert_eq!((sonnet.input, sonnet.output), (3.0, 15.0));
    assert_eq!(p.of("something-else").1, "default");
    let mut over = BTreeMap::new();
    over.insert("claude-test".to_string(), Price { input: 1000.0, output: 2000.0, cache_write: 0.0, cache_read: 0.0 });
    let p = Prices::with(&over);
    let u = Usage { input_tokens: 1000, output_tokens: 500, ..Default::default() };
    assert!((p.cost("claude-test-1", &u) - 2.0).abs() < 1e-9);
}

#[test]
fn a_stream_is_metered_from_its_events_whatever_the_chunks() {
    let stream = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-test\",\"usage\":{\"input_tokens\":120,\"cache_read_input_tokens\":30,\"cache_creation_input_tokens\":7,\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"message_delta is text here\"}}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":42}}\n\n",
        "event: message_stop\n",
        "data: {\"type\":\"message_stop\"}\n\n",
    );
    for size in [1, 3, 17, 4096] {
        let mut m = Meter::new("text/event-stream; charset=utf-8");
        for c in stream.as_bytes().chunks(size) {
            m.feed(c);
        }
        m.finish();
        assert_eq!(m.model.as_deref(), Some("claude-test"));
        assert_eq!(m.usage, Usage { input_tokens: 120, output_tokens: 42, cache_creation_input_tokens: 7, cache_read_input_tokens: 30 }, "chunks of {size}");
        assert!(m.complete);
    }
    // cut before its end: what came so far, not complete
    let cut = &stream[..stream.find("event: message_delta").unwrap()];
    let mut m = Meter::new("text/event-stream");
    m.feed(cut.as_bytes());
    m.finish();
    assert_eq!((m.usage.input_tokens, m.usage.output_tokens, m.complete), (120, 1, false));
    // a huge line is passed over, the next ones still read
    let mut m = Meter::new("text/event-stream");
    m.feed(format!("data: {}\n", "x".repeat(MAX_EVENT_LINE * 2)).as_bytes());
    m.feed(b"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n");
    assert_eq!(m.usage.output_tokens, 9);
}

#[test]
fn a_whole_answer_is_metered_from_its_usage() {
    let mut m = Meter::new("application/json");
    m.feed(br#"{"id":"msg_1","model":"claude-x","usage":{"input_tokens":5,"output_tokens":"#);
    m.feed(br#"6}}"#);
    m.finish();
    assert_eq!((m.model.as_deref(), m.usage.input_tokens, m.usage.output_tokens, m.complete), (Some("claude-x"), 5, 6, true));
    let mut m = Meter::new("application/json");
    m.feed(br#"{"type":"error","error":{"type":"overloaded_error"}}"#);
    m.finish();
    assert_eq!((m.usage, m.complete), (Usage::default(), false));
}

#[test]
fn tokens_are_random_and_known_by_their_hash() {
    let (a, b) = (new_token().unwrap(), new_token().unwrap());
    assert_ne!(a, b);
    assert!(a.starts_with(TOKEN_PREFIX) && a.len() == TOKEN_PREFIX.len() + 64);
    assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    let caps = Caps { caps: vec![Capability { hash: token_hash(&a), container: "agentdock-api".into(), project: "api".into(), task: None, subnet: None, task_budget_usd: 0.0, project_daily_budget_usd: 0.0, issued_at: 0 }] };
    assert_eq!(caps.find(&token_hash(&a)).unwrap().container, "agentdock-api");
    assert!(caps.find(&token_hash(&b)).is_none());
    assert_eq!(CredentialKind::of("sk-ant-oat01-xyz"), CredentialKind::OauthToken);
    assert_eq!(CredentialKind::of("sk-ant-api03-xyz"), CredentialKind::ApiKey);
}

#[test]
fn budgets_stop_at_their_sum_per_task_project_day_and_day() {
    let now = 1_795_000_000.0;
    let line = |task: Option<&str>, project: &str, cost: f64, at: f64| UsageLine {
        at,
        container: "c".into(),
        project: project.into(),
        task: task.map(Into::into),
        model: "m".into(),
        usage: Usage::default(),
        cost_usd: cost,
        status: 200,
        complete: true,
    };
    let cap = |task: Option<&str>, tb: f64, pb: f64| Capability {
        hash: "h".into(),
        container: "c".into(),
        project: "api".into(),
        task: task.map(Into::into),
        subnet: None,
        task_budget_usd: tb,
        project_daily_budget_usd: pb,
        issued_at: 0,
    };
    let mut s = Spent::default();
    s.add(&line(Some("7"), "api", 4.0, now));
    assert_eq!(s.reached(&cap(Some("7"), 5.0, 0.0), 0.0, now), None);
    s.add(&line(Some("7"), "api", 1.0, now));
    assert_eq!(s.reached(&cap(Some("7"), 5.0, 0.0), 0.0, now).as_deref(), Some("agentdock: budget of $5.00 for task 7 reached"));
    // another task of the project is not held by task 7's budget, but by the project's day
    assert_eq!(s.reached(&cap(Some("8"), 5.0, 0.0), 0.0, now), None);
    assert!(s.reached(&cap(Some("8"), 5.0, 5.0), 0.0, now).unwrap().contains("project api"));
    // yesterday's spending does not count today
    assert_eq!(s.reached(&cap(None, 0.0, 5.0), 0.0, now + 86_400.0), None);
    assert!(s.reached(&cap(None, 0.0, 0.0), 5.0, now).unwrap().contains("all agents"));
    assert_eq!(usd(0.0042), "$0.0042");
}

#[test]
fn usage_lines_are_summed_and_bad_ones_skipped() {
    let text = concat!(
        "{\"at\":10.0,\"container\":\"agentdock-api\",\"project\":\"api\",\"model\":\"m1\",\"input_tokens\":10,\"output_tokens\":5,\"cost_usd\":0.5,\"status\":200,\"complete\":true}\n",
        "not json\n",
        "{\"at\":20.0,\"container\":\"agentdock-task-7\",\"project\":\"api\",\"task\":\"7\",\"model\":\"m2\",\"input_tokens\":1,\"output_tokens\":1,\"cache_read_input_tokens\":3,\"cost_usd\":0.25,\"status\":200,\"complete\":false}\n",
    );
    let (r, bad) = UsageReport::of_text(text, 0.0);
    assert_eq!(bad, 1);
    assert_eq!(r.total.requests, 2);
    assert_eq!(r.by_project["api"].tokens(), 20);
    assert_eq!(r.by_task["7"].cost_usd, 0.25);
    assert_eq!(r.by_container["agentdock-api"].usage.output_tokens, 5);
    let (r, _) = UsageReport::of_text(text, 15.0);
    assert_eq!(r.total.requests, 1);
}
