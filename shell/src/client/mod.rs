//! The FTP client side of the shell: one control connection, wrapped
//! around `suppaftp`'s synchronous client.
//!
//! suppaftp speaks the protocol (passive and extended passive mode, data
//! connections, multi-line replies); this module adds what a shell needs on
//! top: every failure keeps the server's reply as a core [`Reply`] so the
//! shell can print `550 …` verbatim, transfers are pumped in bounded chunks
//! with a progress callback and a Ctrl-C flag that sends `ABOR` (RFC 959
//! §4.1.3), directory listings are normalised from `MLSD` (RFC 3659 §7)
//! when the server has it and from `LIST` otherwise, and `EPSV` (RFC 2428)
//! falls back to `PASV` for servers that do not know it. `HASH`
//! (draft-bryan-ftp-hash) is used when `FEAT` advertises it, selecting
//! SHA-256 with `OPTS HASH` when the server lists it but has another
//! algorithm selected.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ftpsh_core::{Reply, ReplyCode};
use suppaftp::types::{FileType, Response};
use suppaftp::{FtpError, Mode, RustlsFtpStream, Status};

use crate::format::{Entry, Kind};

mod cancel;
mod error;
mod parse;
mod transfer;

pub use cancel::Canceller;
use error::{ANY_STATUS, map_err, to_reply};
pub use error::{RemoteError, reply_line};
pub use transfer::Upload;

use parse::is_verb_word;
pub use parse::{
    HASH_ALGORITHM, RemoteHash, parse_hash_feature, parse_hash_reply, parse_list_line, parse_mlsx,
};

/// Bytes moved per read or write on a data connection.
pub const CHUNK: usize = 64 * 1024;

/// How often a blocked transfer wakes up to check for Ctrl-C.
const POLL: Duration = Duration::from_millis(200);

/// The default for every network wait (connect, reply, data connection,
/// transfer progress): 300 s, lftp's `net:timeout`. Long, because a server
/// may only answer a big upload once it has committed it to disk.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How the connection waits and where a cancel can reach it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The longest wait for the TCP connect, any reply, the data
    /// connection, or progress of a transfer (`--timeout`).
    pub timeout: Duration,
    /// Shuts the sockets down from another thread (Ctrl-C).
    pub canceller: Arc<Canceller>,
    /// Set by Ctrl-C: checked between connect attempts and by the transfer
    /// loops, which then send `ABOR`.
    pub interrupt: Arc<AtomicBool>,
    /// FTPS (see [`crate::tls`]): explicit or implicit TLS, with the
    /// client configuration shared by the control connection and every
    /// data connection (and reconnect) so TLS sessions resume. `None`:
    /// plain FTP.
    pub tls: Option<crate::tls::ClientTls>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            canceller: Arc::new(Canceller::new()),
            interrupt: Arc::new(AtomicBool::new(false)),
            tls: None,
        }
    }
}

/// Verbs that open a data connection or change its set-up; `quote` refuses
/// them because their replies come in two parts, which would leave the
/// control connection out of step.
pub const DATA_VERBS: &[&str] = &[
    "LIST", "NLST", "MLSD", "RETR", "STOR", "STOU", "APPE", "PASV", "EPSV", "PORT", "EPRT", "LPRT",
    "LPSV", "REST", "ABOR",
];

/// Server verbs the shell already covers with its own verbs, or that would
/// change the session behind its back (login, transfer type); they are not
/// offered as extra server commands.
pub const COVERED_VERBS: &[&str] = &[
    "USER", "PASS", "ACCT", "REIN", "QUIT", "CWD", "XCWD", "CDUP", "XCUP", "PWD", "XPWD", "MKD",
    "XMKD", "RMD", "XRMD", "DELE", "RNFR", "RNTO", "SIZE", "HELP", "TYPE",
];

