//! REST, RFC 3659 §5 (restart of a stream-mode transfer).

use ftpsh_core::{Command, Outcome, Reply, ReplyCode, Request, Session, TransferType, VerbSpec};

/// REST: set the restart marker for the next RETR or STOR.
///
/// RFC 3659 §5.3: in stream mode the marker is a decimal byte count — the
/// number of bytes already transferred — and the reply is 350; the marker
/// applies to the transfer command that immediately follows and is then
/// forgotten. A marker that is not a plain decimal number is a 501; one past
/// the end of the file is refused by RETR (554) or STOR (554), not here,
/// since REST does not name a file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Restart;

impl Command for Restart {
    fn name(&self) -> &str {
        "restart"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new(
                "REST",
                "REST <SP> marker",
                "restart the next RETR or STOR at this byte offset",
            )
            .needs_arg()
            .feat("REST STREAM")
            .example("REST 100", 350, "the next RETR/STOR starts at byte 100")
            .example("REST 0", 350, "back to the start")
            .example("REST -1", 501, "negative offsets are refused")
            .example("REST abc", 501, "not a number")
            .example("REST", 501, "a marker is required"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        if request.verb != "REST" {
            return Outcome::unhandled(&request.verb);
        }
        let arg = request.arg_or_empty().trim();
        if arg.is_empty() {
            return Reply::new(
                ReplyCode::PARAMETER_SYNTAX_ERROR,
                "REST needs a byte offset",
            )
            .into();
        }
        // RFC 3659 §5.1: in stream mode the marker counts octets of the
        // transfer, and in TYPE A those differ from the file's (LF goes out
        // as CRLF), so a marker cannot be mapped to a file position without
        // reading up to it. Refused as pyftpdlib does; clients resume in
        // TYPE I.
        if session.transfer_type == TransferType::Ascii {
            return Reply::new(
                ReplyCode::PARAMETER_SYNTAX_ERROR,
                "REST not allowed in ASCII mode, send TYPE I first",
            )
            .into();
        }
        // Digits only: u64's parser would also take a leading '+'.
        let offset = arg
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| arg.parse::<u64>().ok())
            .flatten();
        match offset {
            Some(n) => {
                session.restart_offset = n;
                Reply::new(
                    ReplyCode::FILE_ACTION_PENDING,
                    format!("restarting at {n}. send STOR or RETR"),
                )
                .into()
            }
            None => Reply::new(
                ReplyCode::PARAMETER_SYNTAX_ERROR,
                format!("REST {arg}: not a valid restart position"),
            )
            .into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ftpsh_core::testkit::check_examples;

    use super::*;
    use crate::testutil::session;

    #[test]
    fn examples() {
        check_examples(Arc::new(Restart));
    }

    #[test]
    fn marker_table_rfc3659_5() {
        let mut t = session();
        let rows = [
            ("REST 0", 350, Some(0)),
            ("REST 13", 350, Some(13)),
            ("REST  42 ", 350, Some(42)),
            ("REST 18446744073709551615", 350, Some(u64::MAX)),
            ("REST 18446744073709551616", 501, None),
            ("REST +5", 501, None),
            ("REST -5", 501, None),
            ("REST 1.5", 501, None),
            ("REST 0x10", 501, None),
            ("REST 5 6", 501, None),
            ("REST ٣", 501, None),
            ("REST", 501, None),
        ];
        for (line, code, marker) in rows {
            t.session.restart_offset = 7;
            assert_eq!(t.run(line).code(), Some(code), "{line}");
            assert_eq!(t.session.restart_offset, marker.unwrap_or(7), "{line}");
        }
        match t.run("REST 13") {
            Outcome::Reply(r) => {
                assert_eq!(r.to_wire(), b"350 restarting at 13. send STOR or RETR\r\n")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ascii_mode_refuses_rest_rfc3659_5_1() {
        let mut t = session();
        t.session.transfer_type = TransferType::Ascii;
        assert_eq!(t.run("REST 5").code(), Some(501));
        assert_eq!(t.session.restart_offset, 0);
        assert_eq!(t.run("REST 0").code(), Some(501));
    }

    #[test]
    fn rest_needs_login() {
        let mut t = ftpsh_core::testkit::TestSession::logged_out(
            ftpsh_core::testkit::TestSession::registry_with(Arc::new(Restart)),
        );
        assert_eq!(t.run("REST 1").code(), Some(530));
        assert_eq!(t.session.restart_offset, 0);
    }
}
