//! FTP over TLS (RFC 4217): `AUTH`, `PBSZ`, `PROT` and `CCC`.
//!
//! RFC 4217 §4 (after RFC 2228 §3): `AUTH TLS` asks the server to protect
//! the control connection; the server answers `234` in clear text and the
//! TLS handshake follows at once. `AUTH SSL` is the older name for the same
//! thing and is accepted as a synonym (as vsftpd and proftpd do); `TLS-C`
//! and `TLS-P` are not. `PBSZ` (RFC 2228 §3, RFC 4217) must come after
//! `AUTH` and before `PROT`; for TLS the buffer size is always 0, and a
//! server answers `200 PBSZ=0` to any other value. `PROT C` (clear) and `PROT P`
//! (private) choose the protection of data connections; `S` and `E` are
//! `536` (not supported with TLS), anything else `504`. `CCC` would
//! return the control connection to clear text; this server refuses it
//! (`534`), as clear commands after a login let a man in the middle inject
//! requests.
//!
//! The main trade-off: the command only decides and records (the session's
//! [`TlsState`]); the daemon performs the handshake after the `234`
//! ([`Outcome::StartTls`]), so this crate needs no TLS library.
//!
//! [`TlsState`]: ftpsh_core::TlsState

use std::sync::Arc;

use ftpsh_core::{
    Command, Outcome, Protection, Reply, ReplyCode, Request, Session, TlsPolicy, VerbSpec,
};

/// `AUTH`, `PBSZ`, `PROT`, `CCC`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tls;

/// The commands of this crate, for the built-in list.
pub fn commands() -> Vec<Arc<dyn Command>> {
    vec![Arc::new(Tls)]
}

impl Command for Tls {
    fn name(&self) -> &str {
        "tls"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new(
                "AUTH",
                "AUTH <SP> TLS",
                "protect the control connection with TLS (RFC 4217)",
            )
            .no_login()
            .feat("AUTH TLS")
            .example("AUTH TLS", 431, "no certificate configured on this fixture")
            .example("AUTH KERBEROS_V4", 504, "unknown mechanism")
            .example("AUTH", 501, "a mechanism is required"),
            VerbSpec::new(
                "PBSZ",
                "PBSZ <SP> decimal-integer",
                "protection buffer size; always 0 for TLS",
            )
            .no_login()
            .feat("PBSZ")
            .example("PBSZ 0", 503, "AUTH TLS must come first"),
            VerbSpec::new(
                "PROT",
                "PROT <SP> C|P",
                "data connection protection: C clear, P private (TLS)",
            )
            .no_login()
            .feat("PROT")
            .example("PROT P", 503, "PBSZ must come first"),
            VerbSpec::new("CCC", "CCC", "clear the control connection (refused)")
                .no_login()
                .example("CCC", 533, "the control connection is not protected"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        let arg = request.arg.as_deref().map(str::trim).unwrap_or("");
        match request.verb.as_str() {
            "AUTH" => auth(arg, session),
            "PBSZ" => pbsz(arg, session).into(),
            "PROT" => prot(arg, session).into(),
            "CCC" => ccc(session).into(),
            other => Outcome::unhandled(other),
        }
    }
}

fn auth(mechanism: &str, session: &mut Session) -> Outcome {
    if mechanism.is_empty() {
        return Reply::new(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            "AUTH needs a mechanism: AUTH TLS",
        )
        .into();
    }
    let upper = mechanism.to_ascii_uppercase();
    if upper != "TLS" && upper != "SSL" {
        return Reply::new(
            ReplyCode::PARAMETER_NOT_IMPLEMENTED,
            format!("AUTH {mechanism}: mechanism not supported, use AUTH TLS"),
        )
        .into();
    }
    if session.tls.control {
        return Reply::new(
            ReplyCode::BAD_SEQUENCE,
            "AUTH: the control connection is already protected",
        )
        .into();
    }
    if !session.config.tls.available {
        return Reply::new(
            ReplyCode(431),
            "AUTH TLS: TLS is not configured on this server",
        )
        .into();
    }
    // RFC 4217 §4: a new security exchange resets the data protection and
    // (RFC 2228 §3) any login made in clear text.
    session.reset_login();
    session.tls = ftpsh_core::TlsState {
        control: true,
        ..Default::default()
    };
    Outcome::StartTls(Reply::new(
        ReplyCode(234),
        format!("AUTH {upper} ok, starting TLS negotiation"),
    ))
}

fn pbsz(arg: &str, session: &mut Session) -> Reply {
    if !session.tls.control {
        return Reply::new(
            ReplyCode::BAD_SEQUENCE,
            "PBSZ: send AUTH TLS first (RFC 4217)",
        );
    }
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return Reply::new(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            "PBSZ needs a decimal integer: PBSZ 0",
        );
    }
    session.tls.pbsz = true;
    // TLS needs no buffer size; any value is answered with 0.
    Reply::new(ReplyCode::OK, "PBSZ=0")
}

