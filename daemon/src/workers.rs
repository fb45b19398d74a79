//! The worker pool: fixed std threads that run commands and commit uploads,
//! so the event loop never blocks on the disk.
//!
//! Jobs go in through one crossbeam channel shared by all workers (whoever
//! is free takes the next job); results come back through another channel,
//! and each result is followed by a [`mio::Waker`] wake-up. Every job carries
//! its connection's slab key and generation, so the loop drops results for
//! connections that closed meanwhile (dropping an upload sink deletes its
//! temporary file).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
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
    /// Make a completed upload visible (fsync, rename).
    Commit {
        id: ConnId,
        sink: Box<dyn UploadSink>,
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

pub(crate) struct Workers {
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
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
        })
    }

    /// Queues a job. Fails only after [`Workers::stop`], handing it back.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Job> {
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
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

fn work(jobs: &Receiver<Job>, done: &Sender<Done>, waker: &mio::Waker) {
    for job in jobs {
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
            Job::Commit { id, sink } => match catch_unwind(AssertUnwindSafe(|| sink.commit())) {
                Ok(reply) => Done::Committed { id, reply },
                Err(_) => Done::Committed {
                    id,
                    reply: Reply::new(
                        ftpsh_core::ReplyCode::LOCAL_ERROR,
                        "transfer aborted: local error while committing the upload",
                    ),
                },
            },
        };
        if done.send(result).is_err() {
            // The loop is gone (shutdown): nothing left to report to.
            return;
        }
        if let Err(e) = waker.wake() {
            tracing::error!("waking the event loop: {e}");
        }
    }
}
