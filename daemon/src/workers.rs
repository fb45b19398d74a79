//! The worker pools, so the event loop never blocks on the disk: a fixed
//! pool of std threads that run commands, and an elastic pool that commits
//! uploads.
//!
//! Jobs go in through a crossbeam channel per pool (whoever is free takes
//! the next job); results come back through one channel, and each result is
//! followed by a [`mio::Waker`] wake-up. Every job carries its connection's
//! slab key and generation, so the loop drops results for connections that
//! closed meanwhile (dropping an upload sink deletes its temporary file).
//!
//! Commits have a pool of their own because a durable commit waits on the
//! disk (`fsync`, milliseconds) without using the CPU: queued behind the
//! few command workers, 300 concurrent uploads would be flushed four at a
//! time, and every other session's commands would wait behind them. The
//! commit pool starts a thread whenever none is idle, up to
//! [`COMMIT_THREADS`], so concurrent flushes reach the file system together
//! (ext4's journal commits them as one group), and a thread idle for
//! [`COMMIT_IDLE`] exits.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ftpsh_core::{Entry, Outcome, Reply, Request, Session, UploadSink};

/// Which connection a job belongs to: slab key and generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnId {
    pub key: usize,
    pub generation: u64,
}

pub(crate) enum Job {
    /// Run one command with the session lent to the worker.
    Run {
        id: ConnId,
        entry: Entry,
        request: Request,
        session: Box<Session>,
    },
    /// Make a completed upload visible (fsync when `durable`, rename).
    Commit {
        id: ConnId,
        sink: Box<dyn UploadSink>,
        durable: bool,
    },
}

pub(crate) enum Done {
    /// A command finished; the session comes back with its outcome.
    Ran {
        id: ConnId,
        session: Box<Session>,
        outcome: Outcome,
    },
    /// A command panicked: the session is gone, the connection must close.
    Panicked { id: ConnId, verb: String },
    /// An upload was committed (or failed to be).
    Committed { id: ConnId, reply: Reply },
}

/// Most threads of the commit pool.
pub(crate) const COMMIT_THREADS: usize = 256;

/// How long a commit thread waits for work before it exits.
pub(crate) const COMMIT_IDLE: Duration = Duration::from_secs(10);

pub(crate) struct Workers {
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    commits: CommitPool,
}

impl Workers {
    /// Starts `count` (at least one) workers that report to `done`, waking
    /// the loop through `waker`.
    pub(crate) fn start(
        count: usize,
        done: Sender<Done>,
        waker: Arc<mio::Waker>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let mut threads = Vec::new();
        for i in 0..count.max(1) {
            let rx = rx.clone();
            let done = done.clone();
            let waker = waker.clone();
            let thread = std::thread::Builder::new()
                .name(format!("ftpshd-worker-{i}"))
                .spawn(move || work(&rx, &done, &waker));
            match thread {
                Ok(t) => threads.push(t),
                Err(e) => {
                    // Stop the ones already started before reporting.
                    drop(tx);
                    for t in threads {
                        let _ = t.join();
                    }
                    return Err(e);
                }
            }
        }
        Ok(Self {
            jobs: Some(tx),
            threads,
            commits: CommitPool::new(done, waker),
        })
    }

    /// Queues a job: commits to the commit pool, the rest to the command
    /// workers. Fails only after [`Workers::stop`], handing it back.
    pub(crate) fn submit(&mut self, job: Job) -> Result<(), Job> {
        if matches!(job, Job::Commit { .. }) {
            return self.commits.submit(job);
        }
        match &self.jobs {
            Some(tx) => tx.send(job).map_err(|e| e.into_inner()),
            None => Err(job),
        }
    }

    /// Lets the workers finish their current jobs and joins them.
    pub(crate) fn stop(&mut self) {
        self.jobs = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.commits.stop();
    }
}

/// The elastic pool that commits uploads (see the module docs).
struct CommitPool {
    jobs: Option<Sender<Job>>,
    queue: Receiver<Job>,
    done: Sender<Done>,
    waker: Arc<mio::Waker>,
    /// Threads waiting for a job.
    idle: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
}

