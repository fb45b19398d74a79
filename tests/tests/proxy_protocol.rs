//! `ftpshd --proxy-protocol`: control connections that start with a PROXY
//! protocol header (v1 text, v2 binary), from a raw client that writes the
//! headers byte by byte and from a real HAProxy (`send-proxy`,
//! `send-proxy-v2`) in front of the daemon with Python's ftplib behind it,
//! and clients killed mid-`STOR` through it (curl).
//!
//! The client addresses carried by the headers are documentation addresses
//! (192.0.2.0/24, 2001:db8::/32) nobody connects from: whatever the daemon
//! shows of them (STAT, limits, lock-out, xferlog) can only come from the
//! header.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is how a test fails"
)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use ftpsh_tests::ftpshd::Ftpshd;
use ftpsh_tests::{IO_TIMEOUT, RawControl, wait_until};

#[path = "proxy_protocol/haproxy.rs"]
mod haproxy;
#[path = "proxy_protocol/killed_stor.rs"]
mod killed_stor;

/// The daemon with `--proxy-protocol` over `root`, account alice:secret,
/// plus `extra` arguments.
fn daemon(root: &Path, extra: &[&str]) -> Ftpshd {
    let root = root.to_str().unwrap();
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--root",
        root,
        "--user",
        "alice:secret",
        "--proxy-protocol",
    ];
    args.extend_from_slice(extra);
    Ftpshd::start(&args)
}

fn v1(client: SocketAddr, server: SocketAddr) -> Vec<u8> {
    let proto = if client.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {proto} {} {} {} {}\r\n",
        client.ip(),
        server.ip(),
        client.port(),
        server.port()
    )
    .into_bytes()
}

/// A v2 header, written out after the spec: signature, version 2 and
/// command (1 PROXY, 0 LOCAL), family and protocol, length, addresses.
fn v2(command: u8, client: SocketAddr, server: SocketAddr) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x20 | command);
    let mut body = Vec::new();
    match (client.ip(), server.ip()) {
        (IpAddr::V4(c), IpAddr::V4(s)) => {
            h.push(0x11);
            body.extend_from_slice(&c.octets());
            body.extend_from_slice(&s.octets());
        }
        (IpAddr::V6(c), IpAddr::V6(s)) => {
            h.push(0x21);
            body.extend_from_slice(&c.octets());
            body.extend_from_slice(&s.octets());
        }
        _ => panic!("mixed address families"),
    }
    body.extend_from_slice(&client.port().to_be_bytes());
    body.extend_from_slice(&server.port().to_be_bytes());
    h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    h.extend_from_slice(&body);
    h
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A control connection (from 127.0.0.1, "the balancer") that sends
/// `header` in pieces of `piece` bytes, then reads the greeting.
fn proxied(d: &Ftpshd, header: &[u8], piece: usize) -> RawControl {
    let mut c = RawControl::connect(d.addr);
    for chunk in header.chunks(piece) {
        c.send_raw(chunk);
        std::thread::sleep(Duration::from_millis(5));
    }
    c
}

/// The `connected from ...` line of STAT.
fn stat_peer(c: &mut RawControl) -> String {
    let r = c.cmd("STAT", 211);
    r.text
        .lines()
        .find_map(|l| l.trim().strip_prefix("connected from "))
        .unwrap_or_else(|| panic!("no peer in STAT: {:?}", r.text))
        .to_owned()
}

/// Reads until the server closes: everything it sent.
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(from, 0).into())?;
    socket.connect_timeout(&to.into(), IO_TIMEOUT)?;
    Ok(socket.into())
}

/// The port of a `229 ... (|||PORT|)` reply.
fn epsv_port(c: &mut RawControl) -> u16 {
    let r = c.cmd("EPSV", 229);
    r.text
        .split("|||")
        .nth(1)
        .and_then(|s| s.split('|').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("malformed 229: {:?}", r.text))
}

