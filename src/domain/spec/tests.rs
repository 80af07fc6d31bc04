use super::*;
use crate::domain::project::ProjectSettings;

fn project() -> Project {
    let config = Config::default();
    Project {
        id: "api".into(),
        name: "api".into(),
        path: "/src/api".into(),
        exists: true,
        settings: ProjectSettings {
            image: config.image.clone(),
            agent_command: "claude".into(),
            env_passthrough: vec![],
            limits: config.limits.clone(),
            refresh: config.refresh.clone(),
            network: config.security.network,
            allow: vec!["api.anthropic.com".into(), "*.github.com".into()],
            daily_budget_usd: 0.0,
            engine: None,
        },
    }
}

#[test]
fn sizes() {
    assert_eq!(parse_bytes("8g").unwrap(), 8 << 30);
    assert_eq!(parse_bytes("512MiB").unwrap(), 512 << 20);
    assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
    assert_eq!(parse_bytes("100").unwrap(), 100);
    assert!(parse_bytes("lots").is_err());
    assert!(parse_bytes("-1g").is_err());
}

#[test]
fn spec_has_mounts_limits_labels_and_hidden_secrets() {
    let mut env = BTreeMap::new();
    env.insert("GITHUB_TOKEN".to_string(), "ghp_secret".to_string());
    let host = HostContext {
        home: "/home/u".into(),
        has_gitconfig: true,
        env,
        agent_dir: "/data/agents/api".into(),
        ..Default::default()
    };
    let spec = build(&Config::default(), &project(), &host).unwrap();
    assert_eq!(spec.name, "agentdock-api");
    assert_eq!(spec.memory_bytes, 8 << 30);
    assert_eq!(spec.nano_cpus, 4_000_000_000);
    assert_eq!(spec.labels[labels::PROJECT], "api");
    assert_eq!(spec.mounts.len(), 3);
    assert!(spec.mounts[2].read_only && spec.mounts[2].target == "/home/agent/.gitconfig");
    let token = spec.env.iter().find(|e| e.name == "GITHUB_TOKEN").unwrap();
    assert!(!token.shown);
    assert_eq!(token.value.expose(), "ghp_secret");
    assert!(spec.env.iter().any(|e| e.name == "GIT_ASKPASS"));
    assert!(!format!("{spec:?}").contains("ghp_secret"));
}

#[test]
fn with_the_broker_the_model_credential_stays_out_and_the_agent_gets_its_address() {
    let mut env = BTreeMap::new();
    env.insert("ANTHROPIC_API_KEY".to_string(), "sk-ant-api03-real".to_string());
    env.insert("GITHUB_TOKEN".to_string(), "ghp_x".to_string());
    let host = HostContext { env, data_dir: "/data".into(), ..Default::default() };
    let mut config = Config::default();
    // no broker: today's way, the key as a secret file
    let spec = build(&config, &project(), &host).unwrap();
    assert!(spec.broker.is_none() && spec.env.iter().any(|e| e.name == "ANTHROPIC_API_KEY"));
    config.broker.from_env = true;
    let spec = build(&config, &project(), &host).unwrap();
    assert!(!spec.env.iter().any(|e| MODEL_CREDENTIALS.contains(&e.name.as_str())), "{:?}", spec.env);
    assert!(spec.env.iter().any(|e| e.name == "GITHUB_TOKEN"), "other secrets still pass");
    assert!(spec.env.iter().any(|e| e.name == "ANTHROPIC_BASE_URL" && e.value.expose() == "http://agentdock-broker:8080"));
    let link = spec.broker.as_ref().unwrap();
    assert_eq!(link.broker.state_dir, PathBuf::from("/data/broker"));
    assert!(!format!("{spec:?}").contains("sk-ant-api03-real"));
    // no network: no broker to reach, and still no key
    let mut p = project();
    p.settings.network = NetworkMode::None;
    let spec = build(&config, &p, &host).unwrap();
    assert!(spec.broker.is_none() && !spec.env.iter().any(|e| e.name.starts_with("ANTHROPIC")));
}

