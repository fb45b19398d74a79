//! The RFC corner cases of issue #8 (items 5, 6, 7, 10, 11), end to end
//! against the built-in registry: one table, each row citing the rule its
//! reply code follows. Where ftpshd differs from pyftpdlib 2.2.0 the row
//! says so.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;

use ftpsh_tests::{PASSWORD, RawControl, TestServer, USER};

/// (request lines, reply code of the last one, rule). Each row runs on a
/// fresh logged-in session; `hello.txt` holds 13 bytes.
const ROWS: &[(&[&str], u16, &str)] = &[
    // Item 5: unimplemented vs unknown.
    (
        &["ACCT x"],
        502,
        "RFC 959 §4.2: 502 command not implemented",
    ),
    (
        &["SMNT /"],
        502,
        "RFC 959 §4.2: 502 command not implemented",
    ),
    (&["LPRT 4,4,127,0,0,1,2,4,0"], 502, "RFC 1639 verb: 502"),
    (
        &["XYZZY"],
        500,
        "RFC 959 §4.2: 500 syntax error, command unrecognized",
    ),
    // Item 6: argument checks first.
    (
        &["RETR"],
        501,
        "RFC 959 §5.3.1 RETR <SP> <pathname>: 501 before 425",
    ),
    (
        &["STOR"],
        501,
        "RFC 959 §5.3.1 STOR <SP> <pathname>: 501 before 425",
    ),
    (
        &["APPE"],
        501,
        "RFC 959 §5.3.1 APPE <SP> <pathname>: 501 before 425",
    ),
    (&["RETR hello.txt"], 425, "no PASV/EPSV/PORT/EPRT: 425"),
    (&["CDUP x"], 501, "RFC 959 §5.3.1 CDUP <CRLF>"),
    (&["XCUP x"], 501, "RFC 775 XCUP takes no argument"),
    (&["FEAT x"], 501, "RFC 2389 §3.1 FEAT takes no argument"),
    (&["NOOP x"], 501, "RFC 959 §5.3.1 NOOP <CRLF>"),
    (&["PASV x"], 501, "RFC 959 §5.3.1 PASV <CRLF>"),
    (&["PWD x"], 501, "RFC 959 §5.3.1 PWD <CRLF>"),
    (&["XPWD x"], 501, "RFC 775 XPWD takes no argument"),
    (&["QUIT x"], 501, "RFC 959 §5.3.1 QUIT <CRLF>"),
    (&["REIN x"], 501, "RFC 959 §5.3.1 REIN <CRLF>"),
    (&["SYST x"], 501, "RFC 959 §5.3.1 SYST <CRLF>"),
    (&["PWD"], 257, "the same verbs without an argument"),
    // Item 7: REST.
    (
        &["EPSV", "REST 14", "RETR hello.txt"],
        554,
        "RFC 3659 §5.4: 554 past the end",
    ),
    (
        &["EPSV", "REST 14", "STOR hello.txt"],
        554,
        "RFC 3659 §5.4: 554 past the end",
    ),
    (
        &["EPSV", "REST 5", "STOR missing.txt"],
        550,
        "RFC 959 §4.2: 550 file unavailable",
    ),
    (
        &["EPSV", "REST 5", "APPE hello.txt"],
        503,
        "RFC 3659 §5.3: REST is followed by RETR or STOR (pyftpdlib: 450)",
    ),
    (
        &["TYPE A", "REST 5"],
        501,
        "RFC 3659 §5.1 octets of the transfer: as pyftpdlib",
    ),
    (
        &["TYPE A", "SIZE hello.txt"],
        550,
        "RFC 3659 §4: as pyftpdlib",
    ),
    // Item 11: TYPE, MODE, STRU.
    (
        &["TYPE L8"],
        200,
        "RFC 959 §3.1.1.3 local byte size 8, as clients write it",
    ),
    (
        &["TYPE E"],
        504,
        "RFC 959 §4.2: 504 for a defined but unimplemented type",
    ),
    (
        &["TYPE Z"],
        501,
        "RFC 959 §4.2: 501, not a type code (pyftpdlib: 504)",
    ),
    (
        &["MODE ?!?"],
        501,
        "RFC 959 §4.2: 501 syntax error in parameters",
    ),
    (
        &["MODE B"],
        504,
        "RFC 959 §4.2: 504 for block mode, defined but not here",
    ),
    (
        &["STRU ?!?"],
        501,
        "RFC 959 §4.2: 501 syntax error in parameters",
    ),
    (&["STRU R"], 504, "RFC 959 §4.2: 504 for record structure"),
];

#[test]
fn corner_case_table() {
    let srv = TestServer::start();
    fs::write(srv.path("hello.txt"), b"hello, world\n").unwrap();
    for (lines, code, rule) in ROWS {
        let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
        let (last, before) = lines.split_last().unwrap();
        for line in before {
            c.send(line);
            let r = c.reply();
            assert!(r.code < 400, "{lines:?}: setup {line:?} got {:?}", r.text);
        }
        c.send(last);
        let r = c.reply();
        assert_eq!(r.code, *code, "{lines:?} ({rule}): {:?}", r.text);
    }
    assert_eq!(
        fs::read(srv.path("hello.txt")).unwrap(),
        b"hello, world\n",
        "a refused command changed the file"
    );
    assert_eq!(srv.entries(""), ["hello.txt"]);
}

/// Item 10: some old clients send Telnet IP (0xF4) without its IAC before
/// ABOR; pyftpdlib tolerates it, and so does ftpshd.
#[test]
fn bare_telnet_ip_before_abor() {
    let srv = TestServer::start();
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    c.send_raw(b"\xf4ABOR\r\n");
    assert_eq!(c.reply().code, 225);
    c.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n");
    assert_eq!(c.reply().code, 225);
    c.send_raw(b"\xf4\xf2ABOR\r\n");
    assert_eq!(c.reply().code, 225);
}
