//! End-to-end tests of the event loop with test-only commands: real sockets
//! on 127.0.0.1 port 0, real temp dirs.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use common::{Client, WAIT, pasv_addr, pattern, read_all, start};
use rand::{Rng, SeedableRng};

#[test]
fn banner_then_pipelined_replies_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::connect(server.local_addr());
    assert_eq!(c.reply(), (220, "220 test daemon ready\r\n".to_owned()));
    // One write, many requests: a slow command in the middle must not let
    // later replies overtake it; a wrong password's delayed 530 neither.
    c.send(b"NOOP\r\nSLOW 100\r\nBOGUS\r\nUSER alice\r\nPASS wrong\r\nNOOP\r\nUSER alice\r\nPASS secret\r\nGETB 10\r\n");
    let codes: Vec<u16> = (0..9).map(|_| c.reply().0).collect();
    assert_eq!(codes, [200, 200, 500, 331, 530, 200, 331, 230, 425]);
}

#[test]
fn flood_of_pipelined_lines_is_answered_in_full_and_in_order() {
    // Far more replies than the output cap: the daemon stops reading while
    // the client has not read its replies, and resumes when it has.
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::open(server.local_addr());
    const LINES: usize = 100_000;
    let mut writer = c.writer.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let mut bytes = b"BOGUS\r\n".repeat(LINES);
        bytes.extend_from_slice(b"NOOP\r\n");
        writer.write_all(&bytes).unwrap();
    });
    for i in 0..LINES {
        assert_eq!(c.reply().0, 500, "reply {i}");
    }
    assert_eq!(c.reply().0, 200);
    flood.join().unwrap();
}

#[test]
fn overlong_line_gets_500_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::open(server.local_addr());
    let chunk = vec![b'A'; 64 * 1024];
    for _ in 0..256 {
        c.send(&chunk);
    }
    c.send(b"\r\nNOOP\r\n");
    assert_eq!(c.reply().0, 500);
    assert_eq!(c.reply().0, 200);
}

#[test]
fn garbage_does_not_hurt_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut rng = rand::rngs::StdRng::seed_from_u64(2577);
    for round in 0..8 {
        let mut c = Client::connect(server.local_addr());
        let mut junk = vec![0u8; 256 * 1024];
        rng.fill(&mut junk[..]);
        if round % 2 == 1 {
            // Many short lines: parse errors rather than over-long lines.
            for b in junk.iter_mut().step_by(37) {
                *b = b'\n';
            }
        }
        let _ = c.writer.write_all(&junk);
        let _ = c.writer.shutdown(Shutdown::Write);
        // Drain whatever the daemon answers until it closes.
        let mut sink = Vec::new();
        let _ = c.reader.read_to_end(&mut sink);
        assert!(sink.starts_with(b"220 "));
    }
    let mut c = Client::login(server.local_addr());
    assert_eq!(c.cmd("NOOP").0, 200);
}

#[test]
fn data_verb_without_pasv_gets_425() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let (code, text) = c.cmd("GETB 5");
    assert_eq!(
        (code, text.as_str()),
        (425, "425 use PASV, EPSV, PORT or EPRT first\r\n")
    );
}

#[test]
fn send_bytes_and_a_file_with_offset() {
    let dir = tempfile::tempdir().unwrap();
    let content = pattern(5 * 1024 * 1024 + 17);
    std::fs::write(dir.path().join("big.bin"), &content).unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());

    let data = c.pasv();
    assert_eq!(c.cmd("GETB 100000").0, 150);
    assert_eq!(read_all(data), pattern(100_000));
    assert_eq!(
        c.reply(),
        (226, "226 transfer complete (100000 bytes)\r\n".to_owned())
    );

    let data = c.pasv();
    assert_eq!(c.cmd("GETF big.bin").0, 150);
    assert!(read_all(data) == content, "file differs");
    assert_eq!(c.reply().0, 226);

    // A restart offset (RFC 3659 §5): the rest of the file only.
    let data = c.pasv();
    assert_eq!(c.cmd("GETF big.bin 1000000").0, 150);
    assert!(read_all(data) == content[1_000_000..], "tail differs");
    assert_eq!(c.reply().0, 226);

    // After the transfer the data connection is gone: PASV again.
    assert_eq!(c.cmd("GETB 1").0, 425);
}

