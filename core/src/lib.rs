//! Core of ftpsh: FTP protocol types, the [`Command`] trait and
//! [`Registry`], sessions, users, the [`Storage`] trait and the local
//! back-end's filesystem [`Jail`].
//!
//! Everything here is pure or works through a capability handle: no sockets,
//! no event loop. The daemon (`ftpsh-daemon`) drives these types over
//! sockets; the command crates (`ftpsh-cmd-*`) implement [`Command`]; the
//! shell reuses the protocol types. The main trade-off: commands run on
//! worker threads with exclusive access to their [`Session`], so they may
//! block on the disk and need no locks, but anything touching a socket has to
//! be returned to the event loop as an [`Outcome`].

pub mod ascii;
pub mod auth;
pub mod command;
pub mod dest;
pub mod error;
pub mod jail;
pub mod mlst;
pub mod passive_address;
mod reclaim;
pub mod registry;
pub mod reply;
pub mod request;
pub mod session;
pub mod spare;
pub mod storage;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod time;
pub mod tls;
pub mod upload;

pub use auth::{Grant, LockoutPolicy, LoginRefused, Permission, Permissions, User, Users};
pub use command::{ArgRule, Command, DataSource, Example, Outcome, Transfer, UploadSink, VerbSpec};
pub use error::{exhausted_resource, io_reply, not_regular_file, path_reply};
pub use jail::{Jail, JailCache, PathError, VirtualPath};
pub use passive_address::PassiveAddress;
pub use registry::{Entry, Registry, RegistryError};
pub use reply::{Reply, ReplyCode};
pub use request::{LineReader, ParseError, Request};
pub use session::{Login, ServerConfig, Session, TransferType};
pub use storage::{
    Backend, Capabilities, Capability, DirEntry, FileKind, Metadata, ReadBody, ReadFile, Storage,
    WriteMode,
};
pub use time::UtcTime;
pub use tls::{Protection, TlsPolicy, TlsState};
