//! Transfer commands: RETR (alias DOWNLOAD), STOR (alias UPLOAD), APPE and
//! REST — the seed's `download` and `upload`, as real FTP.
//!
//! RFC 959 §4.1.3: RETR sends a copy of a file over the data connection;
//! STOR stores the data connection's bytes as a file, replacing one that
//! exists; APPE appends them to a file, creating it if needed; STOU stores
//! them under a new name unique in the directory. RFC 3659 §5
//! (REST STREAM) lets a client resume: `REST n` sets a restart marker — the
//! byte offset where the next RETR starts reading or the next STOR starts
//! writing — and the marker is used by that one command only.
//!
//! The main trade-off: a command here only opens things. It checks the path
//! through the user's jail, opens the file (or an upload sink) and returns
//! it in an [`Outcome::Transfer`]; the event loop moves the bytes in bounded
//! chunks (`sendfile(2)` for RETR), so no file is ever read into memory and
//! a slow data connection never holds a worker. A fresh STOR goes to an
//! unnamed temporary file that replaces the target only when the upload
//! completes ([`AtomicUpload`]), so an interrupted upload never damages the
//! old file; resuming (REST+STOR) and APPE must write in place instead
//! ([`InPlaceUpload`]), which is why they also need the `a` permission.
//!
//! [`Outcome::Transfer`]: ftpsh_core::Outcome::Transfer
//! [`AtomicUpload`]: ftpsh_core::upload::AtomicUpload
//! [`InPlaceUpload`]: ftpsh_core::upload::InPlaceUpload

use std::sync::Arc;

use ftpsh_core::{Command, Outcome, Reply};

mod rest;
mod retr;
mod stor;
mod stou;

pub use rest::Restart;
pub use retr::Download;
pub use stor::Upload;
pub use stou::UniqueUpload;

/// The commands of this crate, for the built-in list.
pub fn commands() -> Vec<Arc<dyn Command>> {
    vec![
        Arc::new(Download),
        Arc::new(Upload),
        Arc::new(UniqueUpload),
        Arc::new(Restart),
    ]
}

/// Runs a command body written with `?` on replies.
fn outcome(result: Result<Outcome, Reply>) -> Outcome {
    result.unwrap_or_else(Outcome::Reply)
}

#[cfg(test)]
pub(crate) mod testutil {
    use std::sync::Arc;

    use ftpsh_core::testkit::TestSession;
    use ftpsh_core::{Registry, ServerConfig, User};

    /// A logged-in fixture with every command of this crate.
    pub fn session() -> TestSession {
        let mut r = Registry::new();
        for c in super::commands() {
            r.register(c).unwrap();
        }
        TestSession::new(r)
    }

    /// Adds `spec` (`NAME:PASSWORD:PERMS`) and logs in as that user.
    pub fn login_with(t: &mut TestSession, spec: &str) {
        let mut users = t.session.config.users.clone();
        let user = User::from_spec(spec, t.dir.path().to_path_buf()).unwrap();
        let (name, password) = (user.name.clone(), user.password.clone().unwrap());
        users.add(user);
        t.session.config = Arc::new(ServerConfig {
            users,
            ..(*t.session.config).clone()
        });
        t.login_as(&name, &password);
    }
}
