//! NOOP, SYST, TYPE, MODE, STRU and ALLO (RFC 959 §4.1.2, §4.1.3).

use ftpsh_core::{Command, Outcome, Reply, ReplyCode, Request, Session, TransferType, VerbSpec};

/// The transfer parameters and the do-nothing service commands.
///
/// RFC 959 §4.1.2: TYPE sets the representation type — `A` (ASCII, with
/// the optional `N` non-print format), `I` (image) and `L 8` (bytes of 8
/// bits, the same as image here) are accepted; EBCDIC, Telnet and ASA
/// formats are refused with 504. MODE accepts only `S` (stream) and STRU
/// only `F` (file), the only combination modern clients use. §4.1.3: SYST
/// names the system type (`UNIX Type: L8`, which tells clients to expect
/// `ls -l` listings), NOOP does nothing but answer 200. ALLO reserves
/// nothing (the file system allocates as it writes) but is held as the size
/// the client promises: the next upload whose data connection ends before
/// that many bytes arrived is refused with `426` and never replaces a file,
/// with no wait (the daemon's data-connection code enforces it).
///
/// In `TYPE A` file data is converted between local LF and the wire's CRLF
/// line ends in both directions (see `ftpsh_core::ascii`), and SIZE and REST
/// are refused, as with pyftpdlib. Changing the type forgets a restart
/// marker. `L8` (no space) is accepted for `L 8`; codes RFC 959 defines but
/// this server does not implement get 504, anything else 501.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings;

