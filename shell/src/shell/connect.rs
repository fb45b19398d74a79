//! Connecting: `connme`'s login (URL, `-u`, netrc, prompt), the embedded
//! server's start, and the reconnect after a lost connection.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{CmdError, Failure, ServerChoice, Shell, print_reply};
use crate::client::{Connection, RemoteError, reply_line};
use crate::embedded::{EmbeddedServer, EmbeddedSpec};
use crate::say;
use crate::url::FtpUrl;

/// The first pause before a reconnect; it doubles with each attempt, up
/// to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// The longest pause between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What a reconnect needs: where, and as whom.
#[derive(Clone)]
pub(super) struct Login {
    host: String,
    port: u16,
    user: String,
    password: String,
    /// The FTPS setup, so a reconnect is protected (and resumes) alike.
    tls: Option<crate::tls::ClientTls>,
}

impl Shell {
    /// Connects and logs in, printing the greeting and the login reply.
    pub(crate) fn connect(
        &mut self,
        url: Option<&str>,
        user_flag: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<(), CmdError> {
        // TLS from the URL's scheme (ftpes://, ftps://), else --tls; the
        // embedded server brings its own.
        let mut tls_mode = crate::tls::TlsMode::Off;
        let mut embedded_tls = None;
        let (mut user, mut password, host, port, path, label, embedded) = match url {
            Some(u) => {
                let url = FtpUrl::parse(u).map_err(|e| CmdError::usage("connme", e))?;
                tls_mode = url.tls;
                let label = url.display();
                (
                    url.user,
                    url.password,
                    url.host,
                    url.port,
                    url.path,
                    label,
                    false,
                )
            }
            None => match self.server.clone() {
                ServerChoice::Url(url) => {
                    tls_mode = url.tls;
                    let label = url.display();
                    (
                        url.user,
                        url.password,
                        url.host,
                        url.port,
                        url.path,
                        label,
                        false,
                    )
                }
                ServerChoice::Embedded(spec) => {
                    let deterministic = self.opts.deterministic;
                    let server = self.ensure_embedded(&spec, out)?;
                    embedded_tls = server.client_tls().cloned();
                    let addr = server.addr();
                    let label = if deterministic {
                        "embedded server".to_owned()
                    } else {
                        format!("embedded ftpshd at {addr}")
                    };
                    (
                        Some(server.user().to_owned()),
                        Some(server.password().to_owned()),
                        addr.ip().to_string(),
                        addr.port(),
                        None,
                        label,
                        true,
                    )
                }
            },
        };
        if let Some(flag) = user_flag {
            match flag.split_once(':') {
                Some((u, p)) => {
                    user = Some(u.to_owned());
                    password = Some(p.to_owned());
                }
                None => {
                    let same_user = user.as_deref() == Some(flag);
                    if !(embedded && same_user) {
                        password = None;
                    }
                    user = Some(flag.to_owned());
                }
            }
        }
        // No user anywhere: ~/.netrc by host (its `machine` entry, else
        // `default`), as lftp and curl do; else anonymous.
        let (user, password) = match user {
            Some(u) => (u, password),
            None => match std::env::var_os("HOME")
                .and_then(|home| crate::url::netrc_file_lookup(Path::new(&home), &host, None))
            {
                Some((login, p)) => (login, Some(p)),
                None => ("anonymous".to_owned(), password),
            },
        };
        let password = match password {
            Some(p) => p,
            None => self.find_password(&host, &user)?,
        };
        if tls_mode == crate::tls::TlsMode::Off && self.tls_flags.require {
            tls_mode = crate::tls::TlsMode::Explicit;
        }
        let tls = match embedded_tls {
            Some(t) => Some(t),
            None => crate::tls::ClientTls::new(tls_mode, &self.tls_flags)
                .map_err(|e| self.connect_err(&label, &RemoteError::Tls(e.to_string())))?,
        };
        let mut settings = self.settings.clone();
        settings.tls = tls.clone();
        let mut conn =
            Connection::open(&host, port, &settings).map_err(|e| self.connect_err(&label, &e))?;
        let login = match conn.login(&user, &password) {
            Ok(reply) => reply,
            Err(e) => {
                if !e.is_connection_lost() {
                    let _ = conn.quit();
                }
                return Err(self.connect_err(&format!("login as {user}"), &e));
            }
        };
        // Only now, with the login done, is the shell connected.
        let mut stderr = std::io::stderr();
        let chatter: &mut dyn Write = if self.opts.chatter_to_stderr {
            &mut stderr
        } else {
            out
        };
        say!(chatter, "connected to {label}");
        print_reply(chatter, conn.banner());
        if let Some(mode) = conn.tls_mode() {
            say!(chatter, "{}", crate::tls::describe_mode(mode));
        }
        say!(chatter, "{}", reply_line(&login));
        self.cache.clear();
        self.conn = Some(conn);
        self.login = Some(Login {
            host: host.clone(),
            port,
            user: user.clone(),
            password: password.clone(),
            tls,
        });
        if let Some(path) = path {
            let r = self.conn("connme")?.cd(&path).map(str::to_owned);
            match r {
                Ok(cwd) => say!(chatter, "cd ok, cwd={cwd}"),
                Err(e) => return Err(self.remote_err("connme", &path, e)),
            }
        }
        Ok(())
    }

    /// Opens a new connection after a loss, logs in as before and returns
    /// to `cwd`, after a pause that doubles with each `attempt` (1 s, 2 s,
    /// 4 s, … up to 30 s; Ctrl-C ends it). Says so on stderr; true when
    /// connected again.
    pub(super) fn reconnect(&mut self, cwd: &str, attempt: u32) -> bool {
        let Some(login) = self.login.clone() else {
            return false;
        };
        let pause = FIRST_BACKOFF
            .saturating_mul(1 << (attempt - 1).min(5))
            .min(MAX_BACKOFF);
        eprintln!(
            "connection lost; reconnecting in {} s (attempt {attempt} of {})",
            pause.as_secs(),
            self.opts.retries
        );
        let until = Instant::now() + pause;
        while Instant::now() < until {
            if self.settings.interrupt.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut settings = self.settings.clone();
        settings.tls = login.tls.clone();
        let fresh = Connection::open(&login.host, login.port, &settings).and_then(|mut c| {
            c.login(&login.user, &login.password)?;
            if c.cwd() != cwd {
                c.cd(cwd)?;
            }
            Ok(c)
        });
        match fresh {
            Ok(c) => {
                eprintln!("reconnected to {}; cwd={}", c.host_port(), c.cwd());
                self.cache.clear();
                self.conn = Some(c);
                true
            }
            Err(e) => {
                eprintln!("reconnect failed: {e}");
                // Try again on the next attempt.
                self.lost_in = Some(cwd.to_owned());
                false
            }
        }
    }

    /// A failed `connme`, told as interrupted when Ctrl-C caused it.
    fn connect_err(&self, subject: &str, err: &RemoteError) -> CmdError {
        if self.settings.canceller.is_cancelled() {
            return CmdError {
                message: format!("connme: {subject}: interrupted"),
                code: None,
                failure: Failure::Interrupted,
            };
        }
        CmdError::connect(subject, err)
    }

    fn ensure_embedded(
        &mut self,
        spec: &EmbeddedSpec,
        out: &mut dyn Write,
    ) -> Result<&EmbeddedServer, CmdError> {
        if self.embedded.is_none() {
            let server = EmbeddedServer::start(spec)
                .map_err(|e| CmdError::local("connme", "embedded server", e))?;
            if !self.opts.deterministic {
                let mut stderr = std::io::stderr();
                let chatter: &mut dyn Write = if self.opts.chatter_to_stderr {
                    &mut stderr
                } else {
                    out
                };
                say!(
                    chatter,
                    "started embedded ftpshd on {} serving {} (user {}, password {})",
                    server.addr(),
                    server.root().display(),
                    server.user(),
                    server.password()
                );
            }
            crate::signals::remove_on_exit(server.root());
            self.embedded = Some(server);
        }
        self.embedded
            .as_ref()
            .ok_or_else(|| CmdError::local("connme", "embedded server", "not running"))
    }

    /// `FTPSH_PASSWORD`, then `~/.netrc`, then the prompt; anonymous
    /// logins default to the customary e-mail-like password.
    fn find_password(&mut self, host: &str, user: &str) -> Result<String, CmdError> {
        if let Ok(p) = std::env::var("FTPSH_PASSWORD") {
            return Ok(p);
        }
        if let Some(home) = std::env::var_os("HOME")
            && let Some((_, p)) = crate::url::netrc_file_lookup(Path::new(&home), host, Some(user))
        {
            return Ok(p);
        }
        if user == "anonymous" || user == "ftp" {
            return Ok("ftpsh@".to_owned());
        }
        if let Some(prompt) = self.password_prompt.as_mut()
            && let Some(p) = prompt(&format!("password for {user}@{host}: "))
        {
            return Ok(p);
        }
        Err(CmdError::new(
            Failure::Connect,
            format!(
                "connme: no password for {user}@{host} (give it in the URL, -u USER:PASSWORD, \
                 FTPSH_PASSWORD or ~/.netrc)"
            ),
        ))
    }
}
