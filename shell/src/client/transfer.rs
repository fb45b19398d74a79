//! Transfers on a data connection: `RETR` and `STOR` pumped in chunks,
//! with progress, Ctrl-C (`ABOR`) and a stall timeout.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use suppaftp::{FtpError, ImplFtpStream, Status, TlsStream, TransferStream};

use super::{CHUNK, Connection, POLL, RemoteError, is_timeout, map_err};

/// How an upload writes the remote file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// `STOR`: create or replace.
    Store,
    /// `REST offset` then `STOR`: continue a partial file at `offset`.
    Restart(u64),
    /// `APPE`: append to the end (resume on servers without `REST` for
    /// `STOR`).
    Append,
}

impl Connection {
    /// Closes the canceller's duplicates of the data connection before
    /// the transfer stream is finished or aborted: a duplicate left open
    /// would keep the connection from closing, and the server would wait
    /// for the end of an upload forever.
    fn release_data(&self) {
        self.settings.canceller.forget_data(self.id);
    }

    /// Runs a listing command (`LIST`, `MLSD`) and returns the lines of
    /// its data connection (lossy UTF-8, line ends removed). Read here
    /// rather than by suppaftp so the canceller's duplicate of the data
    /// socket is closed before the completion reply is awaited (a server
    /// such as proftpd sends its `226` only once the client has closed).
    pub(super) fn data_lines(
        &mut self,
        verb: &str,
        dir: Option<&str>,
    ) -> Result<Vec<String>, RemoteError> {
        let command = match dir {
            Some(d) => format!("{verb} {d}"),
            None => verb.to_owned(),
        };
        let (_, mut stream) = self.with_data(|ftp| {
            ftp.custom_data_command(&command, &[Status::AboutToSend, Status::AlreadyOpen])
        })?;
        let mut bytes = Vec::new();
        let read = stream.read_to_end(&mut bytes);
        self.release_data();
        if let Err(e) = read {
            // The completion reply (426/451) explains it better.
            return Err(match stream.finish() {
                Err(err) => map_err(err),
                Ok(()) if is_timeout(&e) => RemoteError::TimedOut,
                Ok(()) => RemoteError::ConnectionLost(e),
            });
        }
        stream.finish().map_err(map_err)?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .map(|l| l.trim_end_matches('\r').to_owned())
            .filter(|l| !l.is_empty())
            .collect())
    }

    /// Downloads `remote` (`RETR`, RFC 959 §4.1.3) into `sink` in chunks
    /// of [`CHUNK`] bytes, calling `progress` with the running total.
    /// With `offset` > 0 the transfer starts there (`REST offset` right
    /// before `RETR`, RFC 3659 §5). Setting `interrupt` aborts the
    /// transfer with `ABOR`. Returns the bytes received.
    ///
    /// # Errors
    /// The server's refusal or failure reply, [`RemoteError::Interrupted`],
    /// [`RemoteError::Stalled`], [`RemoteError::Local`] when `sink` fails.
    pub fn download(
        &mut self,
        remote: &str,
        offset: u64,
        sink: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
        interrupt: &AtomicBool,
    ) -> Result<u64, RemoteError> {
        let offset = usize::try_from(offset)
            .map_err(|_| RemoteError::Protocol("offset too large".to_owned()))?;
        let mut stream = self.with_data(|ftp| {
            ftp.resume_transfer(offset)?;
            ftp.retr_as_stream(remote)
        })?;
        // A short read timeout lets the loop notice Ctrl-C while the
        // server is slow.
        let _ = stream.get_ref().get_ref().set_read_timeout(Some(POLL));
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        let mut idle = Duration::ZERO;
        loop {
            if interrupt.load(Ordering::Relaxed) {
                self.release_data();
                let aborted = abort_download(&mut self.ftp, stream);
                self.settle_after_abort(aborted)?;
                return Err(RemoteError::Interrupted { bytes: total });
            }
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    idle = Duration::ZERO;
                    if let Err(e) = sink.write_all(&buf[..n]) {
                        self.release_data();
                        let aborted = self.ftp.abort(stream);
                        self.settle_after_abort(aborted)?;
                        return Err(RemoteError::Local(e));
                    }
                    total += n as u64;
                    progress(total);
                }
                Err(e) if is_timeout(&e) => {
                    idle += POLL;
                    if idle >= self.settings.timeout {
                        self.release_data();
                        let aborted = self.ftp.abort(stream);
                        self.settle_after_abort(aborted)?;
                        return Err(RemoteError::Stalled(self.settings.timeout.as_secs()));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The completion reply (426/451) explains it better
                    // than the socket error.
                    self.release_data();
                    return Err(match stream.finish() {
                        Err(err) => map_err(err),
                        Ok(()) => RemoteError::ConnectionLost(e),
                    });
                }
            }
        }
        self.release_data();
        stream.finish().map_err(map_err)?;
        Ok(total)
    }

    /// Uploads `source` to `remote` (`STOR`, `REST`+`STOR` or `APPE`, RFC
    /// 959 §4.1.3, RFC 3659 §5, as `how` says) in chunks of [`CHUNK`] bytes, calling `progress` with the running total. Setting
    /// `interrupt` aborts with `ABOR`, so the server discards the partial
    /// file instead of committing it. Returns the bytes sent.
    ///
    /// # Errors
    /// The server's refusal or failure reply, [`RemoteError::Interrupted`],
    /// [`RemoteError::Stalled`], [`RemoteError::Local`] when `source` fails.
    pub fn upload(
        &mut self,
        remote: &str,
        how: Upload,
        source: &mut dyn Read,
        progress: &mut dyn FnMut(u64),
        interrupt: &AtomicBool,
    ) -> Result<u64, RemoteError> {
        let mut stream = self.with_data(|ftp| match how {
            Upload::Store => ftp.put_with_stream(remote),
            Upload::Restart(offset) => {
                ftp.resume_transfer(usize::try_from(offset).unwrap_or(usize::MAX))?;
                ftp.put_with_stream(remote)
            }
            Upload::Append => ftp.append_with_stream(remote),
        })?;
        let _ = stream.get_ref().get_ref().set_write_timeout(Some(POLL));
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            if interrupt.load(Ordering::Relaxed) {
                self.release_data();
                let aborted = abort_upload(&mut self.ftp, stream);
                self.settle_after_abort(aborted)?;
                return Err(RemoteError::Interrupted { bytes: total });
            }
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.release_data();
                    let aborted = abort_upload(&mut self.ftp, stream);
                    self.settle_after_abort(aborted)?;
                    return Err(RemoteError::Local(e));
                }
            };
            let mut sent = 0;
            let mut idle = Duration::ZERO;
            while sent < n {
                if interrupt.load(Ordering::Relaxed) {
                    self.release_data();
                    let aborted = abort_upload(&mut self.ftp, stream);
                    self.settle_after_abort(aborted)?;
                    return Err(RemoteError::Interrupted { bytes: total });
                }
                match stream.write(&buf[sent..n]) {
                    Ok(0) => {
                        self.release_data();
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
                        if idle >= self.settings.timeout {
                            self.release_data();
                            let aborted = abort_upload(&mut self.ftp, stream);
                            self.settle_after_abort(aborted)?;
                            return Err(RemoteError::Stalled(self.settings.timeout.as_secs()));
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.release_data();
                        return Err(match stream.finish() {
                            Err(err) => map_err(err),
                            Ok(()) => RemoteError::ConnectionLost(e),
                        });
                    }
                }
            }
        }
        // Over TLS: close_notify and read the server's, taking in the
        // session tickets it sent (the next data connection resumes with
        // one) and leaving no unread bytes that would turn the close into
        // a reset.
        crate::tls::close_upload(stream.get_mut(), crate::tls::CLOSE_TIMEOUT);
        self.release_data();
        stream.finish().map_err(map_err)?;
        Ok(total)
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
