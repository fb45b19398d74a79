//! `ftp://USER:PASSWORD@HOST:PORT/PATH` URLs (RFC 1738 §3.2) and the
//! password sources of product brief §5: the URL, `FTPSH_PASSWORD`,
//! `~/.netrc`, then a prompt.

use std::fmt;
use std::path::Path;

use thiserror::Error;

use crate::tls::TlsMode;

/// The default FTP control port (RFC 959).
pub const DEFAULT_PORT: u16 = 21;

/// A parsed `ftp://` URL. User, password and path are percent-decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct FtpUrl {
    /// Login name; `None` means anonymous.
    pub user: Option<String>,
    /// Password, if the URL carries one.
    pub password: Option<String>,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Control port.
    pub port: u16,
    /// Initial remote directory, if any (without the leading `/`).
    pub path: Option<String>,
    /// FTPS from the scheme: `ftpes://` explicit, `ftps://` implicit.
    pub tls: TlsMode,
}

impl fmt::Debug for FtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        f.debug_struct("FtpUrl")
            .field("user", &self.user)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path", &self.path)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// An unusable URL.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    /// Not `ftp://…`, `ftpes://…` or `ftps://…`.
    #[error("{0:?}: expected ftp://, ftpes:// or ftps://[USER[:PASSWORD]@]HOST[:PORT][/PATH]")]
    Scheme(String),
    /// No host.
    #[error("{0:?}: no host")]
    NoHost(String),
    /// The port is not a number from 1 to 65535.
    #[error("{0:?}: bad port")]
    Port(String),
    /// A `%` escape is malformed or decodes to invalid UTF-8.
    #[error("{0:?}: bad %-escape")]
    Escape(String),
}

fn percent_decode(s: &str, whole: &str) -> Result<String, UrlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| UrlError::Escape(whole.to_owned()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::Escape(whole.to_owned()))
}

impl FtpUrl {
    /// Parses `ftp://[USER[:PASSWORD]@]HOST[:PORT][/PATH]`; the scheme may
    /// be omitted (`alice@127.0.0.1:2121`).
    ///
    /// # Errors
    /// [`UrlError`].
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let (tls, rest) = match url.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "ftp" => (TlsMode::Off, rest),
                "ftpes" => (TlsMode::Explicit, rest),
                "ftps" => (TlsMode::Implicit, rest),
                _ => return Err(UrlError::Scheme(url.to_owned())),
            },
            None => (TlsMode::Off, url),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((n, p)) => (Some(percent_decode(n, url)?), Some(percent_decode(p, url)?)),
                None => (Some(percent_decode(u, url)?), None),
            },
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| UrlError::NoHost(url.to_owned()))?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost(url.to_owned()));
        }
        let port = match port {
            None | Some("") if tls == TlsMode::Implicit => crate::tls::IMPLICIT_PORT,
            None | Some("") => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| UrlError::Port(url.to_owned()))?,
        };
        let path = match path {
            Some(p) if !p.is_empty() => Some(percent_decode(p, url)?),
            _ => None,
        };
        Ok(Self {
            user: user.filter(|u| !u.is_empty()),
            password,
            host: host.to_owned(),
            port,
            path,
            tls,
        })
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL without its password.
    pub fn display(&self) -> String {
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let scheme = match self.tls {
            TlsMode::Off => "ftp",
            TlsMode::Explicit => "ftpes",
            TlsMode::Implicit => "ftps",
        };
        format!("{scheme}://{user}{}/", self.host_port())
    }
}

