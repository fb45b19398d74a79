//! Tests of [`super::parse`]: headers written out byte by byte after the
//! spec (not by the decoding crate), fed whole, in pieces and with what
//! follows them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;

use super::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A version 2 header: signature, version/command, family/protocol,
/// length, then `body`.
fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
    let mut h = V2_SIGNATURE.to_vec();
    h.push(0x20 | command);
    h.push(family);
    h.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    h.extend_from_slice(body);
    h
}

/// The address block of a v2 TCP header for `src` and `dst` (same family).
fn v2_addresses(src: SocketAddr, dst: SocketAddr) -> (u8, Vec<u8>) {
    let mut b = Vec::new();
    let family = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            b.extend_from_slice(&s.octets());
            b.extend_from_slice(&d.octets());
            0x11
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            b.extend_from_slice(&s.octets());
            b.extend_from_slice(&d.octets());
            0x21
        }
        _ => panic!("mixed families"),
    };
    b.extend_from_slice(&src.port().to_be_bytes());
    b.extend_from_slice(&dst.port().to_be_bytes());
    (family, b)
}

fn v2_tcp(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let (family, body) = v2_addresses(src, dst);
    v2(1, family, &body)
}

/// Every proper prefix needs more bytes; the whole (with `after` behind
/// it) is `expected`, and its length leaves `after` untouched.
fn incremental(header: &[u8], after: &[u8], expected: Option<(SocketAddr, SocketAddr)>) {
    for n in 0..header.len() {
        assert_eq!(parse(&header[..n]), Ok(None), "prefix of {n} bytes");
    }
    let mut all = header.to_vec();
    all.extend_from_slice(after);
    let h = parse(&all).unwrap().expect("complete");
    assert_eq!(h.len, header.len());
    assert_eq!(&all[h.len..], after);
    assert_eq!(h.addresses, expected);
}

#[test]
fn v1_tcp4_and_bytes_after_it() {
    incremental(
        b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 21\r\n",
        b"USER alice\r\n",
        Some((sa("192.0.2.7:56324"), sa("198.51.100.1:21"))),
    );
}

#[test]
fn v1_tcp6() {
    incremental(
        b"PROXY TCP6 2001:db8::7 2001:db8::1 65535 990\r\n",
        b"\x16\x03\x01",
        Some((sa("[2001:db8::7]:65535"), sa("[2001:db8::1]:990"))),
    );
}

#[test]
fn v1_unknown_uses_the_socket() {
    incremental(b"PROXY UNKNOWN\r\n", b"", None);
    // "the receiver must ignore anything presented before the CRLF"
    incremental(
        b"PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
        b"x",
        None,
    );
}