impl CommitPool {
    fn new(done: Sender<Done>, waker: Arc<mio::Waker>) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self {
            jobs: Some(tx),
            queue: rx,
            done,
            waker,
            idle: Arc::new(AtomicUsize::new(0)),
            threads: Vec::new(),
        }
    }

    fn submit(&mut self, job: Job) -> Result<(), Job> {
        let Some(tx) = &self.jobs else {
            return Err(job);
        };
        tx.send(job).map_err(|e| e.into_inner())?;
        // After the send: a thread that stops waiting later sees the job.
        if self.idle.load(Ordering::SeqCst) == 0 {
            self.threads.retain(|t| !t.is_finished());
            if self.threads.len() < COMMIT_THREADS {
                self.spawn();
            }
        }
        Ok(())
    }

    /// Starts one more commit thread. Failing that (thread limit), the
    /// job waits for a running one.
    fn spawn(&mut self) {
        let (rx, done, waker, idle) = (
            self.queue.clone(),
            self.done.clone(),
            self.waker.clone(),
            self.idle.clone(),
        );
        let n = self.threads.len();
        let spawned = std::thread::Builder::new()
            .name(format!("ftpshd-commit-{n}"))
            .stack_size(256 * 1024)
            .spawn(move || {
                loop {
                    idle.fetch_add(1, Ordering::SeqCst);
                    let job = rx.recv_timeout(COMMIT_IDLE);
                    idle.fetch_sub(1, Ordering::SeqCst);
                    let job = match job {
                        Ok(job) => job,
                        // A job sent while this thread was still counted
                        // idle (so none was started for it) is in the
                        // queue by now: take it rather than strand it.
                        Err(RecvTimeoutError::Timeout) if !rx.is_empty() => continue,
                        Err(_) => return,
                    };
                    if !run_job(job, &done, &waker) {
                        return;
                    }
                }
            });
        match spawned {
            Ok(t) => self.threads.push(t),
            Err(e) => tracing::warn!("starting a commit thread: {e}"),
        }
    }

    fn stop(&mut self) {
        self.jobs = None;
        // A job queued with no thread left (all exited idle) still runs.
        if !self.queue.is_empty() && self.threads.iter().all(JoinHandle::is_finished) {
            self.spawn();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

fn work(jobs: &Receiver<Job>, done: &Sender<Done>, waker: &mio::Waker) {
    for job in jobs {
        if !run_job(job, done, waker) {
            return;
        }
    }
}

/// Runs one job and reports it. False when the loop is gone.
fn run_job(job: Job, done: &Sender<Done>, waker: &mio::Waker) -> bool {
    let result = match job {
        Job::Run {
            id,
            entry,
            request,
            mut session,
        } => {
            // A command (a plugin, say) that panics must cost its own
            // connection, not the worker or the daemon.
            let ran = catch_unwind(AssertUnwindSafe(|| {
                let outcome = entry.command.run(&request, &mut session);
                (session, outcome)
            }));
            match ran {
                Ok((session, outcome)) => Done::Ran {
                    id,
                    session,
                    outcome,
                },
                Err(_) => {
                    tracing::error!(verb = %request.verb, "command panicked");
                    Done::Panicked {
                        id,
                        verb: request.verb,
                    }
                }
            }
        }
        Job::Commit {
            id,
            mut sink,
            durable,
        } => {
            let committed = catch_unwind(AssertUnwindSafe(|| {
                if durable && let Err(e) = sink.sync() {
                    tracing::warn!("flushing an upload: {e}");
                    return ftpsh_core::command::transfer_error_reply(&e);
                }
                sink.commit()
            }));
            let reply = committed.unwrap_or_else(|_| {
                Reply::new(
                    ftpsh_core::ReplyCode::LOCAL_ERROR,
                    "transfer aborted: local error while committing the upload",
                )
            });
            Done::Committed { id, reply }
        }
    };
    if done.send(result).is_err() {
        // The loop is gone (shutdown): nothing left to report to.
        return false;
    }
    if let Err(e) = waker.wake() {
        tracing::error!("waking the event loop: {e}");
    }
    true
}
