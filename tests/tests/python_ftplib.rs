//! `ftpshd` driven by Python's stdlib `ftplib`, replaying seed 004's client
//! session (`tests/py/seed004_session.py`): login, `PWD` = `/`, `CWD`,
//! `LIST`, `RETR`, `STOR`, `550` on a missing `CWD`, `530` on a wrong
//! password.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ftpsh_tests::{
    PASSWORD, TestServer, USER, assert_same_file, assert_success, require_tool, run_with_timeout,
    write_seeded,
};

const BACA_SAYA: &str = "Halo! Ini file demo dari server FTP.\nSelamat mencoba.\n";

#[test]
fn seed004_session() {
    let python = require_tool("python3");
    let srv = TestServer::start();
    fs::write(srv.path("baca_saya.txt"), BACA_SAYA).unwrap();
    fs::create_dir(srv.path("Folder_Tes")).unwrap();
    // 5 MiB + 7 bytes: several times any plausible chunk, not a multiple.
    let catatan_len = (5 << 20) + 7;
    write_seeded(&srv.path("Folder_Tes/catatan.bin"), 4, catatan_len);

    let work = tempfile::tempdir().unwrap();
    write_seeded(&work.path().join("upload.bin"), 5, (3 << 20) + 1);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/seed004_session.py");
    let out = run_with_timeout(
        Command::new(python)
            .arg(&script)
            .arg("127.0.0.1")
            .arg(srv.port().to_string())
            .arg(USER)
            .arg(PASSWORD)
            .arg(work.path())
            .arg(BACA_SAYA),
        Duration::from_secs(120),
    );
    let stdout = assert_success("python3 seed004_session.py", &out);
    assert!(stdout.contains("seed004 session ok"), "{stdout}");

    assert_same_file(
        &srv.path("Folder_Tes/catatan.bin"),
        &work.path().join("catatan.bin"),
    );
    let full = fs::read(srv.path("Folder_Tes/catatan.bin")).unwrap();
    let tail = fs::read(work.path().join("catatan.tail")).unwrap();
    assert!(
        tail == full[full.len() / 3..],
        "REST {} + RETR gave other bytes",
        full.len() / 3
    );
    assert_same_file(
        &work.path().join("upload.bin"),
        &work.path().join("roundtrip.bin"),
    );
    // The script cleaned up after itself: only the seed's content is left.
    assert_eq!(srv.entries(""), ["Folder_Tes", "baca_saya.txt"]);
    assert_eq!(srv.entries("Folder_Tes"), ["catatan.bin"]);
}
