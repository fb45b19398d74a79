//! The PROXY protocol header (HAProxy's `send-proxy` / `send-proxy-v2`,
//! spec: haproxy.org, `doc/proxy-protocol.txt`): the first bytes a load
//! balancer sends on a connection it relays, naming the client it relays
//! for.
//!
//! [`parse`] is pure and incremental in the simplest way: it is given every
//! byte received so far and answers "need more" (`Ok(None)`), the header
//! and how many bytes it took, or an error that no further byte can cure.
//! It does the framing itself - a version 1 header is one line ending in
//! CRLF, at most [`MAX_V1`] bytes (spec §2.1); a version 2 header is 16
//! bytes plus the length they announce, here at most [`MAX_V2`] bytes
//! (§2.2) - and hands the complete header to the `ppp` crate to decode.
//! Whatever follows the header is not part of it: the caller leaves those
//! bytes to whoever reads the connection next.

use std::net::SocketAddr;

/// The longest version 1 header, CRLF included (spec §2.1: 107 bytes).
pub(crate) const MAX_V1: usize = 107;

/// The longest version 2 header accepted: the 16 fixed bytes and up to 520
/// of addresses and TLVs, the size the spec says a receiver must at least
/// be able to read (§2.2: 536 bytes). HAProxy's `send-proxy-v2` stays far
/// below unless told to add large TLVs.
pub(crate) const MAX_V2: usize = 536;

/// Bytes to have in hand to decide any header: the larger maximum.
pub(crate) const MAX_HEADER: usize = MAX_V2;

/// The 12-byte signature that starts a version 2 header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// What starts a version 1 header.
const V1_PREFIX: &[u8] = b"PROXY ";

/// A complete PROXY header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Which version it was: 1 (text) or 2 (binary).
    pub version: u8,
    /// How many bytes of the stream the header took.
    pub len: usize,
    /// The client's address (source) and the address it connected to
    /// (destination), for a relayed TCP connection. `None` for a
    /// connection the balancer made for itself (v2 `LOCAL`: health checks)
    /// or one whose addresses it did not know (v1 `UNKNOWN`, v2 `UNSPEC`,
    /// UNIX sockets): the spec (§2.1, §2.2) says to use the real
    /// connection's addresses then.
    pub addresses: Option<(SocketAddr, SocketAddr)>,
}

/// Why bytes are not a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Error {
    /// The bytes start like neither version's header.
    #[error("no PROXY protocol header (the connection does not start with one)")]
    Missing,
    /// A header longer than the limit of its version.
    #[error("PROXY protocol v{version} header longer than {max} bytes")]
    TooLong {
        /// 1 or 2.
        version: u8,
        /// [`MAX_V1`] or [`MAX_V2`].
        max: usize,
    },
    /// A complete header that does not decode.
    #[error("bad PROXY protocol v{version} header: {reason}")]
    Invalid {
        /// 1 or 2.
        version: u8,
        /// What is wrong, from the decoder.
        reason: String,
    },
}

/// Parses the PROXY header at the start of `input` (all bytes received so
/// far): `Ok(None)` until it is complete.
///
/// # Errors
/// [`Error`]: `input` cannot be the start of a valid header, however many
/// bytes follow.
pub(crate) fn parse(input: &[u8]) -> Result<Option<Header>, Error> {
    if starts_like(input, V2_SIGNATURE) {
        parse_v2(input)
    } else if starts_like(input, V1_PREFIX) {
        parse_v1(input)
    } else {
        Err(Error::Missing)
    }
}

/// `input` begins with `prefix`, or is a beginning of it.
fn starts_like(input: &[u8], prefix: &[u8]) -> bool {
    let n = input.len().min(prefix.len());
    input[..n] == prefix[..n]
}

fn parse_v1(input: &[u8]) -> Result<Option<Header>, Error> {
    let window = &input[..input.len().min(MAX_V1)];
    let Some(lf) = window.iter().position(|&b| b == b'\n') else {
        if input.len() >= MAX_V1 {
            return Err(Error::TooLong {
                version: 1,
                max: MAX_V1,
            });
        }
        return Ok(None);
    };
    let line = &window[..=lf];
    let invalid = |reason: String| Error::Invalid { version: 1, reason };
    if !line.ends_with(b"\r\n") {
        return Err(invalid("the line does not end in CRLF".to_owned()));
    }
    let header = ppp::v1::Header::try_from(line).map_err(|e| invalid(e.to_string()))?;
    if header.header.len() != line.len() {
        // A CR before the end of the line: the decoder stopped there.
        return Err(invalid("a CR inside the line".to_owned()));
    }
    let addresses = match header.addresses {
        ppp::v1::Addresses::Tcp4(a) => Some((
            SocketAddr::from((a.source_address, a.source_port)),
            SocketAddr::from((a.destination_address, a.destination_port)),
        )),
        ppp::v1::Addresses::Tcp6(a) => Some((
            SocketAddr::from((a.source_address, a.source_port)),
            SocketAddr::from((a.destination_address, a.destination_port)),
        )),
        ppp::v1::Addresses::Unknown => None,
    };
    Ok(Some(Header {
        version: 1,
        len: line.len(),
        addresses,
    }))
}

fn parse_v2(input: &[u8]) -> Result<Option<Header>, Error> {
    if input.len() < 16 {
        return Ok(None);
    }
    let len = 16 + usize::from(u16::from_be_bytes([input[14], input[15]]));
    if len > MAX_V2 {
        return Err(Error::TooLong {
            version: 2,
            max: MAX_V2,
        });
    }
    if input.len() < len {
        return Ok(None);
    }
    let header = ppp::v2::Header::try_from(&input[..len]).map_err(|e| Error::Invalid {
        version: 2,
        reason: e.to_string(),
    })?;
    let addresses = match (header.command, header.protocol, header.addresses) {
        (ppp::v2::Command::Proxy, ppp::v2::Protocol::Stream, ppp::v2::Addresses::IPv4(a)) => {
            Some((
                SocketAddr::from((a.source_address, a.source_port)),
                SocketAddr::from((a.destination_address, a.destination_port)),
            ))
        }
        (ppp::v2::Command::Proxy, ppp::v2::Protocol::Stream, ppp::v2::Addresses::IPv6(a)) => {
            Some((
                SocketAddr::from((a.source_address, a.source_port)),
                SocketAddr::from((a.destination_address, a.destination_port)),
            ))
        }
        // LOCAL (the balancer's own connection, e.g. a health check),
        // UNSPEC, UNIX sockets, datagrams: the real connection's addresses
        // count (§2.2).
        _ => None,
    };
    Ok(Some(Header {
        version: 2,
        len,
        addresses,
    }))
}

#[cfg(test)]
#[path = "proxy_protocol_tests.rs"]
mod tests;
