//! agentdock's own services (the egress proxy) in a group of their own, `r` making one anew;
//! a container that only claims the role stays among the unmanaged.

use super::*;

fn service(id: &str, name: &str, role: &str) -> ContainerInfo {
    ContainerInfo {
        id: id.into(),
        name: name.into(),
        image: "agentdock/proxy:latest".into(),
        managed: false,
        project_id: None,
        project_name: None,
        project_path: None,
        role: Some(role.into()),
        ..container("x", ContainerState::Running, Health::Healthy, 60)
    }
}

#[test]
fn the_proxy_is_listed_under_agentdock_and_r_makes_it_anew() {
    let mut app = app_with(&["api"]);
    connected(&mut app);
    let proxy = app.model.services()[0].clone();
    app.on_engine(EngineEvent::Containers(vec![
        container("api", ContainerState::Running, Health::Healthy, 60),
        service("px", &proxy, "proxy"),
        // claims the role under another name: not ours
        service("fake", "agentdock-proxy-fake", "proxy"),
    ]));
    let s = screen(&mut app, 120, 20);
    assert!(s.contains("▾ agentdock (1)"), "{s}");
    assert!(s.contains(&format!("· {proxy}")), "{s}");
    assert!(!s.contains("agentdock-proxy-fake"), "an unmanaged look-alike is not listed as agentdock's: {s}");
    let c = app.model.counts();
    assert_eq!((c.managed, c.unmanaged), ((1, 1), (1, 1)), "the proxy is counted as neither");
    // r on its row makes it anew
    let row = app.list.rows.iter().position(|r| matches!(r, Row::Member { container, .. } if container == "px")).unwrap();
    app.list.select(row);
    app.take_commands();
    app.on_key(key('r'));
    assert_eq!(app.take_commands(), vec![Command::RefreshService(proxy.clone())]);
    // and :name jumps to it
    app.list.folded.insert(Fold::Group(Group::Agentdock));
    app.jump(&proxy);
    assert!(matches!(app.list.selected_row(), Some(Row::Member { container, .. }) if container == "px"));
}
