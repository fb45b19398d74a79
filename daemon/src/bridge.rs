//! Transfers whose file side may wait on the network (object storage):
//! a thread of their own on that side, a pipe to the event loop.
//!
//! The loop must never wait for an object store (architecture.md: "blocking
//! reads from an object store happen on workers, never on the loop"). A
//! [`DataSource::Blocking`](ftpsh_core::DataSource::Blocking) reader and a
//! [`blocking`](ftpsh_core::UploadSink::blocking) upload sink are therefore
//! driven by one thread each, connected to the loop by a pipe whose loop
//! end is non-blocking and registered with the poller like any socket:
//!
//! ```text
//!  RETR: object store → [reader thread] → pipe → loop → data connection
//!  STOR: data connection → loop → pipe → [writer thread] → object store
//! ```
//!
//! The pipe's buffer (1 MiB when the system allows it) is the flow
//! control: a slow store fills it, the loop stops reading the data
//! connection, TCP pushes back on the client; a slow client leaves the
//! reader thread blocked in `write(2)`. An aborted transfer closes the
//! loop's end, so the thread's next pipe operation fails (`EPIPE`) or sees
//! the end, and it drops what it held: an upload sink dropped without a
//! commit aborts its multipart upload, so the old object stays.

use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread::JoinHandle;

use ftpsh_core::command::transfer_error_reply;
use ftpsh_core::{Reply, UploadSink};

/// Bytes the reader thread moves per `read`/`write`.
const CHUNK: usize = 256 * 1024;

/// Pipe buffer asked for (`F_SETPIPE_SZ`); the default 1 MiB
/// `/proc/sys/fs/pipe-max-size` allows it. Best effort: 64 KiB otherwise.
const PIPE_SIZE: i32 = 1024 * 1024;

/// A pipe whose loop end (`non_blocking`) does not block.
fn pipe(non_blocking: &impl AsFd) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let fd = non_blocking.as_fd();
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    // Only a larger buffer; a failure (a lower pipe-max-size) is harmless.
    let _ = fcntl(fd, FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
    Ok(())
}

/// The loop's end of a [`DataSource::Blocking`](ftpsh_core::DataSource)
/// transfer: reads what the reader thread produced, `WouldBlock` while it
/// has produced nothing new, and the end of the file only once the thread
/// reported that its reader ended without an error.
pub(crate) struct PipeSource {
    pipe: PipeReader,
    status: Receiver<io::Result<()>>,
    /// The thread reported a clean end: later reads (the loop reads again
    /// after the end while TLS records still wait to be written) return
    /// the end again.
    ended: bool,
}

impl PipeSource {
    /// Starts a thread that copies `reader` into a new pipe.
    ///
    /// # Errors
    /// Creating the pipe or the thread failed (`EMFILE`, `EAGAIN`).
    pub(crate) fn spawn(mut reader: Box<dyn Read + Send>) -> io::Result<Self> {
        let (pipe_r, mut pipe_w) = io::pipe()?;
        pipe(&pipe_r)?;
        let (tx, status) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("ftpshd-read".to_owned())
            .spawn(move || {
                let result = copy(&mut reader, &mut pipe_w);
                // The status goes first: the loop sees the pipe's end only
                // after it, so it never mistakes an error for the end.
                let _ = tx.send(result);
                drop(pipe_w);
            })?;
        Ok(Self {
            pipe: pipe_r,
            status,
            ended: false,
        })
    }

    /// The descriptor to poll for readability.
    pub(crate) fn fd(&self) -> RawFd {
        self.pipe.as_raw_fd()
    }
}

/// Copies until the reader's end; `Ok` when the loop closed its end first
/// (the transfer was aborted: nothing more is wanted).
fn copy(reader: &mut dyn Read, pipe: &mut PipeWriter) -> io::Result<()> {
    let mut buf = vec![0; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        match pipe.write_all(&buf[..n]) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

impl Read for PipeSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.pipe.read(buf) {
            Ok(0) if self.ended => Ok(0),
            Ok(0) => match self.status.try_recv() {
                Ok(result) => {
                    self.ended = result.is_ok();
                    result.map(|()| 0)
                }
                // Sent before the pipe closes, so never empty here, unless
                // the thread died (a panic in the reader).
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                    Err(io::Error::other("the storage reader stopped unexpectedly"))
                }
            },
            other => other,
        }
    }
}

/// What the writer thread hands back: the sink, and how writing went.
type Finished = (Box<dyn UploadSink>, io::Result<()>);

