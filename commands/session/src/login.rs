//! USER, PASS and REIN (RFC 959 §4.1.1), and the seed verbs CONNME and
//! BYEBYE (QUIT).

use std::sync::Arc;

use ftpsh_core::{
    Command, Grant, Login, LoginRefused, Outcome, Reply, ReplyCode, Request, Session, VerbSpec,
};

/// USER, PASS and REIN: the login sequence.
///
/// RFC 959 §4.1.1: USER identifies the user and is normally the first
/// command; the server answers 331 when a password is needed, and a USER in
/// the middle of a session starts a new login, forgetting the old one. PASS
/// completes it with 230, or 530 when the name and password do not match.
/// REIN flushes the login and the transfer parameters, leaving the control
/// connection open as if it had just been accepted (220).
///
/// A wrong password is answered with 530 only after
/// [`ServerConfig::login_failure_delay`], and after
/// [`ServerConfig::max_login_failures`] wrong passwords the control
/// connection is closed right after that 530 (RFC 2577 §4, slowing down
/// password guessing; as pyftpdlib and vsftpd do, not with a 421 that
/// clients would retry). Unknown and known user names get the same replies
/// and take as long, so the server does not reveal which accounts exist.
///
/// The check is [`Users::login`]: the password hash is verified here, on
/// a worker thread, and an address locked out after repeated failures
/// (RFC 2577 §5) gets 421 and the connection closes. An account already
/// logged in its `max_sessions` times gets 530 without penalty.
///
/// Every attempt leaves one log line with the client's address, in a
/// format fail2ban's filter (`dist/fail2ban/ftpshd.conf`) relies on:
/// `login ok client=ADDR user="NAME"`, `login failed client=ADDR
/// user="NAME"`, `login refused client=ADDR user="NAME" reason=…`.
///
/// [`Users::login`]: ftpsh_core::Users::login
///
/// [`ServerConfig::login_failure_delay`]: ftpsh_core::ServerConfig::login_failure_delay
/// [`ServerConfig::max_login_failures`]: ftpsh_core::ServerConfig::max_login_failures
#[derive(Debug, Clone, Copy, Default)]
pub struct Auth;