#[test]
fn data_connection_made_before_the_command() {
    // The client connects first and sends the command later (the usual
    // order), or sends the command first and connects later: both work.
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let (code, text) = c.cmd("PASV");
    assert_eq!(code, 227);
    c.send(b"GETB 3000\r\n");
    std::thread::sleep(Duration::from_millis(50));
    let data = TcpStream::connect(pasv_addr(&text)).unwrap();
    assert_eq!(c.reply().0, 150);
    assert_eq!(read_all(data), pattern(3000));
    assert_eq!(c.reply().0, 226);
}

#[test]
fn receive_a_multi_mib_upload() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let content = pattern(7 * 1024 * 1024 + 3);
    let mut data = c.pasv();
    assert_eq!(c.cmd("PUTF up.bin").0, 150);
    for chunk in content.chunks(100_000) {
        data.write_all(chunk).unwrap();
    }
    drop(data);
    let (code, text) = c.reply();
    assert_eq!(code, 226, "{text}");
    assert!(std::fs::read(dir.path().join("up.bin")).unwrap() == content);
    // Empty upload: connect, send nothing, close.
    let data = c.pasv();
    assert_eq!(c.cmd("PUTF empty.bin").0, 150);
    drop(data);
    assert_eq!(c.reply().0, 226);
    assert_eq!(std::fs::read(dir.path().join("empty.bin")).unwrap(), b"");
}

#[test]
fn reset_upload_leaves_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), b"old contents").unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let data = c.pasv();
    assert_eq!(c.cmd("PUTF keep.txt").0, 150);
    (&data).write_all(&pattern(300_000)).unwrap();
    // SO_LINGER 0: close sends RST, the abnormal end of a data connection.
    socket2::SockRef::from(&data)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(data);
    assert_eq!(c.reply().0, 426);
    assert_eq!(
        std::fs::read(dir.path().join("keep.txt")).unwrap(),
        b"old contents"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    assert_eq!(c.cmd("NOOP").0, 200);
}