/// The loop's end of an upload into a [`blocking`](UploadSink::blocking)
/// sink. [`BridgedSink::push`] never blocks: what the pipe does not take
/// is kept (at most one receive buffer) until the pipe is writable again.
/// [`UploadSink::sync`] and [`UploadSink::commit`], which the daemon runs
/// on a worker, close the pipe, wait for the thread to write everything
/// into the sink, then sync or commit the sink itself. Dropped without a
/// commit, the pipe closes, and the thread drops the sink uncommitted.
pub(crate) struct BridgedSink {
    pipe: Option<PipeWriter>,
    thread: Option<JoinHandle<Finished>>,
    /// The sink, once the thread has finished with it.
    sink: Option<Box<dyn UploadSink>>,
    /// Received bytes the pipe did not take yet.
    pending: Vec<u8>,
    /// Bytes handed to the pipe.
    written: u64,
}

impl BridgedSink {
    /// Starts a thread that writes what the pipe carries into `sink`.
    ///
    /// # Errors
    /// Creating the pipe or the thread failed.
    pub(crate) fn spawn(mut sink: Box<dyn UploadSink>) -> io::Result<Self> {
        let (mut pipe_r, pipe_w) = io::pipe()?;
        pipe(&pipe_w)?;
        let thread = std::thread::Builder::new()
            .name("ftpshd-write".to_owned())
            .spawn(move || {
                let result = drain(&mut pipe_r, sink.as_mut());
                (sink, result)
            })?;
        Ok(Self {
            pipe: Some(pipe_w),
            thread: Some(thread),
            sink: None,
            pending: Vec::new(),
            written: 0,
        })
    }

