//! [`Reloader`](ftpsh_daemon::Reloader) with the built-in commands: new
//! logins see the new accounts and limits, sessions logged in keep theirs,
//! sessions not logged in yet follow the reload, and failed-login counts
//! carry over.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use common::{Client, WAIT};
use ftpsh_core::{LockoutPolicy, ServerConfig, User, Users};
use ftpsh_daemon::{DaemonConfig, Server, builtin_registry};

fn config(root: &std::path::Path, users: &[&str], banner: &str) -> DaemonConfig {
    let mut accounts = Users::new();
    for spec in users {
        accounts.add(User::from_spec(spec, root.to_path_buf()).unwrap());
    }
    accounts.set_lockout(LockoutPolicy {
        failures: 2,
        window: Duration::from_secs(60),
    });
    DaemonConfig {
        server: ServerConfig {
            users: accounts,
            banner: banner.to_owned(),
            login_failure_delay: Duration::ZERO,
            max_login_failures: 0,
            ..ServerConfig::default()
        },
        ..DaemonConfig::default()
    }
}

#[test]
fn reload_applies_to_new_logins_only_and_keeps_lockouts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::bind(
        config(dir.path(), &["alice:a"], "before"),
        builtin_registry(),
    )
    .unwrap()
    .spawn()
    .unwrap();
    let addr = server.local_addr();
    let mut alice = Client::connect(addr);
    assert!(alice.reply().1.contains("before"));
    assert_eq!(alice.cmd("USER alice").0, 331);
    assert_eq!(alice.cmd("PASS a").0, 230);
    // Connected before the reload, not logged in yet.
    let mut waiting = Client::connect(addr);
    assert_eq!(waiting.reply().0, 220);
    // One failure before the reload.
    let mut c = Client::connect(addr);
    c.reply();
    c.cmd("USER alice");
    assert_eq!(c.cmd("PASS wrong").0, 530);

    server
        .reloader()
        .reload(config(dir.path(), &["bob:b"], "after"))
        .unwrap();
    // The reload is applied on the loop's next turn: wait for a new banner.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut probe = Client::connect(addr);
        if probe.reply().1.contains("after") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "reload not applied");
        std::thread::sleep(Duration::from_millis(20));
    }
    // alice's session goes on as before.
    assert_eq!(alice.cmd("PWD").0, 257);
    assert_eq!(alice.cmd("NOOP").0, 200);
    // The waiting session logs in under the new accounts.
    assert_eq!(waiting.cmd("USER bob").0, 331);
    assert_eq!(waiting.cmd("PASS b").0, 230);
    // alice is gone for new logins; this second failure (the first was
    // before the reload) locks the address.
    assert_eq!(c.cmd("USER alice").0, 331);
    assert_eq!(c.cmd("PASS a").0, 530);
    let mut locked = Client::connect(addr);
    assert_eq!(locked.reply().0, 421);
    server.shutdown().unwrap();
}
