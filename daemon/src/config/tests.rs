//! Tests of the configuration: file, command line, resolution.

use super::*;

#[test]
fn line_and_column() {
    let t = "a = 1\nbb = 2\n";
    assert_eq!(line_col(t, 0), (1, 1));
    assert_eq!(line_col(t, 6), (2, 1));
    assert_eq!(line_col(t, 8), (2, 3));
}

#[test]
fn unknown_keys_and_bad_values_point_at_the_line() {
    let path = Path::new("f.toml");
    for (text, line, col, what) in [
        ("listen = \"127.0.0.1:0\"\nlisen = 1\n", 2, 1, "lisen"),
        ("max_sessions = \"many\"\n", 1, 16, "\"many\""),
        ("passive_ports = \"9-1\"\n", 1, 17, "9-1"),
        (
            "[[users]]\nname = \"a\"\npassword = \"secret\"\n",
            3,
            12,
            "plaintext password refused",
        ),
        (
            "[[users]]\nname = \"a\"\npassword = \"plain:x\"\nperms = \"elq\"\n",
            4,
            9,
            "'q'",
        ),
        (
            "[[users]]\nname = \"a\"\npassword = \"$argon2id$v=19$x\"\n",
            3,
            12,
            "Argon2",
        ),
    ] {
        let e = Options::from_toml(text).unwrap_err();
        let msg = located(path, text, &e);
        assert!(msg.starts_with(&format!("f.toml:{line}:{col}: ")), "{msg}");
        assert!(msg.contains(what), "{msg}");
    }
}

#[test]
fn command_line_wins_and_accounts_add_up() {
    let file = Options::from_toml(
        "listen = \"127.0.0.1:21\"\nidle_timeout = 10\nanonymous = true\n\
         [[users]]\nname = \"a\"\npassword = \"plain:x\"\n",
    )
    .unwrap();
    let cli = Options {
        idle_timeout: Some(20),
        anonymous: Some(false),
        user: vec!["b:y".to_owned()],
        ..Options::default()
    };
    let o = cli.merge(file);
    assert_eq!(o.listen, Some("127.0.0.1:21".parse().unwrap()));
    assert_eq!(o.idle_timeout, Some(20));
    assert_eq!(o.anonymous, Some(false));
    assert_eq!(o.users.len(), 1);
    assert_eq!(o.user, ["b:y"]);
}

#[test]
fn settle_min_proxied_is_microseconds_up_to_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let resolve = |extra: &str| {
        let text = format!("root = {:?}\n{extra}", dir.path());
        Options::from_toml(&text).unwrap().resolve(None, None)
    };
    let r = resolve("").unwrap();
    assert_eq!(
        r.daemon.settle_min_proxied,
        crate::settle::SETTLE_MIN_PROXIED
    );
    let r = resolve("settle_min_proxied_us = 1500").unwrap();
    assert_eq!(r.daemon.settle_min_proxied, Duration::from_micros(1_500));
    let r = resolve("settle_min_proxied_us = 20000").unwrap();
    assert_eq!(r.daemon.settle_min_proxied, crate::settle::SETTLE_MAX);
    let msg = format!(
        "{:#}",
        resolve("settle_min_proxied_us = 20001").unwrap_err()
    );
    assert!(msg.contains("settle_min_proxied_us: 20001"), "{msg}");
}

#[test]
fn resolve_builds_accounts_with_their_roots() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    std::fs::create_dir(&a).unwrap();
    let hash = credential::hash_password("pw").unwrap();
    let text = format!(
        "root = {:?}\nanonymous = true\n\
         [[users]]\nname = \"a\"\npassword = \"{hash}\"\nroot = {:?}\nperms = \"elr\"\nmax_sessions = 2\n\
         [[users]]\nname = \"b\"\npassword = \"plain:pw\"\n",
        dir.path(),
        a
    );
    let r = Options::from_toml(&text)
        .unwrap()
        .resolve(Some((Path::new("f.toml"), &text)), None)
        .unwrap();
    let users = &r.daemon.server.users;
    assert_eq!(users.get("a").unwrap().root, a.canonicalize().unwrap());
    assert_eq!(users.get("a").unwrap().permissions.to_string(), "elr");
    assert_eq!(
        users.get("b").unwrap().root,
        dir.path().canonicalize().unwrap()
    );
    assert!(users.is_anonymous("ftp"));
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].starts_with("f.toml:10:8: "),
        "{:?}",
        r.warnings
    );
    assert_eq!(r.daemon.max_sessions_per_ip, 50);
    assert_eq!(users.lockout(), LockoutPolicy::daemon());
    assert!(r.generated.is_none());

    let text = "[[users]]\nname = \"a\"\npassword = \"plain:x\"\nroot = \"/nonexistent/ftpsh\"\n";
    let e = Options::from_toml(text)
        .unwrap()
        .resolve(Some((Path::new("f.toml"), text)), None)
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.starts_with("f.toml:4:8: "), "{msg}");
    assert!(msg.contains("/nonexistent/ftpsh"), "{msg}");
}
