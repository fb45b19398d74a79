//! ftpsh over FTPS (RFC 4217) against servers we did not write: vsftpd with
//! `ssl_enable=YES` and `require_ssl_reuse=YES` (so every data connection
//! must resume the control connection's TLS session) and pyftpdlib's
//! `TLS_FTPHandler`, both requiring TLS for logins and data. The same
//! one-shot session — upload, ls, size, download, rm — over `ftpes://`,
//! with the test certificate trusted through `--ca-file`; and the `ftpsh`
//! binary's one-line verification failure (exit 3) and `--insecure`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Server, TestCert};
use ftpsh_shell::tls::TlsFlags;
use ftpsh_shell::url::FtpUrl;
use ftpsh_shell::{Options, ServerChoice, Shell, exit, repl};

const SESSION: &[&str] = &[
    "connme",
    "cd pub",
    "upload big.bin",
    "ls",
    "size big.bin",
    "download big.bin copy.bin",
    "lcmp big.bin copy.bin",
    "rm big.bin",
    "byebye",
];

fn ftpes_url(server: &Server) -> String {
    format!(
        "ftpes://{}:{}@127.0.0.1:{}/",
        server.user, server.password, server.port
    )
}

fn run_session(server: &Server, cert: &TestCert) {
    let work = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(work.path().join("big.bin"), &big).unwrap();
    let mut shell = Shell::new(
        Options {
            deterministic: true,
            ..Options::default()
        },
        work.path().to_path_buf(),
    );
    shell.set_tls_flags(TlsFlags {
        ca_file: Some(cert.cert()),
        ..TlsFlags::default()
    });
    shell.set_server(ServerChoice::Url(
        FtpUrl::parse(&ftpes_url(server)).unwrap(),
    ));
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = repl::run_commands(
        &mut shell,
        SESSION.iter().map(|s| (*s).to_owned()),
        &mut out,
        &mut err,
    );
    let out = String::from_utf8(out).unwrap();
    let err = String::from_utf8(err).unwrap();
    let name = server.name;
    assert_eq!(code, exit::OK, "{name}\n--- out\n{out}\n--- err\n{err}");
    for line in [
        "uploaded big.bin -> big.bin",
        "big.bin: 2.86 MiB (3000000 bytes)",
        "downloaded big.bin -> copy.bin",
        "big.bin and copy.bin are identical (3000000 bytes)",
        "removed big.bin",
    ] {
        assert!(out.contains(line), "{name}: missing {line:?} in\n{out}");
    }
    assert!(
        out.lines().any(|l| l.ends_with(" big.bin")),
        "{name}: ls without big.bin:\n{out}"
    );
    assert_eq!(std::fs::read(work.path().join("copy.bin")).unwrap(), big);
    assert!(!server.pub_dir().join("big.bin").exists());
}

#[test]
fn ftpes_session_against_vsftpd_with_require_ssl_reuse() {
    let cert = TestCert::new();
    let Some(server) = common::vsftpd_tls(&cert) else {
        return;
    };
    run_session(&server, &cert);
}

#[test]
fn ftpes_session_against_pyftpdlib_tls_handler() {
    let cert = TestCert::new();
    let Some(server) = common::pyftpdlib_tls(&cert) else {
        return;
    };
    run_session(&server, &cert);
}

fn ftpsh(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ftpsh"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded wait; the child is stopped by its PID if it hangs.
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("ftpsh {args:?} did not finish within 60 s");
}

