//! Session commands: login, connection settings, server information and
//! passive mode — everything on the control connection that does not touch
//! the user's files.
//!
//! RFC 959 §4.1.1 gives the access-control commands: USER names the user
//! and PASS completes the login (the server asks for the password with 331);
//! REIN forgets the login and returns the connection to its just-opened state
//! without closing it; QUIT ends the session once a transfer in progress has
//! finished; PASV makes the server listen on a data port and announce it.
//! §4.1.2 gives the transfer parameters TYPE, MODE and STRU, of which only
//! the image/ASCII-nonprint types, stream mode and file structure make sense
//! today. §4.1.3 gives the service commands ABOR, ALLO, SYST, HELP and NOOP.
//! RFC 2389 adds FEAT (the list of extensions) and OPTS (settings for one of
//! them); RFC 2428 adds EPSV, a passive mode that announces only a port and
//! so works for IPv6, and `EPSV ALL`, after which the client promises to use
//! nothing else. RFC 959 §4.1.2 PORT and RFC 2428 §2 EPRT (active mode)
//! name the client's data port instead, checked against bounce attacks
//! (RFC 2577 §3). The seed verbs `CONNME` and `BYEBYE` are accepted on the
//! wire too (product.md §4).
//!
//! The main trade-off: these commands only change the [`Session`]; anything
//! that needs the event loop — closing the connection, aborting a transfer,
//! a passive listener, a failed-login delay — is handed back as an
//! [`Outcome`], so a slow or hostile client never holds a worker thread.
//!
//! [`Session`]: ftpsh_core::Session
//! [`Outcome`]: ftpsh_core::Outcome

use std::sync::Arc;

use ftpsh_core::Command;

mod active;
mod info;
mod login;
mod passive;
mod settings;

pub use active::{Active, MIN_ACTIVE_PORT};
pub use info::Features;
pub use login::{Auth, Byebye, Connme};
pub use passive::{Abort, Passive};
pub use settings::Settings;

/// The commands of this crate, for the built-in list.
pub fn commands() -> Vec<Arc<dyn Command>> {
    vec![
        Arc::new(Auth),
        Arc::new(Connme),
        Arc::new(Byebye),
        Arc::new(Settings),
        Arc::new(Features),
        Arc::new(Passive),
        Arc::new(Active),
        Arc::new(Abort),
    ]
}

#[cfg(test)]
mod tests {
    use ftpsh_core::Registry;

    #[test]
    fn all_commands_register_together() {
        let mut r = Registry::new();
        for c in super::commands() {
            r.register(c).unwrap();
        }
        for verb in [
            "USER", "PASS", "QUIT", "BYEBYE", "CONNME", "PASV", "EPSV", "ABOR", "PORT", "EPRT",
        ] {
            assert!(r.lookup(verb).is_some(), "{verb}");
        }
    }
}
