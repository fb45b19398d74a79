//! The command registry: verb → command, with everything derived from the
//! commands' [`VerbSpec`]s (FEAT lines, HELP text, login and permission
//! checks).

use std::collections::BTreeMap;
use std::sync::Arc;

use thiserror::Error;

use crate::command::{ArgRule, Command, VerbSpec};
use crate::reply::{Reply, ReplyCode};
use crate::request::Request;
use crate::session::Session;

/// Verbs that standard FTP documents define: when none of them is
/// registered, the client gets `502 command not implemented` rather than
/// `500 command not understood` (RFC 959 §4.2, §5.4). RFC 959 §4.1 and
/// RFC 775's `X` forms, RFC 1639 (`LPRT`/`LPSV`), RFC 2228 (security),
/// RFC 2389, RFC 2428, RFC 2640 (`LANG`), RFC 3659, RFC 7151 (`HOST`) and
/// the `MFxx` draft.
pub const STANDARD_VERBS: &[&str] = &[
    "ABOR", "ACCT", "ADAT", "ALLO", "APPE", "AUTH", "CCC", "CDUP", "CONF", "CWD", "DELE", "ENC",
    "EPRT", "EPSV", "FEAT", "HELP", "HOST", "LANG", "LIST", "LPRT", "LPSV", "MDTM", "MFCT", "MFF",
    "MFMT", "MIC", "MKD", "MLSD", "MLST", "MODE", "NLST", "NOOP", "OPTS", "PASS", "PASV", "PBSZ",
    "PORT", "PROT", "PWD", "QUIT", "REIN", "REST", "RETR", "RMD", "RNFR", "RNTO", "SITE", "SIZE",
    "SMNT", "STAT", "STOR", "STOU", "STRU", "SYST", "TYPE", "USER", "XCUP", "XCWD", "XMKD", "XPWD",
    "XRMD",
];

/// `SITE CHMOD` for a sub-command, the verb otherwise.
fn display_verb(spec: &VerbSpec) -> String {
    if spec.site {
        format!("SITE {}", spec.verb)
    } else {
        spec.verb.clone()
    }
}

/// One registered verb.
#[derive(Clone)]
pub struct Entry {
    /// The command that runs it.
    pub command: Arc<dyn Command>,
    /// Its declaration.
    pub spec: Arc<VerbSpec>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("command", &self.command.name())
            .field("verb", &self.spec.verb)
            .finish()
    }
}

/// Why a command cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegistryError {
    /// A verb or alias is already taken.
    #[error("verb {verb} of command {command:?} is already provided by {existing:?}")]
    Collision {
        /// The verb.
        verb: String,
        /// The new command's name.
        command: String,
        /// The command that has it.
        existing: String,
    },
    /// A verb is not 1–16 ASCII letters.
    #[error("verb {verb:?} of command {command:?} is not 1-16 ASCII letters")]
    BadVerb {
        /// The verb.
        verb: String,
        /// The command's name.
        command: String,
    },
}