#[test]
fn an_untrusted_certificate_is_one_line_and_exit_3_and_insecure_warns() {
    let cert = TestCert::new();
    let Some(server) = common::pyftpdlib_tls(&cert) else {
        return;
    };
    let url = ftpes_url(&server);
    let out = ftpsh(&[&url, "-c", "ls"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit::CANNOT_CONNECT)),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("127.0.0.1"), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");

    let out = ftpsh(&["--insecure", &url, "-c", "cd pub; ls"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("--insecure"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello.txt"));

    let ca = cert.cert();
    let out = ftpsh(&[
        "--ca-file",
        ca.to_str().unwrap(),
        &url,
        "-c",
        "cd pub; size hello.txt",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ftps_implicit_and_ftp_with_tls_flag_against_ftpshd_requiring_session_reuse() {
    use ftpsh_core::{ServerConfig, TlsPolicy, User, Users};
    use ftpsh_daemon::{DaemonConfig, Server as Daemon};

    let cert = TestCert::new();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), b"hello!").unwrap();
    let mut users = Users::new();
    users.add(User::from_spec("alice:secret", root.path().to_path_buf()).unwrap());
    let tls = ftpsh_daemon::tls::server_config_from_files(&cert.cert(), &cert.key()).unwrap();
    let config = DaemonConfig {
        server: ServerConfig {
            users,
            tls: TlsPolicy {
                available: true,
                required: true,
                session_reuse_required: true,
            },
            ..ServerConfig::default()
        },
        tls: Some(tls),
        implicit_tls_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..DaemonConfig::default()
    };
    let daemon = Daemon::bind(config, ftpsh_daemon::builtin_registry())
        .unwrap()
        .spawn()
        .unwrap();
    let ca = cert.cert();
    let ca = ca.to_str().unwrap();
    let implicit = format!(
        "ftps://alice:secret@127.0.0.1:{}/",
        daemon.implicit_tls_addr().unwrap().port()
    );
    let explicit = format!(
        "ftp://alice:secret@127.0.0.1:{}/",
        daemon.local_addr().port()
    );
    for args in [
        vec!["--ca-file", ca, &implicit],
        vec!["--ca-file", ca, "--tls", &explicit],
    ] {
        let mut all = args.clone();
        // ls twice: two data connections, each resuming the session.
        all.extend(["-c", "ls; size hello.txt; ls"]);
        let out = ftpsh(&all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}\n{stdout}\n{stderr}");
        // Connection chatter goes to stderr in -c mode.
        assert!(
            stderr.contains("TLS: control and data connections protected"),
            "{stderr}"
        );
        assert!(stdout.contains("hello.txt: 0.00 MiB (6 bytes)"), "{stdout}");
        assert_eq!(stdout.matches("  hello.txt").count(), 2, "{stdout}");
    }
    // Without --tls the login is refused in clear text (530), exit 3.
    let out = ftpsh(&[&explicit, "-c", "ls"]);
    assert_eq!(out.status.code(), Some(i32::from(exit::CANNOT_CONNECT)));
    daemon.shutdown().unwrap();
}

#[test]
fn tls_flag_without_url_makes_the_embedded_server_require_ftps() {
    let out = ftpsh(&["--tls", "-c", "connme; ls; byebye"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Connection chatter goes to stderr in -c mode.
    assert!(
        stderr.contains("TLS: control and data connections protected (AUTH TLS, PROT P)"),
        "{stderr}"
    );
}

#[test]
fn many_uploads_in_a_row_against_vsftpd_with_require_ssl_reuse() {
    let cert = TestCert::new();
    let Some(server) = common::vsftpd_tls(&cert) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let mut lines = vec!["connme".to_owned(), "cd pub".to_owned()];
    for i in 0..12 {
        let data: Vec<u8> = (0..200_000u32).map(|b| (b % 241) as u8 ^ i as u8).collect();
        std::fs::write(work.path().join(format!("f{i}.bin")), data).unwrap();
        lines.push(format!("upload f{i}.bin"));
    }
    lines.push("byebye".to_owned());
    let mut shell = Shell::new(
        Options {
            deterministic: true,
            ..Options::default()
        },
        work.path().to_path_buf(),
    );
    shell.set_tls_flags(TlsFlags {
        ca_file: Some(cert.cert()),
        ..TlsFlags::default()
    });
    shell.set_server(ServerChoice::Url(
        FtpUrl::parse(&ftpes_url(&server)).unwrap(),
    ));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = repl::run_commands(&mut shell, lines, &mut out, &mut err);
    let out = String::from_utf8(out).unwrap();
    let err = String::from_utf8(err).unwrap();
    assert_eq!(code, exit::OK, "--- out\n{out}\n--- err\n{err}");
    for i in 0..12 {
        let name = format!("f{i}.bin");
        assert_eq!(
            std::fs::read(server.pub_dir().join(&name)).unwrap(),
            std::fs::read(work.path().join(&name)).unwrap(),
            "{name}"
        );
    }
}
