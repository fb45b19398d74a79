//! STOR into an object: a multipart upload committed at the end.

use std::io::{self, Write};

use ftpsh_core::command::commit_reply;
use ftpsh_core::{Reply, UploadSink, VirtualPath};

use crate::backend::Shared;
use crate::error::to_io;

/// Size of one part of a multipart upload: what the server holds in
/// memory per upload, and the smallest object that is uploaded in parts
/// (smaller ones are one `PutObject` at commit). S3 allows 10 000 parts,
/// so objects up to ~78 GiB.
pub const CHUNK: usize = 8 << 20;

/// An upload in progress to one key. Nothing is visible under the key
/// until [`UploadSink::commit`] completes the multipart upload; dropped
/// uncommitted, the upload is aborted and the old object stays.
pub(crate) struct Upload {
    writer: Option<opendal::Writer>,
    handle: tokio::runtime::Handle,
    path: VirtualPath,
    written: u64,
}

impl Upload {
    /// Starts an upload to `key` (no request is sent before the first
    /// part is full, or before commit for small files).
    pub(crate) fn start(shared: &Shared, key: &str, path: VirtualPath) -> io::Result<Self> {
        let writer = shared
            .handle
            .block_on(shared.aop.writer_options(
                key,
                opendal::options::WriteOptions {
                    chunk: Some(CHUNK),
                    concurrent: shared.upload_parts,
                    ..Default::default()
                },
            ))
            .map_err(to_io)?;
        Ok(Self {
            writer: Some(writer),
            handle: shared.handle.clone(),
            path,
            written: 0,
        })
    }

    /// Completes the upload: the new object replaces the old one, whole.
    /// On failure the upload is aborted.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        let Some(mut writer) = self.writer.take() else {
            return Err(io::Error::other("upload already finished"));
        };
        match self.handle.block_on(writer.close()) {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = self.handle.block_on(writer.abort());
                Err(to_io(e))
            }
        }
    }
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(io::Error::other("upload already finished"));
        };
        // Buffered by the writer until a part is full; a full part is sent
        // here, so a slow store slows the sender down.
        self.handle
            .block_on(writer.write(buf.to_vec()))
            .map_err(to_io)?;
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl UploadSink for Upload {
    fn commit(mut self: Box<Self>) -> Reply {
        let result = self.finish();
        commit_reply(result, &self.path, self.written)
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn blocking(&self) -> bool {
        true
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Dropped uncommitted (ABOR, a lost data connection, a write
        // error): abort the multipart upload so that its parts are freed.
        // Spawned, not waited for: a drop may happen on any thread.
        if let Some(mut writer) = self.writer.take() {
            self.handle.spawn(async move {
                let _ = writer.abort().await;
            });
        }
    }
}
