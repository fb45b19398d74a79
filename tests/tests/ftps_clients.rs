//! FTPS (RFC 4217) with Python's `ftplib.FTP_TLS` and `lftp`: `PROT P`
//! transfers without session resumption (ftplib's default) and with it,
//! the data-connection binding under `--require-tls-session-reuse`, and an
//! lftp mirror round trip with `ftp:ssl-force` and `ftp:ssl-protect-data`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use ftpsh_tests::{
    Options, PASSWORD, TestServer, USER, assert_same_file, assert_same_tree, assert_success,
    require_tool, run_with_timeout, write_seeded,
};

fn python(srv: &TestServer, work: &Path, mode: &str) -> Output {
    let python = require_tool("python3");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/ftps_session.py");
    run_with_timeout(
        Command::new(python)
            .arg(&script)
            .arg("127.0.0.1")
            .arg(srv.port().to_string())
            .arg(USER)
            .arg(PASSWORD)
            .arg(work)
            .arg(mode),
        Duration::from_secs(120),
    )
}

fn tls_server(reuse_required: bool) -> TestServer {
    TestServer::with(Options {
        tls: true,
        require_tls_session_reuse: reuse_required,
        ..Options::default()
    })
}

fn session(srv: &TestServer, mode: &str) {
    let work = tempfile::tempdir().unwrap();
    write_seeded(&work.path().join("up.bin"), 7, (4 << 20) + 3);
    let out = python(srv, work.path(), mode);
    let stdout = assert_success(&format!("ftps_session.py {mode}"), &out);
    assert!(stdout.contains("ftps session ok"), "{stdout}");
    assert_same_file(&srv.path("up.bin"), &work.path().join("up.bin"));
    assert_same_file(&work.path().join("down.bin"), &work.path().join("up.bin"));
}

#[test]
fn ftplib_prot_p_without_resumption() {
    session(&tls_server(false), "plain");
}

#[test]
fn ftplib_resuming_the_control_session() {
    session(&tls_server(true), "reuse");
}

/// Active mode under `PROT P` (RFC 4217 §7: the FTP client stays the TLS
/// client when the server opens the data connection): ftplib sends PORT,
/// ftpshd connects out, and the handshake and the session binding run on
/// that connection as on an accepted one (reuse required, so a data
/// connection that skipped the check would show).
#[test]
fn ftplib_active_mode_resuming_the_control_session() {
    session(&tls_server(true), "active");
}

#[test]
fn ftplib_without_resumption_is_refused_when_reuse_is_required() {
    let srv = tls_server(true);
    let work = tempfile::tempdir().unwrap();
    write_seeded(&work.path().join("up.bin"), 8, 1000);
    let out = python(&srv, work.path(), "refused");
    let stdout = assert_success("ftps_session.py refused", &out);
    assert!(stdout.contains("refused 522"), "{stdout}");
    assert!(
        !srv.path("up.bin").exists(),
        "the refused upload was stored"
    );
}

#[test]
fn a_data_connection_with_another_sessions_ticket_is_refused() {
    let srv = tls_server(true);
    let work = tempfile::tempdir().unwrap();
    let out = python(&srv, work.path(), "foreign");
    let stdout = assert_success("ftps_session.py foreign", &out);
    assert!(stdout.contains("refused 522"), "{stdout}");
}

#[test]
fn lftp_mirror_round_trip_over_ftps() {
    let lftp = require_tool("lftp");
    let srv = tls_server(true);
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src");
    fs::create_dir_all(src.join("sub/deeper")).unwrap();
    // Large enough that an upload's unread TLS 1.3 tickets, if the server
    // sent any, would turn lftp's close into a reset that loses the tail.
    write_seeded(&src.join("big.bin"), 11, (24 << 20) + 9);
    write_seeded(&src.join("sub/a.bin"), 12, 4097);
    fs::write(src.join("sub/deeper/empty.txt"), b"").unwrap();
    let back = local.path().join("back");
    let script = format!(
        "set ftp:ssl-force true; set ftp:ssl-protect-data true; \
         set ssl:verify-certificate no; set net:max-retries 1; set net:timeout 30; \
         open -u {USER},{PASSWORD} ftp://127.0.0.1:{port}; \
         mirror -R {src} /up; mirror /up {back}; bye",
        port = srv.port(),
        src = src.display(),
        back = back.display(),
    );
    let out = run_with_timeout(
        Command::new(lftp).args(["-c", &script]),
        Duration::from_secs(150),
    );
    assert_success("lftp mirror over FTPS", &out);
    assert_same_tree(&src, &srv.path("up"));
    assert_same_tree(&src, &back);
}

#[test]
fn lftp_over_implicit_ftps() {
    let lftp = require_tool("lftp");
    let srv = TestServer::with(Options {
        tls: true,
        implicit_tls: true,
        require_tls: true,
        require_tls_session_reuse: true,
        ..Options::default()
    });
    // put: the server must send no TLS 1.3 tickets on an upload's data
    // connection — lftp never reads them, and closing with unread bytes
    // resets the connection, dropping the tail of the upload.
    write_seeded(&srv.path("get.bin"), 21, (8 << 20) + 1);
    let local = tempfile::tempdir().unwrap();
    let script = format!(
        "set ssl:verify-certificate no; set ftp:ssl-protect-data true; \
         set net:max-retries 1; set net:timeout 30; \
         open -u {USER},{PASSWORD} ftps://127.0.0.1:{port}; \
         get get.bin -o {out}; put {out} -o put.bin; bye",
        port = srv.implicit_addr().port(),
        out = local.path().join("get.bin").display(),
    );
    let out = run_with_timeout(
        Command::new(lftp).args(["-c", &script]),
        Duration::from_secs(150),
    );
    assert_success("lftp over implicit FTPS", &out);
    assert_same_file(&srv.path("get.bin"), &local.path().join("get.bin"));
    assert_same_file(&srv.path("get.bin"), &srv.path("put.bin"));
}
