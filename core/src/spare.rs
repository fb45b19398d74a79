//! Temp files made ahead of the uploads that will need them.
//!
//! An atomic upload ([`crate::upload::AtomicUpload`]) writes into an unnamed
//! `O_TMPFILE` in its target directory, and creating that inode can be the
//! most expensive step of a small upload. On ext4 without a journal (this
//! project's benchmark VM) the allocator checks each candidate inode for a
//! recent deletion, which after a few hundred deletes costs 0.4-0.8 ms of
//! CPU per create (`perf record`: `recently_deleted`, `find_inode_bit`,
//! `ext4_get_group_desc`): more than the rest of a 4 KiB `STOR` together.
//! pyftpdlib and vsftpd pay the same for their `open(O_CREAT)`. A client
//! storing files one after another (a mirror, a backup of small files)
//! waits for it on every file.
//!
//! [`SpareTemps`] takes it off that path. When a directory receives uploads
//! in a series - a second one within [`SERIES_GAP`] of the one before - a
//! background thread creates one spare temp file there while the current
//! upload is still running, and the next upload into that directory takes
//! it instead of creating its own. A lone upload costs nothing extra. An
//! upload that arrives while its directory's spare is being created waits
//! for it (at most [`WAIT_MAX`]) rather than create a second inode beside
//! it: the two creates would slow each other down, and on two CPUs the
//! upload would finish later than by waiting.
//!
//! What a spare is, and why it is safe to hand out:
//! - an unnamed inode opened only by this process, empty, with the mode a
//!   temp file gets; the upload's commit sets `0644` and links it, as for a
//!   temp file of its own;
//! - it goes only to an upload into the very directory it was made in (same
//!   mount, device and inode, from `statx`), so linking it under the upload's
//!   name cannot fail with `EXDEV`, and its inode was allocated where the
//!   upload's own would have been;
//! - unused for [`SPARE_TTL`] it is closed, which frees it; at most
//!   [`MAX_SPARES`] exist at once and at most [`MAX_DIRS`] directories are
//!   remembered, so what it holds follows the uploads in progress, not the
//!   number of sessions.
//!
//! The one visible difference: a file's birth time (`statx` `btime`, which
//! no FTP command reports) is when its spare was made, up to [`SPARE_TTL`]
//! before the upload began.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use cap_std::fs::Dir;

/// A second upload into a directory within this long of the one before
/// starts a series: from then on a spare is kept ready there.
pub const SERIES_GAP: Duration = Duration::from_secs(2);

/// How long a spare waits for an upload before it is freed.
pub const SPARE_TTL: Duration = Duration::from_secs(2);

/// Most spares at once, over all directories.
pub const MAX_SPARES: usize = 64;

/// Most directories remembered (a spare or a recent upload each).
pub const MAX_DIRS: usize = 256;

/// Longest an upload waits for a spare already being created in its
/// directory before it creates its own temp file.
pub const WAIT_MAX: Duration = Duration::from_millis(5);

/// Where a directory is: mount, device and inode (`statx`). Two handles
/// with the same `DirId` are the same directory through the same mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct DirId {
    mnt: u64,
    dev: (u32, u32),
    ino: u64,
}

impl DirId {
    /// `None` when the kernel does not report the mount (`STATX_MNT_ID`,
    /// Linux 5.8): no spares then.
    fn of(dir: &Dir) -> Option<Self> {
        use rustix::fs::{AtFlags, StatxFlags, statx};
        let st = statx(
            dir,
            "",
            AtFlags::EMPTY_PATH,
            StatxFlags::INO | StatxFlags::MNT_ID,
        )
        .ok()?;
        let want = (StatxFlags::INO | StatxFlags::MNT_ID).bits();
        (st.stx_mask & want == want).then_some(Self {
            mnt: st.stx_mnt_id,
            dev: (st.stx_dev_major, st.stx_dev_minor),
            ino: st.stx_ino,
        })
    }
}

/// What is known of one directory.
#[derive(Debug)]
struct Slot {
    /// The spare made there, with when it was made.
    spare: Option<(File, Instant)>,
    /// When the last upload into it started.
    last_upload: Instant,
    /// A spare was asked for and is not made yet.
    asked: bool,
    /// Since when the maker is creating it, if it is right now.
    making: Option<Instant>,
}

/// What the maker thread and the uploads share.
#[derive(Debug, Default)]
struct Shared {
    slots: Mutex<HashMap<DirId, Slot>>,
    /// Notified whenever the maker finishes a spare.
    made: Condvar,
}