#[test]
fn killed_uploader_leaves_the_old_file() {
    // A killed client's kernel closes its sockets, newest first: the data
    // connection, then the control connection, both with a FIN. The upload
    // looks complete, but its client is gone, so it must not replace the
    // file. Both orders are tried.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), b"old contents").unwrap();
    let server = start(dir.path(), |c| c.max_sessions = 1);
    for data_first in [true, false] {
        let mut c = Client::login(server.local_addr());
        let data = c.pasv();
        assert_eq!(c.cmd("PUTF keep.txt").0, 150);
        (&data).write_all(&pattern(300_000)).unwrap();
        if data_first {
            drop(data);
            drop(c);
        } else {
            drop(c);
            drop(data);
        }
        // The session slot frees once the daemon has dealt with the upload.
        let mut tries = 0;
        loop {
            let mut next = Client::connect(server.local_addr());
            if next.reply().0 == 220 {
                break;
            }
            tries += 1;
            assert!(tries < 500, "the old session never ended");
            std::thread::sleep(Duration::from_millis(10));
        }
        let kept = std::fs::read(dir.path().join("keep.txt")).unwrap();
        assert_eq!(kept, b"old contents", "data first: {data_first}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

#[test]
fn abort_a_running_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    // Far more than the socket buffers hold, and the client reads none of it.
    let data = c.pasv();
    assert_eq!(c.cmd("GETB 200000000").0, 150);
    // As Python's ftplib sends it: the whole line as urgent data (RFC 959
    // §4.1.3), whose last byte only arrives with SO_OOBINLINE.
    socket2::SockRef::from(&c.writer)
        .send_out_of_band(b"ABOR\r\n")
        .unwrap();
    assert_eq!(c.reply(), (426, "426 transfer aborted\r\n".to_owned()));
    assert_eq!(c.reply(), (226, "226 abort successful\r\n".to_owned()));
    // The data connection was closed by the daemon.
    let mut rest = Vec::new();
    let _ = (&data).read_to_end(&mut rest);
    assert!(rest.len() < 200_000_000);
    // Abort of an upload: the temp file vanishes, nothing appears.
    let data = c.pasv();
    assert_eq!(c.cmd("PUTF partial.bin").0, 150);
    (&data).write_all(&pattern(100_000)).unwrap();
    c.send(b"ABOR\r\n");
    assert_eq!(c.reply().0, 426);
    assert_eq!(c.reply().0, 226);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // Without a transfer: 225.
    assert_eq!(c.cmd("ABOR").0, 225);
    assert_eq!(c.cmd("NOOP").0, 200);
}

#[test]
fn data_commands_wait_for_the_transfer_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let data = c.pasv();
    assert_eq!(c.cmd("GETB 50000000").0, 150);
    // SLOW neither uses nor prepares a data connection: answered while
    // the client does not read. PASV prepares the next transfer and is
    // held, and NOOP after it too (requests are handled in order).
    assert_eq!(c.cmd("SLOW 1").0, 200);
    c.send(b"PASV\r\nNOOP\r\n");
    std::thread::sleep(Duration::from_millis(100));
    let got = read_all(data);
    assert_eq!(got.len(), 50_000_000);
    assert_eq!(c.reply().0, 226);
    assert_eq!(c.reply().0, 227);
    assert_eq!(c.reply().0, 200);

    // A verb that does not declare itself data setup but returns a passive
    // listener anyway (a careless plugin) cannot replace the data
    // connection of the transfer in progress: 503, and the transfer goes on.
    let data = c.pasv();
    assert_eq!(c.cmd("GETB 50000000").0, 150);
    assert_eq!(c.cmd("PASX").0, 503);
    assert_eq!(read_all(data), pattern(50_000_000));
    assert_eq!(c.reply().0, 226);

    // NOOP alone during a transfer is answered at once; QUIT waits for
    // the transfer's 226 and comes after it (RFC 959 §4.1.1).
    let data = c.pasv();
    assert_eq!(c.cmd("GETB 50000000").0, 150);
    assert_eq!(c.cmd("NOOP").0, 200);
    c.send(b"QUIT\r\n");
    assert_eq!(read_all(data).len(), 50_000_000);
    assert_eq!(c.reply().0, 226);
    assert_eq!(c.reply().0, 221);
    assert!(c.closed());
}

#[test]
fn data_connection_from_another_address_is_refused() {
    // RFC 2577 §5: 127.0.0.2 is loopback too, but not the control peer.
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let (_, text) = c.cmd("PASV");
    let addr = pasv_addr(&text);
    let thief = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    thief
        .bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    thief.connect(&addr.into()).unwrap();
    let thief: TcpStream = thief.into();
    thief.set_read_timeout(Some(WAIT)).unwrap();
    let legit = TcpStream::connect(addr).unwrap();
    assert_eq!(c.cmd("GETB 1000").0, 150);
    assert_eq!(read_all(legit), pattern(1000));
    assert_eq!(c.reply().0, 226);
    // The thief got nothing but a closed connection.
    assert_eq!(read_all(thief), b"");
}

#[test]
fn idle_timeout_sends_421_and_closes() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.idle_timeout = Duration::from_millis(200));
    let mut c = Client::login(server.local_addr());
    assert_eq!(c.reply(), (421, "421 idle timeout\r\n".to_owned()));
    assert!(c.closed());
}

#[test]
fn passive_listener_without_connection_gives_425() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.data_timeout = Duration::from_millis(200));
    let mut c = Client::login(server.local_addr());
    let (code, _) = c.cmd("PASV");
    assert_eq!(code, 227);
    let (code, text) = c.cmd("GETB 10");
    assert_eq!(code, 425, "{text}");
    assert_eq!(c.cmd("NOOP").0, 200);
}

#[test]
fn stalled_data_connection_gives_426() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.data_timeout = Duration::from_millis(300));
    let mut c = Client::login(server.local_addr());
    let _data = c.pasv();
    assert_eq!(c.cmd("GETB 200000000").0, 150);
    let (code, text) = c.reply();
    assert_eq!(code, 426, "{text}");
    assert_eq!(c.cmd("NOOP").0, 200);
}

#[test]
fn max_sessions_refuses_with_421() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.max_sessions = 2);
    let a = Client::open(server.local_addr());
    let _b = Client::open(server.local_addr());
    let mut third = Client::connect(server.local_addr());
    assert_eq!(
        third.reply(),
        (421, "421 too many connections\r\n".to_owned())
    );
    assert!(third.closed());
    // A freed slot is usable again.
    drop(a);
    let mut tries = 0;
    loop {
        let mut c = Client::connect(server.local_addr());
        match c.reply().0 {
            220 => break,
            421 if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            code => panic!("unexpected {code}"),
        }
    }
}

