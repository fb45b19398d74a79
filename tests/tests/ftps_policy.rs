//! FTPS policy and protocol details (RFC 4217): `--require-tls` refuses a
//! clear-text login (`530`) and clear data connections (`522`, `PROT C` →
//! `534`) except for anonymous users; `FEAT` lists `AUTH TLS`, `PBSZ`,
//! `PROT`; requests pipelined after `AUTH TLS` in clear text are never run;
//! `REIN` resets `PBSZ`/`PROT` but keeps the protected control connection;
//! `ABOR` and `REST` work on protected data connections.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ftpsh_tests::ftps::{TlsControl, client_config};
use ftpsh_tests::{
    Options, PASSWORD, RawControl, TestServer, USER, assert_success, require_tool, run_with_timeout,
};

fn server(require_tls: bool) -> TestServer {
    TestServer::with(Options {
        tls: true,
        require_tls,
        anonymous: true,
        ..Options::default()
    })
}

#[test]
fn feat_lists_auth_tls_pbsz_prot() {
    let srv = server(false);
    let mut c = RawControl::connect(srv.addr());
    c.expect(220);
    let feat = c.cmd("FEAT", 211).text;
    for line in [" AUTH TLS", " PBSZ", " PROT"] {
        assert!(
            feat.lines().any(|l| l == line),
            "{line:?} missing in {feat}"
        );
    }
}

#[test]
fn require_tls_refuses_a_clear_text_login_but_not_anonymous() {
    let srv = server(true);
    fs::write(srv.path("pub.txt"), b"public").unwrap();
    let mut c = RawControl::connect(srv.addr());
    c.expect(220);
    let r = c.cmd(&format!("USER {USER}"), 530);
    assert!(r.text.contains("AUTH TLS"), "{}", r.text);
    // PASS cannot sneak past: there is no pending USER.
    c.cmd(&format!("PASS {PASSWORD}"), 503);
    // Anonymous is exempt, data connections too.
    c.cmd("USER anonymous", 331);
    c.cmd("PASS me@example.org", 230);
    let mut data = c.epsv();
    c.cmd("RETR pub.txt", 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    c.expect(226);
    assert_eq!(got, b"public");
}

#[test]
fn require_tls_refuses_clear_data_connections() {
    let python = require_tool("python3");
    let srv = server(true);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/ftps_session.py");
    let work = tempfile::tempdir().unwrap();
    let out = run_with_timeout(
        Command::new(python)
            .arg(&script)
            .args(["127.0.0.1", &srv.port().to_string(), USER, PASSWORD])
            .arg(work.path())
            .arg("clear"),
        Duration::from_secs(60),
    );
    let stdout = assert_success("ftps_session.py clear", &out);
    assert!(stdout.contains("listing refused 522"), "{stdout}");
    assert!(stdout.contains("prot c 534"), "{stdout}");
}

#[test]
fn requests_pipelined_after_auth_tls_are_discarded() {
    let srv = server(false);
    fs::write(srv.path("victim.txt"), b"keep me").unwrap();
    let mut raw = RawControl::connect(srv.addr());
    raw.expect(220);
    // Clear-text bytes after AUTH TLS must never run as protected requests
    // (the STARTTLS injection, CVE-2011-0411).
    raw.send_raw(format!("USER {USER}\r\nPASS {PASSWORD}\r\n").as_bytes());
    raw.expect(331);
    raw.expect(230);
    raw.send_raw(b"AUTH TLS\r\nDELE victim.txt\r\n");
    raw.expect(234);
    let socket = raw.stream().try_clone().unwrap();
    let mut tls = TlsControl::over(socket, client_config(&srv.cert_path()));
    // AUTH TLS forgot the clear-text login, and DELE never ran.
    tls.cmd("NOOP", 200);
    tls.cmd("DELE victim.txt", 530);
    assert_eq!(fs::read(srv.path("victim.txt")).unwrap(), b"keep me");
}

#[test]
fn pbsz_prot_sequence_and_rein() {
    let srv = server(false);
    let mut c = RawControl::connect(srv.addr());
    c.expect(220);
    c.cmd("PBSZ 0", 503);
    c.cmd("PROT P", 503);
    c.cmd("CCC", 533);
    let mut tls = TlsControl::connect(srv.addr(), client_config(&srv.cert_path()));
    tls.cmd("AUTH TLS", 503);
    tls.cmd("PROT P", 503);
    tls.cmd("PBSZ 0", 200);
    tls.cmd("PROT S", 536);
    tls.cmd("PROT P", 200);
    tls.cmd("CCC", 534);
    tls.cmd(&format!("USER {USER}"), 331);
    tls.cmd(&format!("PASS {PASSWORD}"), 230);
    // REIN (RFC 4217 §13) resets PBSZ and PROT; the control connection
    // stays protected (the next reply comes over TLS).
    tls.cmd("REIN", 220);
    tls.cmd("PROT P", 503);
    tls.cmd("PBSZ 0", 200);
    tls.cmd("PROT P", 200);
}

#[test]
fn abor_during_a_protected_transfer_and_rest_over_tls() {
    let srv = server(false);
    ftpsh_tests::write_seeded(&srv.path("big.bin"), 3, 32 << 20);
    let config = client_config(&srv.cert_path());
    let mut c = TlsControl::connect(srv.addr(), config.clone());
    c.cmd(&format!("USER {USER}"), 331);
    c.cmd(&format!("PASS {PASSWORD}"), 230);
    c.cmd("PBSZ 0", 200);
    c.cmd("PROT P", 200);
    c.cmd("TYPE I", 200);
    let data_addr = |c: &mut TlsControl| {
        let r = c.cmd("EPSV", 229);
        let port: u16 = r
            .text
            .split("|||")
            .nth(1)
            .and_then(|s| s.split('|').next())
            .and_then(|p| p.parse().ok())
            .unwrap();
        std::net::SocketAddr::from(([127, 0, 0, 1], port))
    };

    // ABOR while 32 MiB flow over TLS: 426 for the transfer, 226 for ABOR.
    let addr = data_addr(&mut c);
    let socket = std::net::TcpStream::connect(addr).unwrap();
    c.cmd("RETR big.bin", 150);
    let mut data = TlsControl::data(socket, config.clone());
    let mut buf = vec![0u8; 64 * 1024];
    data.read_exact(&mut buf).unwrap();
    c.send("ABOR");
    assert_eq!(c.try_reply().unwrap().code, 426);
    assert_eq!(c.try_reply().unwrap().code, 226);
    drop(data);

    // REST + RETR over TLS: the tail from the restart marker.
    let addr = data_addr(&mut c);
    let socket = std::net::TcpStream::connect(addr).unwrap();
    let offset = (32u64 << 20) - 1000;
    c.cmd(&format!("REST {offset}"), 350);
    c.cmd("RETR big.bin", 150);
    let mut data = TlsControl::data(socket, config);
    let mut tail = Vec::new();
    data.read_to_end(&mut tail).unwrap();
    c.try_reply()
        .map(|r| assert_eq!(r.code, 226, "{}", r.text))
        .unwrap();
    let full = fs::read(srv.path("big.bin")).unwrap();
    assert!(
        tail == full[full.len() - 1000..],
        "REST over TLS gave other bytes"
    );
}