/// Spare temp files, one per directory receiving a series of uploads, made
/// by a background thread (started at the first series). One per local
/// back-end; dropping it stops the thread and frees the spares.
#[derive(Debug, Default)]
pub struct SpareTemps {
    shared: Arc<Shared>,
    maker: Mutex<Option<Sender<(DirId, Dir)>>>,
}

impl SpareTemps {
    /// No spares yet, and no thread until the first series of uploads.
    pub fn new() -> Self {
        Self::default()
    }

    /// For an upload starting in `dir`: the spare made there, if one is
    /// ready (an empty unnamed `O_TMPFILE`, see the module documentation).
    /// Also notes the upload, and asks for the next spare when uploads into
    /// `dir` come in a series. Waits at most [`WAIT_MAX`], and only for a
    /// spare being made in `dir` right now; otherwise never for the disk
    /// beyond one `statx`.
    pub fn take(&self, dir: &Dir) -> Option<File> {
        let id = DirId::of(dir)?;
        let now = Instant::now();
        let (spare, ask) = {
            let mut slots = lock(&self.shared.slots);
            if !slots.contains_key(&id) && slots.len() >= MAX_DIRS {
                forget_idle(&mut slots, now);
                if slots.len() >= MAX_DIRS {
                    return None;
                }
            }
            let slot = slots.entry(id).or_insert(Slot {
                spare: None,
                last_upload: now,
                asked: false,
                making: None,
            });
            let series = slot.spare.is_some()
                || slot.asked
                || (slot.last_upload != now && now - slot.last_upload <= SERIES_GAP);
            slot.last_upload = now;
            // A create that began longer ago than that is not under way
            // any more (its thread is gone): no waiting for it.
            let under_way = |s: &Slot| {
                s.making
                    .is_some_and(|t| now - t < Duration::from_millis(50))
            };
            if slot.spare.is_none() && under_way(slot) {
                // Being created now, on a CPU: its rest is shorter than a
                // create of our own beside it.
                let (guard, _) = self
                    .shared
                    .made
                    .wait_timeout_while(slots, WAIT_MAX, |slots| {
                        slots.get(&id).is_some_and(under_way)
                    })
                    .unwrap_or_else(PoisonError::into_inner);
                slots = guard;
            }
            let slot = slots.get_mut(&id)?;
            let spare = slot
                .spare
                .take()
                .filter(|(_, made)| now - *made <= SPARE_TTL)
                .map(|(file, _)| file);
            let ask = series && !slot.asked;
            slot.asked |= ask;
            (spare, ask)
        };
        if ask
            && !self.ask(id, dir)
            && let Some(slot) = lock(&self.shared.slots).get_mut(&id)
        {
            slot.asked = false;
        }
        spare
    }

    /// Sends `dir` to the maker thread, starting it if needed. False when
    /// the thread or a second handle to `dir` could not be had.
    fn ask(&self, id: DirId, dir: &Dir) -> bool {
        let Ok(dir) = dir.try_clone() else {
            return false;
        };
        let mut maker = lock(&self.maker);
        if maker.is_none() {
            let (tx, rx) = mpsc::channel();
            let shared = Arc::clone(&self.shared);
            let started = std::thread::Builder::new()
                .name("ftpsh-spare-temps".into())
                .spawn(move || make_spares(&shared, &rx));
            if started.is_err() {
                return false;
            }
            *maker = Some(tx);
        }
        maker.as_ref().is_some_and(|tx| tx.send((id, dir)).is_ok())
    }
}

