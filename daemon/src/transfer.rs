//! Moving file data over a data connection in bounded, non-blocking chunks
//! (RFC 959 §3.3 stream mode: the end of the data is the closing of the
//! connection).
//!
//! Each `pump_*` call does at most one chunk budget of work and reports
//! whether it stopped because the socket would block (wait for readiness),
//! because the budget ran out (come back after other connections had their
//! turn), or because the transfer ended. `RETR` of a file uses `sendfile(2)`
//! on a plain data connection, so file bytes go from the page cache to the
//! socket without a copy through user space; over TLS they go through a
//! bounded buffer (see [`Stream::send_file`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use std::os::fd::{AsRawFd, RawFd};

use ftpsh_core::{DataSource, UploadSink};

use crate::bridge::{BridgedSink, PipeSource};
use crate::stream::Stream;

/// Most bytes moved per connection per readiness event.
pub(crate) const CHUNK_BUDGET: usize = 1024 * 1024;

/// Most bytes a data connection's socket holds that TCP has not sent yet
/// (`TCP_NOTSENT_LOWAT`, Linux `tcp(7)`); data in flight does not count.
///
/// Without a limit a `sendfile` of the 1 MiB budget queues up to the send
/// buffer (4 MiB here) behind the congestion window, and TCP sends it in
/// bursts as acknowledgements open the window, partly from the
/// acknowledgement path in the receiving client's context. Measured on
/// loopback with `curl -o /dev/null` RETR of a cached 1 GiB file: without
/// the limit, out-of-order segments and spurious retransmits (`nstat`:
/// `TCPOFOQueue`, `TCPDSACKRecv`), a receive window stuck near 1 MB
/// (`ss -tmi`; 3 MB under pyftpdlib) and 2,525 MiB/s median over 11
/// interleaved rounds; with 32 KiB, next to no reordering and 5,757 MiB/s
/// (64 KiB: 5,126; pyftpdlib 2.2.0, whose one 64 KiB `sendfile` per loop
/// turn leaves little unsent: 2,911), at the same CPU time per GiB. It
/// held with the daemon and curl pinned to separate CPUs (2,683 against
/// 4,098 MiB/s with 64 KiB, 7 rounds). Over a real network the limit
/// should cost nothing - the data in flight still fills the congestion
/// window, and the loop tops the unsent queue up long before an RTT has
/// passed - but that is reasoning, not a measurement: this kernel has no
/// `netem` to emulate a path. It also keeps a stalled download from
/// pinning 4 MiB of kernel memory.
pub(crate) const NOTSENT_LOWAT: u32 = 32 * 1024;

/// Sets [`NOTSENT_LOWAT`] on a new data connection. Only a tuning: a
/// failure is logged at debug level and changes nothing else.
pub(crate) fn limit_unsent(socket: &impl std::os::fd::AsFd) {
    if let Err(e) = socket2::SockRef::from(socket).set_tcp_notsent_lowat(NOTSENT_LOWAT) {
        tracing::debug!("TCP_NOTSENT_LOWAT on a data connection: {e}");
    }
}

/// Size of the loop's shared receive buffer.
pub(crate) const RECV_BUFFER: usize = 256 * 1024;

/// What a send transfer reads from, with its progress.
pub(crate) enum Source {
    /// A file, sent from `offset` (bytes) to its end.
    File { file: File, offset: i64 },
    /// Bytes produced in advance (a listing); `pos` is the next byte to send.
    Bytes { bytes: Vec<u8>, pos: usize },
    /// A reader drained through `buf`; `buf[pos..len]` is read but not yet
    /// sent. A reader that returns `WouldBlock` (a [`PipeSource`]) has its
    /// descriptor in `poll`, to be polled for readability.
    Reader {
        reader: Box<dyn Read + Send>,
        buf: Box<[u8]>,
        pos: usize,
        len: usize,
        poll: Option<RawFd>,
    },
}