#[test]
fn panicking_command_closes_only_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.workers = 1);
    let mut other = Client::login(server.local_addr());
    let mut c = Client::open(server.local_addr());
    assert_eq!(c.cmd("BOOM").0, 421);
    assert!(c.closed());
    // The single worker survived.
    assert_eq!(other.cmd("NOOP").0, 200);
}

#[test]
fn full_disk_gives_452() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let data = c.pasv();
    assert_eq!(c.cmd("PUTE").0, 150);
    let _ = (&data).write_all(&pattern(100_000));
    let (code, text) = c.reply();
    assert_eq!(code, 452, "{text}");
    // The daemon closed the data connection (with a FIN, or a reset if
    // our bytes were still unread).
    let mut rest = Vec::new();
    let _ = (&data).read_to_end(&mut rest);
    assert!(rest.is_empty());
    assert_eq!(c.cmd("NOOP").0, 200);
}

#[test]
fn panicking_upload_sink_ends_only_its_upload() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let mut data = c.pasv();
    assert_eq!(c.cmd("PUTP").0, 150);
    let _ = data.write_all(b"some bytes");
    let (code, text) = c.reply();
    assert_eq!(code, 451, "{text}");
    assert_eq!(c.cmd("NOOP").0, 200);
}

#[test]
fn client_closing_after_requests_gets_all_replies() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::connect(server.local_addr());
    c.send(b"SLOW 50\r\nNOOP\r\n");
    c.writer.shutdown(Shutdown::Write).unwrap();
    let mut all = String::new();
    c.reader.read_to_string(&mut all).unwrap();
    assert_eq!(all, "220 test daemon ready\r\n200 slept\r\n200 ok\r\n");
}

#[test]
fn shutdown_says_421_to_everyone_and_drops_uploads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), b"old").unwrap();
    let server = start(dir.path(), |_| {});
    let mut idle = Client::login(server.local_addr());
    let mut up = Client::login(server.local_addr());
    let data = up.pasv();
    assert_eq!(up.cmd("PUTF keep.txt").0, 150);
    (&data).write_all(&pattern(10_000)).unwrap();
    assert_eq!(up.cmd("NOOP").0, 200); // the bytes above were taken in
    server.shutdown().unwrap();
    assert_eq!(idle.reply().0, 421);
    assert!(idle.closed());
    assert_eq!(up.reply().0, 421);
    assert_eq!(std::fs::read(dir.path().join("keep.txt")).unwrap(), b"old");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn many_sessions_transfer_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let addr = server.local_addr();
    let threads: Vec<_> = (0..32)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Client::login(addr);
                let size = 100_000 + i * 7919;
                let mut data = c.pasv();
                assert_eq!(c.cmd(&format!("PUTF f{i}.bin")).0, 150);
                data.write_all(&pattern(size)).unwrap();
                drop(data);
                assert_eq!(c.reply().0, 226);
                let data = c.pasv();
                assert_eq!(c.cmd(&format!("GETF f{i}.bin")).0, 150);
                assert!(read_all(data) == pattern(size));
                assert_eq!(c.reply().0, 226);
                assert_eq!(c.cmd("QUIT").0, 221);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn abor_right_after_a_failed_transfer_gets_226() {
    // suppaftp's abort() sends ABOR and drops the data connection at once;
    // when the drop reaches the daemon first, the transfer fails (426) and
    // the ABOR that follows must still get the 226 the client waits for
    // (RFC 959 §4.1.3, first case). A later ABOR, after another command,
    // has nothing to do with it: 225.
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {});
    let mut c = Client::login(server.local_addr());
    let data = c.pasv();
    assert_eq!(c.cmd("GETB 200000000").0, 150);
    socket2::SockRef::from(&data)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(data);
    assert_eq!(c.reply().0, 426);
    assert_eq!(c.cmd("ABOR").0, 226);
    assert_eq!(c.cmd("ABOR").0, 225);
    // A failed transfer, then another command: 225.
    let data = c.pasv();
    assert_eq!(c.cmd("GETB 200000000").0, 150);
    socket2::SockRef::from(&data)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(data);
    assert_eq!(c.reply().0, 426);
    assert_eq!(c.cmd("NOOP").0, 200);
    assert_eq!(c.cmd("ABOR").0, 225);
}