impl Command for Auth {
    fn name(&self) -> &str {
        "login"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("USER", "USER <SP> username", "start a login as username")
                .needs_arg()
                .no_login()
                // Only session state and the in-memory account table: the
                // password check, which may hash, is PASS's.
                .inline()
                .example("USER alice", 331, "asks for the password")
                .example("USER anonymous", 331, "asks for an e-mail address")
                .example("USER", 501, "a user name is required"),
            VerbSpec::new(
                "PASS",
                "PASS <SP> password",
                "finish the login started by USER",
            )
            .no_login()
            .example("USER alice\nPASS secret", 230, "logs in")
            .example(
                "USER alice\nPASS wrong",
                530,
                "wrong password, after a delay",
            )
            .example("USER nobody\nPASS secret", 530, "unknown user, same reply")
            .example(
                "USER anonymous\nPASS me@example.org",
                230,
                "anonymous login",
            )
            .example("PASS secret", 503, "USER must come first"),
            VerbSpec::new(
                "REIN",
                "REIN",
                "log out, keeping the control connection open",
            )
            .no_arg()
            .example("REIN", 220, "ready for a new USER"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        match request.verb.as_str() {
            "USER" => user(request, session),
            "PASS" => pass(request, session),
            "REIN" => {
                session.reset_login();
                session.transfer_type = Default::default();
                session.epsv_all = false;
                session.tls = session.tls.reinitialized();
                Reply::new(ReplyCode::SERVICE_READY, "logged out, ready for a new user").into()
            }
            other => Outcome::unhandled(other),
        }
    }
}

fn user(request: &Request, session: &mut Session) -> Outcome {
    let Some(name) = request
        .arg
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    else {
        return Reply::new(ReplyCode::PARAMETER_SYNTAX_ERROR, "USER needs a user name").into();
    };
    session.reset_login();
    let anonymous = session.config.users.is_anonymous(name);
    if let Some(refusal) =
        ftpsh_core::tls::login_refusal(session.config.tls, session.tls, anonymous)
    {
        return refusal.into();
    }
    let text = if anonymous {
        format!("{name}: anonymous login ok, send your e-mail address as password")
    } else {
        format!("password required for {name}")
    };
    session.login = Login::NeedPassword {
        user: name.to_owned(),
    };
    Reply::new(ReplyCode::NEED_PASSWORD, text).into()
}

fn pass(request: &Request, session: &mut Session) -> Outcome {
    let name = match &session.login {
        Login::NeedPassword { user } => user.clone(),
        Login::LoggedIn { user, .. } => {
            return Reply::new(
                ReplyCode::BAD_SEQUENCE,
                format!("already logged in as {}", user.name),
            )
            .into();
        }
        Login::None => {
            return Reply::new(ReplyCode::BAD_SEQUENCE, "send USER first").into();
        }
    };
    let password = request.arg_or_empty();
    let client = session.peer.ip().to_canonical();
    let Grant { user, slot } = match session.config.users.login(&name, password, client) {
        Ok(grant) => grant,
        Err(LoginRefused::Incorrect) => {
            tracing::warn!(target: "ftpshd::login", "login failed client={client} user={name:?}");
            session.login = Login::None;
            session.failed_logins = session.failed_logins.saturating_add(1);
            let delay = session.config.login_failure_delay;
            let max = session.config.max_login_failures;
            if max > 0 && session.failed_logins >= max {
                let reply = Reply::new(
                    ReplyCode::NOT_LOGGED_IN,
                    "login incorrect, closing the control connection",
                );
                return Outcome::DelayedClose { reply, delay };
            }
            let reply = Reply::new(ReplyCode::NOT_LOGGED_IN, "login incorrect");
            return Outcome::Delayed { reply, delay };
        }
        Err(LoginRefused::LockedOut) => {
            tracing::warn!(
                target: "ftpshd::login",
                "login refused client={client} user={name:?} reason=locked-out"
            );
            session.login = Login::None;
            return Outcome::Close(Reply::new(
                ReplyCode::SERVICE_NOT_AVAILABLE,
                "too many failed logins from your address, try again later",
            ));
        }
        Err(LoginRefused::TooManySessions(limit)) => {
            tracing::warn!(
                target: "ftpshd::login",
                "login refused client={client} user={name:?} reason=max-sessions"
            );
            session.login = Login::None;
            return Reply::new(
                ReplyCode::NOT_LOGGED_IN,
                format!("{name}: already logged in {limit} times, the most allowed"),
            )
            .into();
        }
    };
    // The local back-end shares one descriptor per root between its
    // sessions: a session costs only its socket.
    match session.config.storage.open_root(&user) {
        Ok(storage) => {
            tracing::info!(target: "ftpshd::login", "login ok client={client} user={name:?}");
            let text = if user.is_anonymous() {
                format!("{name}: logged in, read-only access")
            } else {
                format!("{name}: logged in")
            };
            session.reset_login();
            session.login = Login::LoggedIn { user, storage };
            session.login_slot = Some(Arc::new(slot));
            Reply::new(ReplyCode::LOGGED_IN, text).into()
        }
        // The host path stays in the server's logs, never on the wire.
        Err(e) => {
            tracing::error!(
                target: "ftpshd::login",
                "login refused client={client} user={name:?} reason=home-unavailable: {}: {e}",
                user.root.display()
            );
            session.login = Login::None;
            Reply::new(
                ReplyCode::NOT_LOGGED_IN,
                format!("{name}: home directory unavailable"),
            )
            .into()
        }
    }
}

/// CONNME: the seed's "connect me" verb. On the wire the connection already
/// exists, so it reports whether the session is logged in: `200 already
/// connected as alice`, or `530` with a hint to log in with USER and PASS.
#[derive(Debug, Clone, Copy, Default)]
pub struct Connme;

impl Command for Connme {
    fn name(&self) -> &str {
        "connme"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new(
                "CONNME",
                "CONNME",
                "report whether this session is logged in",
            )
            .no_login()
            .example("CONNME", 200, "already connected as alice"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        if request.verb != "CONNME" {
            return Outcome::unhandled(&request.verb);
        }
        match session.user() {
            Some(user) => {
                Reply::new(ReplyCode::OK, format!("already connected as {}", user.name)).into()
            }
            None => Reply::new(
                ReplyCode::NOT_LOGGED_IN,
                "connected but not logged in: send USER and PASS",
            )
            .into(),
        }
    }
}

/// QUIT (alias BYEBYE, the seed's verb), RFC 959 §4.1.1: answers 221 and
/// closes the control connection; a transfer in progress finishes first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Byebye;

impl Command for Byebye {
    fn name(&self) -> &str {
        "byebye"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("QUIT", "QUIT", "end the session and close the connection")
                .no_arg()
                .alias("BYEBYE")
                .no_login()
                .during_transfer()
                .example("QUIT", 221, "goodbye")
                .example("BYEBYE", 221, "the seed's verb"),
        ]
    }

