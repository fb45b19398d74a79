//! PASV (RFC 959 §4.1.1), EPSV (RFC 2428 §3, §4) and ABOR (RFC 959 §4.1.3).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::ops::RangeInclusive;

use ftpsh_core::{Command, Outcome, Reply, ReplyCode, Request, Session, VerbSpec};

/// PASV and EPSV: open a passive listener for the next data connection.
///
/// RFC 959 §4.1.1: PASV asks the server to listen on a data port and wait
/// for the client to connect, instead of connecting out; the 227 reply
/// carries the host and port as six decimal bytes `h1,h2,h3,h4,p1,p2`
/// (port = p1·256 + p2). That form cannot hold an IPv6 address, so on an
/// IPv6 control connection PASV is refused with 425 and a hint to use EPSV.
///
/// RFC 2428 §3: EPSV announces only the port, `229 Entering Extended Passive
/// Mode (|||port|)`, and the client connects to the address it already
/// uses for the control connection. `EPSV 1` / `EPSV 2` name the network
/// protocol (IPv4 / IPv6); one that is not the control connection's gets
/// 522 listing the usable one. §4: after `EPSV ALL` the client promises to
/// use only EPSV, so the server refuses PASV from then on (503), which lets
/// NATs stop rewriting PASV replies.
///
/// The listener is bound here, on the control connection's local address,
/// and handed to the event loop in [`Outcome::Passive`]; it replaces any
/// previous one. With [`ServerConfig::passive_ports`] set, a free port of
/// that range is used, starting from a random point so concurrent sessions
/// rarely collide and the next port cannot be guessed (RFC 2577 §8, port
/// stealing); a range with no free port gives 425 rather than a port outside
/// what the firewall was configured for.
///
/// With [`ServerConfig::passive_address`] set (a host behind NAT), PASV
/// announces that address instead of the local one, and its listener is
/// bound to every local IPv4 address, since the translated connection may
/// arrive on any of them; only the client's own address may still connect.
/// A DNS name that has not been resolved yet falls back to the local
/// address. EPSV carries no address and is not affected.
///
/// [`ServerConfig::passive_ports`]: ftpsh_core::ServerConfig::passive_ports
/// [`ServerConfig::passive_address`]: ftpsh_core::ServerConfig::passive_address
#[derive(Debug, Clone, Copy, Default)]
pub struct Passive;