/// One logged-in (or logging-in) control connection.
pub struct Connection {
    /// suppaftp's rustls-capable client; without TLS it speaks plain FTP.
    ftp: RustlsFtpStream,
    settings: Settings,
    /// This connection's id in the [`Canceller`].
    id: u64,
    host: String,
    port: u16,
    password: String,
    host_port: String,
    banner: Reply,
    user: String,
    features: BTreeMap<String, Option<String>>,
    server_verbs: BTreeSet<String>,
    cwd: String,
    extended_passive: bool,
    /// The `HASH` algorithm selected with `OPTS HASH` on this connection,
    /// which `FEAT` (read at login) does not reflect.
    hash_selected: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("host_port", &self.host_port)
            .field("user", &self.user)
            .field("cwd", &self.cwd)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Opens the control connection to `host:port` and reads the `220`
    /// greeting (RFC 959 §5.4). The connect, the greeting and every later
    /// reply wait at most `settings.timeout`; Ctrl-C (the interrupt flag)
    /// stops the connect between attempts of at most 250 ms, and the
    /// canceller reaches every later wait. This is the one place a
    /// connection is set up: with `settings.tls`, implicit TLS from the
    /// first byte or `AUTH TLS` after the greeting, then `PBSZ 0` and
    /// `PROT P` (RFC 4217).
    ///
    /// # Errors
    /// [`RemoteError::ConnectionLost`] when no address accepts the
    /// connection, [`RemoteError::TimedOut`], [`RemoteError::Interrupted`],
    /// [`RemoteError::Reply`] for a greeting other than 220 (e.g. `421`
    /// when the server is full) or a refused `AUTH TLS`/`PBSZ`/`PROT`,
    /// [`RemoteError::Tls`] for a failed handshake or an untrusted
    /// certificate.
    pub fn open(host: &str, port: u16, settings: &Settings) -> Result<Self, RemoteError> {
        let addrs: Vec<_> = (host, port)
            .to_socket_addrs()
            .map_err(RemoteError::ConnectionLost)?
            .collect();
        let id = settings.canceller.new_id();
        let implicit = settings
            .tls
            .as_ref()
            .filter(|t| t.mode == crate::tls::TlsMode::Implicit);
        let ftp = match implicit {
            Some(tls) => crate::tls::connect_implicit(&addrs, host, tls, settings.timeout)
                .map_err(map_err)
                .inspect(|ftp| settings.canceller.register(id, false, &ftp.get_ref())),
            None => connect_any(&addrs, settings).and_then(|stream| {
                stream
                    .set_read_timeout(Some(settings.timeout))
                    .and_then(|()| stream.set_write_timeout(Some(settings.timeout)))
                    .map_err(RemoteError::ConnectionLost)?;
                settings.canceller.register(id, false, &stream);
                RustlsFtpStream::connect_with_stream(stream).map_err(map_err)
            }),
        };
        let ftp = match ftp {
            Ok(ftp) => ftp,
            Err(e) => {
                settings.canceller.forget(id);
                return Err(e);
            }
        };
        let host_port = match ftp.get_ref().peer_addr() {
            Ok(a) => a.to_string(),
            Err(_) => format!("{host}:{port}"),
        };
        let data_settings = settings.clone();
        let ftp = ftp.passive_stream_builder(move |addr: SocketAddr| {
            let s = TcpStream::connect_timeout(&addr, data_settings.timeout)
                .map_err(FtpError::ConnectionError)?;
            let _ = s.set_read_timeout(Some(data_settings.timeout));
            let _ = s.set_write_timeout(Some(data_settings.timeout));
            data_settings.canceller.register(id, true, &s);
            Ok(s)
        });
        let explicit = settings
            .tls
            .as_ref()
            .filter(|t| t.mode == crate::tls::TlsMode::Explicit);
        let mut ftp = match explicit {
            Some(tls) => match ftp.into_secure(tls.connector(settings.timeout), host) {
                Ok(ftp) => ftp,
                Err(e) => {
                    settings.canceller.forget(id);
                    return Err(map_err(e));
                }
            },
            None => ftp,
        };
        // Servers behind NAT announce an unreachable address in 227; the
        // control connection's peer is the one that works.
        ftp.set_passive_nat_workaround(true);
        ftp.set_mode(Mode::ExtendedPassive);
        let banner_text = ftp.get_welcome_msg().unwrap_or("").to_owned();
        let banner = to_reply(&Response::new(Status::Ready, banner_text.into_bytes()));
        Ok(Self {
            ftp,
            settings: settings.clone(),
            id,
            host: host.to_owned(),
            port,
            password: String::new(),
            host_port,
            banner,
            user: String::new(),
            features: BTreeMap::new(),
            server_verbs: BTreeSet::new(),
            cwd: "/".to_owned(),
            extended_passive: true,
            hash_selected: None,
        })
    }

