//! PORT (RFC 959 §4.1.2) and EPRT (RFC 2428 §2): active mode.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ftpsh_core::{Command, Outcome, Reply, ReplyCode, Request, Session, VerbSpec};

/// Lowest data port a client may name: ports below it are privileged and
/// naming one is the classic bounce attack on a system service (RFC 2577 §3).
pub const MIN_ACTIVE_PORT: u16 = 1024;

/// PORT and EPRT: the server connects to the client for the next data
/// connection.
///
/// RFC 959 §4.1.2: `PORT h1,h2,h3,h4,p1,p2` names an IPv4 host and port
/// (port = p1·256 + p2) as six decimal bytes. RFC 2428 §2: `EPRT
/// |net-prt|net-addr|tcp-port|` does the same for IPv4 (`1`) and IPv6
/// (`2`); the delimiter is the first character (usually `|`), and a
/// protocol the server cannot use gets `522` naming the ones it can.
///
/// Bounce protection, RFC 2577 §3: the address must be the control
/// connection's peer and the port at least [`MIN_ACTIVE_PORT`]; anything
/// else is refused with `501` and nothing is connected, so the server
/// cannot be used to reach a third host or a privileged port. After `EPSV
/// ALL` (RFC 2428 §4) both verbs get `503`; with active mode disabled
/// (`ftpshd --no-active`) they get `502`.
///
/// The command only validates: the event loop makes the connection,
/// non-blocking and from the control connection's local address, when it
/// receives [`Outcome::Active`]; the `200` goes out at once and a
/// connection that cannot be made is reported by the next transfer (`425`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Active;

impl Command for Active {
    fn name(&self) -> &str {
        "active"
    }

    fn verbs(&self) -> Vec<VerbSpec> {
        vec![
            VerbSpec::new(
                "PORT",
                "PORT <SP> h1,h2,h3,h4,p1,p2",
                "connect to the client for the next data connection (IPv4)",
            )
            .needs_arg()
            .data_setup()
            .example("PORT 127,0,0,1,39,16", 200, "port 10000 of the client")
            .example("PORT 127,0,0,2,39,16", 501, "another host: bounce refused")
            .example("PORT 127,0,0,1,0,21", 501, "a privileged port: refused")
            .example("PORT 127,0,0,1,39", 501, "five numbers")
            .example("PORT 127,0,0,256,39,16", 501, "not a byte"),
            VerbSpec::new(
                "EPRT",
                "EPRT <SP> |net-prt|net-addr|tcp-port|",
                "connect to the client for the next data connection (IPv4 or IPv6)",
            )
            .needs_arg()
            .data_setup()
            .feat("EPRT")
            .example("EPRT |1|127.0.0.1|10000|", 200, "port 10000 of the client")
            .example("EPRT |2|::1|10000|", 522, "IPv6 on an IPv4 connection")
            .example("EPRT |3|x|10000|", 522, "unknown network protocol")
            .example("EPRT |1|127.0.0.1|80|", 501, "a privileged port: refused")
            .example("EPRT |1|10.0.0.1|10000|", 501, "another host: refused")
            .example("EPRT |1|127.0.0.1|", 501, "malformed"),
        ]
    }

    fn run(&self, request: &Request, session: &mut Session) -> Outcome {
        let verb = request.verb.as_str();
        if verb != "PORT" && verb != "EPRT" {
            return Outcome::unhandled(verb);
        }
        if !session.config.active_mode {
            return Reply::new(
                ReplyCode::NOT_IMPLEMENTED,
                format!("{verb}: active mode is disabled on this server, use EPSV or PASV"),
            )
            .into();
        }
        if session.epsv_all {
            return Reply::new(
                ReplyCode::BAD_SEQUENCE,
                format!("{verb} refused after EPSV ALL, use EPSV"),
            )
            .into();
        }
        let arg = request.arg_or_empty().trim();
        let target = if verb == "PORT" {
            parse_port(arg)
        } else {
            parse_eprt(arg, session.peer)
        };
        match target.and_then(|t| check_bounce(verb, t, session.peer)) {
            Ok(target) => Outcome::Active {
                target,
                reply: Reply::new(
                    ReplyCode::OK,
                    format!("{verb} command successful, data connection to {target}"),
                ),
            },
            Err(reply) => reply.into(),
        }
    }
}

fn syntax(verb: &str, arg: &str, why: &str) -> Reply {
    Reply::new(
        ReplyCode::PARAMETER_SYNTAX_ERROR,
        format!("{verb} {arg}: {why}"),
    )
}

