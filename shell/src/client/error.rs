//! Failures of remote operations, keeping the server's reply.

use std::io;

use ftpsh_core::{Reply, ReplyCode};
use suppaftp::types::Response;
use suppaftp::{FtpError, Status};
use thiserror::Error;

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
    /// The data connection made no progress for this many seconds.
    #[error("data connection stalled for {0} s; transfer aborted")]
    Stalled(u64),
    /// No reply (or no connection) within the timeout; the control
    /// connection is out of step and dropped.
    #[error("timed out waiting for the server (--timeout); disconnected")]
    TimedOut,
    /// Reading or writing the local file failed; the transfer was aborted.
    #[error("{0}")]
    Local(io::Error),
    /// The server lacks an extension the operation needs (e.g. `server
    /// has no HASH command`); nothing was sent for the operation itself.
    #[error("{0}")]
    Unsupported(String),
    /// TLS failed: the handshake, or the server's certificate
    /// (`TLS with HOST: REASON`).
    #[error("{0}")]
    Tls(String),
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
        matches!(self, Self::ConnectionLost(_) | Self::TimedOut)
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
pub(super) fn to_reply(resp: &Response) -> Reply {
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

pub(super) fn map_err(e: FtpError) -> RemoteError {
    match e {
        FtpError::UnexpectedResponse(resp) => RemoteError::Reply(to_reply(&resp)),
        FtpError::ConnectionError(io) if super::is_timeout(&io) => RemoteError::TimedOut,
        FtpError::ConnectionError(io) => RemoteError::ConnectionLost(io),
        FtpError::BadResponse => RemoteError::Protocol("malformed reply".to_owned()),
        FtpError::InvalidAddress(a) => RemoteError::Protocol(format!("bad passive address: {a}")),
        FtpError::DataConnectionAlreadyOpen => {
            RemoteError::Protocol("a data connection is already open".to_owned())
        }
        // suppaftp wraps a connector error in a second "Secure error: ".
        FtpError::SecureError(e) => {
            RemoteError::Tls(e.trim_start_matches("Secure error: ").to_owned())
        }
    }
}

/// Every reply status suppaftp knows, so a raw command accepts any reply
/// and the caller decides what is an error. `System` (211) is left out on
/// purpose: suppaftp treats a `211-` line as a complete reply when 211 is
/// expected (its FEAT parsing reads the rest itself), which would split
/// any other multi-line reply; a 211 still arrives, as an "unexpected"
/// response that [`Connection::raw`] accepts.
pub(super) const ANY_STATUS: &[Status] = &[
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