    /// The settings the connection was opened with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// How this connection uses TLS, if it does.
    pub fn tls_mode(&self) -> Option<crate::tls::TlsMode> {
        self.settings.tls.as_ref().map(|t| t.mode)
    }

    /// The `220` greeting.
    pub fn banner(&self) -> &Reply {
        &self.banner
    }

    /// `host:port` of the server as connected.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }

    /// The logged-in user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The remote current directory, as last reported by `PWD`.
    pub fn cwd(&self) -> &str {
        &self.cwd
    }

    /// Extra verbs the server advertises in `FEAT` and `HELP`, upper case.
    pub fn server_verbs(&self) -> &BTreeSet<String> {
        &self.server_verbs
    }

    /// True when `FEAT` listed `feature` (e.g. `"MLST"`).
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features.contains_key(&feature.to_ascii_uppercase())
    }

    /// Sends `line` on the control connection and returns the reply,
    /// whatever its code.
    ///
    /// # Errors
    /// [`RemoteError::ConnectionLost`] / [`RemoteError::Protocol`].
    pub fn raw(&mut self, line: &str) -> Result<Reply, RemoteError> {
        match self.ftp.custom_command(line, ANY_STATUS) {
            Ok(resp) => Ok(to_reply(&resp)),
            Err(FtpError::UnexpectedResponse(resp)) => Ok(to_reply(&resp)),
            Err(e) => Err(map_err(e)),
        }
    }

    /// [`Connection::raw`], with 4xx/5xx replies (and `1xx`, which would
    /// leave a second reply unread) turned into [`RemoteError::Reply`].
    ///
    /// # Errors
    /// As [`Connection::raw`], plus the error reply.
    pub fn command(&mut self, line: &str) -> Result<Reply, RemoteError> {
        let reply = self.raw(line)?;
        if reply.code.is_error() || reply.code.is_preliminary() {
            return Err(RemoteError::Reply(reply));
        }
        Ok(reply)
    }

    /// Logs in with `USER`/`PASS` (RFC 959 §5.4), then sets binary type and
    /// learns the server's features (`FEAT`, RFC 2389), extra verbs
    /// (`HELP`) and current directory (`PWD`). Returns the final login
    /// reply (`230`).
    ///
    /// # Errors
    /// [`RemoteError::Reply`] with the `530` (or other) refusal.
    pub fn login(&mut self, user: &str, password: &str) -> Result<Reply, RemoteError> {
        let mut reply = self.command(&format!("USER {user}"))?;
        if reply.code == ReplyCode::NEED_PASSWORD {
            reply = self.command(&format!("PASS {password}"))?;
        }
        if reply.code != ReplyCode::LOGGED_IN && reply.code != ReplyCode::SUPERFLUOUS {
            return Err(RemoteError::Reply(reply));
        }
        self.user = user.to_owned();
        self.password = password.to_owned();
        self.ftp.transfer_type(FileType::Binary).map_err(map_err)?;
        self.learn_features();
        // A server without PWD still works; paths are then shown from `/`.
        if let Err(e) = self.refresh_cwd() {
            if e.is_connection_lost() {
                return Err(e);
            }
            self.cwd = "/".to_owned();
        }
        Ok(reply)
    }

    fn learn_features(&mut self) {
        // Read as a plain reply rather than with suppaftp's `feat()`,
        // which waits for a `211 End` line that the one-line form
        // `211 No features` (RFC 2389 §3.2) never sends.
        if let Ok(reply) = self.raw("FEAT")
            && reply.code.0 == 211
        {
            for (name, value) in parse::parse_feat(&reply.lines) {
                let name = name.trim().to_ascii_uppercase();
                if is_verb_word(&name) {
                    self.server_verbs.insert(name.clone());
                }
                self.features.insert(name, value);
            }
        }
        if !self.has_feature("EPSV") && !self.features.is_empty() {
            // RFC 2428 servers normally list EPSV; those that list features
            // but not EPSV get plain PASV from the start.
            self.use_pasv();
        }
        if let Ok(help) = self.raw("HELP")
            && !help.code.is_error()
        {
            for line in help.lines.iter().skip(1) {
                for word in line.split([' ', '\t', ',']) {
                    let word = word.trim_end_matches('*');
                    if is_verb_word(word) {
                        self.server_verbs.insert(word.to_owned());
                    }
                }
            }
        }
    }

    fn use_pasv(&mut self) {
        self.extended_passive = false;
        self.ftp.set_mode(Mode::Passive);
    }

    /// True when `FEAT` advertised `HASH` (draft-bryan-ftp-hash §3.1).
    pub fn has_hash(&self) -> bool {
        self.has_feature("HASH")
    }

    /// Makes sure `HASH` answers with SHA-256: nothing to do when `FEAT`
    /// shows it selected (or lists no algorithms, leaving it to the
    /// reply); `OPTS HASH SHA-256` (draft-bryan-ftp-hash §4) when it is
    /// listed but another one is selected.
    ///
    /// # Errors
    /// [`RemoteError::Unsupported`] when the server has no `HASH`, offers
    /// no SHA-256 or refuses the `OPTS`; a lost connection.
    pub fn select_sha256(&mut self) -> Result<(), RemoteError> {
        let Some(value) = self.features.get("HASH") else {
            return Err(RemoteError::Unsupported(
                "server has no HASH command".to_owned(),
            ));
        };
        let (algorithms, advertised) = parse_hash_feature(value.as_deref().unwrap_or(""));
        let selected = self.hash_selected.clone().or(advertised);
        if algorithms.is_empty() || selected.as_deref() == Some(HASH_ALGORITHM) {
            return Ok(());
        }
        if !algorithms.iter().any(|a| a == HASH_ALGORITHM) {
            return Err(RemoteError::Unsupported(format!(
                "server's HASH has no {HASH_ALGORITHM} (it offers {})",
                algorithms.join(", ")
            )));
        }
        let reply = self.raw(&format!("OPTS HASH {HASH_ALGORITHM}"))?;
        if reply.code != ReplyCode::OK {
            return Err(RemoteError::Unsupported(format!(
                "server refused OPTS HASH {HASH_ALGORITHM}: {}",
                reply_line(&reply)
            )));
        }
        self.hash_selected = Some(HASH_ALGORITHM.to_owned());
        Ok(())
    }

    /// `HASH path` (draft-bryan-ftp-hash §3.2) with SHA-256 selected
    /// first ([`Connection::select_sha256`]): the server's digest of the
    /// whole file.
    ///
    /// # Errors
    /// [`RemoteError::Unsupported`] as for [`Connection::select_sha256`];
    /// the server's refusal (`550` for a missing file or one outside the
    /// user's root); [`RemoteError::Protocol`] for a reply that is not a
    /// well-formed SHA-256 `213`.
    pub fn hash(&mut self, path: &str) -> Result<RemoteHash, RemoteError> {
        self.select_sha256()?;
        let reply = self.command(&format!("HASH {path}"))?;
        if reply.code != ReplyCode::FILE_STATUS {
            return Err(RemoteError::Protocol(format!(
                "unexpected reply to HASH: {}",
                reply_line(&reply)
            )));
        }
        let hash = parse_hash_reply(reply.text()).ok_or_else(|| {
            RemoteError::Protocol(format!("malformed HASH reply: {}", reply_line(&reply)))
        })?;
        if !hash.algorithm.eq_ignore_ascii_case(HASH_ALGORITHM) || hash.hex.len() != 64 {
            return Err(RemoteError::Protocol(format!(
                "HASH answered {} with {} hex digits, not a {HASH_ALGORITHM} digest",
                hash.algorithm,
                hash.hex.len()
            )));
        }
        Ok(hash)
    }

    /// Asks `PWD` for the current directory.
    ///
    /// # Errors
    /// The server's refusal.
    pub fn refresh_cwd(&mut self) -> Result<&str, RemoteError> {
        self.cwd = self.ftp.pwd().map_err(map_err)?;
        Ok(&self.cwd)
    }

    /// `CWD path`, then `PWD`.
    ///
    /// # Errors
    /// The server's refusal (`550`).
    pub fn cd(&mut self, path: &str) -> Result<&str, RemoteError> {
        self.command(&format!("CWD {path}"))?;
        self.refresh_cwd()
    }

    /// `SIZE path` (RFC 3659 §4): the size in bytes.
    ///
    /// # Errors
    /// The server's refusal, or [`RemoteError::Protocol`] for a malformed
    /// `213`.
    pub fn size(&mut self, path: &str) -> Result<u64, RemoteError> {
        let reply = self.command(&format!("SIZE {path}"))?;
        reply
            .text()
            .trim()
            .parse()
            .map_err(|_| RemoteError::Protocol(format!("bad SIZE reply: {}", reply_line(&reply))))
    }

    /// `MLST path` (RFC 3659 §7): the entry, or `None` when the server
    /// refuses.
    ///
    /// # Errors
    /// A lost connection.
    fn mlst_entry(&mut self, path: &str) -> Result<Option<Entry>, RemoteError> {
        let reply = self.raw(&format!("MLST {path}"))?;
        if reply.code != ReplyCode::FILE_ACTION_OK {
            return Ok(None);
        }
        Ok(reply
            .lines
            .iter()
            .skip(1)
            .find_map(|l| parse_mlsx(l.trim_start())))
    }

    /// What `path` is on the server, or `None` when it does not exist. Uses
    /// `MLST` (RFC 3659 §7) when available, else a listing of the parent.
    ///
    /// # Errors
    /// A lost connection.
    pub fn kind_of(&mut self, path: &str) -> Result<Option<Kind>, RemoteError> {
        if self.has_feature("MLST") {
            let reply = self.raw(&format!("MLST {path}"))?;
            if reply.code == ReplyCode::FILE_ACTION_OK {
                if let Some(entry) = reply
                    .lines
                    .iter()
                    .skip(1)
                    .find_map(|l| parse_mlsx(l.trim_start()))
                {
                    return Ok(Some(entry.kind));
                }
            } else if !matches!(reply.code.0, 500 | 502) {
                return Ok(None);
            }
        }
        let (parent, name) = match path.trim_end_matches('/').rsplit_once('/') {
            Some(("", name)) => ("/".to_owned(), name),
            Some((parent, name)) => (parent.to_owned(), name),
            None => (".".to_owned(), path),
        };
        if name.is_empty() || name == "." || name == ".." {
            return Ok(Some(Kind::Dir));
        }
        match self.list(Some(&parent)) {
            Ok(entries) => Ok(entries.into_iter().find(|e| e.name == name).map(|e| e.kind)),
            Err(e) if e.is_connection_lost() => Err(e),
            Err(_) => Ok(None),
        }
    }

    /// Runs a data command, falling back from `EPSV` to `PASV` once if the
    /// server rejects `EPSV` as unknown (500/502).
    fn with_data<T>(
        &mut self,
        mut f: impl FnMut(&mut RustlsFtpStream) -> Result<T, FtpError>,
    ) -> Result<T, RemoteError> {
        self.settings.canceller.forget_data(self.id);
        match f(&mut self.ftp) {
            Err(FtpError::UnexpectedResponse(resp)) if self.extended_passive => {
                let reply = to_reply(&resp);
                if matches!(reply.code.0, 500 | 502) {
                    self.use_pasv();
                    f(&mut self.ftp).map_err(map_err)
                } else {
                    Err(RemoteError::Reply(reply))
                }
            }
            other => other.map_err(map_err),
        }
    }

    /// Lists `dir` (or the current directory): `MLSD` when the server
    /// has `MLST`, else `LIST` parsed as Unix or DOS format. Unparseable
    /// `LIST` lines are kept with the whole line as the name.
    ///
    /// # Errors
    /// The server's refusal (`550`, `450`).
    pub fn list(&mut self, dir: Option<&str>) -> Result<Vec<Entry>, RemoteError> {
        if self.has_feature("MLST") {
            return match self.data_lines("MLSD", dir) {
                Ok(lines) => Ok(lines.iter().filter_map(|l| parse_mlsx(l)).collect()),
                // MLSD lists directories only (RFC 3659 §7.1); for a file,
                // MLST gives the one entry `ls FILE` should show.
                Err(RemoteError::Reply(r)) if matches!(r.code.0, 501 | 550) => {
                    match dir.map(|d| self.mlst_entry(d)).transpose()? {
                        Some(Some(entry)) if entry.kind != Kind::Dir => Ok(vec![entry]),
                        _ => Err(RemoteError::Reply(r)),
                    }
                }
                Err(e) => Err(e),
            };
        }
        let lines = self.data_lines("LIST", dir)?;
        Ok(lines.iter().filter_map(|l| parse_list_line(l)).collect())
    }

    /// The server's own `LIST` lines for `dir` (RFC 959 §4.1.3), as sent:
    /// what `ls -l` shows.
    ///
    /// # Errors
    /// The server's refusal (`550`, `450`).
    pub fn list_raw(&mut self, dir: Option<&str>) -> Result<Vec<String>, RemoteError> {
        self.data_lines("LIST", dir)
    }

    /// Brings the control connection back in step after `ABOR`.
    ///
    /// An abort yields two replies, one for the transfer and one for
    /// `ABOR` (RFC 959 §4.1.3), but which ones depends on how far the
    /// transfer got: `426`+`226` in flight, `226`+`225` when it had just
    /// ended, `451`/`426`+`225` after a reset. suppaftp reads one or two of
    /// them; a `NOOP` then tells whether a reply is left over (anything but
    /// its `200`). If one is, the connection is reopened and logged in
    /// again in the same directory, the only way to be sure of the next
    /// reply.
    fn settle_after_abort(&mut self, aborted: Result<(), FtpError>) -> Result<(), RemoteError> {
        if let Err(e @ FtpError::ConnectionError(_)) = aborted {
            return Err(map_err(e));
        }
        let noop = self.raw("NOOP")?;
        if noop.code == ReplyCode::OK {
            return Ok(());
        }
        self.reopen()
    }

    /// A second connection to the same server, logged in as the same
    /// user, in the same directory (for parallel transfers).
    ///
    /// # Errors
    /// As [`Connection::open`] and [`Connection::login`].
    pub fn fork(&self) -> Result<Connection, RemoteError> {
        let mut fresh = Self::open(&self.host, self.port, &self.settings)?;
        fresh.login(&self.user, &self.password)?;
        if fresh.cwd != self.cwd {
            fresh.cd(&self.cwd.clone())?;
        }
        Ok(fresh)
    }

    /// Replaces the control connection by a new one, logged in as before
    /// and back in the same directory.
    fn reopen(&mut self) -> Result<(), RemoteError> {
        let cwd = self.cwd.clone();
        let mut fresh = Self::open(&self.host, self.port, &self.settings)?;
        fresh.login(&self.user.clone(), &self.password.clone())?;
        if fresh.cwd != cwd {
            fresh.cd(&cwd)?;
        }
        let mut old = std::mem::replace(self, fresh);
        // Its replies are out of step; QUIT is a courtesy, its answer moot.
        let _ = old.ftp.quit();
        Ok(())
    }

    /// `QUIT` (RFC 959 §4.1.1); returns the `221`. The connection is
    /// closed either way.
    ///
    /// # Errors
    /// A lost connection.
    pub fn quit(mut self) -> Result<Reply, RemoteError> {
        self.raw("QUIT")
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.settings.canceller.forget(self.id);
    }
}