#[test]
fn v1_header_in_pieces_names_the_client_in_stat_and_xferlog() {
    let dir = tempfile::tempdir().unwrap();
    let xferlog = dir.path().join("xferlog");
    let d = daemon(dir.path(), &["--xferlog", xferlog.to_str().unwrap()]);
    let client = sa("192.0.2.7:56324");
    // A request pipelined right behind the header stays for the session.
    let mut header = v1(client, sa("198.51.100.1:21"));
    header.extend_from_slice(b"USER alice\r\n");
    let mut c = proxied(&d, &header, 7);
    c.expect(220);
    c.expect(331);
    c.cmd("PASS secret", 230);
    assert_eq!(stat_peer(&mut c), "192.0.2.7:56324");

    // The data connection comes from the balancer's address (this
    // process, 127.0.0.1), not the client's: accepted.
    c.cmd("TYPE I", 200);
    let port = epsv_port(&mut c);
    let mut data = connect_from(
        IpAddr::from([127, 0, 0, 1]),
        sa(&format!("127.0.0.1:{port}")),
    )
    .unwrap();
    c.cmd("STOR up.txt", 150);
    data.write_all(b"through the balancer\n").unwrap();
    drop(data);
    c.expect(226);
    assert_eq!(
        std::fs::read(dir.path().join("up.txt")).unwrap(),
        b"through the balancer\n"
    );
    // The transfer log names the client.
    assert!(
        wait_until(Duration::from_secs(10), || std::fs::read_to_string(
            &xferlog
        )
        .is_ok_and(|l| l.contains(" 192.0.2.7 "))),
        "xferlog: {:?}",
        std::fs::read_to_string(&xferlog)
    );
}

#[test]
fn a_data_connection_from_neither_client_nor_balancer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path(), &[]);
    let mut c = proxied(&d, &v1(sa("192.0.2.7:1000"), sa("127.0.0.1:21")), 64);
    c.expect(220);
    c.cmd("USER alice", 331);
    c.cmd("PASS secret", 230);
    let port = epsv_port(&mut c);
    // From 127.0.0.2: neither 192.0.2.7 nor the balancer's 127.0.0.1.
    let mut thief = connect_from(
        IpAddr::from([127, 0, 0, 2]),
        sa(&format!("127.0.0.1:{port}")),
    )
    .unwrap();
    assert!(read_to_close(&mut thief).is_empty());
    assert!(d.wait_for_log(
        "refused a data connection from another address",
        Duration::from_secs(10)
    ));
    // The client's own (through the balancer) still works.
    let mut data = connect_from(
        IpAddr::from([127, 0, 0, 1]),
        sa(&format!("127.0.0.1:{port}")),
    )
    .unwrap();
    c.cmd("LIST", 150);
    let _ = read_to_close(&mut data);
    c.expect(226);
}

#[test]
fn v2_tcp6_header_names_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path(), &[]);
    let client = sa("[2001:db8::7]:4000");
    let mut c = proxied(&d, &v2(1, client, sa("[2001:db8::1]:21")), 5);
    c.expect(220);
    c.cmd("USER alice", 331);
    c.cmd("PASS secret", 230);
    assert_eq!(stat_peer(&mut c), "[2001:db8::7]:4000");
}

#[test]
fn local_and_unknown_headers_keep_the_socket_address() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path(), &[]);
    // v2 LOCAL (HAProxy's health checks): addresses ignored.
    let mut local = proxied(&d, &v2(0, sa("192.0.2.7:1"), sa("192.0.2.1:21")), 64);
    local.expect(220);
    local.cmd("USER alice", 331);
    local.cmd("PASS secret", 230);
    let peer = stat_peer(&mut local);
    assert_eq!(peer, local.stream().local_addr().unwrap().to_string());
    // v1 UNKNOWN.
    let mut unknown = proxied(&d, b"PROXY UNKNOWN\r\n", 64);
    unknown.expect(220);
    unknown.cmd("USER alice", 331);
    unknown.cmd("PASS secret", 230);
    let peer = stat_peer(&mut unknown);
    assert_eq!(peer, unknown.stream().local_addr().unwrap().to_string());
}

#[test]
fn without_a_valid_header_the_connection_is_closed_without_greeting() {
    let dir = tempfile::tempdir().unwrap();
    // A short data timeout bounds the wait for a header that never comes.
    let d = daemon(dir.path(), &["--data-timeout", "2"]);
    for (what, bytes) in [
        ("a request", &b"USER alice\r\n"[..]),
        (
            "lower-case proxy",
            b"proxy TCP4 192.0.2.7 192.0.2.1 1 21\r\n",
        ),
        (
            "a bad address",
            b"PROXY TCP4 192.0.2.777 192.0.2.1 1 21\r\n",
        ),
        (
            "a TLS ClientHello",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ),
        ("half a header, then nothing", b"PROXY TCP4 192.0.2.7 "),
        ("nothing", b""),
    ] {
        let mut s = TcpStream::connect_timeout(&d.addr, IO_TIMEOUT).unwrap();
        s.write_all(bytes).unwrap();
        let got = read_to_close(&mut s);
        assert!(
            got.is_empty(),
            "{what}: the server sent {:?}",
            String::from_utf8_lossy(&got)
        );
    }
    assert!(d.wait_for_log("no PROXY protocol header in time", Duration::from_secs(10)));
    assert!(d.wait_for_log("no PROXY protocol header (", Duration::from_secs(10)));
    // The daemon still serves.
    let mut c = proxied(&d, &v1(sa("192.0.2.7:1"), sa("192.0.2.1:21")), 64);
    c.expect(220);
}