impl Command for Passive {
    fn name(&self) -> &str {
        "passive"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new("PASV", "PASV", "listen for the next data connection (IPv4)")
                .inline()
                .no_arg()
                .data_setup()
                .feat("PASV")
                .example("PASV", 227, "announces h1,h2,h3,h4,p1,p2")
                .example("EPSV ALL\nPASV", 503, "refused after EPSV ALL"),
            VerbSpec::new(
                "EPSV",
                "EPSV [<SP> net-prt | <SP> ALL]",
                "listen for the next data connection (IPv4 or IPv6)",
            )
            .inline()
            .data_setup()
            .feat("EPSV")
            .example("EPSV", 229, "announces |||port|")
            .example("EPSV 1", 229, "IPv4, as the control connection")
            .example("EPSV 2", 522, "IPv6 on an IPv4 connection")
            .example("EPSV 7", 522, "unknown network protocol")
            .example("EPSV ALL", 200, "only EPSV from now on")
            .example("EPSV x", 501, "not a protocol number"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        match request.verb.as_str() {
            "PASV" => pasv(session),
            "EPSV" => epsv(request.arg_or_empty().trim(), session),
            other => Outcome::unhandled(other),
        }
    }
}

/// The RFC 2428 network protocol number of the control connection: 1 for
/// IPv4 (including IPv4-mapped IPv6 addresses), 2 for IPv6.
fn protocol_number(local: SocketAddr) -> u8 {
    match local.ip() {
        IpAddr::V4(_) => 1,
        IpAddr::V6(ip) if ip.to_ipv4_mapped().is_some() => 1,
        IpAddr::V6(_) => 2,
    }
}

fn pasv(session: &Session) -> Outcome {
    if session.epsv_all {
        return Reply::new(
            ReplyCode::BAD_SEQUENCE,
            "PASV refused after EPSV ALL, use EPSV",
        )
        .into();
    }
    let local = match session.local.ip() {
        IpAddr::V4(ip) => Some(ip),
        IpAddr::V6(ip) => ip.to_ipv4_mapped(),
    };
    let masquerade = session.config.passive_address.as_ref().and_then(|a| {
        let ip = a.current();
        if ip.is_none() {
            tracing::warn!(
                passive_address = a.name(),
                "passive_address not resolved yet: PASV announces the local address"
            );
        }
        ip
    });
    // The listener is bound to the address the control connection reached
    // either way: behind NAT that is where the data connections arrive too,
    // and on a host shared with the balancer (deploy/cluster) a wildcard
    // bind would take the balancer's ports on its own address.
    let ip = match (masquerade, local) {
        (Some(ip), _) | (None, Some(ip)) => ip,
        (None, None) => {
            return Reply::new(
                ReplyCode::CANT_OPEN_DATA,
                "PASV cannot announce an IPv6 address, use EPSV",
            )
            .into();
        }
    };
    listen(session, session.local.ip(), |port| {
        let [h1, h2, h3, h4] = ip.octets();
        let [p1, p2] = port.to_be_bytes();
        Reply::new(
            ReplyCode::PASSIVE,
            format!("Entering Passive Mode ({h1},{h2},{h3},{h4},{p1},{p2})."),
        )
    })
}

fn epsv(arg: &str, session: &mut Session) -> Outcome {
    let ours = protocol_number(session.local);
    if arg.is_empty() {
        return listen(session, session.local.ip(), epsv_reply);
    }
    if arg.eq_ignore_ascii_case("ALL") {
        session.epsv_all = true;
        return Reply::new(ReplyCode::OK, "EPSV ALL ok, PASV will be refused").into();
    }
    match arg.parse::<u32>() {
        Ok(n) if n == u32::from(ours) => listen(session, session.local.ip(), epsv_reply),
        Ok(1 | 2) => Reply::new(
            ReplyCode(522),
            format!("Network protocol not supported, use ({ours})"),
        )
        .into(),
        Ok(_) => Reply::new(ReplyCode(522), "Network protocol not supported, use (1,2)").into(),
        Err(_) => Reply::new(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            format!("EPSV {arg}: expected ALL or a network protocol number"),
        )
        .into(),
    }
}

fn epsv_reply(port: u16) -> Reply {
    Reply::new(
        ReplyCode::EXTENDED_PASSIVE,
        format!("Entering Extended Passive Mode (|||{port}|)"),
    )
}

/// Binds the passive listener on `ip` and builds the reply announcing its
/// port.
fn listen(session: &Session, ip: IpAddr, reply: impl Fn(u16) -> Reply) -> Outcome {
    let listener = bind_passive(ip, session.config.passive_ports.as_ref());
    match listener.and_then(|l| l.local_addr().map(|a| (l, a.port()))) {
        Ok((listener, port)) => Outcome::Passive {
            listener,
            reply: reply(port),
        },
        Err(e) => Reply::new(
            ReplyCode::CANT_OPEN_DATA,
            format!(
                "cannot open passive data connection: {}",
                describe(&e, session.config.passive_ports.as_ref())
            ),
        )
        .into(),
    }
}

/// What went wrong, naming what ran out: file descriptors, the configured
/// passive port range, or the system's ephemeral ports.
fn describe(e: &io::Error, ports: Option<&RangeInclusive<u16>>) -> String {
    if let Some(what) = ftpsh_core::exhausted_resource(e) {
        return what.to_owned();
    }
    match (e.kind(), ports) {
        (io::ErrorKind::AddrInUse, Some(range)) => format!(
            "no free port in the passive port range {}-{}",
            range.start(),
            range.end()
        ),
        (io::ErrorKind::AddrInUse | io::ErrorKind::AddrNotAvailable, None) => {
            "no free ephemeral port (the system's local port range is used up)".to_owned()
        }
        (kind, _) => kind.to_string().to_lowercase(),
    }
}

/// Binds a listener on `ip`, on a port of `ports` (tried from a random
/// starting point, each port once), or on a port the OS picks when `ports`
/// is `None`.
///
/// # Errors
/// `AddrInUse` when every port of the range is taken; the bind error for
/// anything else.
fn bind_passive(ip: IpAddr, ports: Option<&RangeInclusive<u16>>) -> io::Result<TcpListener> {
    let Some(range) = ports else {
        return TcpListener::bind((ip, 0));
    };
    // Port 0 would mean "any port", which is outside the range.
    let lo = (*range.start()).max(1);
    let hi = *range.end();
    if lo > hi {
        return Err(io::Error::from(io::ErrorKind::AddrInUse));
    }
    let len = u32::from(hi - lo) + 1;
    // RandomState is seeded from the OS's random source: an unpredictable
    // start without another dependency.
    let start = (RandomState::new().hash_one(ip) % u64::from(len)) as u32;
    for i in 0..len {
        let port = lo + ((start + i) % len) as u16;
        match TcpListener::bind((ip, port)) {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from(io::ErrorKind::AddrInUse))
}

/// ABOR, RFC 959 §4.1.3: abort the transfer in progress. The event loop
/// owns the transfer, so this only asks it to: the loop closes the data
/// connection, answers 426 for the transfer if one was running, then 226
/// for the ABOR itself (225/226 when there was nothing to abort). ABOR
/// takes no argument (501 otherwise).
#[derive(Debug, Clone, Copy, Default)]
pub struct Abort;

impl Command for Abort {
    fn name(&self) -> &str {
        "abort"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        // ABOR's own replies come from the event loop (Outcome::Abort has no
        // reply code), so only the refused form can be a checked example.
        vec![
            VerbSpec::new("ABOR", "ABOR", "abort the transfer in progress")
                .no_arg()
                .during_transfer()
                .example("ABOR now", 501, "ABOR takes no argument"),
        ]
    }

    fn run(&self, request: &Request, _session: &mut Session) -> Outcome {
        if request.verb != "ABOR" {
            return Outcome::unhandled(&request.verb);
        }
        if request.arg.as_deref().is_some_and(|a| !a.trim().is_empty()) {
            return Reply::new(ReplyCode::PARAMETER_SYNTAX_ERROR, "ABOR takes no argument").into();
        }
        Outcome::Abort
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::Arc;

    use ftpsh_core::ServerConfig;
    use ftpsh_core::testkit::{TestSession, check_examples};

    use super::*;

    #[test]
    fn passive_failures_name_what_ran_out() {
        let range = 50000..=50010;
        let rows = [
            (
                io::Error::from_raw_os_error(24),
                None,
                "out of file descriptors (the server's open-file limit is reached)",
            ),
            (
                io::Error::from(io::ErrorKind::AddrInUse),
                None,
                "no free ephemeral port (the system's local port range is used up)",
            ),
            (
                io::Error::from(io::ErrorKind::AddrInUse),
                Some(&range),
                "no free port in the passive port range 50000-50010",
            ),
        ];
        for (e, ports, want) in rows {
            assert_eq!(describe(&e, ports), want);
        }
    }

    #[test]
    fn examples() {
        check_examples(Arc::new(Passive));
    }

    fn session() -> TestSession {
        TestSession::new(TestSession::registry_with(Arc::new(Passive)))
    }

    #[test]
    fn passive_address_is_announced_by_pasv_only() {
        let mut t = session();
        let config = ServerConfig {
            passive_address: Some(Arc::new(
                ftpsh_core::PassiveAddress::parse("127.0.0.2").unwrap(),
            )),
            ..(*t.session.config).clone()
        };
        t.session.config = Arc::new(config);
        let Outcome::Passive { listener, reply } = t.run("PASV") else {
            panic!("PASV failed");
        };
        assert!(reply.text().contains("(127,0,0,2,"), "{}", reply.text());
        // Bound where the control connection arrived, not on every
        // address.
        let addr = listener.local_addr().unwrap();
        assert_eq!(addr.ip(), t.session.local.ip());
        let Outcome::Passive { listener, reply } = t.run("EPSV") else {
            panic!("EPSV failed");
        };
        assert_eq!(listener.local_addr().unwrap().ip(), t.session.local.ip());
        assert!(reply.text().contains("(|||"), "{}", reply.text());
        // A name not resolved yet falls back to the local address.
        let config = ServerConfig {
            passive_address: Some(Arc::new(
                ftpsh_core::PassiveAddress::parse("ftp.example.invalid").unwrap(),
            )),
            ..(*t.session.config).clone()
        };
        t.session.config = Arc::new(config);
        let Outcome::Passive { reply, .. } = t.run("PASV") else {
            panic!("PASV failed");
        };
        assert!(reply.text().contains("(127,0,0,1,"), "{}", reply.text());
    }

    fn with_ports(t: &mut TestSession, ports: RangeInclusive<u16>) {
        let config = ServerConfig {
            passive_ports: Some(ports),
            ..(*t.session.config).clone()
        };
        t.session.config = Arc::new(config);
    }

    /// Parses `(h1,h2,h3,h4,p1,p2)` out of a 227 reply.
    fn parse_227(text: &str) -> SocketAddr {
        let inner = &text[text.find('(').unwrap() + 1..text.find(')').unwrap()];
        let n: Vec<u8> = inner.split(',').map(|x| x.parse().unwrap()).collect();
        let ip = std::net::Ipv4Addr::new(n[0], n[1], n[2], n[3]);
        SocketAddr::from((ip, u16::from(n[4]) * 256 + u16::from(n[5])))
    }

    #[test]
    fn pasv_listener_is_real_and_matches_the_reply() {
        let mut t = session();
        let Outcome::Passive { listener, reply } = t.run("PASV") else {
            panic!("expected a passive listener");
        };
        assert_eq!(reply.code, ReplyCode::PASSIVE);
        assert!(
            reply
                .text()
                .starts_with("Entering Passive Mode (127,0,0,1,")
        );
        let addr = parse_227(reply.text());
        assert_eq!(addr, listener.local_addr().unwrap());
        let mut client = TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"ping").unwrap();
        let mut buf = [0; 4];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");
    }

    #[test]
    fn epsv_reply_format_rfc2428_3() {
        let mut t = session();
        let Outcome::Passive { listener, reply } = t.run("EPSV") else {
            panic!("expected a passive listener");
        };
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            reply.to_wire(),
            format!("229 Entering Extended Passive Mode (|||{port}|)\r\n").into_bytes()
        );
        assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    }

    #[test]
    fn epsv_all_then_pasv_is_refused_but_epsv_works() {
        let mut t = session();
        assert_eq!(t.run("EPSV all").code(), Some(200));
        assert!(t.session.epsv_all);
        assert_eq!(t.run("PASV").code(), Some(503));
        assert_eq!(t.run("EPSV").code(), Some(229));
    }

    #[test]
    fn protocol_numbers() {
        let mut t = session();
        let rows = [
            ("EPSV 1", 229),
            ("EPSV 2", 522),
            ("EPSV 0", 522),
            ("EPSV 99999999999", 501),
            ("EPSV -1", 501),
        ];
        for (line, code) in rows {
            assert_eq!(t.run(line).code(), Some(code), "{line}");
        }
        match t.run("EPSV 2") {
            Outcome::Reply(r) => assert_eq!(r.text(), "Network protocol not supported, use (1)"),
            other => panic!("{other:?}"),
        }
        match t.run("EPSV 3") {
            Outcome::Reply(r) => {
                assert_eq!(
                    r.to_wire(),
                    b"522 Network protocol not supported, use (1,2)\r\n"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ipv6_control_connection_needs_epsv() {
        let mut t = session();
        t.session.local = "[::1]:21".parse().unwrap();
        assert_eq!(t.run("PASV").code(), Some(425));
        assert_eq!(t.run("EPSV 1").code(), Some(522));
        // IPv4-mapped addresses are IPv4 for PASV and EPSV.
        t.session.local = "[::ffff:127.0.0.1]:21".parse().unwrap();
        assert_eq!(protocol_number(t.session.local), 1);
        let Outcome::Passive { reply, .. } = t.run("PASV") else {
            panic!("expected a passive listener");
        };
        assert!(reply.text().contains("(127,0,0,1,"), "{reply}");
    }

    #[test]
    fn passive_port_range_is_respected() {
        let mut t = session();
        // A port the OS just handed out and released: free, as far as
        // anything on this machine can tell.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        with_ports(&mut t, port..=port);
        let Outcome::Passive { listener, reply } = t.run("PASV") else {
            panic!("expected a passive listener");
        };
        assert_eq!(listener.local_addr().unwrap().port(), port);
        assert_eq!(parse_227(reply.text()).port(), port);
        // The range's only port is now held by that listener.
        let o = t.run("EPSV");
        assert_eq!(o.code(), Some(425), "{o:?}");
        drop(listener);
        assert_eq!(t.run("EPSV").code(), Some(229));
    }

    #[test]
    fn empty_or_zero_port_range_does_not_fall_outside() {
        let mut t = session();
        #[allow(clippy::reversed_empty_ranges)]
        with_ports(&mut t, 10..=5);
        assert_eq!(t.run("PASV").code(), Some(425));
        with_ports(&mut t, 0..=0);
        assert_eq!(t.run("PASV").code(), Some(425));
    }

    #[test]
    fn pasv_needs_login() {
        let mut t = TestSession::logged_out(TestSession::registry_with(Arc::new(Passive)));
        assert_eq!(t.run("PASV").code(), Some(530));
        assert_eq!(t.run("EPSV").code(), Some(530));
    }

    #[test]
    fn abor_asks_the_loop() {
        let mut t = TestSession::new(TestSession::registry_with(Arc::new(Abort)));
        assert!(matches!(t.run("ABOR"), Outcome::Abort));
        assert!(matches!(t.run("ABOR "), Outcome::Abort));
        assert_eq!(t.run("ABOR now").code(), Some(501));
        check_examples(Arc::new(Abort));
    }
}