#[test]
fn v1_bad_headers_are_refused() {
    for bad in [
        &b"PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n"[..],
        b"PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n",
        b"PROXY TCP6 192.0.2.7 198.51.100.1 1 2\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 65536 21\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 021 21\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 1 2 3\r\n",
        b"PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n",
        b"PROXY TCP4 192.0.2.7\r198.51.100.1 1 2\r\n",
        b"PROXY TCP4 192.0.2.\xff 198.51.100.1 1 2\r\n",
    ] {
        let e = parse(bad).unwrap_err();
        assert!(
            matches!(e, Error::Invalid { version: 1, .. }),
            "{:?}: {e:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn v1_longer_than_107_bytes_is_refused_without_waiting_for_the_end() {
    let mut long = b"PROXY UNKNOWN ".to_vec();
    long.resize(MAX_V1, b'a');
    assert_eq!(
        parse(&long),
        Err(Error::TooLong {
            version: 1,
            max: MAX_V1
        })
    );
    // 107 bytes with its CRLF is still fine.
    let mut max = b"PROXY UNKNOWN ".to_vec();
    max.resize(MAX_V1 - 2, b'a');
    max.extend_from_slice(b"\r\n");
    assert_eq!(parse(&max).unwrap().unwrap().len, MAX_V1);
}

#[test]
fn v2_tcp4_tcp6() {
    let (src, dst) = (sa("192.0.2.7:56324"), sa("198.51.100.1:21"));
    incremental(&v2_tcp(src, dst), b"USER alice\r\n", Some((src, dst)));
    let (src, dst) = (sa("[2001:db8::7]:1"), sa("[2001:db8::1]:990"));
    incremental(&v2_tcp(src, dst), b"\x16\x03\x01\x02", Some((src, dst)));
}

#[test]
fn v2_local_and_unspec_use_the_socket() {
    // LOCAL without addresses, as HAProxy's health checks send it.
    incremental(&v2(0, 0x00, &[]), b"", None);
    // LOCAL with addresses: they are ignored (spec §2.2).
    let (family, body) = v2_addresses(sa("192.0.2.7:1"), sa("198.51.100.1:21"));
    incremental(&v2(0, family, &body), b"", None);
    // PROXY with UNSPEC.
    incremental(&v2(1, 0x00, &[]), b"QUIT\r\n", None);
}

#[test]
fn v2_tlvs_are_skipped() {
    let (src, dst) = (sa("192.0.2.7:56324"), sa("198.51.100.1:21"));
    let (family, mut body) = v2_addresses(src, dst);
    // PP2_TYPE_ALPN "ftp", PP2_TYPE_NOOP of 3 bytes.
    body.extend_from_slice(&[0x01, 0, 3, b'f', b't', b'p', 0x04, 0, 3, 0, 0, 0]);
    incremental(&v2(1, family, &body), b"next", Some((src, dst)));
}

#[test]
fn v2_bad_headers_are_refused() {
    let (_, body) = v2_addresses(sa("192.0.2.7:1"), sa("198.51.100.1:21"));
    let mut wrong_version = v2(1, 0x11, &body);
    wrong_version[12] = 0x11;
    let mut wrong_command = v2(1, 0x11, &body);
    wrong_command[12] = 0x2f;
    for bad in [
        wrong_version,
        wrong_command,
        // An IPv4 block too short for its addresses.
        v2(1, 0x11, &body[..8]),
        // Family 4 does not exist.
        v2(1, 0x41, &body),
    ] {
        let e = parse(&bad).unwrap_err();
        assert!(matches!(e, Error::Invalid { version: 2, .. }), "{e:?}");
    }
}

#[test]
fn v2_oversize_is_refused_from_its_length_field() {
    let mut h = v2(1, 0x11, &[]);
    h[14..16].copy_from_slice(&u16::try_from(MAX_V2 - 16 + 1).unwrap().to_be_bytes());
    assert_eq!(
        parse(&h),
        Err(Error::TooLong {
            version: 2,
            max: MAX_V2
        })
    );
    let (family, mut body) = v2_addresses(sa("192.0.2.7:1"), sa("198.51.100.1:21"));
    body.resize(MAX_V2 - 16, 0);
    // Padding is not a valid TLV list, but ppp does not look at TLVs
    // until asked: the header decodes at exactly the maximum.
    let h = v2(1, family, &body);
    assert_eq!(h.len(), MAX_V2);
    assert_eq!(parse(&h).unwrap().unwrap().len, MAX_V2);
}

#[test]
fn anything_else_is_no_header() {
    for bad in [
        &b"USER alice\r\n"[..],
        b"P",
        b"PROXYTCP4",
        b"proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n",
        b"\x16\x03\x01\x00",
        b"\r\n\r\n\0\r\nQUIX",
        b"GET / HTTP/1.1\r\n",
    ] {
        if bad == b"P" {
            // A beginning of "PROXY ": wait.
            assert_eq!(parse(bad), Ok(None));
            continue;
        }
        assert_eq!(parse(bad), Err(Error::Missing), "{bad:?}");
    }
    assert_eq!(parse(b""), Ok(None));
}

fn any_addresses() -> impl Strategy<Value = (SocketAddr, SocketAddr)> {
    prop_oneof![
        (any::<u32>(), any::<u32>(), any::<u16>(), any::<u16>()).prop_map(|(s, d, sp, dp)| (
            SocketAddr::from((Ipv4Addr::from(s), sp)),
            SocketAddr::from((Ipv4Addr::from(d), dp))
        )),
        (any::<u128>(), any::<u128>(), any::<u16>(), any::<u16>()).prop_map(|(s, d, sp, dp)| (
            SocketAddr::from((Ipv6Addr::from(s), sp)),
            SocketAddr::from((Ipv6Addr::from(d), dp))
        )),
    ]
}

fn v1_line(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let proto = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {proto} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

/// `h`, a whole header for `src` → `dst`, is undecided in every piece
/// short of its end, and parsed exactly with `after` behind it.
fn parses_in_any_pieces(
    h: &[u8],
    (src, dst): (SocketAddr, SocketAddr),
    after: &[u8],
) -> Result<(), proptest::test_runner::TestCaseError> {
    for n in 0..h.len() {
        prop_assert_eq!(parse(&h[..n]), Ok(None));
    }
    let mut all = h.to_vec();
    all.extend_from_slice(after);
    let got = parse(&all).unwrap().unwrap();
    prop_assert_eq!(got.len, h.len());
    prop_assert_eq!(got.addresses, Some((src, dst)));
    prop_assert_eq!(&all[got.len..], after);
    Ok(())
}

proptest! {
    #[test]
    fn v1_any_addresses_in_any_pieces(
        (src, dst) in any_addresses(),
        after in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let h = v1_line(src, dst);
        prop_assert!(h.len() <= MAX_V1);
        parses_in_any_pieces(&h, (src, dst), &after)?;
    }

    #[test]
    fn v2_any_addresses_in_any_pieces(
        (src, dst) in any_addresses(),
        after in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        parses_in_any_pieces(&v2_tcp(src, dst), (src, dst), &after)?;
    }

    /// Garbage never panics, and an answer is final: once some prefix is
    /// decided (a header or an error), every longer input says the same.
    #[test]
    fn garbage_is_decided_once_and_for_all(
        head in prop_oneof![
            Just(Vec::new()),
            Just(b"PROXY ".to_vec()),
            Just(V2_SIGNATURE.to_vec()),
        ],
        tail in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut input = head;
        input.extend_from_slice(&tail);
        let mut decided = None;
        for n in 0..=input.len() {
            let r = parse(&input[..n]);
            match (&decided, &r) {
                (None, Ok(None)) => {}
                (None, _) => decided = Some(r),
                (Some(d), r) => prop_assert_eq!(d, r),
            }
        }
        if input.len() >= MAX_HEADER {
            prop_assert!(decided.is_some(), "undecided after {} bytes", input.len());
        }
    }
}
