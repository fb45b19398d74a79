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
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ftpsh_core::{Reply, ReplyCode};
use suppaftp::list::ListParser;
use suppaftp::types::{FileType, Response};
use suppaftp::{FtpError, FtpStream, ImplFtpStream, Mode, Status, TlsStream, TransferStream};
use thiserror::Error;

use crate::format::{Entry, Kind};

/// Bytes moved per read or write on a data connection.
pub const CHUNK: usize = 64 * 1024;

/// How often a blocked transfer wakes up to check for Ctrl-C.
const POLL: Duration = Duration::from_millis(200);

/// How long a data connection may make no progress before the transfer is
/// aborted (seconds, as in most servers' data timeouts).
const DATA_STALL: Duration = Duration::from_secs(60);

/// How long to wait for a reply on the control connection. Long, because a
/// server may only answer a big upload once it has committed it to disk.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(120);

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

/// Why a remote operation failed.
#[derive(Debug, Error)]
pub enum RemoteError {
    /// The server answered with an error reply (4xx/5xx) or an unexpected
    /// one.
    #[error("{}", reply_line(.0))]
    Reply(Reply),
    /// The control connection failed; the session is gone.
    #[error("connection lost: {0}")]
    ConnectionLost(io::Error),
    /// The server sent something that is not FTP.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Ctrl-C: the transfer was aborted after `bytes` bytes.
    #[error("interrupted after {bytes} bytes; transfer aborted")]
    Interrupted {
        /// Bytes moved before the abort.
        bytes: u64,
    },
    /// The data connection made no progress for too long.
    #[error("data connection stalled for {}s; transfer aborted", DATA_STALL.as_secs())]
    Stalled,
    /// Reading or writing the local file failed; the transfer was aborted.
    #[error("{0}")]
    Local(io::Error),
    /// The server lacks an extension the operation needs (e.g. `server
    /// has no HASH command`); nothing was sent for the operation itself.
    #[error("{0}")]
    Unsupported(String),
}

impl RemoteError {
    /// The server's reply code, when the failure is a reply.
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Reply(r) => Some(r.code.0),
            _ => None,
        }
    }

    /// True when the control connection can no longer be used.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, Self::ConnectionLost(_))
            || matches!(self, Self::Reply(r) if r.code == ReplyCode::SERVICE_NOT_AVAILABLE)
    }
}

/// `550 text` — the first line of a reply as the shell prints it.
pub fn reply_line(reply: &Reply) -> String {
    let text = reply
        .lines
        .iter()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim())
        .unwrap_or("");
    format!("{} {text}", reply.code)
}

/// Converts suppaftp's raw response (code and text lines as received) into
/// a core [`Reply`] with the code prefixes stripped.
fn to_reply(resp: &Response) -> Reply {
    let text = String::from_utf8_lossy(&resp.body);
    let first = text.lines().next().unwrap_or("");
    let code = first
        .get(..3)
        .and_then(|c| c.parse::<u16>().ok())
        .unwrap_or(resp.status.code() as u16);
    let prefix_dash = format!("{code:03}-");
    let prefix_space = format!("{code:03} ");
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            let l = l.trim_end_matches('\r');
            l.strip_prefix(&prefix_dash)
                .or_else(|| l.strip_prefix(&prefix_space))
                .unwrap_or(l)
                .to_owned()
        })
        .collect();
    Reply::multiline(ReplyCode(code), lines)
}

fn map_err(e: FtpError) -> RemoteError {
    match e {
        FtpError::UnexpectedResponse(resp) => RemoteError::Reply(to_reply(&resp)),
        FtpError::ConnectionError(io) => RemoteError::ConnectionLost(io),
        FtpError::BadResponse => RemoteError::Protocol("malformed reply".to_owned()),
        FtpError::InvalidAddress(a) => RemoteError::Protocol(format!("bad passive address: {a}")),
        FtpError::DataConnectionAlreadyOpen => {
            RemoteError::Protocol("a data connection is already open".to_owned())
        }
    }
}

