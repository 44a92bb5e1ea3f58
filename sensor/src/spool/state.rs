//! The `acked` file: how far the collector has acknowledged, so that a restart
//! does not resend everything, plus the two numbers that must outlive the
//! segment files: the next sequence number (so numbers never repeat, even when
//! every segment is gone) and how many dropped records no "findings lost"
//! finding has reported yet.
//!
//! ```text
//! magic "SPOOLACK" | acked: u64 LE | next_seq: u64 LE | unreported_dropped: u64 LE | crc32 of the 32 bytes before: u32 LE
//! ```
//!
//! It is replaced atomically: written to `acked.tmp`, synced, renamed over
//! `acked`, and the directory synced, so a crash leaves either the old or the
//! new file, never a mix. A missing or damaged file means "nothing acknowledged":
//! everything still on disk is sent again, which the collector de-duplicates.

use std::{
    fs::{self, File},
    io::{self, Write},
    path::Path,
};

/// The file's name in the spool directory.
pub(super) const FILE: &str = "acked";
/// The name it is written under before the rename.
pub(super) const TMP: &str = "acked.tmp";
const MAGIC: &[u8; 8] = b"SPOOLACK";
const LEN: usize = 8 + 8 + 8 + 8 + 4;

/// What the file holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct State {
    /// Every record up to this sequence number is acknowledged (0: none).
    pub acked: u64,
    /// The sequence number the next record gets, at the time of writing (a
    /// floor: the segments may show a later one).
    pub next_seq: u64,
    /// Records dropped that [`super::Spool::take_dropped`] has not handed out.
    pub unreported_dropped: u64,
}

/// Reads the state; `Err` says why it was unusable (missing is not an error).
pub(super) fn load(dir: &Path) -> Result<State, String> {
    let path = dir.join(FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(State::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if bytes.len() != LEN || &bytes[..8] != MAGIC {
        return Err(format!("{} is not a spool state file", path.display()));
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[32..]);
    if crc32fast::hash(&bytes[..32]) != u32::from_le_bytes(crc) {
        return Err(format!("{} fails its checksum", path.display()));
    }
    Ok(State {
        acked: word(8),
        next_seq: word(16),
        unreported_dropped: word(24),
    })
}

/// Replaces the state file atomically and durably.
pub(super) fn store(dir: &Path, s: &State) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(LEN);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&s.acked.to_le_bytes());
    bytes.extend_from_slice(&s.next_seq.to_le_bytes());
    bytes.extend_from_slice(&s.unreported_dropped.to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let tmp = dir.join(TMP);
    let mut f = File::create(&tmp)?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(FILE))?;
    sync_dir(dir)
}

/// Makes the directory's entries (created, renamed files) durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