/// `h1,h2,h3,h4,p1,p2`, six decimal numbers 0–255 (RFC 959 §4.1.2).
fn parse_port(arg: &str) -> Result<SocketAddr, Reply> {
    let bytes: Option<Vec<u8>> = arg
        .split(',')
        .map(|n| {
            let n = n.trim();
            (!n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse::<u8>().ok())
                .flatten()
        })
        .collect();
    match bytes.as_deref() {
        Some(&[a, b, c, d, p1, p2]) => Ok(SocketAddr::from((
            Ipv4Addr::new(a, b, c, d),
            u16::from_be_bytes([p1, p2]),
        ))),
        _ => Err(syntax(
            "PORT",
            arg,
            "expected six numbers 0-255, h1,h2,h3,h4,p1,p2",
        )),
    }
}

/// `<d>net-prt<d>net-addr<d>tcp-port<d>` (RFC 2428 §2).
fn parse_eprt(arg: &str, peer: SocketAddr) -> Result<SocketAddr, Reply> {
    let malformed = || syntax("EPRT", arg, "expected |net-prt|net-addr|tcp-port|");
    let delim = arg.chars().next().ok_or_else(malformed)?;
    // RFC 2428 §2: the delimiter is an ASCII character 33-126; a digit,
    // '.' or ':' would be ambiguous with the fields.
    if !(delim.is_ascii_graphic() && !delim.is_ascii_alphanumeric() && delim != '.' && delim != ':')
    {
        return Err(malformed());
    }
    let fields: Vec<&str> = arg.split(delim).collect();
    let [first, proto, addr, port, last] = fields.as_slice() else {
        return Err(malformed());
    };
    if !first.is_empty() || !last.is_empty() {
        return Err(malformed());
    }
    let ours = if peer.ip().to_canonical().is_ipv4() {
        1
    } else {
        2
    };
    let ip: IpAddr = match *proto {
        "1" => addr
            .parse::<Ipv4Addr>()
            .map(IpAddr::V4)
            .map_err(|_| syntax("EPRT", arg, "not an IPv4 address"))?,
        "2" => addr
            .parse::<std::net::Ipv6Addr>()
            .map(IpAddr::V6)
            .map_err(|_| syntax("EPRT", arg, "not an IPv6 address"))?,
        p if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => {
            return Err(Reply::new(
                ReplyCode(522),
                "Network protocol not supported, use (1,2)",
            ));
        }
        _ => return Err(malformed()),
    };
    let theirs = if ip.to_canonical().is_ipv4() { 1 } else { 2 };
    if theirs != ours {
        return Err(Reply::new(
            ReplyCode(522),
            format!("Network protocol not supported, use ({ours})"),
        ));
    }
    let port = (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .then(|| port.parse::<u16>().ok())
        .flatten()
        .ok_or_else(|| syntax("EPRT", arg, "not a TCP port number"))?;
    Ok(SocketAddr::new(ip, port))
}

/// RFC 2577 §3: only the client's own address, only unprivileged ports.
fn check_bounce(verb: &str, target: SocketAddr, peer: SocketAddr) -> Result<SocketAddr, Reply> {
    if target.ip().to_canonical() != peer.ip().to_canonical() {
        return Err(Reply::new(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            format!(
                "{verb}: data connection to {} refused, only to the client's own address {}",
                target.ip(),
                peer.ip().to_canonical()
            ),
        ));
    }
    if target.port() < MIN_ACTIVE_PORT {
        return Err(Reply::new(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            format!(
                "{verb}: data connection to privileged port {} refused (ports below {MIN_ACTIVE_PORT})",
                target.port()
            ),
        ));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ftpsh_core::ServerConfig;
    use ftpsh_core::testkit::{TestSession, check_examples};

    use super::*;

    #[test]
    fn examples() {
        check_examples(Arc::new(Active));
    }

    fn session() -> TestSession {
        TestSession::new(TestSession::registry_with(Arc::new(Active)))
    }

    fn target(o: Outcome) -> SocketAddr {
        match o {
            Outcome::Active { target, reply } => {
                assert_eq!(reply.code, ReplyCode::OK);
                target
            }
            other => panic!("expected active mode, got {other:?}"),
        }
    }

    /// (request, reply code, the RFC rule)
    #[test]
    fn port_and_eprt_table() {
        let rows = [
            (
                "PORT 127,0,0,1,4,0",
                200,
                "RFC 959 §4.1.2: port 4*256+0 = 1024",
            ),
            (
                "PORT 127,0,0,1,3,255",
                501,
                "RFC 2577 §3: port 1023 is privileged",
            ),
            ("PORT 127,0,0,1,0,20", 501, "RFC 2577 §3: ftp-data port"),
            ("PORT 127,0,0,2,39,16", 501, "RFC 2577 §3: a third host"),
            ("PORT 0,0,0,0,39,16", 501, "RFC 2577 §3: not the client"),
            ("PORT 127,0,0,1,39", 501, "§4.1.2: six fields"),
            ("PORT 127,0,0,1,39,16,1", 501, "§4.1.2: six fields"),
            ("PORT 127,0,0,1,39,x", 501, "§4.1.2: decimal numbers"),
            ("PORT 127,0,0,1,39,-1", 501, "§4.1.2: decimal numbers"),
            ("PORT 127,0,0,1,39,0256", 501, "§4.1.2: 8-bit numbers"),
            ("PORT", 501, "§5.3.1 PORT <SP> <host-port>"),
            ("EPRT |1|127.0.0.1|1024|", 200, "RFC 2428 §2"),
            (
                "EPRT !1!127.0.0.1!5000!",
                200,
                "§2: any delimiter in 33-126",
            ),
            (
                "EPRT |1|127.0.0.1|1023|",
                501,
                "RFC 2577 §3: privileged port",
            ),
            ("EPRT |1|127.0.0.2|5000|", 501, "RFC 2577 §3: a third host"),
            ("EPRT |2|::1|5000|", 522, "§2: 522 for an unusable protocol"),
            ("EPRT |9|x|5000|", 522, "§2: 522 for an unknown protocol"),
            (
                "EPRT |1|::1|5000|",
                501,
                "§2: the address must match net-prt",
            ),
            ("EPRT |1|127.0.0.1|70000|", 501, "§2: a TCP port"),
            ("EPRT |1|127.0.0.1|5000", 501, "§2: closing delimiter"),
            ("EPRT 1|127.0.0.1|5000|", 501, "§2: a digit is no delimiter"),
            ("EPRT |x|127.0.0.1|5000|", 501, "§2: net-prt is a number"),
        ];
        for (line, code, rule) in rows {
            let mut t = session();
            let o = t.run(line);
            assert_eq!(o.code(), Some(code), "{line}: {rule}: {o:?}");
        }
        let mut t = session();
        assert_eq!(
            target(t.run("PORT 127,0,0,1,39,16")),
            "127.0.0.1:10000".parse().unwrap()
        );
    }

    #[test]
    fn ipv6_control_connection() {
        let mut t = session();
        t.session.peer = "[::1]:40000".parse().unwrap();
        assert_eq!(
            target(t.run("EPRT |2|::1|5000|")),
            "[::1]:5000".parse().unwrap()
        );
        let o = t.run("EPRT |1|127.0.0.1|5000|");
        assert_eq!(o.code(), Some(522), "{o:?}");
        // PORT cannot name an IPv6 host, so it can never match the peer.
        assert_eq!(t.run("PORT 127,0,0,1,39,16").code(), Some(501));
        // An IPv4-mapped peer is IPv4.
        t.session.peer = "[::ffff:127.0.0.1]:40000".parse().unwrap();
        assert_eq!(t.run("PORT 127,0,0,1,39,16").code(), Some(200));
        assert_eq!(t.run("EPRT |1|127.0.0.1|5000|").code(), Some(200));
    }

    #[test]
    fn refusal_messages_name_the_rule() {
        let mut t = session();
        match t.run("PORT 127,0,0,2,39,16") {
            Outcome::Reply(r) => assert_eq!(
                r.text(),
                "PORT: data connection to 127.0.0.2 refused, only to the client's own address 127.0.0.1"
            ),
            other => panic!("{other:?}"),
        }
        match t.run("EPRT |1|127.0.0.1|21|") {
            Outcome::Reply(r) => assert_eq!(
                r.text(),
                "EPRT: data connection to privileged port 21 refused (ports below 1024)"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn disabled_and_epsv_all() {
        let mut t = session();
        t.session.config = Arc::new(ServerConfig {
            active_mode: false,
            ..(*t.session.config).clone()
        });
        assert_eq!(t.run("PORT 127,0,0,1,39,16").code(), Some(502));
        assert_eq!(t.run("EPRT |1|127.0.0.1|5000|").code(), Some(502));
        let mut t = session();
        t.session.epsv_all = true;
        assert_eq!(t.run("EPRT |1|127.0.0.1|5000|").code(), Some(503));
    }

    proptest::proptest! {
        /// No argument makes the parsers panic, and whatever they accept
        /// names the peer's address on an unprivileged port.
        #[test]
        fn parsers_never_panic_and_never_bounce(arg in "[|!0-9.:,a-f ]{0,40}") {
            let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
            for target in [parse_port(&arg), parse_eprt(&arg, peer)] {
                if let Ok(t) = target.and_then(|t| check_bounce("PORT", t, peer)) {
                    proptest::prop_assert_eq!(t.ip(), peer.ip());
                    proptest::prop_assert!(t.port() >= MIN_ACTIVE_PORT);
                }
            }
        }
    }

    #[test]
    fn needs_login() {
        let mut t = TestSession::logged_out(TestSession::registry_with(Arc::new(Active)));
        assert_eq!(t.run("PORT 127,0,0,1,39,16").code(), Some(530));
    }
}