    fn run(&self, request: &Request, _session: &mut Session) -> Outcome {
        if request.verb != "QUIT" {
            return Outcome::unhandled(&request.verb);
        }
        Outcome::Close(Reply::new(ReplyCode::CLOSING, "goodbye"))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use ftpsh_core::testkit::{TestSession, check_examples};
    use ftpsh_core::{ServerConfig, TransferType};

    use super::*;

    #[test]
    fn examples_auth() {
        check_examples(Arc::new(Auth));
    }

    #[test]
    fn examples_connme() {
        check_examples(Arc::new(Connme));
    }

    #[test]
    fn examples_byebye() {
        check_examples(Arc::new(Byebye));
    }

    fn registry() -> ftpsh_core::Registry {
        let mut r = ftpsh_core::Registry::new();
        r.register(Arc::new(Auth)).unwrap();
        r.register(Arc::new(Connme)).unwrap();
        r.register(Arc::new(Byebye)).unwrap();
        r
    }

    fn text(o: &Outcome) -> String {
        match o {
            Outcome::Reply(r)
            | Outcome::Close(r)
            | Outcome::Delayed { reply: r, .. }
            | Outcome::DelayedClose { reply: r, .. } => r.text().to_owned(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn login_sequence() {
        let mut t = TestSession::logged_out(registry());
        assert_eq!(t.run("CONNME").code(), Some(530));
        assert!(text(&t.run("CONNME")).contains("USER and PASS"));
        assert_eq!(t.run("PASS secret").code(), Some(503));
        let o = t.run("USER alice");
        assert_eq!(o.code(), Some(331));
        assert_eq!(text(&o), "password required for alice");
        let o = t.run("PASS secret");
        assert_eq!(o.code(), Some(230), "{o:?}");
        assert_eq!(t.session.user().unwrap().name, "alice");
        assert!(t.session.storage().is_some());
        assert_eq!(text(&t.run("CONNME")), "already connected as alice");
        assert_eq!(t.run("PASS secret").code(), Some(503));
    }

    #[test]
    fn anonymous_asks_for_email_and_takes_any_password() {
        let mut t = TestSession::logged_out(registry());
        let o = t.run("USER anonymous");
        assert!(text(&o).contains("send your e-mail address as password"));
        assert_eq!(t.run("PASS").code(), Some(230));
        assert!(!t.session.allows(ftpsh_core::Permission::Write));
    }

    #[test]
    fn user_resets_a_previous_login() {
        let mut t = TestSession::new(registry());
        t.session.cwd = t.session.cwd.resolve("docs").unwrap();
        t.session.restart_offset = 7;
        assert_eq!(t.run("USER reader").code(), Some(331));
        assert!(t.session.user().is_none());
        assert!(t.session.cwd.is_root());
        assert_eq!(t.session.restart_offset, 0);
        assert_eq!(t.run("PASS pw").code(), Some(230));
        assert_eq!(t.session.user().unwrap().name, "reader");
    }

    #[test]
    fn wrong_passwords_are_delayed_then_close_the_connection() {
        let mut t = TestSession::logged_out(registry());
        for _ in 0..2 {
            t.run("USER alice");
            match t.run("PASS nope") {
                Outcome::Delayed { reply, delay } => {
                    assert_eq!(reply.code, ReplyCode::NOT_LOGGED_IN);
                    assert_eq!(delay, Duration::from_millis(10));
                }
                other => panic!("expected a delayed 530, got {other:?}"),
            }
            assert!(t.session.user().is_none());
            // A failed PASS also forgets the USER.
            assert_eq!(t.run("PASS secret").code(), Some(503));
        }
        // The last one still gets its 530 after the delay, then the close.
        t.run("USER alice");
        match t.run("PASS nope") {
            Outcome::DelayedClose { reply, .. } => {
                assert_eq!(reply.code, ReplyCode::NOT_LOGGED_IN);
                assert!(reply.text().contains("closing"), "{reply:?}");
            }
            other => panic!("expected a delayed 530 and close, got {other:?}"),
        }
        assert_eq!(t.session.failed_logins, 3);
    }

    #[test]
    fn a_locked_out_address_gets_421_and_others_still_log_in() {
        let mut t = TestSession::logged_out(registry());
        let mut users = t.session.config.users.clone();
        users.set_lockout(ftpsh_core::LockoutPolicy {
            failures: 2,
            window: Duration::from_secs(60),
        });
        t.session.config = Arc::new(ServerConfig {
            users,
            max_login_failures: 0,
            ..(*t.session.config).clone()
        });
        for _ in 0..2 {
            t.run("USER alice");
            assert_eq!(t.run("PASS nope").code(), Some(530));
        }
        t.run("USER alice");
        match t.run("PASS secret") {
            Outcome::Close(reply) => assert_eq!(reply.code, ReplyCode::SERVICE_NOT_AVAILABLE),
            other => panic!("expected 421 and close, got {other:?}"),
        }
        t.session.peer = "127.0.0.2:5000".parse().unwrap();
        t.run("USER alice");
        assert_eq!(t.run("PASS secret").code(), Some(230));
    }

    #[test]
    fn max_sessions_per_account_is_530_and_freed_on_logout() {
        let mut t = TestSession::logged_out(registry());
        let mut users = t.session.config.users.clone();
        let alice = users.get("alice").unwrap().as_ref().clone();
        users.add_limited(alice, Some(1));
        t.session.config = Arc::new(ServerConfig {
            users,
            ..(*t.session.config).clone()
        });
        t.run("USER alice");
        assert_eq!(t.run("PASS secret").code(), Some(230));
        let mut other = t.session.clone();
        other.reset_login();
        // `other` shares nothing but the account store with `t`.
        let r = Auth.run(&Request::new("USER", Some("alice")), &mut other);
        assert_eq!(r.code(), Some(331));
        let r = Auth.run(&Request::new("PASS", Some("secret")), &mut other);
        assert_eq!(r.code(), Some(530));
        assert!(text(&r).contains("already logged in 1 times"));
        assert_eq!(other.failed_logins, 0);
        assert_eq!(t.run("REIN").code(), Some(220));
        Auth.run(&Request::new("USER", Some("alice")), &mut other);
        let r = Auth.run(&Request::new("PASS", Some("secret")), &mut other);
        assert_eq!(r.code(), Some(230));
    }

    #[test]
    fn hashed_passwords_log_in() {
        let mut t = TestSession::logged_out(registry());
        let mut users = t.session.config.users.clone();
        let mut carol = ftpsh_core::User::from_spec("carol:x", t.path("")).unwrap();
        carol.password = Some(
            "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
                .to_owned(),
        );
        users.add(carol);
        t.session.config = Arc::new(ServerConfig {
            users,
            ..(*t.session.config).clone()
        });
        t.run("USER carol");
        assert_eq!(t.run("PASS secret").code(), Some(230));
        t.run("USER carol");
        assert_eq!(t.run("PASS $6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1").code(), Some(530));
    }

    #[test]
    fn zero_max_failures_means_no_limit() {
        let mut t = TestSession::logged_out(registry());
        let config = ServerConfig {
            max_login_failures: 0,
            ..(*t.session.config).clone()
        };
        t.session.config = Arc::new(config);
        for _ in 0..5 {
            t.run("USER alice");
            assert!(matches!(t.run("PASS x"), Outcome::Delayed { .. }));
        }
    }

    #[test]
    fn missing_home_directory_is_530_without_host_path() {
        let mut t = TestSession::logged_out(registry());
        let mut users = t.session.config.users.clone();
        let gone = t.path("does-not-exist");
        users.add(ftpsh_core::User::from_spec("bob:pw", gone.clone()).unwrap());
        let config = ServerConfig {
            users,
            ..(*t.session.config).clone()
        };
        t.session.config = Arc::new(config);
        t.run("USER bob");
        let o = t.run("PASS pw");
        assert_eq!(o.code(), Some(530));
        assert!(!text(&o).contains(gone.to_str().unwrap()));
        assert!(t.session.user().is_none());
        // Not a wrong password: no penalty.
        assert_eq!(t.session.failed_logins, 0);
    }

    #[test]
    fn rein_resets_login_and_parameters() {
        let mut t = TestSession::new(registry());
        t.session.transfer_type = TransferType::Ascii;
        t.session.epsv_all = true;
        t.session.rename_from = Some(t.session.cwd.resolve("hello.txt").unwrap());
        assert_eq!(t.run("REIN").code(), Some(220));
        assert!(t.session.user().is_none());
        assert_eq!(t.session.transfer_type, TransferType::Binary);
        assert!(!t.session.epsv_all);
        assert!(t.session.rename_from.is_none());
        assert_eq!(t.run("REIN").code(), Some(530));
    }

    #[test]
    fn quit_closes_even_when_logged_out() {
        let mut t = TestSession::logged_out(registry());
        assert!(matches!(t.run("BYEBYE"), Outcome::Close(r) if r.code == ReplyCode::CLOSING));
    }

    #[test]
    fn odd_arguments_do_not_panic() {
        let mut t = TestSession::logged_out(registry());
        for line in [
            "USER  ",
            "USER \u{7f}\u{1}",
            "PASS \u{ffff}",
            "CONNME x",
            "QUIT now",
        ] {
            let _ = t.run(line);
        }
        let r = Auth.run(&Request::new("USER", Some("a\0b")), &mut t.session);
        assert_eq!(r.code(), Some(331));
        let r = Auth.run(&Request::new("PASS", Some("\0")), &mut t.session);
        assert_eq!(r.code(), Some(530));
    }
}
