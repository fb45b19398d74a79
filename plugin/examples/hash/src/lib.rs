//! Example ftpshd plugin: `HASH <SP> pathname` as in the IETF draft "File
//! Transfer Protocol HASH Command for Cryptographic Hashes"
//! (draft-bryan-ftp-hash / draft-bryan-ftpext-hash), with SHA-256 as the
//! only algorithm, so `FEAT` advertises `HASH SHA-256*` and `OPTS HASH` is
//! not needed.
//!
//! The file is read through the host's jail callbacks in 64 KiB chunks,
//! never whole, so hashing a large file costs constant memory; the price is
//! one callback per chunk, negligible next to SHA-256 itself.
//!
//! Replies (draft §3 and §3.5): `213 SHA-256 0-<size> <hex digest>
//! <pathname>` on success, where `<size>` is the number of bytes hashed (so
//! an empty file reads `0-0`); `501` without an argument; `550` when the
//! file is missing or not readable (including paths that would leave the
//! user's root); `553` for a directory, whose hash is not defined.

use std::io::Read;

use ftpsh_plugin_api::{Error, Host, Plugin, Reply, Request, Verb};
use sha2::{Digest, Sha256};

/// Bytes read per host callback.
const CHUNK: usize = 64 * 1024;

/// The `HASH` plugin.
pub struct Hash;

impl Plugin for Hash {
    fn name(&self) -> &str {
        "hash"
    }

    fn verbs(&self) -> Vec<Verb> {
        vec![
            Verb::new("HASH", "HASH <SP> pathname", "SHA-256 digest of a file")
                .permission('r')
                .feat("HASH SHA-256*"),
        ]
    }

    fn run(&self, req: &Request<'_>, host: &Host<'_>) -> Result<Reply, Error> {
        let Some(path) = req.arg else {
            return Ok(Reply::new(501, "HASH needs a pathname"));
        };
        let mut file = match host.open(path) {
            Ok(f) => f,
            Err(e @ ftpsh_plugin_api::HostError::IsDirectory) => {
                return Ok(Reply::new(553, format!("{path}: {e}: no hash is defined")));
            }
            Err(e) => return Ok(e.reply(path)),
        };
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Reply::new(213, format!("SHA-256 0-{size} {hex} {path}")))
    }
}

ftpsh_plugin_api::export_plugin!(Hash);
