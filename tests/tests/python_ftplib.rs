//! `ftpshd` driven by Python's stdlib `ftplib`, replaying seed 004's client
//! session (`tests/py/seed004_session.py`): login, `PWD` = `/`, `CWD`,
//! `LIST`, `RETR`, `STOR`, `550` on a missing `CWD`, `530` on a wrong
//! password.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::fs;

use ftpsh_tests::clients::{self, BACA_SAYA};
use ftpsh_tests::{TestServer, write_seeded};

#[test]
fn seed004_session() {
    let srv = TestServer::start();
    fs::write(srv.path("baca_saya.txt"), BACA_SAYA).unwrap();
    fs::create_dir(srv.path("Folder_Tes")).unwrap();
    // 5 MiB + 7 bytes: several times any plausible chunk, not a multiple.
    let catatan_len = (5 << 20) + 7;
    write_seeded(&srv.path("Folder_Tes/catatan.bin"), 4, catatan_len);

    let work = tempfile::tempdir().unwrap();
    write_seeded(&work.path().join("upload.bin"), 5, (3 << 20) + 1);

    clients::seed004_session(&srv, work.path(), &srv.path("Folder_Tes/catatan.bin"));
    // The script cleaned up after itself: only the seed's content is left.
    assert_eq!(srv.entries(""), ["Folder_Tes", "baca_saya.txt"]);
    assert_eq!(srv.entries("Folder_Tes"), ["catatan.bin"]);
}
