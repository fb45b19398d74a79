//! FTPS (RFC 4217) with `curl`: explicit TLS (`--ssl-reqd`, AUTH TLS, then
//! PBSZ 0 / PROT P) with TLS 1.3 and with TLS 1.2, and implicit TLS
//! (`ftps://` against the implicit listener): multi-MiB downloads and
//! uploads arrive byte-identical, against a server that requires every
//! data connection to resume the control connection's TLS session.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use ftpsh_tests::{
    Options, PASSWORD, TestServer, USER, assert_file_is_seeded, assert_same_file, curl, curl_ok,
    write_seeded,
};

/// A server with explicit and implicit FTPS that refuses data connections
/// which do not resume the control connection's TLS session: curl resumes
/// (TLS 1.3 tickets, TLS 1.2 tickets), so everything must still work.
fn tls_server() -> TestServer {
    TestServer::with(Options {
        tls: true,
        implicit_tls: true,
        require_tls_session_reuse: true,
        ..Options::default()
    })
}

/// Download then upload of a multi-MiB file over explicit FTPS, with the
/// server's certificate trusted as CA (so curl verifies it) and `extra`
/// flags (the TLS version).
fn round_trip(srv: &TestServer, extra: &[&str], seed: u64) {
    let len = (6 << 20) + 13;
    write_seeded(&srv.path("down.bin"), seed, len);
    let local = tempfile::tempdir().unwrap();
    let got = local.path().join("got.bin");
    let cacert = srv.cert_path();
    let base = format!("ftp://{USER}:{PASSWORD}@localhost:{}/", srv.port());
    let mut args = vec!["--ssl-reqd", "--cacert", cacert.to_str().unwrap()];
    args.extend(extra);
    let down = format!("{base}down.bin");
    let mut a = args.clone();
    a.extend(["-o", got.to_str().unwrap(), &down]);
    curl_ok(&a);
    assert_file_is_seeded(&got, seed, len);

    let up = format!("{base}up.bin");
    let mut a = args.clone();
    a.extend(["-T", got.to_str().unwrap(), &up]);
    curl_ok(&a);
    assert_same_file(&srv.path("up.bin"), &got);

    // A listing too (a Bytes source, not a file).
    let mut a = args.clone();
    a.extend(["--list-only", &base]);
    let names = curl_ok(&a);
    assert!(
        names.contains("down.bin") && names.contains("up.bin"),
        "{names}"
    );
}

#[test]
fn explicit_tls13_download_and_upload() {
    let srv = tls_server();
    round_trip(&srv, &["--tlsv1.3"], 91);
}

#[test]
fn explicit_tls12_download_and_upload() {
    let srv = tls_server();
    round_trip(&srv, &["--tls-max", "1.2"], 92);
}

#[test]
fn implicit_tls_download_and_upload() {
    let srv = tls_server();
    let len = (3 << 20) + 5;
    write_seeded(&srv.path("down.bin"), 93, len);
    let local = tempfile::tempdir().unwrap();
    let got = local.path().join("got.bin");
    let cacert = srv.cert_path();
    let base = format!(
        "ftps://{USER}:{PASSWORD}@localhost:{}/",
        srv.implicit_addr().port()
    );
    let down = format!("{base}down.bin");
    curl_ok(&[
        "--cacert",
        cacert.to_str().unwrap(),
        "-o",
        got.to_str().unwrap(),
        &down,
    ]);
    assert_file_is_seeded(&got, 93, len);
    let up = format!("{base}again.bin");
    curl_ok(&[
        "--cacert",
        cacert.to_str().unwrap(),
        "-T",
        got.to_str().unwrap(),
        &up,
    ]);
    assert_same_file(&srv.path("again.bin"), &got);
}

#[test]
fn without_a_certificate_auth_tls_is_431_and_curl_fails() {
    let srv = TestServer::start();
    let out = curl(&["--ssl-reqd", &srv.url("")]);
    assert!(!out.status.success());
    // curl exit 64: "requested FTP SSL level failed".
    assert_eq!(
        out.status.code(),
        Some(64),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