#[test]
fn per_address_limit_and_lockout_count_the_header_address() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(
        dir.path(),
        &[
            "--max-sessions-per-ip",
            "1",
            "--lockout-failures",
            "1",
            "--login-failure-delay",
            "0",
            "--max-login-failures",
            "0",
        ],
    );
    let server = sa("192.0.2.1:21");
    // Every connection comes from 127.0.0.1; only the headers differ.
    let mut a = proxied(&d, &v1(sa("192.0.2.7:1"), server), 64);
    a.expect(220);
    let mut again = proxied(&d, &v1(sa("192.0.2.7:2"), server), 64);
    let r = again.reply();
    assert_eq!(r.code, 421, "{}", r.text);
    assert!(
        r.text.contains("too many connections from your address"),
        "{}",
        r.text
    );
    let mut b = proxied(&d, &v1(sa("192.0.2.8:1"), server), 64);
    b.expect(220);

    // A wrong password from 192.0.2.8 locks that address out, not the
    // balancer's or 192.0.2.7's.
    b.cmd("USER alice", 331);
    b.cmd("PASS wrong", 530);
    b.cmd("QUIT", 221);
    drop(a);
    let mut locked = proxied(&d, &v1(sa("192.0.2.8:3"), server), 64);
    let r = locked.reply();
    assert_eq!(r.code, 421, "{}", r.text);
    assert!(r.text.contains("failed logins"), "{}", r.text);
    // 192.0.2.7's session was closed: it may connect again.
    assert!(wait_until(Duration::from_secs(10), || {
        let mut c = proxied(&d, &v1(sa("192.0.2.7:4"), server), 64);
        c.reply().code == 220
    }));
}

#[test]
fn implicit_tls_listener_reads_the_header_before_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let pem = dir.path().join("keycert.pem");
    std::fs::write(
        &pem,
        format!("{}{}", cert.cert.pem(), cert.signing_key.serialize_pem()),
    )
    .unwrap();
    let mut d = daemon(
        dir.path(),
        &[
            "--tls-cert",
            pem.to_str().unwrap(),
            "--implicit-tls-listen",
            "127.0.0.1:0",
        ],
    );
    let line = d.line_matching(|l| l.starts_with("ftpshd listening for implicit TLS on "));
    let implicit: SocketAddr = line
        .trim_start_matches("ftpshd listening for implicit TLS on ")
        .trim()
        .parse()
        .unwrap();
    let mut socket = TcpStream::connect_timeout(&implicit, IO_TIMEOUT).unwrap();
    socket
        .write_all(&v2(1, sa("192.0.2.9:5000"), sa("192.0.2.1:990")))
        .unwrap();
    let config = ftpsh_tests::ftps::client_config(&pem);
    let mut c = ftpsh_tests::ftps::TlsControl::over(socket, config);
    assert_eq!(c.try_reply().unwrap().code, 220);
    c.cmd("USER alice", 331);
    c.cmd("PASS secret", 230);
    let r = c.cmd("STAT", 211);
    assert!(
        r.text.contains("connected from 192.0.2.9:5000"),
        "{}",
        r.text
    );
}

#[test]
fn the_config_file_key_turns_it_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ftpshd.toml");
    std::fs::write(&config, "proxy_protocol = true\ndata_timeout = 2\n").unwrap();
    let d = Ftpshd::start(&[
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--root",
        dir.path().to_str().unwrap(),
        "--user",
        "alice:secret",
    ]);
    let mut plain = TcpStream::connect_timeout(&d.addr, IO_TIMEOUT).unwrap();
    plain.write_all(b"USER alice\r\n").unwrap();
    assert!(read_to_close(&mut plain).is_empty());
    let mut c = proxied(&d, &v1(sa("192.0.2.7:1"), sa("192.0.2.1:21")), 64);
    c.expect(220);
}
