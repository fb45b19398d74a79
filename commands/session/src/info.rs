//! FEAT and OPTS (RFC 2389) and HELP (RFC 959 §4.1.3).

use ftpsh_core::mlst::FactSet;
use ftpsh_core::{Command, Outcome, Reply, ReplyCode, Request, Session, VerbSpec};

/// FEAT, OPTS and HELP: what the server supports, generated from the
/// registry so that it cannot drift from what is really dispatched.
///
/// RFC 2389 §3: FEAT lists the extensions the server implements, one per
/// line of a 211 multi-line reply, and may be sent before login. §4: OPTS
/// changes how one of those extensions behaves; an option the server does
/// not know is a 501. Two are supported: `OPTS UTF8 ON|OFF` (RFC 2640 §3.1;
/// paths are UTF-8 either way, so this only records the client's wish) and
/// `OPTS MLST fact;fact;` (RFC 3659 §7.9), which selects the facts MLST and
/// MLSD print from then on: unknown facts are ignored, a malformed list
/// gets 501, and the reply names the facts selected. FEAT stars them. RFC 959 §4.1.3: HELP without an argument lists the recognized
/// verbs (214), and with a verb gives its syntax.
#[derive(Debug, Clone, Copy, Default)]
pub struct Features;

impl Command for Features {
    fn name(&self) -> &str {
        "features"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("FEAT", "FEAT", "list the supported extensions")
                .inline()
                .no_arg()
                .no_login()
                .example("FEAT", 211, "the feature list"),
            VerbSpec::new(
                "OPTS",
                "OPTS <SP> command-name [<SP> command-options]",
                "set an option of an extension: UTF8 ON|OFF, MLST facts",
            )
            .needs_arg()
            .no_login()
            .feat("UTF8")
            .example("OPTS UTF8 ON", 200, "UTF-8 paths")
            .example("OPTS MLST type;size;", 200, "MLST facts")
            .example("OPTS MODE Z", 501, "an unknown option")
            .example("OPTS", 501, "an option is required"),
            VerbSpec::new("HELP", "HELP [<SP> verb]", "list the verbs, or explain one")
                .inline()
                .no_login()
                .example("HELP", 214, "all verbs")
                .example("HELP opts", 214, "syntax of one verb")
                .example("HELP NOSUCH", 501, "an unknown verb"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        match request.verb.as_str() {
            "FEAT" => feat(session).into(),
            "OPTS" => opts(request.arg_or_empty(), session).into(),
            "HELP" => session
                .registry
                .help_reply_for(
                    request.arg.as_deref().filter(|a| !a.trim().is_empty()),
                    session.capabilities(),
                )
                .into(),
            other => Outcome::unhandled(other),
        }
    }
}

/// The registry's FEAT reply, with the `MLST` line (declared by whichever
/// command serves MLST) starring this session's selected facts (RFC 3659
/// §7.8), and without `EPRT` when active mode is disabled.
fn feat(session: &Session) -> Reply {
    let mut reply = session.registry.feat_reply_for(session.capabilities());
    for line in &mut reply.lines {
        if line.starts_with("MLST ") {
            *line = session
                .mlst_facts
                .feat_line_within(FactSet::available(session.capabilities()));
        }
    }
    if !session.config.active_mode {
        reply.lines.retain(|l| l != "EPRT");
    }
    reply
}

fn opts(arg: &str, session: &mut Session) -> Reply {
    let arg = arg.trim();
    let (name, value) = arg.split_once(' ').unwrap_or((arg, ""));
    let value = value.trim();
    match name.to_ascii_uppercase().as_str() {
        "" => Reply::new(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            "OPTS needs an option (UTF8 ON|OFF, MLST facts)",
        ),
        "UTF8" => match value.to_ascii_uppercase().as_str() {
            // A bare `OPTS UTF8` is what some clients send to mean ON.
            "ON" | "" => {
                session.utf8 = true;
                Reply::new(ReplyCode::OK, "UTF8 mode on")
            }
            "OFF" => {
                session.utf8 = false;
                Reply::new(ReplyCode::OK, "UTF8 mode off")
            }
            other => Reply::new(
                ReplyCode::PARAMETER_SYNTAX_ERROR,
                format!("OPTS UTF8 {other}: expected ON or OFF"),
            ),
        },
        // RFC 3659 §7.9: the reply lists the facts now selected.
        // Facts the storage cannot give are ignored like unknown ones.
        "MLST" => match FactSet::parse_opts(value) {
            Ok(set) => {
                let set = set.intersection(FactSet::available(session.capabilities()));
                session.mlst_facts = set;
                Reply::new(ReplyCode::OK, format!("MLST OPTS {set}").trim_end())
            }
            Err(e) => Reply::new(ReplyCode::PARAMETER_SYNTAX_ERROR, format!("OPTS MLST {e}")),
        },
        other => Reply::new(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            format!("OPTS {other}: unknown option"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ftpsh_core::testkit::{TestSession, check_examples};

    use ftpsh_core::mlst::Fact;

    use super::*;

    #[test]
    fn examples() {
        check_examples(Arc::new(Features));
    }

    /// RFC 3659 §7.8: FEAT lists the MLST facts with the selected ones
    /// starred, whichever command declared the MLST line.
    #[test]
    fn feat_stars_the_selected_facts() {
        struct Mlst;
        impl Command for Mlst {
            fn name(&self) -> &str {
                "mlst"
            }
            fn verbs(&self) -> Vec<VerbSpec> {
                vec![VerbSpec::new("MLST", "MLST", "probe").feat(&FactSet::default().feat_line())]
            }
            fn run(&self, _: &Request, _: &mut Session) -> Outcome {
                Reply::new(ReplyCode::OK, "ok").into()
            }
        }
        let mut registry = TestSession::registry_with(Arc::new(Features));
        registry.register(Arc::new(Mlst)).unwrap();
        let mut t = TestSession::new(registry);
        let feat = String::from_utf8(reply(t.run("FEAT")).to_wire()).unwrap();
        assert!(
            feat.contains(
                "\r\n MLST type*;size*;modify*;perm*;unique;unix.mode;unix.uid;unix.gid;\r\n"
            ),
            "{feat}"
        );
        t.run("OPTS MLST unique;type;");
        // Without active mode, no EPRT is advertised.
        struct Eprt;
        impl Command for Eprt {
            fn name(&self) -> &str {
                "eprt"
            }
            fn verbs(&self) -> Vec<VerbSpec> {
                vec![VerbSpec::new("EPRT", "EPRT", "probe").feat("EPRT")]
            }
            fn run(&self, _: &Request, _: &mut Session) -> Outcome {
                Reply::new(ReplyCode::OK, "ok").into()
            }
        }
        let mut registry = TestSession::registry_with(Arc::new(Features));
        registry.register(Arc::new(Eprt)).unwrap();
        let mut u = TestSession::new(registry);
        assert!(reply(u.run("FEAT")).lines.contains(&"EPRT".to_owned()));
        u.session.config = Arc::new(ftpsh_core::ServerConfig {
            active_mode: false,
            ..(*u.session.config).clone()
        });
        assert!(!reply(u.run("FEAT")).lines.contains(&"EPRT".to_owned()));
        let feat = String::from_utf8(reply(t.run("FEAT")).to_wire()).unwrap();
        assert!(
            feat.contains(
                "\r\n MLST type*;size;modify;perm;unique*;unix.mode;unix.uid;unix.gid;\r\n"
            ),
            "{feat}"
        );
    }

    fn reply(o: Outcome) -> Reply {
        match o {
            Outcome::Reply(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn feat_comes_from_the_registry_before_login() {
        let mut t = TestSession::logged_out(TestSession::registry_with(Arc::new(Features)));
        let wire = String::from_utf8(reply(t.run("FEAT")).to_wire()).unwrap();
        assert_eq!(wire, "211-Features:\r\n UTF8\r\n211 End\r\n");
    }

    #[test]
    fn opts_table() {
        let mut t = TestSession::new(TestSession::registry_with(Arc::new(Features)));
        let rows = [
            ("OPTS UTF8 OFF", 200, false),
            ("OPTS utf8 on", 200, true),
            ("OPTS UTF8 OFF", 200, false),
            ("OPTS UTF8", 200, true),
            ("OPTS UTF8 MAYBE", 501, true),
            ("OPTS MLST type;", 200, true),
            ("OPTS MLST", 200, true),
            ("OPTS MLST bad_fact", 501, true),
            ("OPTS MLST type ;", 501, true),
            ("OPTS NOPE", 501, true),
            ("OPTS    ", 501, true),
        ];
        for (line, code, utf8) in rows {
            assert_eq!(t.run(line).code(), Some(code), "{line}");
            assert_eq!(t.session.utf8, utf8, "{line}");
        }
        // RFC 3659 §7.9: the reply names the facts now selected, unknown
        // ones ignored; a malformed list changes nothing.
        assert_eq!(
            reply(t.run("OPTS MLST size;Unix.Mode;x.y;")).text(),
            "MLST OPTS size;unix.mode;"
        );
        assert_eq!(
            t.session.mlst_facts,
            FactSet::of(&[Fact::Size, Fact::UnixMode])
        );
        assert_eq!(t.run("OPTS MLST type;;").code(), Some(501));
        assert_eq!(
            t.session.mlst_facts,
            FactSet::of(&[Fact::Size, Fact::UnixMode])
        );
        assert_eq!(reply(t.run("OPTS MLST")).to_wire(), b"200 MLST OPTS\r\n");
        assert_eq!(t.session.mlst_facts, FactSet::empty());
    }

    #[test]
    fn help_names_verbs_and_aliases() {
        let mut t = TestSession::logged_out(TestSession::registry_with(Arc::new(Features)));
        let r = reply(t.run("HELP"));
        assert_eq!(r.code, ReplyCode::HELP);
        assert!(r.lines.iter().any(|l| l.contains("FEAT HELP OPTS")));
        let r = reply(t.run("HELP  feat "));
        assert!(r.text().starts_with("Syntax: FEAT"), "{r}");
        assert_eq!(t.run("HELP  ").code(), Some(214));
    }
}
