//! When an upload is complete: the size announced with `ALLO` (RFC 959
//! §4.1.3) and the durability policy (`--fsync-uploads`). The kill, reset
//! and abort cases are in `robustness.rs`.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::io::Write;
use std::thread;

use ftpsh_daemon::FsyncPolicy;
use ftpsh_tests::{
    Options, PASSWORD, RawControl, TestServer, USER, assert_file_is_seeded, seeded_bytes,
    write_seeded,
};

/// `STOR name` of `bytes` on `c`, after `ALLO announced` if given; returns
/// the final reply's code and text.
fn stor(c: &mut RawControl, name: &str, announced: Option<u64>, bytes: &[u8]) -> (u16, String) {
    if let Some(n) = announced {
        c.cmd(&format!("ALLO {n}"), 200);
    }
    let mut data = c.epsv();
    c.send(&format!("STOR {name}"));
    let r = c.reply();
    assert!(r.code == 150 || r.code == 125, "STOR: {:?}", r.text);
    data.write_all(bytes).unwrap();
    drop(data);
    let r = c.reply();
    (r.code, r.text)
}

#[test]
fn upload_shorter_than_allo_is_refused_and_leaves_the_previous_file() {
    let srv = TestServer::start();
    write_seeded(&srv.path("keep.bin"), 71, 5000);
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    c.cmd("TYPE I", 200);

    // The client promised 4096 bytes and its data connection ended after
    // 1000: a truncated upload, whatever the client does next.
    let (code, text) = stor(&mut c, "keep.bin", Some(4096), &seeded_bytes(72, 1000));
    assert_eq!(code, 426, "{text}");
    assert!(text.contains("1000 of the 4096"), "{text}");
    assert_eq!(srv.entries(""), ["keep.bin"], "no stray file");
    assert_file_is_seeded(&srv.path("keep.bin"), 71, 5000);

    // The session goes on; the announcement was used up by that upload.
    c.cmd("NOOP", 200);
    let (code, text) = stor(&mut c, "short.bin", None, &seeded_bytes(73, 10));
    assert_eq!(code, 226, "{text}");
    assert_file_is_seeded(&srv.path("short.bin"), 73, 10);

    // Exactly what was announced: stored.
    let (code, text) = stor(&mut c, "keep.bin", Some(4096), &seeded_bytes(74, 4096));
    assert_eq!(code, 226, "{text}");
    assert_file_is_seeded(&srv.path("keep.bin"), 74, 4096);

    // More than announced is not a truncation: stored too.
    let (code, text) = stor(&mut c, "more.bin", Some(10), &seeded_bytes(75, 20));
    assert_eq!(code, 226, "{text}");
    assert_file_is_seeded(&srv.path("more.bin"), 75, 20);
    c.cmd("QUIT", 221);
}

#[test]
fn allo_needs_a_size() {
    let srv = TestServer::start();
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    c.cmd("ALLO", 501);
    c.cmd("ALLO many", 501);
    c.cmd("ALLO 512 R 128", 200);
    c.cmd("QUIT", 221);
}

#[test]
fn durable_uploads_from_many_sessions_all_arrive() {
    // With --fsync-uploads always, more concurrent uploads than command
    // workers: every one is flushed and committed, none waits for another
    // session's commands.
    let srv = TestServer::with(Options {
        fsync_uploads: FsyncPolicy::Always,
        workers: 2,
        ..Options::default()
    });
    let addr = srv.addr();
    let clients: Vec<_> = (0..24u64)
        .map(|i| {
            thread::spawn(move || {
                let mut c = RawControl::login(addr, USER, PASSWORD);
                c.cmd("TYPE I", 200);
                let len = 1000 + i * 4096;
                let (code, text) = stor(
                    &mut c,
                    &format!("f{i}.bin"),
                    Some(len),
                    &seeded_bytes(100 + i, len as usize),
                );
                assert_eq!(code, 226, "f{i}.bin: {text}");
                c.cmd("QUIT", 221);
            })
        })
        .collect();
    for t in clients {
        t.join().unwrap();
    }
    for i in 0..24u64 {
        assert_file_is_seeded(&srv.path(&format!("f{i}.bin")), 100 + i, 1000 + i * 4096);
    }
}

#[test]
fn a_series_of_uploads_into_one_directory_arrives_whole() {
    // From the third upload into a directory on, each takes a temp file
    // made ahead of time by the local back-end (`ftpsh_core::spare`): the
    // files must still be exactly what was sent, with a new file's mode and
    // time, replace what was there, and leave no temporary name behind.
    let srv = TestServer::start();
    std::fs::create_dir(srv.path("d")).unwrap();
    write_seeded(&srv.path("d/f3.bin"), 1, 100);
    let mut c = RawControl::login(srv.addr(), USER, PASSWORD);
    c.cmd("TYPE I", 200);
    let mut sent_at = Vec::new();
    for i in 0..12u64 {
        // A pause lets the spare for the next upload be made (it is made
        // at the lowest priority, while the CPUs idle).
        thread::sleep(std::time::Duration::from_millis(30));
        let len = if i == 7 { 0 } else { 500 + i * 1000 };
        sent_at.push(std::time::SystemTime::now());
        let (code, text) = stor(
            &mut c,
            &format!("d/f{i}.bin"),
            None,
            &seeded_bytes(200 + i, len as usize),
        );
        assert_eq!(code, 226, "d/f{i}.bin: {text}");
    }
    c.cmd("QUIT", 221);
    // A file made from a spare was born (statx btime) before its STOR was
    // sent: its spare was made during the upload before, 30 ms earlier.
    // At least one of the uploads after the second must show it, or the
    // checks below never saw a spare.
    let tick = std::time::Duration::from_millis(10);
    let born_early = (2..12u64).filter_map(|i| {
        let meta = std::fs::metadata(srv.path(&format!("d/f{i}.bin"))).unwrap();
        Some(meta.created().ok()? < sent_at[i as usize] - tick)
    });
    let born_early: Vec<bool> = born_early.collect();
    if born_early.is_empty() {
        // No birth times on this file system: at least the maker of spares
        // must have started (it runs in this process, with the server; the
        // other tests here upload too, so this is the weaker check).
        let maker = std::fs::read_dir("/proc/self/task").unwrap().any(|t| {
            std::fs::read_to_string(t.unwrap().path().join("comm"))
                .is_ok_and(|comm| comm.starts_with("ftpsh-spare"))
        });
        assert!(
            maker,
            "a series of uploads starts the maker of spare temp files"
        );
    } else {
        assert!(
            born_early.contains(&true),
            "no upload of the series took a spare temp file: {born_early:?}"
        );
    }
    for i in 0..12u64 {
        let path = srv.path(&format!("d/f{i}.bin"));
        let len = if i == 7 { 0 } else { 500 + i * 1000 };
        assert_file_is_seeded(&path, 200 + i, len);
        let meta = std::fs::metadata(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(meta.permissions().mode() & 0o777, 0o644, "d/f{i}.bin");
        // Not the time its temp file was made (30 ms or more before): an
        // empty upload writes nothing that would set it. File times come
        // from the kernel's coarse clock, up to a tick behind.
        assert!(
            meta.modified().unwrap() >= sent_at[i as usize] - tick,
            "d/f{i}.bin mtime"
        );
    }
    let mut names: Vec<_> = std::fs::read_dir(srv.path("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<_> = (0..12).map(|i| format!("f{i}.bin")).collect();
    want.sort();
    assert_eq!(names, want, "no temporary names left");
}