/// Verb → command table. Built once at start, then shared read-only.
#[derive(Default, Clone)]
pub struct Registry {
    by_verb: BTreeMap<String, Entry>,
    specs: Vec<Arc<VerbSpec>>,
    /// `SITE` sub-commands ([`VerbSpec::site`]), by name.
    by_site: BTreeMap<String, Entry>,
    site_specs: Vec<Arc<VerbSpec>>,
    commands: Vec<Arc<dyn Command>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("verbs", &self.by_verb.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers every verb of `command`; nothing is registered if any of
    /// them collides.
    ///
    /// # Errors
    /// [`RegistryError::Collision`] or [`RegistryError::BadVerb`].
    pub fn register(&mut self, command: Arc<dyn Command>) -> Result<(), RegistryError> {
        let specs: Vec<Arc<VerbSpec>> = command.verbs().into_iter().map(Arc::new).collect();
        let mut seen: Vec<(bool, &str)> = Vec::new();
        for spec in &specs {
            let table = if spec.site {
                &self.by_site
            } else {
                &self.by_verb
            };
            for verb in spec.all_verbs() {
                if verb.is_empty()
                    || verb.len() > crate::request::MAX_VERB
                    || !verb.bytes().all(|b| b.is_ascii_uppercase())
                {
                    return Err(RegistryError::BadVerb {
                        verb: verb.to_owned(),
                        command: command.name().to_owned(),
                    });
                }
                let existing = table
                    .get(verb)
                    .map(|e| e.command.name().to_owned())
                    .or_else(|| {
                        seen.contains(&(spec.site, verb))
                            .then(|| command.name().to_owned())
                    });
                if let Some(existing) = existing {
                    let verb = if spec.site {
                        format!("SITE {verb}")
                    } else {
                        verb.to_owned()
                    };
                    return Err(RegistryError::Collision {
                        verb,
                        command: command.name().to_owned(),
                        existing,
                    });
                }
                seen.push((spec.site, verb));
            }
        }
        for spec in specs {
            let table = if spec.site {
                &mut self.by_site
            } else {
                &mut self.by_verb
            };
            for verb in spec.all_verbs() {
                table.insert(
                    verb.to_owned(),
                    Entry {
                        command: command.clone(),
                        spec: spec.clone(),
                    },
                );
            }
            if spec.site {
                self.site_specs.push(spec);
            } else {
                self.specs.push(spec);
            }
        }
        self.commands.push(command);
        Ok(())
    }

    /// The entry for `verb` (upper case) or one of its aliases.
    pub fn lookup(&self, verb: &str) -> Option<&Entry> {
        self.by_verb.get(verb)
    }

    /// Every canonical verb's declaration, in registration order (`SITE`
    /// sub-commands are in [`Registry::site_specs`]).
    pub fn specs(&self) -> &[Arc<VerbSpec>] {
        &self.specs
    }

    /// The entry of the `SITE` sub-command `name` (upper case).
    pub fn site_lookup(&self, name: &str) -> Option<&Entry> {
        self.by_site.get(name)
    }

    /// Every `SITE` sub-command's declaration, in registration order.
    pub fn site_specs(&self) -> &[Arc<VerbSpec>] {
        &self.site_specs
    }

    /// The `SITE` sub-command a `SITE` request names, with the request
    /// rewritten to it (verb = sub-command, argument = the rest).
    fn site_route(&self, request: &Request) -> Option<(&Entry, Request)> {
        if request.verb != "SITE" {
            return None;
        }
        let arg = request.arg.as_deref()?.trim_start();
        let (name, rest) = arg.split_once(' ').unwrap_or((arg, ""));
        let entry = self.by_site.get(&name.to_ascii_uppercase())?;
        let rest = rest.trim_start();
        let routed = Request {
            verb: entry.spec.verb.clone(),
            arg: (!rest.is_empty()).then(|| rest.to_owned()),
        };
        Some((entry, routed))
    }

    /// Every registered command, in registration order.
    pub fn commands(&self) -> &[Arc<dyn Command>] {
        &self.commands
    }

    /// Looks `request` up and checks login and permission, returning the
    /// entry and the request rewritten to the canonical verb.
    ///
    /// The checks run in this order, as pyftpdlib does, so a syntax error
    /// is reported before anything that depends on the session's state:
    /// unknown verb, argument rule ([`VerbSpec::arg`]), login, permission.
    ///
    /// # Errors
    /// The reply to send instead: `502` for a standard verb that nobody
    /// registered ([`STANDARD_VERBS`], RFC 959 §4.2: "command not
    /// implemented"), `500` for any other unknown verb ("syntax error,
    /// command unrecognized"), `501` for an argument the verb does not take
    /// or a missing one it needs, `530` not logged in, `550` permission
    /// denied, `502` for a verb whose storage capability
    /// ([`VerbSpec::requires`]) the session's storage lacks.
    pub fn authorize(
        &self,
        request: &Request,
        session: &Session,
    ) -> Result<(Entry, Request), Reply> {
        let site = self.site_route(request);
        let request = site.as_ref().map_or(request, |(_, r)| r);
        let entry = match &site {
            Some((entry, _)) => Some(*entry),
            None => self.lookup(&request.verb),
        };
        let entry = entry.ok_or_else(|| {
            if STANDARD_VERBS.contains(&request.verb.as_str()) {
                Reply::new(
                    ReplyCode::NOT_IMPLEMENTED,
                    format!("{}: command not implemented", request.verb),
                )
            } else {
                Reply::new(
                    ReplyCode::SYNTAX_ERROR,
                    format!("{}: command not understood", request.verb),
                )
            }
        })?;
        let has_arg = request.arg.as_deref().is_some_and(|a| !a.trim().is_empty());
        match entry.spec.arg {
            ArgRule::None if has_arg => {
                return Err(Reply::new(
                    ReplyCode::PARAMETER_SYNTAX_ERROR,
                    format!("{} takes no argument", display_verb(&entry.spec)),
                ));
            }
            ArgRule::Required if !has_arg => {
                return Err(Reply::new(
                    ReplyCode::PARAMETER_SYNTAX_ERROR,
                    format!(
                        "{} needs an argument: {}",
                        display_verb(&entry.spec),
                        entry.spec.syntax
                    ),
                ));
            }
            _ => {}
        }
        if entry.spec.login && session.user().is_none() {
            return Err(Reply::new(
                ReplyCode::NOT_LOGGED_IN,
                "please log in with USER and PASS first",
            ));
        }
        if let Some(p) = entry.spec.permission
            && !session.allows(p)
        {
            return Err(Reply::new(
                ReplyCode::FILE_UNAVAILABLE,
                format!(
                    "{}: permission denied (needs '{}')",
                    display_verb(&entry.spec),
                    p.letter()
                ),
            ));
        }
        if let Some(c) = entry.spec.requires
            && !session.capabilities().has(c)
        {
            return Err(Reply::new(
                ReplyCode::NOT_IMPLEMENTED,
                format!(
                    "{}: {c} is not supported by this server's storage",
                    display_verb(&entry.spec)
                ),
            ));
        }
        let canonical = Request {
            verb: entry.spec.verb.clone(),
            arg: request.arg.clone(),
        };
        Ok((entry.clone(), canonical))
    }

    /// The `SITE HELP` reply: one line per `SITE` sub-command, `<syntax> --
    /// <help>`, generated from [`Registry::site_specs`].
    pub fn site_help_reply(&self) -> Reply {
        let mut lines = vec!["SITE commands recognized:".to_owned()];
        let mut specs: Vec<&Arc<VerbSpec>> = self.site_specs.iter().collect();
        specs.sort_by(|a, b| a.verb.cmp(&b.verb));
        for spec in specs {
            let permission = spec
                .permission
                .map(|p| format!(" (permission '{}')", p.letter()))
                .unwrap_or_default();
            lines.push(format!("{} -- {}{permission}", spec.syntax, spec.help));
        }
        lines.push("Help OK.".to_owned());
        Reply::multiline(ReplyCode::HELP, lines)
    }

    /// The `FEAT` reply (RFC 2389 §3.2): `211-Features:`, one indented line
    /// per feature, `211 End`, for a storage that can do everything.
    pub fn feat_reply(&self) -> Reply {
        self.feat_reply_for(crate::storage::Capabilities::POSIX)
    }

    /// The `FEAT` reply for a storage with capabilities `caps`: a verb
    /// whose [`VerbSpec::requires`] is missing is left out.
    pub fn feat_reply_for(&self, caps: crate::storage::Capabilities) -> Reply {
        let mut feats: Vec<&str> = self
            .specs
            .iter()
            .filter(|s| s.requires.is_none_or(|c| caps.has(c)))
            .filter_map(|s| s.feat.as_deref())
            .collect();
        feats.sort_unstable();
        feats.dedup();
        if feats.is_empty() {
            return Reply::new(ReplyCode::SYSTEM_STATUS, "no features");
        }
        let mut lines = vec!["Features:".to_owned()];
        lines.extend(feats.iter().map(|f| f.to_string()));
        lines.push("End".to_owned());
        Reply::multiline(ReplyCode::SYSTEM_STATUS, lines)
    }

    /// The entry `HELP` describes: a verb, or `SITE name` for a `SITE`
    /// sub-command.
    fn help_lookup(&self, what: &str) -> Option<&Entry> {
        let what = what.trim().to_ascii_uppercase();
        match what.split_once(' ') {
            Some(("SITE", sub)) => self.by_site.get(sub.trim()),
            _ => self.lookup(&what),
        }
    }

    /// The `HELP` reply (RFC 959 §4.1.3): all verbs, or the syntax and help
    /// of one verb or `SITE` sub-command (`HELP SITE CHMOD`; `501` if unknown).
    pub fn help_reply(&self, verb: Option<&str>) -> Reply {
        self.help_reply_for(verb, crate::storage::Capabilities::POSIX)
    }

    /// [`Registry::help_reply`] for a storage with capabilities `caps`: a
    /// verb whose [`VerbSpec::requires`] is missing says so.
    pub fn help_reply_for(&self, verb: Option<&str>, caps: crate::storage::Capabilities) -> Reply {
        match verb {
            Some(v) => match self.help_lookup(v) {
                Some(e) => {
                    let mut text = format!("Syntax: {} -- {}", e.spec.syntax, e.spec.help);
                    if !e.spec.aliases.is_empty() {
                        text.push_str(&format!(" (aliases: {})", e.spec.aliases.join(", ")));
                    }
                    if let Some(c) = e.spec.requires
                        && !caps.has(c)
                    {
                        text.push_str(&format!(
                            " (not available here: {c} is not supported by this server's storage)"
                        ));
                    }
                    Reply::new(ReplyCode::HELP, text)
                }
                None => Reply::new(
                    ReplyCode::PARAMETER_SYNTAX_ERROR,
                    format!("{}: unknown command", v.trim()),
                ),
            },
            None => {
                let verbs: Vec<&str> = self.by_verb.keys().map(String::as_str).collect();
                let mut lines = vec!["The following commands are recognized:".to_owned()];
                lines.extend(verbs.chunks(8).map(|c| c.join(" ")));
                lines.push("Help OK.".to_owned());
                Reply::multiline(ReplyCode::HELP, lines)
            }
        }
    }
}

#[cfg(all(test, feature = "testkit"))]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::command::Outcome;
    use crate::testkit::TestSession;