/// Looks `host` (and `user`, when given) up in a `.netrc` file's text:
/// returns `(login, password)` of the first matching `machine` entry, or of
/// `default`. Tokens are whitespace-separated; `macdef` bodies are skipped.
pub fn netrc_lookup(text: &str, host: &str, user: Option<&str>) -> Option<(String, String)> {
    let mut tokens = text.split_whitespace();
    let mut entries: Vec<(Option<String>, Option<String>, Option<String>)> = Vec::new();
    while let Some(tok) = tokens.next() {
        match tok {
            "machine" => entries.push((tokens.next().map(str::to_owned), None, None)),
            "default" => entries.push((None, None, None)),
            "login" => {
                if let (Some(e), Some(v)) = (entries.last_mut(), tokens.next()) {
                    e.1 = Some(v.to_owned());
                }
            }
            "password" => {
                if let (Some(e), Some(v)) = (entries.last_mut(), tokens.next()) {
                    e.2 = Some(v.to_owned());
                }
            }
            "account" => {
                tokens.next();
            }
            _ => {}
        }
    }
    entries.into_iter().find_map(|(machine, login, password)| {
        let host_ok = machine.as_deref().is_none_or(|m| m == host);
        let login = login.unwrap_or_else(|| "anonymous".to_owned());
        let user_ok = user.is_none_or(|u| u == login);
        (host_ok && user_ok).then_some((login, password?))
    })
}

/// [`netrc_lookup`] on `$HOME/.netrc`, if readable.
pub fn netrc_file_lookup(home: &Path, host: &str, user: Option<&str>) -> Option<(String, String)> {
    let text = std::fs::read_to_string(home.join(".netrc")).ok()?;
    netrc_lookup(&text, host, user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_schemes() {
        let u = FtpUrl::parse("ftpes://alice@example.org/").unwrap();
        assert_eq!((u.tls, u.port), (TlsMode::Explicit, 21));
        assert_eq!(u.display(), "ftpes://alice@example.org:21/");
        let u = FtpUrl::parse("FTPS://example.org").unwrap();
        assert_eq!((u.tls, u.port), (TlsMode::Implicit, 990));
        let u = FtpUrl::parse("ftps://example.org:2990").unwrap();
        assert_eq!(u.port, 2990);
        assert_eq!(FtpUrl::parse("example.org").unwrap().tls, TlsMode::Off);
        assert!(FtpUrl::parse("sftp://example.org").is_err());
    }

    #[test]
    fn parse_table() {
        let u = FtpUrl::parse("ftp://alice:s%40cret@127.0.0.1:2121/docs").unwrap();
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("s@cret"));
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 2121);
        assert_eq!(u.path.as_deref(), Some("docs"));
        assert_eq!(u.display(), "ftp://alice@127.0.0.1:2121/");

        let u = FtpUrl::parse("localhost").unwrap();
        assert_eq!((u.user, u.port), (None, 21));
        let u = FtpUrl::parse("ftp://bob@[::1]:2121/").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.host_port(), "[::1]:2121");
        assert_eq!(u.path, None);
        assert!(!format!("{:?}", FtpUrl::parse("ftp://a:pw@h").unwrap()).contains("pw"));
    }

    #[test]
    fn parse_errors() {
        assert!(matches!(
            FtpUrl::parse("http://h"),
            Err(UrlError::Scheme(_))
        ));
        assert!(matches!(FtpUrl::parse("ftp://"), Err(UrlError::NoHost(_))));
        assert!(matches!(FtpUrl::parse("ftp://h:0"), Err(UrlError::Port(_))));
        assert!(matches!(
            FtpUrl::parse("ftp://h:99999"),
            Err(UrlError::Port(_))
        ));
        assert!(matches!(
            FtpUrl::parse("ftp://a%zz@h"),
            Err(UrlError::Escape(_))
        ));
    }

    #[test]
    fn netrc() {
        let text = "machine other login x password y\n\
                    machine 127.0.0.1 login alice password pw1\n\
                    default login anonymous password me@\n";
        assert_eq!(
            netrc_lookup(text, "127.0.0.1", None),
            Some(("alice".into(), "pw1".into()))
        );
        assert_eq!(netrc_lookup(text, "127.0.0.1", Some("bob")), None);
        assert_eq!(
            netrc_lookup(text, "elsewhere", None),
            Some(("anonymous".into(), "me@".into()))
        );
    }
}