/// Connects to the first address that accepts within `settings.timeout`,
/// in attempts of at most 250 ms so that Ctrl-C is noticed.
fn connect_any(addrs: &[SocketAddr], settings: &Settings) -> Result<TcpStream, RemoteError> {
    const SLICE: Duration = Duration::from_millis(250);
    let deadline = Instant::now() + settings.timeout;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
    for addr in addrs {
        loop {
            if settings.interrupt.load(Ordering::Relaxed) || settings.canceller.is_cancelled() {
                return Err(RemoteError::Interrupted { bytes: 0 });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RemoteError::TimedOut);
            }
            match TcpStream::connect_timeout(addr, left.min(SLICE)) {
                Ok(s) => return Ok(s),
                Err(e) if is_timeout(&e) => {}
                Err(e) => {
                    last = e;
                    break;
                }
            }
        }
    }
    Err(RemoteError::ConnectionLost(last))
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_keep_code_and_text() {
        let r = to_reply(&Response::new(
            Status::FileUnavailable,
            b"550 /nope.txt: no such file\r\n".to_vec(),
        ));
        assert_eq!(reply_line(&r), "550 /nope.txt: no such file");
        let r = to_reply(&Response::new(
            Status::Help,
            b"214-The following commands are recognized.\r\n ABOR CWD\r\n214 Help OK.\r\n".to_vec(),
        ));
        assert_eq!(r.code, ReplyCode::HELP);
        assert_eq!(r.lines.len(), 3);
        assert_eq!(r.lines[1], " ABOR CWD");
    }
}