impl Source {
    /// The source for `source`, starting the reader thread of a
    /// [`DataSource::Blocking`] (see [`crate::bridge`]).
    ///
    /// # Errors
    /// The pipe or the thread could not be created.
    pub(crate) fn open(source: DataSource) -> io::Result<Self> {
        let reader = |reader, poll| Self::Reader {
            reader,
            buf: vec![0; READER_BUFFER].into_boxed_slice(),
            pos: 0,
            len: 0,
            poll,
        };
        Ok(match source {
            DataSource::File { file, offset } => {
                let offset = i64::try_from(offset).unwrap_or(i64::MAX);
                // sendfile reads the file on the loop thread: a larger
                // read-ahead window makes it wait for the disk less often.
                // Only advice, so a failure changes nothing.
                let _ = nix::fcntl::posix_fadvise(
                    &file,
                    offset,
                    0,
                    nix::fcntl::PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL,
                );
                Self::File { file, offset }
            }
            DataSource::Bytes(bytes) => Self::Bytes { bytes, pos: 0 },
            DataSource::Reader(r) => reader(r, None),
            DataSource::Blocking(r) => {
                let pipe = PipeSource::spawn(r)?;
                let poll = Some(pipe.fd());
                reader(Box::new(pipe), poll)
            }
        })
    }

    /// A descriptor besides the data connection to poll for readability.
    pub(crate) fn poll_fd(&self) -> Option<RawFd> {
        match self {
            Self::Reader { poll, .. } => *poll,
            _ => None,
        }
    }
}

/// Where a receive transfer writes.
pub(crate) enum Sink {
    /// A sink the loop writes directly (a local file).
    Direct(Box<dyn UploadSink>),
    /// A sink written from a thread of its own (see [`crate::bridge`]).
    Bridged(Box<BridgedSink>),
}

impl Sink {
    /// The sink for `sink`, bridged when its writes may wait on the
    /// network.
    ///
    /// # Errors
    /// The pipe or the thread could not be created.
    pub(crate) fn open(sink: Box<dyn UploadSink>) -> io::Result<Self> {
        if sink.blocking() {
            Ok(Self::Bridged(Box::new(BridgedSink::spawn(sink)?)))
        } else {
            Ok(Self::Direct(sink))
        }
    }

    /// A descriptor besides the data connection to poll for writability.
    pub(crate) fn poll_fd(&self) -> Option<RawFd> {
        match self {
            Self::Bridged(b) => b.fd().map(|fd| fd.as_raw_fd()),
            Self::Direct(_) => None,
        }
    }

    /// Whether the sink takes more now: `WouldBlock` while a bridged sink's
    /// pipe is full; its writer thread's error once it stopped.
    fn ready(&mut self) -> io::Result<()> {
        match self {
            Self::Direct(_) => Ok(()),
            Self::Bridged(b) => b.flush_pending(),
        }
    }

    /// Takes all of `data`.
    fn accept(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            // The sink may come from a plugin: a panic in it must end this
            // upload, not the event loop.
            Self::Direct(sink) => catch_unwind(AssertUnwindSafe(|| sink.write_all(data)))
                .unwrap_or_else(|_| Err(io::Error::other("upload sink panicked"))),
            Self::Bridged(b) => b.push(data),
        }
    }

    /// The sink to sync and commit, on a worker.
    pub(crate) fn into_upload(self) -> Box<dyn UploadSink> {
        match self {
            Self::Direct(sink) => sink,
            Self::Bridged(b) => b,
        }
    }
}

/// Size of a [`Source::Reader`]'s buffer.
const READER_BUFFER: usize = 64 * 1024;

