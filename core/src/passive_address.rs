//! The address announced in `PASV` replies when it is not the control
//! connection's local address: the public address of a host behind NAT
//! (vsftpd's `pasv_address`, proftpd's `MasqueradeAddress`).

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::sync::RwLock;

use thiserror::Error;

/// An IPv4 address, or a DNS name whose IPv4 address is looked up again
/// from time to time (a dynamic address). `PASV` (RFC 959 §4.1.1) can
/// only carry IPv4, and `EPSV` (RFC 2428) carries no address at all, so
/// only `PASV` uses it.
///
/// The lookup itself ([`Self::resolve`]) blocks: the daemon runs it on a
/// thread of its own and commands only read the last result
/// ([`Self::current`]).
pub struct PassiveAddress {
    name: String,
    fixed: bool,
    current: RwLock<Option<Ipv4Addr>>,
}

/// A `passive_address` that is neither an IPv4 address nor a host name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PassiveAddressError {
    /// IPv6 cannot be announced by PASV.
    #[error("{0} is an IPv6 address: PASV can only announce IPv4 (EPSV needs no address)")]
    Ipv6(String),
    /// Not a host name.
    #[error("{0:?} is neither an IPv4 address nor a host name")]
    Invalid(String),
}

impl PassiveAddress {
    /// Parses an IPv4 address (fixed) or a DNS host name (not resolved
    /// yet).
    ///
    /// # Errors
    /// [`PassiveAddressError`].
    pub fn parse(s: &str) -> Result<Self, PassiveAddressError> {
        match s.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => Ok(Self {
                name: s.to_owned(),
                fixed: true,
                current: RwLock::new(Some(ip)),
            }),
            Ok(IpAddr::V6(_)) => Err(PassiveAddressError::Ipv6(s.to_owned())),
            Err(_) => {
                let label_ok = |l: &str| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                };
                let name = s.strip_suffix('.').unwrap_or(s);
                if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
                    return Err(PassiveAddressError::Invalid(s.to_owned()));
                }
                Ok(Self {
                    name: s.to_owned(),
                    fixed: false,
                    current: RwLock::new(None),
                })
            }
        }
    }

    /// As configured.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True for a host name that needs looking up.
    pub fn needs_resolving(&self) -> bool {
        !self.fixed
    }

    /// The address to announce: the fixed one, or the last successful
    /// lookup (`None` before the first).
    pub fn current(&self) -> Option<Ipv4Addr> {
        *self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Looks the name up (blocking) and keeps the first IPv4 address. A
    /// failed lookup keeps the previous address.
    ///
    /// # Errors
    /// The resolver's error, or `NotFound` when the name has no IPv4
    /// address.
    pub fn resolve(&self) -> io::Result<Ipv4Addr> {
        if self.fixed {
            return self.current().ok_or_else(|| io::Error::other("no address"));
        }
        let ip = (self.name.as_str(), 0)
            .to_socket_addrs()?
            .find_map(|a| match a.ip() {
                IpAddr::V4(ip) => Some(ip),
                IpAddr::V6(_) => None,
            })
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} has no IPv4 address", self.name),
                )
            })?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(ip);
        Ok(ip)
    }
}

impl fmt::Debug for PassiveAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassiveAddress")
            .field("name", &self.name)
            .field("current", &self.current())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_and_names() {
        let a = PassiveAddress::parse("203.0.113.9").unwrap();
        assert!(!a.needs_resolving());
        assert_eq!(a.current(), Some(Ipv4Addr::new(203, 0, 113, 9)));
        let n = PassiveAddress::parse("ftp.example.org").unwrap();
        assert!(n.needs_resolving());
        assert_eq!(n.current(), None);
        assert!(matches!(
            PassiveAddress::parse("::1"),
            Err(PassiveAddressError::Ipv6(_))
        ));
        for bad in ["", "a b", "-x.org", "x..org", "x_y.org"] {
            assert!(PassiveAddress::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resolves_localhost() {
        let n = PassiveAddress::parse("localhost").unwrap();
        let ip = n.resolve().unwrap();
        assert!(ip.is_loopback());
        assert_eq!(n.current(), Some(ip));
    }
}
