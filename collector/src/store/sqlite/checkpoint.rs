//! WAL checkpoints on a thread of their own. SQLite's default copies the WAL
//! into the database file (and syncs it) inside whichever commit crosses 1000
//! pages, so the one writer stopped for that copy about once a batch: at
//! full load checkpoints took a quarter of its time. Here a second connection
//! copies what is committed while the writer goes on (a PASSIVE checkpoint
//! takes no lock the writer needs), a few times a second.
//!
//! A writer that never pauses never lets a PASSIVE checkpoint reach the end
//! of the WAL, and the WAL starts over only when one does; so once the WAL
//! is past [`RESTART_BYTES`] the writer itself, between two transactions,
//! runs a RESTART checkpoint ([`restart_if_big`]): it copies the little the
//! last PASSIVE one left and starts the WAL over. (Run from this thread, a
//! RESTART waited for a pause of the writer that never came, and the WAL grew
//! past a gigabyte.) `journal_size_limit` then cuts the file back.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Condvar, Mutex},
    thread,
    time::Duration,
};

use rusqlite::Connection;
use tracing::warn;

use crate::store::StoreError;

/// How often committed pages are copied into the database file.
const EVERY: Duration = Duration::from_millis(250);
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
    /// Starts checkpointing the database at `path`.
    pub(super) fn start(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &flag))?;
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

fn run(conn: &Connection, stop: &(Mutex<bool>, Condvar)) {
    let (lock, wake) = stop;
    let mut failing = false;
    loop {
        let stopping = match lock.lock() {
            Ok(guard) => match wake.wait_timeout_while(guard, EVERY, |stop| !*stop) {
                Ok((guard, _)) => *guard,
                Err(_) => true,
            },
            Err(_) => true,
        };
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