    struct Probe;

    impl Command for Probe {
        fn name(&self) -> &str {
            "probe"
        }
        fn verbs(&self) -> Vec<VerbSpec> {
            vec![
                VerbSpec::new("PWD", "PWD", "no argument").no_arg(),
                VerbSpec::new("RETR", "RETR <SP> pathname", "needs one")
                    .needs_arg()
                    .permission(crate::Permission::Retrieve)
                    .data(),
                VerbSpec::new("FEAT", "FEAT", "before login")
                    .no_login()
                    .no_arg(),
                VerbSpec::new("CWD", "CWD [<SP> pathname]", "either way"),
            ]
        }
        fn run(&self, _: &Request, _: &mut Session) -> Outcome {
            Outcome::Reply(Reply::new(ReplyCode::OK, "ok"))
        }
    }

    /// (request, logged in, code, the rule it follows)
    #[test]
    fn authorize_table() {
        let rows: &[(&str, bool, u16, &str)] = &[
            ("NOPE", true, 500, "RFC 959 §4.2 500 command unrecognized"),
            ("XYZZY arg", false, 500, "§4.2 500 even before login"),
            (
                "STOU",
                true,
                502,
                "§4.2 502 command not implemented (§4.1.3 STOU)",
            ),
            ("ACCT x", false, 502, "§4.1.1 ACCT, not implemented"),
            ("SMNT x", true, 502, "§4.1.1 SMNT, not implemented"),
            (
                "PWD x",
                true,
                501,
                "§5.3.1 PWD <CRLF>: 501 syntax error in parameters",
            ),
            ("PWD  ", true, 200, "trailing blanks are no argument"),
            ("FEAT x", false, 501, "RFC 2389 §3.1 FEAT takes no argument"),
            ("RETR", true, 501, "§5.3.1 RETR <SP> <pathname>"),
            (
                "RETR",
                false,
                501,
                "the syntax error is reported before login",
            ),
            ("RETR x", false, 530, "§5.4 530 not logged in"),
            ("CWD", true, 200, "an optional argument"),
            ("CWD x", true, 200, "an optional argument"),
        ];
        for &(line, logged_in, code, rule) in rows {
            let reg = TestSession::registry_with(Arc::new(Probe));
            let t = if logged_in {
                TestSession::new(reg.clone())
            } else {
                TestSession::logged_out(reg.clone())
            };
            let request = Request::parse(line.as_bytes()).expect("parse");
            let got = match reg.authorize(&request, &t.session) {
                Ok(_) => 200,
                Err(r) => r.code.0,
            };
            assert_eq!(got, code, "{line:?}: {rule}");
        }
        let reg = TestSession::registry_with(Arc::new(Probe));
        let mut t = TestSession::new(reg);
        t.login_as("reader", "pw");
        assert_eq!(t.run("RETR").code(), Some(501), "syntax before permission");
    }

