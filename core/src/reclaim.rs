//! Giving back what a replaced file holds - its cached pages and its
//! blocks - without making a client, or every other upload into the same
//! directory, wait for it.
//!
//! An [`AtomicUpload`](crate::upload::AtomicUpload) leaves the file it
//! replaces intact until its commit (the peers truncate it when the upload
//! starts, which is what loses the old file when the upload fails). Two
//! costs follow from keeping it, both measured in `bench/RESULTS.md`:
//!
//! - **Memory.** The old version's pages stay cached while the new
//!   version's pages are allocated, so an upload over a large cached file
//!   needs the new file's size in memory that nothing has used recently.
//!   On the development VM such memory costs a hypervisor fault per page on
//!   first touch (its free pages are reported to the host and taken back):
//!   writing 2 GB into a new file ran at ~450 MB/s while a 2 GB cached file
//!   remained, ~6 GB/s after its cache was dropped. [`drop_cache`] asks the
//!   kernel (`posix_fadvise(POSIX_FADV_DONTNEED)`) to drop the old
//!   version's clean pages and start writing back its dirty ones, on a
//!   background thread, as the upload starts. The file's contents are not
//!   touched: a reader of the old version reads it from the disk again.
//! - **The directory lock.** `rename(2)` over the old file frees its inode
//!   inside the call, with the directory locked: truncating its cached
//!   pages and freeing its blocks (with ext4 `-o discard`, a synchronous
//!   discard), so concurrent commits into one directory queued behind each
//!   other (`/proc/PID/task/*/stack`: commit threads in `filename_create`
//!   of `linkat`, one in `blkdev_issue_discard` under `do_renameat2`).
//!   [`replace_then_free`] keeps a reference to the old inode across the
//!   rename, so that the inode is freed when that reference is dropped,
//!   after the directory is unlocked.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use cap_std::fs::Dir;
use nix::fcntl::{OFlag, PosixFadviseAdvice, openat, posix_fadvise};
use nix::sys::stat::Mode;

/// Old versions smaller than this keep their cache: the memory they would
/// give back is too small to matter.
pub(crate) const DROP_CACHE_MIN: u64 = 1 << 20;

/// Old versions waiting for the background thread; when it is this far
/// behind, further ones keep their cache (an optimisation, never needed).
const QUEUE: usize = 64;

/// Drops the cached pages of the file `name` in `dir` (one path component)
/// on a background thread. Best effort: any failure leaves the cache as it
/// was.
pub(crate) fn drop_cache(dir: &Dir, name: &str) {
    // O_NONBLOCK: a FIFO put there meanwhile must not block the open.
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let Ok(file) = openat(dir, name, flags, Mode::empty()) else {
        return;
    };
    if let Some(queue) = dropper() {
        // A full queue drops `file` here, cache untouched.
        let _ = queue.try_send(file);
    }
}

fn dropper() -> Option<&'static SyncSender<OwnedFd>> {
    static DROPPER: OnceLock<Option<SyncSender<OwnedFd>>> = OnceLock::new();
    DROPPER
        .get_or_init(|| {
            let (tx, rx) = sync_channel::<OwnedFd>(QUEUE);
            std::thread::Builder::new()
                .name("ftpsh-drop-cache".into())
                .stack_size(64 * 1024)
                .spawn(move || {
                    for file in rx {
                        // Not a regular file (ESPIPE) or gone: nothing to do.
                        let _ = posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED);
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Runs `rename`, which replaces `name` in `dir`, with a reference to the
/// inode it replaces, and frees that inode after the directory is unlocked
/// (see the module docs). Renames of one name by this process run one at
/// a time, so that the inode held is the one replaced; renames of other
/// names do not wait.
pub(crate) fn replace_then_free<R>(dir: &Dir, name: &str, rename: impl FnOnce() -> R) -> R {
    type Names = Mutex<HashMap<(u64, u64, String), Arc<Mutex<()>>>>;
    static NAMES: OnceLock<Names> = OnceLock::new();
    let Ok(st) = nix::sys::stat::fstat(dir) else {
        return rename();
    };
    let key = (st.st_dev, st.st_ino, name.to_owned());
    let names = NAMES.get_or_init(Names::default);
    let slot = lock(names).entry(key.clone()).or_default().clone();
    let (old, result) = {
        let _one_at_a_time = lock(&slot);
        let old = hold(dir, name);
        (old, rename())
    };
    {
        let mut names = lock(names);
        // Nobody else clones it without the map's lock: the map's and ours.
        if Arc::strong_count(&slot) == 2 {
            names.remove(&key);
        }
    }
    drop(old);
    result
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A reference to the inode now named `name` in `dir` (one path component;
/// a symbolic link itself, not its target), if there is one: while it is
/// held, replacing or unlinking that name does not free the inode.
pub(crate) fn hold(dir: &Dir, name: &str) -> Option<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(dir, name, flags, Mode::empty()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cap_std::ambient_authority;

    #[test]
    fn held_inode_outlives_its_name() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("old"), b"old contents").unwrap();
        let dir = Dir::open_ambient_dir(d.path(), ambient_authority()).unwrap();
        let held = hold(&dir, "old").expect("the file exists");
        std::fs::remove_file(d.path().join("old")).unwrap();
        let st = nix::sys::stat::fstat(&held).unwrap();
        assert_eq!(st.st_nlink, 0, "unlinked but still referenced");
        assert_eq!(st.st_size, 12);
        assert!(hold(&dir, "old").is_none());
    }

    #[test]
    fn replaced_inode_is_freed_after_the_rename() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("name"), b"old").unwrap();
        std::fs::write(d.path().join("new"), b"new").unwrap();
        let dir = Dir::open_ambient_dir(d.path(), ambient_authority()).unwrap();
        let seen = replace_then_free(&dir, "name", || {
            dir.rename("new", &dir, "name").unwrap();
            hold(&dir, "name").map(|fd| nix::sys::stat::fstat(&fd).unwrap().st_size)
        });
        assert_eq!(seen, Some(3));
        assert_eq!(std::fs::read(d.path().join("name")).unwrap(), b"new");
        // Concurrent replacements of one name all complete.
        let dir = &dir;
        std::thread::scope(|s| {
            for i in 0..8 {
                s.spawn(move || {
                    let tmp = format!("t{i}");
                    dir.write(&tmp, tmp.as_bytes()).unwrap();
                    replace_then_free(dir, "name", || dir.rename(&tmp, dir, "name").unwrap());
                });
            }
        });
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn drop_cache_keeps_contents_and_ignores_what_is_not_a_file() {
        let d = tempfile::tempdir().unwrap();
        let data = vec![5u8; 2 << 20];
        std::fs::write(d.path().join("big"), &data).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        let dir = Dir::open_ambient_dir(d.path(), ambient_authority()).unwrap();
        drop_cache(&dir, "big");
        drop_cache(&dir, "sub");
        drop_cache(&dir, "missing");
        assert_eq!(std::fs::read(d.path().join("big")).unwrap(), data);
    }
}
