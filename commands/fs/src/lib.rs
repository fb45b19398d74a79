//! Filesystem commands other than listing, transfer, delete and size: the
//! working directory (PWD, CWD, CDUP), directories (MKD, RMD), renaming
//! (RNFR, RNTO) and modification times (MDTM, MFMT).
//!
//! RFC 959 §4.1.1: CWD changes the working directory that relative
//! pathnames are resolved against, and CDUP is the special case of moving to
//! the parent, with the same replies. §4.1.3: PWD, MKD and RMD report, make
//! and remove directories, the first two answering with the quoted absolute
//! pathname in a 257 reply (Appendix II, embedded quotes doubled); RNFR
//! names a file to rename and must be followed at once by RNTO with the new
//! name. The `X` verbs (XPWD, XCWD, XCUP, XMKD, XRMD) are RFC 775's older
//! spellings, still sent by some clients (RFC 1123 §4.1.3.1). RFC 3659 §3:
//! MDTM gives a file's modification time in UTC as `YYYYMMDDHHMMSS`, and
//! MFMT (draft-somers-ftp-mfxx) sets it.
//!
//! The main trade-off: every check a client could race (does the target
//! exist, is it a directory) is made for a clear reply, but the operation
//! itself is still a single call through the jail, so the jail — not these
//! checks — is what keeps a path inside the root.

use std::sync::Arc;

use ftpsh_core::Command;

mod dirs;
mod mdtm;
mod mfmt;
mod navigate;
mod rename;

pub use dirs::Directories;
pub use mdtm::ModTime;
pub use mfmt::SetModTime;
pub use navigate::Navigate;
pub use rename::Rename;

/// The commands of this crate, for the built-in list.
pub fn commands() -> Vec<Arc<dyn Command>> {
    vec![
        Arc::new(Navigate),
        Arc::new(Directories),
        Arc::new(Rename),
        Arc::new(ModTime),
        Arc::new(SetModTime),
    ]
}

#[cfg(test)]
pub(crate) mod testutil {
    use ftpsh_core::Outcome;

    /// The wire form of a plain reply.
    pub fn wire(o: Outcome) -> String {
        match o {
            Outcome::Reply(r) => String::from_utf8(r.to_wire()).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }
}