    /// The descriptor to poll for writability.
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.pipe.as_ref().map(AsFd::as_fd)
    }

    /// True while received bytes wait for room in the pipe: receive no
    /// more until [`BridgedSink::flush_pending`] empties them.
    #[cfg(test)]
    pub(crate) fn backlogged(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Moves waiting bytes into the pipe.
    ///
    /// # Errors
    /// `WouldBlock` while the pipe is full; the writer thread's error
    /// when it stopped (the store refused a part, ...).
    pub(crate) fn flush_pending(&mut self) -> io::Result<()> {
        // Taken out for the writes (which borrow `self`), put back with
        // what the pipe did not take: no copy of the bytes.
        let mut pending = std::mem::take(&mut self.pending);
        let mut done = 0;
        let result = loop {
            if done == pending.len() {
                break Ok(());
            }
            match self.write_pipe(&pending[done..]) {
                Ok(n) => done += n,
                Err(e) => break Err(e),
            }
        };
        pending.drain(..done);
        self.pending = pending;
        result
    }

    /// Accepts all of `buf`: into the pipe as far as it goes, the rest
    /// kept for [`BridgedSink::flush_pending`].
    ///
    /// # Errors
    /// The writer thread's error when it stopped.
    pub(crate) fn push(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut done = 0;
        if self.pending.is_empty() {
            while done < buf.len() {
                match self.write_pipe(&buf[done..]) {
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        self.pending.extend_from_slice(&buf[done..]);
        Ok(())
    }

    fn write_pipe(&mut self, buf: &[u8]) -> io::Result<usize> {
        let pipe = self
            .pipe
            .as_mut()
            .ok_or_else(|| io::Error::other("upload already finished"))?;
        match pipe.write(buf) {
            Ok(n) => {
                self.written += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            // The thread closed its end: it stopped on an error, which it
            // returns as it exits (so the join is immediate).
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.pipe = None;
                match self.join() {
                    Err(e) => Err(e),
                    Ok(()) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Closes the pipe and waits for the thread (on a worker only).
    fn join(&mut self) -> io::Result<()> {
        self.pipe = None;
        if let Some(thread) = self.thread.take() {
            let (sink, result) = thread
                .join()
                .map_err(|_| io::Error::other("the storage writer panicked"))?;
            self.sink = Some(sink);
            result?;
        }
        if self.sink.is_some() {
            Ok(())
        } else {
            Err(io::Error::other("the upload was abandoned"))
        }
    }
}

/// Writes everything the pipe carries into `sink`, until the pipe's end.
fn drain(pipe: &mut PipeReader, sink: &mut dyn UploadSink) -> io::Result<()> {
    let mut buf = vec![0; CHUNK];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => sink.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl Write for BridgedSink {
    /// Never used by the loop (see [`BridgedSink::push`]); writes what the
    /// pipe takes now.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush_pending()?;
        self.write_pipe(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl UploadSink for BridgedSink {
    fn sync(&mut self) -> io::Result<()> {
        self.join()?;
        match self.sink.as_mut() {
            Some(sink) => sink.sync(),
            None => Err(io::Error::other("the upload was abandoned")),
        }
    }

    fn commit(mut self: Box<Self>) -> Reply {
        if !self.pending.is_empty() {
            return transfer_error_reply(&io::Error::other(
                "received data was not written to the storage",
            ));
        }
        if let Err(e) = self.join() {
            return transfer_error_reply(&e);
        }
        match self.sink.take() {
            Some(sink) => sink.commit(),
            None => transfer_error_reply(&io::Error::other("the upload was abandoned")),
        }
    }

    fn written(&self) -> u64 {
        self.written
    }

    /// Already bridged: the loop may call it.
    fn blocking(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use ftpsh_core::ReplyCode;

    use super::*;

    /// A reader that waits before each chunk, like a slow store.
    struct Slow {
        left: usize,
        fail_at_end: bool,
    }

    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            std::thread::sleep(Duration::from_millis(2));
            if self.left == 0 {
                return if self.fail_at_end {
                    Err(io::Error::other("connection reset by the store"))
                } else {
                    Ok(0)
                };
            }
            let n = buf.len().min(self.left).min(100_000);
            buf[..n].fill(b'x');
            self.left -= n;
            Ok(n)
        }
    }

    fn drain_source(mut s: PipeSource) -> io::Result<usize> {
        let mut total = 0;
        let mut buf = vec![0; 65536];
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match s.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e),
            }
        }
        panic!("no end within 20 s")
    }

    #[test]
    fn source_delivers_everything_then_the_end() {
        let s = PipeSource::spawn(Box::new(Slow {
            left: 3_000_000,
            fail_at_end: false,
        }))
        .unwrap();
        assert_eq!(drain_source(s).unwrap(), 3_000_000);
    }

    #[test]
    fn the_end_reads_as_the_end_every_time() {
        let mut s = PipeSource::spawn(Box::new(Slow {
            left: 1000,
            fail_at_end: false,
        }))
        .unwrap();
        let mut buf = vec![0; 4096];
        let mut total = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(Instant::now() < deadline, "no end within 20 s");
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(total, 1000);
        // The loop reads again after the end while a TLS data connection
        // still writes out its last records: still the end, not an error.
        assert_eq!(s.read(&mut buf).unwrap(), 0);
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn source_error_is_not_an_end() {
        let s = PipeSource::spawn(Box::new(Slow {
            left: 500_000,
            fail_at_end: true,
        }))
        .unwrap();
        let e = drain_source(s).unwrap_err();
        assert!(e.to_string().contains("reset by the store"), "{e}");
    }

    /// A sink that records what it got and whether it was committed.
    #[derive(Clone, Default)]
    struct Record(Arc<Mutex<(Vec<u8>, bool, bool)>>);

    struct RecordSink(Record, u64);

    impl Write for RecordSink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            std::thread::sleep(Duration::from_micros(200));
            (self.0).0.lock().unwrap().0.extend_from_slice(buf);
            self.1 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl UploadSink for RecordSink {
        fn commit(self: Box<Self>) -> Reply {
            (self.0).0.lock().unwrap().1 = true;
            Reply::new(ReplyCode::CLOSING_DATA, "ok")
        }
        fn written(&self) -> u64 {
            self.1
        }
        fn blocking(&self) -> bool {
            true
        }
    }

    impl Drop for RecordSink {
        fn drop(&mut self) {
            (self.0).0.lock().unwrap().2 = true;
        }
    }

    fn push_all(sink: &mut BridgedSink, data: &[u8]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for chunk in data.chunks(256 * 1024) {
            while sink.backlogged() {
                assert!(Instant::now() < deadline);
                match sink.flush_pending() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            sink.push(chunk).unwrap();
        }
        while sink.backlogged() {
            assert!(Instant::now() < deadline);
            let _ = sink.flush_pending();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn sink_commits_everything_in_order() {
        let rec = Record::default();
        let mut sink = BridgedSink::spawn(Box::new(RecordSink(rec.clone(), 0))).unwrap();
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        push_all(&mut sink, &data);
        assert_eq!(sink.written(), data.len() as u64);
        let reply = Box::new(sink).commit();
        assert_eq!(reply.code, ReplyCode::CLOSING_DATA);
        let got = rec.0.lock().unwrap();
        assert!(got.0 == data, "bytes differ");
        assert!(got.1, "committed");
    }

    #[test]
    fn dropped_sink_is_never_committed() {
        let rec = Record::default();
        let mut sink = BridgedSink::spawn(Box::new(RecordSink(rec.clone(), 0))).unwrap();
        push_all(&mut sink, &[7; 100_000]);
        drop(sink);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !rec.0.lock().unwrap().2 {
            assert!(
                Instant::now() < deadline,
                "the thread did not drop the sink"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!rec.0.lock().unwrap().1, "dropped, so never committed");
    }
}
