//! WAL checkpoints on a thread of their own. SQLite's default copies the WAL
//! into the database file (and syncs it) inside whichever commit crosses 1000
//! pages, so the one writer stopped for that copy about once a batch: at
//! full load checkpoints took a quarter of its time. Here a second connection
//! copies what is committed while the writer goes on (a PASSIVE checkpoint
//! takes no lock the writer needs), a few times a second.
//!
//! Only once enough is waiting ([`MIN_FRAMES`]), though. A checkpoint that
//! copies the whole WAL lets the next commit start the WAL over, and starting
//! it over syncs the new WAL header inside that commit: on a quiet collector,
//! checkpointing every few commits put that sync (0.5 ms, more on a busy disk)
//! in front of one finding in seven, and those made the slowest tenth of the
//! kernel-to-collector latency (`cargo xtask bench latency`). A WAL that
//! holds a little more is read as fast, and durability does not depend on
//! checkpoints (see [`crate::store::Store::sync`]).
//!
//! A writer that never pauses never lets a PASSIVE checkpoint reach the end
//! of the WAL, and the WAL starts over only when one does; so once the WAL
//! is past [`RESTART_BYTES`] the writer itself, between two transactions,
//! runs a RESTART checkpoint ([`restart_if_big`]): it copies the little the
//! last PASSIVE one left and starts the WAL over. (Run from this thread, a
//! RESTART waited for a pause of the writer that never came, and the WAL grew
//! past a gigabyte.) `journal_size_limit` then cuts the file back.

use std::{
    ffi::c_int,
    path::{Path, PathBuf},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use rusqlite::{Connection, hooks::Wal};
use tracing::warn;

use crate::store::StoreError;

/// How often the WAL is looked at.
const EVERY: Duration = Duration::from_millis(250);
/// The frames (pages) the WAL must have gained since the last checkpoint for
/// the next one to run: 64 MiB at 16 KiB a page, a fraction of a second of
/// full ingest, some 300 findings committed one at a time.
const MIN_FRAMES: i64 = 4096;
/// How long fewer frames may wait: a quiet collector's WAL is still copied
/// into the database file in the end.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// The WAL size beyond which the WAL is made to start over. Each restart
/// stops the writer while it copies what the last PASSIVE checkpoint left and
/// syncs the database file, 70 to 190 ms (not a wait for a lock: it took as
/// long without the busy timeout); at 128 MiB that was 19 restarts and 2.9 s
/// of a million findings' 23 s of ingest, at 512 MiB 5 and 0.8 s (`cargo
/// xtask bench collector`: 43,500 and 50,500 findings/s). The WAL file is
/// kept at this size between restarts (`journal_size_limit`).
pub(super) const RESTART_BYTES: i64 = 512 << 20;

/// The running thread; stopped (after one last checkpoint) when dropped.
pub(super) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path`, whose writer's connection
    /// is `writer`: it tells the thread how many frames the WAL holds after
    /// each commit (SQLite's WAL hook; `wal_autocheckpoint` must not be set on
    /// it after this, as that replaces the hook).
    pub(super) fn start(path: &Path, writer: &mut Connection) -> Result<Self, StoreError> {
        let frames = Arc::new(AtomicI64::new(0));
        let seen = Arc::clone(&frames);
        writer.wal_hook(Some(move |_: &mut Wal, pages: c_int| {
            seen.store(i64::from(pages), Ordering::Relaxed);
            Ok(())
        }))?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &flag, &frames))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.stop;
        if let Ok(mut stop) = lock.lock() {
            *stop = true;
        }
        wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The WAL file SQLite keeps beside the database.
pub(super) fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// On the writer's connection, outside a transaction: starts the WAL over
/// when it has grown past [`RESTART_BYTES`]. Waits (the connection's busy
/// timeout) for a PASSIVE checkpoint in progress and for readers of older
/// snapshots.
pub(super) fn restart_if_big(writer: &Connection, wal: &Path) -> Result<(), StoreError> {
    let big = std::fs::metadata(wal)
        .ok()
        .and_then(|m| i64::try_from(m.len()).ok())
        .is_some_and(|len| len > RESTART_BYTES);
    if big {
        writer.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}

/// Whether a checkpoint is due: the WAL's frames after the last commit,
/// `done` of them copied by the last checkpoint, `waited` since it.
fn due(frames: i64, done: i64, waited: Duration) -> bool {
    // Fewer frames than were copied: the WAL started over since.
    let new = if frames < done { frames } else { frames - done };
    new >= MIN_FRAMES || (new > 0 && waited >= MAX_WAIT)
}

fn run(conn: &Connection, stop: &(Mutex<bool>, Condvar), frames: &AtomicI64) {
    let (lock, wake) = stop;
    let mut failing = false;
    let (mut done, mut last) = (0, Instant::now());
    loop {
        let stopping = match lock.lock() {
            Ok(guard) => match wake.wait_timeout_while(guard, EVERY, |stop| !*stop) {
                Ok((guard, _)) => *guard,
                Err(_) => true,
            },
            Err(_) => true,
        };
        let now = frames.load(Ordering::Relaxed);
        if !stopping && !due(now, done, last.elapsed()) {
            continue;
        }
        // The frames it copies are at most those the WAL holds now.
        (done, last) = (now, Instant::now());
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            Ok(()) => failing = false,
            // Logged once per run of failures: it retries every tick.
            Err(e) if !failing => {
                failing = true;
                warn!(error = %e, "WAL checkpoint failed; retrying");
            }
            Err(_) => {}
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_waits_for_enough_frames_or_long_enough() {
        let soon = Duration::from_millis(250);
        assert!(!due(0, 0, MAX_WAIT), "an empty WAL needs none");
        assert!(!due(12, 0, soon), "one small commit waits");
        assert!(due(12, 0, MAX_WAIT), "but not for ever");
        assert!(due(MIN_FRAMES, 0, soon));
        assert!(
            !due(MIN_FRAMES + 10, MIN_FRAMES, soon),
            "counted from the last"
        );
        assert!(!due(MIN_FRAMES, MIN_FRAMES, MAX_WAIT), "nothing new");
        // The WAL started over after the last checkpoint copied it all.
        assert!(!due(24, MIN_FRAMES, soon));
        assert!(due(MIN_FRAMES, MIN_FRAMES * 2, soon));
    }
}