/// The maker thread: makes the spares asked for and frees those unused for
/// [`SPARE_TTL`], until its [`SpareTemps`] is dropped.
fn make_spares(shared: &Shared, asks: &Receiver<(DirId, Dir)>) {
    // Lowest priority (nice 19, this thread only): a spare is made while
    // the CPUs would otherwise idle - an upload waiting for its client -
    // and not by taking a CPU from the upload in progress, which on two
    // cores delayed its `150` by the spare's own creation time. Under
    // sustained load no spare gets made and uploads create their own temp
    // files, as without spares. Only a preference: a failure is ignored.
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
    let slots = &shared.slots;
    loop {
        let oldest = lock(slots)
            .values()
            .filter_map(|s| s.spare.as_ref().map(|(_, made)| *made))
            .min();
        let ask = match oldest {
            Some(made) => {
                match asks
                    .recv_timeout((made + SPARE_TTL).saturating_duration_since(Instant::now()))
                {
                    Ok(ask) => Some(ask),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            None => match asks.recv() {
                Ok(ask) => Some(ask),
                Err(_) => return,
            },
        };
        // Files to free are dropped outside the lock: freeing an inode
        // takes the file system's time, not the uploads'.
        let mut free = Vec::new();
        if let Some((id, dir)) = ask {
            let wanted = match lock(slots).get_mut(&id) {
                Some(slot) if slot.spare.is_none() => {
                    slot.making = Some(Instant::now());
                    true
                }
                Some(slot) => {
                    slot.asked = false;
                    false
                }
                None => false,
            };
            let made = if wanted { new_temp(&dir).ok() } else { None };
            let mut slots = lock(slots);
            match slots.get_mut(&id) {
                Some(slot) => {
                    slot.asked = false;
                    slot.making = None;
                    match (&slot.spare, made) {
                        (None, Some(file)) => slot.spare = Some((file, Instant::now())),
                        (_, made) => free.extend(made),
                    }
                }
                None => free.extend(made),
            }
            shared.made.notify_all();
            let mut spares: Vec<(Instant, DirId)> = slots
                .iter()
                .filter_map(|(id, s)| s.spare.as_ref().map(|(_, made)| (*made, *id)))
                .collect();
            if spares.len() > MAX_SPARES {
                spares.sort_unstable_by_key(|(made, _)| *made);
                for (_, id) in &spares[..spares.len() - MAX_SPARES] {
                    free.extend(
                        slots
                            .get_mut(id)
                            .and_then(|s| s.spare.take())
                            .map(|(f, _)| f),
                    );
                }
            }
        }
        let now = Instant::now();
        let mut slots = lock(slots);
        for slot in slots.values_mut() {
            if slot
                .spare
                .as_ref()
                .is_some_and(|(_, made)| now - *made > SPARE_TTL)
            {
                free.extend(slot.spare.take().map(|(f, _)| f));
            }
        }
        forget_idle(&mut slots, now);
        drop(slots);
        drop(free);
    }
}

/// Forgets directories with no spare, none asked for and no upload within
/// [`SERIES_GAP`].
fn forget_idle(slots: &mut HashMap<DirId, Slot>, now: Instant) {
    slots.retain(|_, s| s.spare.is_some() || s.asked || now - s.last_upload <= SERIES_GAP);
}

/// An unnamed temp file in `dir`, as `cap_tempfile::TempFile` makes one
/// (`O_TMPFILE`, mode `0666` less the umask, read-write).
fn new_temp(dir: &Dir) -> io::Result<File> {
    use rustix::fs::{Mode, OFlags, openat};
    let flags = OFlags::CLOEXEC | OFlags::TMPFILE | OFlags::RDWR;
    Ok(File::from(openat(
        dir,
        ".",
        flags,
        Mode::from_raw_mode(0o666),
    )?))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Links the unnamed `file` into `dir` as `name`, replacing what is there
/// in one `rename(2)`: directly when the name is free, otherwise under a
/// random temporary name first (`linkat` does not replace).
///
/// # Errors
/// From `linkat` or `rename`; the temporary name is removed on failure.
pub(crate) fn link_as(dir: &Dir, file: &File, name: &str) -> io::Result<()> {
    use rustix::fs::{AtFlags, linkat};
    let proc_fd = rustix_linux_procfs::proc_self_fd()?;
    let fd = rustix::path::DecInt::from_fd(file);
    match linkat(proc_fd, fd.as_c_str(), dir, name, AtFlags::SYMLINK_FOLLOW) {
        Ok(()) => return Ok(()),
        Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    // Bounded: a clash of 64 random bits is retried a few times at most.
    for _ in 0..8 {
        let temp = format!(".ftpsh-upload.{:016x}", rand::random::<u64>());
        match linkat(
            proc_fd,
            fd.as_c_str(),
            dir,
            temp.as_str(),
            AtFlags::SYMLINK_FOLLOW,
        ) {
            Ok(()) => {
                return dir.rename(&temp, dir, name).inspect_err(|_| {
                    let _ = dir.remove_file(&temp);
                });
            }
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::from(io::ErrorKind::AlreadyExists))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cap_std::ambient_authority;
    use std::io::{Read, Write};

    fn dir() -> (tempfile::TempDir, Dir) {
        let t = tempfile::tempdir().unwrap();
        let d = Dir::open_ambient_dir(t.path(), ambient_authority()).unwrap();
        (t, d)
    }

    /// Waits (bounded) until the maker has made a spare for `dir`.
    fn wait_for_spare(spares: &SpareTemps, dir: &Dir) -> bool {
        let id = DirId::of(dir).unwrap();
        for _ in 0..500 {
            if lock(&spares.shared.slots)
                .get(&id)
                .is_some_and(|s| s.spare.is_some())
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    #[test]
    fn a_lone_upload_gets_no_spare_and_asks_for_none() {
        let (_t, d) = dir();
        let spares = SpareTemps::new();
        assert!(spares.take(&d).is_none());
        assert!(lock(&spares.maker).is_none(), "no thread for a lone upload");
    }

    #[test]
    fn a_series_gets_a_spare_made_in_its_directory() {
        let (t, d) = dir();
        let spares = SpareTemps::new();
        assert!(spares.take(&d).is_none());
        assert!(
            spares.take(&d).is_none(),
            "the second upload asks, the third gets"
        );
        assert!(wait_for_spare(&spares, &d));
        let mut file = spares.take(&d).expect("a spare");
        assert_eq!(file.metadata().unwrap().len(), 0);
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0, "unnamed");
        file.write_all(b"contents").unwrap();
        link_as(&d, &file, "f").unwrap();
        assert_eq!(std::fs::read(t.path().join("f")).unwrap(), b"contents");
        // The next one is on its way.
        assert!(wait_for_spare(&spares, &d));
    }

    #[test]
    fn an_upload_waits_for_the_spare_being_made() {
        use std::os::unix::fs::MetadataExt;
        let (_t, d) = dir();
        let spares = SpareTemps::new();
        assert!(spares.take(&d).is_none());
        let id = DirId::of(&d).unwrap();
        // Stand in for the maker, a millisecond into a create.
        lock(&spares.shared.slots).get_mut(&id).unwrap().making = Some(Instant::now());
        let file = new_temp(&d).unwrap();
        let ino = file.metadata().unwrap().ino();
        let shared = Arc::clone(&spares.shared);
        let maker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            let mut slots = lock(&shared.slots);
            let slot = slots.get_mut(&id).unwrap();
            slot.making = None;
            slot.spare = Some((file, Instant::now()));
            shared.made.notify_all();
        });
        let got = spares.take(&d).expect("the spare that was being made");
        assert_eq!(got.metadata().unwrap().ino(), ino);
        maker.join().unwrap();
    }

    #[test]
    fn a_spare_goes_only_to_its_own_directory() {
        let (_t, a) = dir();
        let (_u, b) = dir();
        let spares = SpareTemps::new();
        spares.take(&a);
        spares.take(&a);
        assert!(wait_for_spare(&spares, &a));
        assert!(spares.take(&b).is_none());
        assert!(spares.take(&a).is_some());
    }

    #[test]
    fn link_as_replaces_an_existing_name_and_leaves_no_temp_name() {
        let (t, d) = dir();
        std::fs::write(t.path().join("f"), b"old").unwrap();
        let mut file = new_temp(&d).unwrap();
        file.write_all(b"new").unwrap();
        link_as(&d, &file, "f").unwrap();
        let mut got = String::new();
        File::open(t.path().join("f"))
            .unwrap()
            .read_to_string(&mut got)
            .unwrap();
        assert_eq!(got, "new");
        let names: Vec<_> = std::fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f"]);
    }

    #[test]
    fn stale_spares_are_freed_and_the_thread_ends_with_its_owner() {
        let (_t, d) = dir();
        let spares = SpareTemps::new();
        spares.take(&d);
        spares.take(&d);
        assert!(wait_for_spare(&spares, &d));
        let id = DirId::of(&d).unwrap();
        // Backdate the spare: the maker frees it at its next wake-up, which
        // the next ask (from another directory) brings.
        if let Some(slot) = lock(&spares.shared.slots).get_mut(&id) {
            let (f, _) = slot.spare.take().unwrap();
            slot.spare = Some((f, Instant::now() - SPARE_TTL * 2));
        }
        let (_u, other) = dir();
        spares.take(&other);
        spares.take(&other);
        assert!(wait_for_spare(&spares, &other));
        assert!(
            lock(&spares.shared.slots)
                .get(&id)
                .is_none_or(|s| s.spare.is_none())
        );
        drop(spares);
    }
}
