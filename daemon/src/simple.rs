//! Interim thread-per-connection implementation behind the public API,
//! replaced by the mio event loop.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ftpsh_core::{
    DataSource, Outcome, Registry, Reply, ReplyCode, Request, Session, Transfer,
    command::transfer_error_reply,
};

use crate::DaemonConfig;

pub(crate) struct Server {
    listener: TcpListener,
    config: DaemonConfig,
    registry: Arc<Registry>,
}

pub(crate) struct Handle {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<io::Result<()>>,
}

impl Server {
    pub(crate) fn bind(config: DaemonConfig, registry: Registry) -> io::Result<Self> {
        let listener = TcpListener::bind(config.listen)?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            config,
            registry: Arc::new(registry),
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub(crate) fn run(self) -> io::Result<()> {
        let stop = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
        signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
        self.serve(&stop)
    }

    pub(crate) fn spawn(self) -> io::Result<Handle> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ftpshd".into())
            .spawn(move || self.serve(&s))?;
        Ok(Handle { stop, thread })
    }

    fn serve(self, stop: &AtomicBool) -> io::Result<()> {
        let config = Arc::new(self.config.server.clone());
        while !stop.load(Ordering::Relaxed) {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    let config = config.clone();
                    let registry = self.registry.clone();
                    let data_timeout = self.config.data_timeout;
                    std::thread::spawn(move || {
                        let _ = stream.set_nonblocking(false);
                        let local = stream.local_addr().unwrap_or(peer);
                        let session = Session::new(config, registry, peer, local);
                        let _ = serve_one(stream, session, data_timeout);
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => tracing::warn!("accept: {e}"),
            }
        }
        Ok(())
    }
}

impl Handle {
    pub(crate) fn shutdown(self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| io::Error::other("server thread panicked"))?
    }
}

fn serve_one(stream: TcpStream, mut session: Session, data_timeout: Duration) -> io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    let banner = Reply::new(ReplyCode::SERVICE_READY, &session.config.banner);
    out.write_all(&banner.to_wire())?;
    let mut passive: Option<TcpListener> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let request = match Request::parse(&line) {
            Ok(r) => r,
            Err(e) => {
                out.write_all(&Reply::new(ReplyCode::SYNTAX_ERROR, e.to_string()).to_wire())?;
                continue;
            }
        };
        let registry = session.registry.clone();
        let (entry, request) = match registry.authorize(&request, &session) {
            Ok(x) => x,
            Err(reply) => {
                out.write_all(&reply.to_wire())?;
                continue;
            }
        };
        if entry.spec.data && passive.is_none() {
            out.write_all(
                &Reply::new(ReplyCode::CANT_OPEN_DATA, "use PASV or EPSV first").to_wire(),
            )?;
            continue;
        }
        match entry.command.run(&request, &mut session) {
            Outcome::Reply(r) => out.write_all(&r.to_wire())?,
            Outcome::Delayed { reply, delay } => {
                std::thread::sleep(delay);
                out.write_all(&reply.to_wire())?;
            }
            Outcome::Close(r) => {
                out.write_all(&r.to_wire())?;
                return Ok(());
            }
            Outcome::Passive { listener, reply } => {
                passive = Some(listener);
                out.write_all(&reply.to_wire())?;
            }
            Outcome::Abort => out.write_all(
                &Reply::new(ReplyCode::DATA_OPEN_NO_TRANSFER, "no transfer to abort").to_wire(),
            )?,
            Outcome::Transfer { opening, transfer } => {
                let Some(l) = passive.take() else {
                    out.write_all(
                        &Reply::new(ReplyCode::CANT_OPEN_DATA, "use PASV or EPSV first").to_wire(),
                    )?;
                    continue;
                };
                let data = match l.accept() {
                    Ok((d, _)) => d,
                    Err(e) => {
                        out.write_all(
                            &Reply::new(ReplyCode::CANT_OPEN_DATA, e.to_string()).to_wire(),
                        )?;
                        continue;
                    }
                };
                data.set_read_timeout(Some(data_timeout))?;
                data.set_write_timeout(Some(data_timeout))?;
                out.write_all(&opening.to_wire())?;
                let reply = run_transfer(data, transfer);
                out.write_all(&reply.to_wire())?;
            }
        }
    }
}

fn run_transfer(mut data: TcpStream, transfer: Transfer) -> Reply {
    match transfer {
        Transfer::Send(DataSource::Bytes(b)) => match data.write_all(&b) {
            Ok(()) => done(b.len() as u64),
            Err(_) => Reply::new(ReplyCode::TRANSFER_ABORTED, "transfer aborted"),
        },
        Transfer::Send(DataSource::File { mut file, offset }) => {
            use std::io::Seek;
            if let Err(e) = file.seek(io::SeekFrom::Start(offset)) {
                return transfer_error_reply(&e);
            }
            match io::copy(&mut file, &mut data) {
                Ok(n) => done(n),
                Err(_) => Reply::new(ReplyCode::TRANSFER_ABORTED, "transfer aborted"),
            }
        }
        Transfer::Receive(mut sink) => {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match data.read(&mut buf) {
                    Ok(0) => return sink.commit(),
                    Ok(n) => {
                        if let Err(e) = sink.write_all(&buf[..n]) {
                            return transfer_error_reply(&e);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Reply::new(ReplyCode::TRANSFER_ABORTED, "transfer aborted"),
                }
            }
        }
    }
}

fn done(n: u64) -> Reply {
    Reply::new(
        ReplyCode::CLOSING_DATA,
        format!("transfer complete ({n} bytes)"),
    )
}