/// Every reply status suppaftp knows, so a raw command accepts any reply
/// and the caller decides what is an error. `System` (211) is left out on
/// purpose: suppaftp treats a `211-` line as a complete reply when 211 is
/// expected (its FEAT parsing reads the rest itself), which would split
/// any other multi-line reply; a 211 still arrives, as an "unexpected"
/// response that [`Connection::raw`] accepts.
const ANY_STATUS: &[Status] = &[
    Status::RestartMarker,
    Status::ReadyMinute,
    Status::AlreadyOpen,
    Status::AboutToSend,
    Status::CommandOk,
    Status::CommandNotImplemented,
    Status::Directory,
    Status::File,
    Status::Help,
    Status::Name,
    Status::Ready,
    Status::Closing,
    Status::DataConnectionOpen,
    Status::ClosingDataConnection,
    Status::PassiveMode,
    Status::LongPassiveMode,
    Status::ExtendedPassiveMode,
    Status::LoggedIn,
    Status::LoggedOut,
    Status::LogoutAck,
    Status::AuthOk,
    Status::RequestedFileActionOk,
    Status::PathCreated,
    Status::NeedPassword,
    Status::LoginNeedAccount,
    Status::RequestFilePending,
    Status::NotAvailable,
    Status::CannotOpenDataConnection,
    Status::TransferAborted,
    Status::InvalidCredentials,
    Status::HostUnavailable,
    Status::RequestFileActionIgnored,
    Status::ActionAborted,
    Status::RequestedActionNotTaken,
    Status::BadCommand,
    Status::BadArguments,
    Status::NotImplemented,
    Status::BadSequence,
    Status::NotImplementedParameter,
    Status::NotLoggedIn,
    Status::StoringNeedAccount,
    Status::FileUnavailable,
    Status::PageTypeUnknown,
    Status::ExceededStorage,
    Status::BadFilename,
    Status::Unknown,
];

/// The digest algorithm `hash` and `--verify` ask `HASH` for: the one the
/// shell computes locally.
pub const HASH_ALGORITHM: &str = "SHA-256";

/// A `HASH` reply (draft-bryan-ftp-hash §3.2): `213 <algorithm>
/// <start>-<end> <hex digest> <pathname>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteHash {
    /// The algorithm the server used, as sent (e.g. `SHA-256`).
    pub algorithm: String,
    /// First byte of the range that was hashed.
    pub start: u64,
    /// End of the range that was hashed, as the server states it (ftpshd
    /// sends the number of bytes hashed; the draft only requires end ≥
    /// start).
    pub end: u64,
    /// The digest in lowercase hex.
    pub hex: String,
    /// The pathname as the server echoed it; may contain spaces.
    pub path: String,
}

/// Parses the text of a `213` `HASH` reply (the part after the code):
/// `<algorithm> <start>-<end> <hex digest> <pathname>`. The pathname is
/// the rest of the line, spaces included; the digest must be an even
/// number of hex digits and is returned in lowercase. `None` when the text
/// does not have that shape.
pub fn parse_hash_reply(text: &str) -> Option<RemoteHash> {
    fn word(s: &str) -> Option<(&str, &str)> {
        let s = s.trim_start_matches(' ');
        let end = s.find(' ').unwrap_or(s.len());
        (end > 0).then(|| (&s[..end], &s[end..]))
    }
    let (algorithm, rest) = word(text)?;
    let (range, rest) = word(rest)?;
    let (hex, rest) = word(rest)?;
    let (start, end) = range.split_once('-')?;
    let (start, end) = (start.parse::<u64>().ok()?, end.parse::<u64>().ok()?);
    if end < start || hex.len() % 2 != 0 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let path = rest.strip_prefix(' ').unwrap_or(rest);
    Some(RemoteHash {
        algorithm: algorithm.to_owned(),
        start,
        end,
        hex: hex.to_ascii_lowercase(),
        path: path.to_owned(),
    })
}

/// Parses the value of a `HASH` `FEAT` line (draft-bryan-ftp-hash §3.1):
/// algorithms separated by `;`, the selected one marked with `*`
/// (`SHA-1;SHA-256*;MD5`). Returns the algorithms (upper case, marks
/// removed) and the selected one.
pub fn parse_hash_feature(value: &str) -> (Vec<String>, Option<String>) {
    let mut algorithms = Vec::new();
    let mut selected = None;
    for item in value.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let name = item.trim_end_matches('*').to_ascii_uppercase();
        if item.ends_with('*') {
            selected = Some(name.clone());
        }
        algorithms.push(name);
    }
    (algorithms, selected)
}