    #[test]
    fn help_and_feat_come_from_specs() {
        let reg = TestSession::registry_with(Arc::new(Probe));
        let help = reg.help_reply(Some("retr"));
        assert_eq!(help.text(), "Syntax: RETR <SP> pathname -- needs one");
        assert_eq!(reg.help_reply(Some("stou")).code.0, 501);
        assert_eq!(reg.help_reply(Some("SITE NOSUCH")).code.0, 501);
    }

    #[test]
    fn a_verb_the_storage_cannot_serve_is_refused_and_left_out() {
        use crate::storage::{Capabilities, Capability};
        struct Appender;
        impl Command for Appender {
            fn name(&self) -> &str {
                "appender"
            }
            fn verbs(&self) -> Vec<VerbSpec> {
                vec![
                    VerbSpec::new("APPE", "APPE <SP> pathname", "append")
                        .requires(Capability::Append)
                        .feat("APPE-TEST"),
                ]
            }
            fn run(&self, _: &Request, _: &mut Session) -> Outcome {
                Outcome::Reply(Reply::new(ReplyCode::OK, "appended"))
            }
        }
        let reg = TestSession::registry_with(Arc::new(Appender));
        let object = Capabilities::OBJECT_STORE;
        let feat = String::from_utf8(reg.feat_reply_for(object).to_wire()).unwrap();
        assert!(!feat.contains("APPE-TEST"), "{feat}");
        let feat = String::from_utf8(reg.feat_reply().to_wire()).unwrap();
        assert!(feat.contains("APPE-TEST"), "{feat}");
        let help = reg.help_reply_for(Some("appe"), object);
        assert!(
            help.text().contains("not available here"),
            "{}",
            help.text()
        );
        assert!(
            !reg.help_reply(Some("appe"))
                .text()
                .contains("not available")
        );
    }
}