impl Command for Settings {
    fn name(&self) -> &str {
        "settings"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("NOOP", "NOOP", "do nothing; keeps the connection alive")
                .inline()
                .no_arg()
                .no_login()
                .during_transfer()
                .example("NOOP", 200, "answers 200")
                .example("NOOP x", 501, "NOOP takes no argument"),
            VerbSpec::new("SYST", "SYST", "name the server's system type")
                .inline()
                .no_arg()
                .no_login()
                .example("SYST", 215, "UNIX Type: L8"),
            VerbSpec::new(
                "TYPE",
                "TYPE <SP> type-code",
                "set the transfer type: A (ASCII) or I (binary)",
            )
            .inline()
            .needs_arg()
            .example("TYPE I", 200, "binary")
            .example("TYPE A", 200, "ASCII")
            .example("TYPE L 8", 200, "8-bit bytes, same as I")
            .example("TYPE L8", 200, "the same, as some clients write it")
            .example("TYPE E", 504, "EBCDIC is not supported")
            .example("TYPE Z", 501, "not a type code")
            .example("TYPE", 501, "a type code is required"),
            VerbSpec::new(
                "MODE",
                "MODE <SP> mode-code",
                "set the transfer mode: S (stream)",
            )
            .inline()
            .needs_arg()
            .example("MODE S", 200, "stream mode")
            .example("MODE B", 504, "block mode is not supported")
            .example("MODE ?!?", 501, "not a mode code"),
            VerbSpec::new(
                "STRU",
                "STRU <SP> structure-code",
                "set the file structure: F (file)",
            )
            .inline()
            .needs_arg()
            .example("STRU F", 200, "file structure")
            .example("STRU R", 504, "record structure is not supported")
            .example("STRU ?!?", 501, "not a structure code"),
            VerbSpec::new(
                "ALLO",
                "ALLO <SP> decimal-integer [<SP> R <SP> decimal-integer]",
                "announce the size in bytes of the next upload; a shorter one is not stored",
            )
            .inline()
            .needs_arg()
            .example("ALLO 1000", 200, "the next upload must bring 1000 bytes")
            .example("ALLO 10 R 20", 200, "record size ignored")
            .example("ALLO", 501, "a size is required")
            .example("ALLO lots", 501, "not a number"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        let words: Vec<String> = request
            .arg_or_empty()
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let reply = match request.verb.as_str() {
            "NOOP" => Reply::new(ReplyCode::OK, "noop ok"),
            "SYST" => Reply::new(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8"),
            "TYPE" => set_type(&words, session),
            "MODE" => one_choice("MODE", &words, "S", &["B", "C"], "mode set to S (stream)"),
            "STRU" => one_choice(
                "STRU",
                &words,
                "F",
                &["R", "P"],
                "structure set to F (file)",
            ),
            "ALLO" => allocate(&words, session),
            other => return Outcome::unhandled(other),
        };
        reply.into()
    }
}

fn set_type(words: &[&str], session: &mut Session) -> Reply {
    // `TYPE L8` (no space) is what some clients send for `TYPE L 8`.
    let words: Vec<&str> = match words {
        ["L8"] => vec!["L", "8"],
        other => other.to_vec(),
    };
    let (ty, name) = match words.as_slice() {
        ["A"] | ["A", "N"] => (TransferType::Ascii, "A"),
        ["I"] | ["L", "8"] => (TransferType::Binary, "I"),
        // Defined by RFC 959 §3.1.1 but not implemented here: 504.
        ["A" | "E", "T" | "C"] | ["E"] | ["E", "N"] => return not_implemented("TYPE", &words),
        ["L", n] if n.bytes().all(|b| b.is_ascii_digit()) => {
            return not_implemented("TYPE", &words);
        }
        _ => {
            return Reply::new(
                ReplyCode::PARAMETER_SYNTAX_ERROR,
                format!("TYPE {}: not a type code, use A or I", words.join(" ")),
            );
        }
    };
    session.transfer_type = ty;
    // A restart marker counts octets of one type (RFC 3659 §5.1); REST must
    // come right before the transfer anyway (§5.3).
    session.restart_offset = 0;
    Reply::new(ReplyCode::OK, format!("type set to {name}"))
}

/// `ALLO n [R m]`: holds `n` for the next transfer (RFC 959 §4.1.3; the
/// record size `m` is meaningless for file structure and ignored).
fn allocate(words: &[&str], session: &mut Session) -> Reply {
    let size = match words {
        [n] | [n, "R", _] => n.parse::<u64>().ok(),
        _ => None,
    };
    match size {
        Some(n) => {
            session.allocation = Some(n);
            Reply::new(
                ReplyCode::OK,
                format!("ALLO {n}: an upload shorter than {n} bytes will not be stored"),
            )
        }
        None => Reply::new(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            "ALLO needs a size in bytes: ALLO <n> [R <record size>]",
        ),
    }
}

fn not_implemented(verb: &str, words: &[&str]) -> Reply {
    Reply::new(
        ReplyCode::PARAMETER_NOT_IMPLEMENTED,
        format!("{verb} {}: not implemented", words.join(" ")),
    )
}

/// MODE and STRU: `only` is accepted; the other codes RFC 959 §3.4/§3.1.2
/// define (`defined`) get 504, anything else is not a parameter at all and
/// gets 501 (§4.2: "syntax error in parameters").
fn one_choice(verb: &str, words: &[&str], only: &str, defined: &[&str], ok: &str) -> Reply {
    match words {
        [w] if *w == only => Reply::new(ReplyCode::OK, ok),
        [w] if defined.contains(w) => Reply::new(
            ReplyCode::PARAMETER_NOT_IMPLEMENTED,
            format!("{verb} {w}: not implemented, use {only}"),
        ),
        _ => Reply::new(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            format!(
                "{verb} {}: not a valid parameter, use {only}",
                words.join(" ")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ftpsh_core::testkit::{TestSession, check_examples};

    use super::*;

    #[test]
    fn examples() {
        check_examples(Arc::new(Settings));
    }

    #[test]
    fn type_table_rfc959_3_1_1() {
        let mut t = TestSession::new(TestSession::registry_with(Arc::new(Settings)));
        let rows = [
            ("TYPE a", 200, Some(TransferType::Ascii)),
            ("TYPE A N", 200, Some(TransferType::Ascii)),
            ("TYPE i", 200, Some(TransferType::Binary)),
            ("TYPE L 8", 200, Some(TransferType::Binary)),
            ("TYPE A T", 504, None),
            ("TYPE A C", 504, None),
            ("TYPE E", 504, None),
            ("TYPE L 7", 504, None),
            ("TYPE L8", 200, Some(TransferType::Binary)),
            ("TYPE l8", 200, Some(TransferType::Binary)),
            ("TYPE E N", 504, None),
            ("TYPE Z", 501, None),
            ("TYPE ?!?", 501, None),
            ("TYPE I I", 501, None),
            ("TYPE L x", 501, None),
            ("TYPE", 501, None),
            ("TYPE   ", 501, None),
        ];
        for (line, code, ty) in rows {
            t.session.transfer_type = TransferType::Binary;
            if ty == Some(TransferType::Binary) {
                t.session.transfer_type = TransferType::Ascii;
            }
            let before = t.session.transfer_type;
            assert_eq!(t.run(line).code(), Some(code), "{line}");
            assert_eq!(t.session.transfer_type, ty.unwrap_or(before), "{line}");
        }
    }

    #[test]
    fn mode_stru_syst_noop_allo() {
        let mut t = TestSession::new(TestSession::registry_with(Arc::new(Settings)));
        // (request, code, the RFC text the code follows)
        let rows = [
            ("MODE s", 200, "RFC 959 §3.4.1 stream mode"),
            (
                "MODE C",
                504,
                "§4.2: 504 parameter not implemented (compressed)",
            ),
            ("MODE B", 504, "§4.2: 504 parameter not implemented (block)"),
            ("MODE ?!?", 501, "§4.2: 501 syntax error in parameters"),
            ("MODE S S", 501, "§5.3.2 mode-code is one letter"),
            ("MODE", 501, "§5.3.1 MODE <SP> <mode-code>"),
            ("STRU f", 200, "§3.1.2 file structure"),
            ("STRU P", 504, "§4.2: 504 parameter not implemented (page)"),
            ("STRU ?!?", 501, "§4.2: 501 syntax error in parameters"),
            ("STRU", 501, "§5.3.1 STRU <SP> <structure-code>"),
            ("SYST", 215, "§4.1.3 SYST"),
            ("SYST x", 501, "§5.3.1 SYST takes no argument"),
            ("NOOP", 200, "§4.1.3 NOOP"),
            ("NOOP whatever", 501, "§5.3.1 NOOP takes no argument"),
            ("ALLO", 501, "§5.3.1 ALLO <SP> <decimal-integer>"),
            ("ALLO -1", 501, "§5.3.1 decimal-integer"),
            (
                "ALLO 10 X 20",
                501,
                "§5.3.2 only R introduces a record size",
            ),
            ("ALLO 10 R 20", 200, "§4.1.3 ALLO, record size ignored"),
        ];
        for (line, code, rfc) in rows {
            assert_eq!(t.run(line).code(), Some(code), "{line} ({rfc})");
        }
        assert_eq!(t.session.allocation, Some(10));
        match t.run("SYST") {
            Outcome::Reply(r) => assert_eq!(r.to_wire(), b"215 UNIX Type: L8\r\n"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn syst_and_noop_work_before_login_but_type_does_not() {
        let mut t = TestSession::logged_out(TestSession::registry_with(Arc::new(Settings)));
        assert_eq!(t.run("SYST").code(), Some(215));
        assert_eq!(t.run("NOOP").code(), Some(200));
        assert_eq!(t.run("TYPE I").code(), Some(530));
    }
}