#[test]
fn allowlist_agents_get_their_network_and_the_proxy_and_none_gets_neither() {
    let host = HostContext { proxy_name: "agentdock-proxy-x".into(), ..Default::default() };
    let spec = build(&Config::default(), &project(), &host).unwrap();
    let env = |s: &ContainerSpec, n: &str| s.env.iter().find(|e| e.name == n).map(|e| (e.value.expose().to_string(), e.shown));
    assert_eq!((spec.network.mode, spec.network.name.as_str()), (NetworkMode::Allowlist, "agentdock-net-api"));
    assert_eq!(spec.network.proxy.name, "agentdock-proxy-x");
    assert_eq!(spec.network.labels[labels::PROJECT], "api");
    assert_eq!(env(&spec, "HTTPS_PROXY"), Some(("http://agentdock-proxy:3128".into(), true)));
    assert_eq!(env(&spec, "no_proxy").unwrap().0, "localhost,127.0.0.1,::1,agentdock-broker");
    assert_eq!(spec.labels[netlabels::ALLOW], "api.anthropic.com,*.github.com");
    let mut p = project();
    p.settings.network = NetworkMode::None;
    let spec = build(&Config::default(), &p, &host).unwrap();
    assert_eq!((spec.network.name.as_str(), env(&spec, "HTTPS_PROXY")), ("", None));
    assert_eq!(env(&spec, "AGENTDOCK_NETWORK").unwrap().0, "none");
}

#[test]
fn ssh_keys_stay_out_unless_asked_and_git_config_and_hooks_are_read_only() {
    let host = HostContext {
        home: "/home/u".into(),
        has_ssh: true,
        ssh_files: vec!["known_hosts".into()],
        ssh_agent: Some("/run/user/1000/agent.sock".into()),
        git_dir: true,
        nofile_max: Some(20_000),
        agent_dir: "/data/agents/api".into(),
        ..Default::default()
    };
    let mut config = Config::default();
    let spec = build(&config, &project(), &host).unwrap();
    let targets: Vec<(&str, bool)> = spec.mounts.iter().map(|m| (m.target.as_str(), m.read_only)).collect();
    assert!(!targets.iter().any(|(t, _)| *t == "/home/agent/.ssh"), "{targets:?}");
    assert!(targets.contains(&("/home/agent/.ssh/known_hosts", true)));
    assert!(targets.contains(&(SSH_AGENT_SOCK, true)));
    assert!(spec.env.iter().any(|e| e.name == "SSH_AUTH_SOCK" && e.value.expose() == SSH_AGENT_SOCK));
    assert!(targets.contains(&("/workspace/.git", false)));
    assert!(targets.contains(&("/workspace/.git/config", true)));
    assert!(targets.contains(&("/workspace/.git/hooks", true)));
    // the engine's own limit caps the open files
    assert_eq!(spec.nofile, (20_000, 20_000));
    assert_eq!(spec.memory_swap_bytes, spec.memory_bytes);

    config.security.ssh = "keys".into();
    let spec = build(&config, &project(), &host).unwrap();
    assert!(spec.mounts.iter().any(|m| m.target == "/home/agent/.ssh" && m.read_only));
    config.security.ssh = "none".into();
    let spec = build(&config, &project(), &host).unwrap();
    assert!(!spec.mounts.iter().any(|m| m.target.contains(".ssh") || m.target == SSH_AGENT_SOCK));
}

#[test]
fn the_agent_runs_as_the_project_owner_never_root_unless_allowed_and_unwritable_is_said() {
    let mut config = Config::default();
    let mut host = HostContext { project_owner: Some((4321, 4322)), project_mode: Some(0o755), ..Default::default() };
    assert_eq!(container_user(&config, &project(), &host).unwrap(), "4321:4322");
    assert_eq!(build(&config, &project(), &host).unwrap().user, "4321:4322");
    assert_eq!(write_warning("4321:4322", Path::new("/src/api"), &host), None);
    // a fixed user that is not the owner cannot write a 0755 directory: said, with the fix
    let w = write_warning("1000:1000", Path::new("/src/api"), &host).unwrap();
    assert!(w.contains("4321:4322") && w.contains("user = \"auto\""), "{w}");
    host.project_mode = Some(0o777);
    assert_eq!(write_warning("1000:1000", Path::new("/src/api"), &host), None);
    // root's projects
    host.project_owner = Some((0, 0));
    let e = container_user(&config, &project(), &host).unwrap_err();
    assert!(e.contains("owned by root") && e.contains("allow_root"), "{e}");
    config.security.allow_root = true;
    assert_eq!(container_user(&config, &project(), &host).unwrap(), "0:0");
    // unknown owner: the image's user
    host.project_owner = None;
    assert_eq!(container_user(&Config::default(), &project(), &host).unwrap(), DEFAULT_USER);
    config.user = "1000:1000".into();
    host.project_owner = Some((0, 0));
    assert_eq!(container_user(&config, &project(), &host).unwrap(), "1000:1000");
}