/// Why a pump call returned.
#[derive(Debug)]
pub(crate) enum Pump {
    /// The socket would block; wait for the next readiness event.
    Blocked,
    /// The chunk budget is spent; more can be done right away.
    Budget,
    /// Everything was sent, or the client closed its end after an upload.
    Finished,
    /// The data connection failed (reset by the peer, broken pipe).
    PeerError(io::Error),
    /// Writing to the upload sink failed (disk full, ...).
    SinkError(io::Error),
    /// Reading the file to send failed.
    SourceError(io::Error),
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

/// Sends from `source` to `socket`, adding the bytes sent to `moved`.
/// `Finished` only once every byte has left (TLS records included).
pub(crate) fn pump_send(socket: &mut Stream, source: &mut Source, moved: &mut u64) -> Pump {
    let mut budget = CHUNK_BUDGET;
    while budget > 0 {
        let step = match source {
            Source::File { file, offset } => socket.send_file(file, offset, budget),
            Source::Bytes { bytes, pos } => {
                let end = (*pos + budget).min(bytes.len());
                match socket.write(&bytes[*pos..end]) {
                    Ok(n) => {
                        *pos += n;
                        Ok(n)
                    }
                    Err(e) => Err(e),
                }
            }
            Source::Reader {
                reader,
                buf,
                pos,
                len,
                ..
            } => {
                if *pos == *len {
                    // The reader may come from a plugin: a panic in it must
                    // end this transfer, not the event loop.
                    let read = catch_unwind(AssertUnwindSafe(|| reader.read(buf)))
                        .unwrap_or_else(|_| Err(io::Error::other("data source panicked")));
                    match read {
                        Ok(0) => return finish(socket),
                        Ok(n) => {
                            *pos = 0;
                            *len = n;
                        }
                        Err(e) if interrupted(&e) => continue,
                        // A bridged source with nothing new yet: its pipe
                        // is polled too.
                        Err(e) if would_block(&e) => return Pump::Blocked,
                        Err(e) => return Pump::SourceError(e),
                    }
                }
                let end = (*pos + budget).min(*len);
                match socket.write(&buf[*pos..end]) {
                    Ok(n) => {
                        *pos += n;
                        Ok(n)
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match step {
            Ok(0) => return finish(socket),
            Ok(n) => {
                *moved += n as u64;
                budget = budget.saturating_sub(n);
                if let Source::Bytes { bytes, pos } = source
                    && *pos >= bytes.len()
                {
                    return finish(socket);
                }
            }
            Err(e) if would_block(&e) => return Pump::Blocked,
            Err(e) if interrupted(&e) => {}
            Err(e) if is_source_error(&e, source) => return Pump::SourceError(e),
            Err(e) => return Pump::PeerError(e),
        }
    }
    Pump::Budget
}

/// The source is exhausted: finished once the stream has written out
/// everything it buffered.
fn finish(socket: &mut Stream) -> Pump {
    match socket.flushed() {
        Ok(()) => Pump::Finished,
        Err(e) if would_block(&e) => Pump::Blocked,
        Err(e) => Pump::PeerError(e),
    }
}

/// `sendfile(2)` reports errors of both ends; these come from the file
/// (an I/O error, or a file type it cannot read from).
fn is_source_error(e: &io::Error, source: &Source) -> bool {
    use nix::errno::Errno;
    matches!(source, Source::File { .. })
        && [Errno::EIO, Errno::EINVAL, Errno::EOVERFLOW, Errno::ESPIPE]
            .iter()
            .any(|errno| e.raw_os_error() == Some(*errno as i32))
}

/// Receives from `socket` into `sink` through `buf`, adding the bytes
/// written to `moved`.
pub(crate) fn pump_receive(
    socket: &mut Stream,
    sink: &mut Sink,
    buf: &mut [u8],
    moved: &mut u64,
) -> Pump {
    let mut budget = CHUNK_BUDGET;
    while budget > 0 {
        // A bridged sink whose pipe is full takes nothing more: the data
        // connection is not read (TCP then slows the client down), and its
        // end counts only once every received byte is in the pipe.
        match sink.ready() {
            Ok(()) => {}
            Err(e) if would_block(&e) => return Pump::Blocked,
            Err(e) => return Pump::SinkError(e),
        }
        match socket.read(buf) {
            Ok(0) => return Pump::Finished,
            Ok(n) => {
                if let Err(e) = sink.accept(&buf[..n]) {
                    return Pump::SinkError(e);
                }
                *moved += n as u64;
                budget = budget.saturating_sub(n);
            }
            Err(e) if would_block(&e) => return Pump::Blocked,
            Err(e) if interrupted(&e) => {}
            Err(e) => return Pump::PeerError(e),
        }
    }
    Pump::Budget
}