fn prot(arg: &str, session: &mut Session) -> Reply {
    if !session.tls.control || !session.tls.pbsz {
        return Reply::new(
            ReplyCode::BAD_SEQUENCE,
            "PROT: send AUTH TLS and PBSZ 0 first (RFC 4217)",
        );
    }
    let level = match arg.to_ascii_uppercase().as_str() {
        "C" => Protection::Clear,
        "P" => Protection::Private,
        "S" | "E" => {
            return Reply::new(
                ReplyCode(536),
                format!("PROT {arg}: level not supported by TLS, use C or P"),
            );
        }
        "" => {
            return Reply::new(ReplyCode::PARAMETER_SYNTAX_ERROR, "PROT needs C or P");
        }
        _ => {
            return Reply::new(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                format!("PROT {arg}: unknown protection level"),
            );
        }
    };
    if level == Protection::Clear && clear_data_refused(session.config.tls, session) {
        return Reply::new(
            ReplyCode(534),
            "PROT C refused: this server requires protected data connections",
        );
    }
    session.tls.protection = level;
    let name = match level {
        Protection::Clear => "clear",
        Protection::Private => "private",
    };
    Reply::new(ReplyCode::OK, format!("protection level set to {name}"))
}

/// Under `--require-tls`, clear data is refused to everyone but anonymous
/// users (`534`: a level the policy does not allow, RFC 2228).
fn clear_data_refused(policy: TlsPolicy, session: &Session) -> bool {
    let anonymous = session
        .user()
        .is_some_and(|u| session.config.users.is_anonymous(&u.name));
    policy.required && !anonymous
}

fn ccc(session: &Session) -> Reply {
    if !session.tls.control {
        return Reply::new(
            ReplyCode(533),
            "CCC: the control connection is not protected",
        );
    }
    Reply::new(
        ReplyCode(534),
        "CCC refused: the control connection stays protected",
    )
}

#[cfg(test)]
mod tests {
    use ftpsh_core::testkit::{TestSession, check_examples};
    use ftpsh_core::{ServerConfig, TlsPolicy};

    use super::*;

    #[test]
    fn examples() {
        check_examples(Arc::new(Tls));
    }

    fn with_policy(policy: TlsPolicy) -> TestSession {
        let mut t = TestSession::logged_out(TestSession::registry_with(Arc::new(Tls)));
        let config = ServerConfig {
            tls: policy,
            ..(*t.session.config).clone()
        };
        t.session.config = Arc::new(config);
        t
    }

    fn codes(t: &mut TestSession, lines: &[&str]) -> Vec<u16> {
        lines.iter().map(|l| t.run(l).code().unwrap_or(0)).collect()
    }

    #[test]
    fn rfc4217_sequence() {
        let available = TlsPolicy {
            available: true,
            ..TlsPolicy::default()
        };
        let mut t = with_policy(available);
        // PBSZ and PROT are out of sequence before AUTH.
        assert_eq!(codes(&mut t, &["PBSZ 0", "PROT P", "CCC"]), [503, 503, 533]);
        assert!(matches!(t.run("AUTH tls"), Outcome::StartTls(r) if r.code.0 == 234));
        assert!(t.session.tls.control);
        assert_eq!(
            codes(&mut t, &["AUTH TLS", "PROT P", "PBSZ x", "PBSZ 16384"]),
            [503, 503, 501, 200]
        );
        assert_eq!(
            codes(&mut t, &["PROT S", "PROT E", "PROT Q", "PROT", "PROT p"]),
            [536, 536, 504, 501, 200]
        );
        assert_eq!(t.session.tls.protection, Protection::Private);
        assert_eq!(codes(&mut t, &["PROT C", "CCC"]), [200, 534]);
        assert_eq!(t.session.tls.protection, Protection::Clear);
        // AUTH SSL is the synonym older clients send.
        let mut t = with_policy(available);
        assert!(matches!(t.run("AUTH SSL"), Outcome::StartTls(_)));
    }

    #[test]
    fn required_tls_refuses_clear_data_except_anonymous() {
        let required = TlsPolicy {
            available: true,
            required: true,
            session_reuse_required: false,
        };
        let mut t = with_policy(required);
        assert!(matches!(t.run("AUTH TLS"), Outcome::StartTls(_)));
        t.login_as("alice", "secret");
        assert_eq!(
            codes(&mut t, &["PBSZ 0", "PROT C", "PROT P"]),
            [200, 534, 200]
        );
        t.login_as("anonymous", "x");
        assert_eq!(codes(&mut t, &["PROT C"]), [200]);
    }

    #[test]
    fn auth_forgets_a_clear_text_login() {
        let mut t = with_policy(TlsPolicy {
            available: true,
            ..TlsPolicy::default()
        });
        t.login_as("alice", "secret");
        assert!(matches!(t.run("AUTH TLS"), Outcome::StartTls(_)));
        assert!(t.session.user().is_none());
    }
}