/// One logged-in (or logging-in) control connection.
pub struct Connection {
    ftp: FtpStream,
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
    /// greeting (RFC 959 §5.4). `timeout` bounds the TCP connect.
    ///
    /// # Errors
    /// [`RemoteError::ConnectionLost`] when no address accepts the
    /// connection, [`RemoteError::Reply`] for a greeting other than 220
    /// (e.g. `421` when the server is full).
    pub fn open(host: &str, port: u16, timeout: Duration) -> Result<Self, RemoteError> {
        let addrs: Vec<_> = (host, port)
            .to_socket_addrs()
            .map_err(RemoteError::ConnectionLost)?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or(RemoteError::ConnectionLost(last))?;
        stream
            .set_read_timeout(Some(CONTROL_TIMEOUT))
            .map_err(RemoteError::ConnectionLost)?;
        let host_port = match stream.peer_addr() {
            Ok(a) => a.to_string(),
            Err(_) => format!("{host}:{port}"),
        };
        let mut ftp = FtpStream::connect_with_stream(stream).map_err(map_err)?;
        // Servers behind NAT announce an unreachable address in 227; the
        // control connection's peer is the one that works.
        ftp.set_passive_nat_workaround(true);
        ftp.set_mode(Mode::ExtendedPassive);
        let banner_text = ftp.get_welcome_msg().unwrap_or("").to_owned();
        let banner = to_reply(&Response::new(Status::Ready, banner_text.into_bytes()));
        Ok(Self {
            ftp,
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
        if let Ok(features) = self.ftp.feat() {
            for (name, value) in features {
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
        mut f: impl FnMut(&mut FtpStream) -> Result<T, FtpError>,
    ) -> Result<T, RemoteError> {
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
            return match self.with_data(|ftp| ftp.mlsd(dir)) {
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
        let lines = self.with_data(|ftp| ftp.list(dir))?;
        Ok(lines.iter().filter_map(|l| parse_list_line(l)).collect())
    }

    /// Downloads `remote` (`RETR`, RFC 959 §4.1.3) into `sink` in chunks
    /// of [`CHUNK`] bytes, calling `progress` with the running total.
    /// Setting `interrupt` aborts the transfer with `ABOR`. Returns the
    /// bytes received.
    ///
    /// # Errors
    /// The server's refusal or failure reply, [`RemoteError::Interrupted`],
    /// [`RemoteError::Stalled`], [`RemoteError::Local`] when `sink` fails.
    pub fn download(
        &mut self,
        remote: &str,
        sink: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
        interrupt: &AtomicBool,
    ) -> Result<u64, RemoteError> {
        let mut stream = self.with_data(|ftp| ftp.retr_as_stream(remote))?;
        // A short read timeout lets the loop notice Ctrl-C while the
        // server is slow.
        let _ = stream.get_ref().get_ref().set_read_timeout(Some(POLL));
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        let mut idle = Duration::ZERO;
        loop {
            if interrupt.load(Ordering::Relaxed) {
                let aborted = abort_download(&mut self.ftp, stream);
                self.settle_after_abort(aborted)?;
                return Err(RemoteError::Interrupted { bytes: total });
            }
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    idle = Duration::ZERO;
                    if let Err(e) = sink.write_all(&buf[..n]) {
                        let aborted = self.ftp.abort(stream);
                        self.settle_after_abort(aborted)?;
                        return Err(RemoteError::Local(e));
                    }
                    total += n as u64;
                    progress(total);
                }
                Err(e) if is_timeout(&e) => {
                    idle += POLL;
                    if idle >= DATA_STALL {
                        let aborted = self.ftp.abort(stream);
                        self.settle_after_abort(aborted)?;
                        return Err(RemoteError::Stalled);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The completion reply (426/451) explains it better
                    // than the socket error.
                    return Err(match stream.finish() {
                        Err(err) => map_err(err),
                        Ok(()) => RemoteError::ConnectionLost(e),
                    });
                }
            }
        }
        stream.finish().map_err(map_err)?;
        Ok(total)
    }

    /// Uploads `source` to `remote` (`STOR`, RFC 959 §4.1.3) in chunks of
    /// [`CHUNK`] bytes, calling `progress` with the running total. Setting
    /// `interrupt` aborts with `ABOR`, so the server discards the partial
    /// file instead of committing it. Returns the bytes sent.
    ///
    /// # Errors
    /// The server's refusal or failure reply, [`RemoteError::Interrupted`],
    /// [`RemoteError::Stalled`], [`RemoteError::Local`] when `source` fails.
    pub fn upload(
        &mut self,
        remote: &str,
        source: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
        interrupt: &AtomicBool,
    ) -> Result<u64, RemoteError> {
        let mut stream = self.with_data(|ftp| ftp.put_with_stream(remote))?;
        let _ = stream.get_ref().get_ref().set_write_timeout(Some(POLL));
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            if interrupt.load(Ordering::Relaxed) {
                let aborted = abort_upload(&mut self.ftp, stream);
                self.settle_after_abort(aborted)?;
                return Err(RemoteError::Interrupted { bytes: total });
            }
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let aborted = abort_upload(&mut self.ftp, stream);
                    self.settle_after_abort(aborted)?;
                    return Err(RemoteError::Local(e));
                }
            };
            let mut sent = 0;
            let mut idle = Duration::ZERO;
            while sent < n {
                if interrupt.load(Ordering::Relaxed) {
                    let aborted = abort_upload(&mut self.ftp, stream);
                    self.settle_after_abort(aborted)?;
                    return Err(RemoteError::Interrupted { bytes: total });
                }
                match stream.write(&buf[sent..n]) {
                    Ok(0) => {
                        return Err(match stream.finish() {
                            Err(err) => map_err(err),
                            Ok(()) => RemoteError::ConnectionLost(io::ErrorKind::WriteZero.into()),
                        });
                    }
                    Ok(k) => {
                        sent += k;
                        total += k as u64;
                        idle = Duration::ZERO;
                        progress(total);
                    }
                    Err(e) if is_timeout(&e) => {
                        idle += POLL;
                        if idle >= DATA_STALL {
                            let aborted = abort_upload(&mut self.ftp, stream);
                            self.settle_after_abort(aborted)?;
                            return Err(RemoteError::Stalled);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        return Err(match stream.finish() {
                            Err(err) => map_err(err),
                            Ok(()) => RemoteError::ConnectionLost(e),
                        });
                    }
                }
            }
        }
        stream.finish().map_err(map_err)?;
        Ok(total)
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
        if let Err(FtpError::ConnectionError(e)) = aborted {
            return Err(RemoteError::ConnectionLost(e));
        }
        let noop = self.raw("NOOP")?;
        if noop.code == ReplyCode::OK {
            return Ok(());
        }
        self.reopen()
    }

    /// Replaces the control connection by a new one, logged in as before
    /// and back in the same directory.
    fn reopen(&mut self) -> Result<(), RemoteError> {
        let cwd = self.cwd.clone();
        let mut fresh = Self::open(&self.host, self.port, Duration::from_secs(10))?;
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

/// Aborts a download on Ctrl-C. When the data connection has already
/// reached its end the transfer is complete and the server has sent, or is
/// about to send, its `226`: sending `ABOR` then would leave a second,
/// unexpected reply, so the transfer is simply finished.
fn abort_download<T: TlsStream>(
    ftp: &mut ImplFtpStream<T>,
    stream: TransferStream<T>,
) -> Result<(), FtpError> {
    let socket = stream.get_ref().get_ref();
    let _ = socket.set_nonblocking(true);
    let mut probe = [0u8; 1];
    let at_end = matches!(socket.peek(&mut probe), Ok(0));
    if at_end {
        stream.finish()
    } else {
        ftp.abort(stream)
    }
}

/// Aborts an upload with `ABOR`. The data connection is reset rather than
/// closed: to a server that only reads the control connection between
/// transfers, a normal close is an ordinary end of file and would commit
/// the partial upload under its final name.
fn abort_upload<T: TlsStream>(
    ftp: &mut ImplFtpStream<T>,
    stream: TransferStream<T>,
) -> Result<(), FtpError> {
    let _ = socket2::SockRef::from(stream.get_ref().get_ref()).set_linger(Some(Duration::ZERO));
    ftp.abort(stream)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// A verb-like word: 3 to 8 ASCII capital letters.
fn is_verb_word(word: &str) -> bool {
    (3..=8).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_uppercase())
}

/// Parses one `MLSD`/`MLST` entry (RFC 3659 §7.2: `facts; name`). The
/// current and parent directory entries (`type=cdir`/`pdir`) are dropped.
pub fn parse_mlsx(line: &str) -> Option<Entry> {
    let (facts, name) = match line.strip_prefix(' ') {
        Some(name) => ("", name),
        None => {
            let end = line.find("; ")?;
            (&line[..end], &line[end + 2..])
        }
    };
    let mut kind = Kind::File;
    let mut size = None;
    let mut modified = None;
    for fact in facts.split(';') {
        let Some((key, value)) = fact.split_once('=') else {
            continue;
        };
        match key.to_ascii_lowercase().as_str() {
            "type" => {
                kind = match value.to_ascii_lowercase().as_str() {
                    "file" => Kind::File,
                    "dir" => Kind::Dir,
                    "cdir" | "pdir" => return None,
                    v if v.starts_with("os.unix=slink") || v.starts_with("os.unix=symlink") => {
                        Kind::Link
                    }
                    _ => Kind::Other,
                }
            }
            "size" => size = value.parse().ok(),
            "modify" => modified = parse_mlsx_time(value),
            _ => {}
        }
    }
    let name = name.trim_end_matches(['\r', '\n']);
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    // MLST answers with a path; a listing entry is its last component.
    let name = name.rsplit('/').find(|c| !c.is_empty()).unwrap_or(name);
    Some(Entry {
        name: name.to_owned(),
        kind,
        size,
        modified,
    })
}

/// `YYYYMMDDHHMMSS[.sss]` (RFC 3659 §2.3), UTC.
fn parse_mlsx_time(value: &str) -> Option<SystemTime> {
    let digits = value.get(..14)?;
    let n = |r: std::ops::Range<usize>| digits.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (h, mi, s) = (n(8..10)?, n(10..12)?, n(12..14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    // Days from civil (Howard Hinnant), the inverse of format's.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s;
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

/// Parses one `LIST` line in Unix `ls -l` or DOS format; `total N` lines
/// and `.`/`..` are dropped, anything else unparseable is kept as a name.
pub fn parse_list_line(line: &str) -> Option<Entry> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.is_empty() || line.starts_with("total ") {
        return None;
    }
    let file = ListParser::parse_posix(line).or_else(|_| ListParser::parse_dos(line));
    let entry = match file {
        Ok(f) => Entry {
            name: f.name().to_owned(),
            kind: if f.is_directory() {
                Kind::Dir
            } else if f.is_symlink() {
                Kind::Link
            } else {
                Kind::File
            },
            size: Some(f.size() as u64),
            modified: Some(f.modified()),
        },
        Err(_) => Entry {
            name: line.to_owned(),
            kind: Kind::Other,
            size: None,
            modified: None,
        },
    };
    (entry.name != "." && entry.name != "..").then_some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlsx_lines() {
        let e = parse_mlsx("type=file;size=47;modify=20240229123456; baca saya.txt").unwrap();
        assert_eq!(e.name, "baca saya.txt");
        assert_eq!(e.kind, Kind::File);
        assert_eq!(e.size, Some(47));
        assert_eq!(
            crate::format::utc_minute(e.modified.unwrap()),
            "2024-02-29 12:34"
        );
        let d = parse_mlsx("type=dir;modify=20240101000000; Folder_Tes").unwrap();
        assert_eq!(d.kind, Kind::Dir);
        assert!(parse_mlsx("type=cdir; .").is_none());
        assert!(parse_mlsx("type=pdir; ..").is_none());
        assert_eq!(
            parse_mlsx("type=file;size=1; /docs/a.txt").unwrap().name,
            "a.txt"
        );
        assert!(parse_mlsx("garbage").is_none());
    }

    #[test]
    fn list_lines() {
        let e = parse_list_line(
            "-rw-r--r--    1 1000     1000           47 Feb 28 12:34 baca_saya.txt",
        )
        .unwrap();
        assert_eq!(
            (e.name.as_str(), e.kind, e.size),
            ("baca_saya.txt", Kind::File, Some(47))
        );
        let d = parse_list_line("drwxr-xr-x 2 u g 4096 Jan 1 2024 Folder_Tes").unwrap();
        assert_eq!(d.kind, Kind::Dir);
        assert!(parse_list_line("total 12").is_none());
        let odd = parse_list_line("something odd").unwrap();
        assert_eq!(odd.kind, Kind::Other);
    }

    #[test]
    fn hash_replies() {
        let digest = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
        let h = parse_hash_reply(&format!("SHA-256 0-4 {digest} my docs/a b.txt")).unwrap();
        assert_eq!(h.algorithm, "SHA-256");
        assert_eq!((h.start, h.end), (0, 4));
        assert_eq!(h.hex, digest.to_ascii_lowercase());
        assert_eq!(h.path, "my docs/a b.txt");
        let empty = parse_hash_reply("SHA-256 0-0 e3b0 empty.txt").unwrap();
        assert_eq!((empty.end, empty.path.as_str()), (0, "empty.txt"));
        for bad in [
            "",
            "SHA-256",
            "SHA-256 0-4",
            "SHA-256 0-4 abc file",
            "SHA-256 4-0 abcd file",
            "SHA-256 x-4 abcd file",
            "SHA-256 0_4 abcd file",
            "SHA-256 0-4 zz file",
        ] {
            assert!(parse_hash_reply(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn hash_features() {
        assert_eq!(
            parse_hash_feature("SHA-256*"),
            (vec!["SHA-256".to_owned()], Some("SHA-256".to_owned()))
        );
        assert_eq!(
            parse_hash_feature("SHA-1*;sha-256;MD5"),
            (
                vec!["SHA-1".to_owned(), "SHA-256".to_owned(), "MD5".to_owned()],
                Some("SHA-1".to_owned())
            )
        );
        assert_eq!(parse_hash_feature(""), (vec![], None));
    }

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
