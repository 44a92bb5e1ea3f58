//! The disk spool findings pass through on their way to the collector, so that
//! none is lost to a collector outage or an agent crash as long as the spool has
//! room. Records (serialized findings, opaque bytes here) are appended to
//! segment files in one directory, each with a sequence number that never
//! repeats, across restarts too, so the collector can de-duplicate a batch sent
//! twice. A record leaves the spool only when acknowledged ([`Spool::ack`]), or
//! when the spool is full: then the oldest segments are dropped whole, counted
//! ([`Spool::take_dropped`] tells the caller how many, for a "findings lost"
//! finding) and logged.
//!
//! # On disk
//!
//! - `<first-seq>.seg` ([`segment`]): magic `SPOOLSG1`, then frames of
//!   `len u32 | crc32 u32 | seq u64 | payload` (little-endian, [`frame`]).
//! - `acked` ([`state`]): the acknowledged position, the next sequence number and
//!   the drops not yet reported, replaced atomically.
//!
//! # What is durable when
//!
//! - After [`Spool::append`] returns, the record is in the kernel's page cache:
//!   it survives the agent crashing or being killed, not a power loss or a kernel
//!   crash.
//! - After [`Spool::flush`] returns, every record appended before it survives a
//!   power loss too (segment data synced with `fdatasync`, new segment files'
//!   directory entries synced). [`Spool::begin_flush`] lets the sync run without
//!   the caller's lock, so appends do not wait for the disk.
//! - [`Spool::peek`] hands out records as soon as they are appended, flushed or
//!   not: the sync then runs while they travel, and a finding's delivery does
//!   not wait for the disk. A power loss may take back a record that was sent;
//!   its sequence number may then be used again, which nobody sees: the
//!   collector knows findings by their own ids and batches by the sender's run.
//! - After [`Spool::ack`] returns, the acknowledged position is on disk: a
//!   restart resends only what came after it. Records acknowledged but not yet
//!   recorded when the agent died are sent again (at least once, never lost).
//! - A crash mid-write leaves a torn frame at the end of the newest segment;
//!   [`Spool::open`] cuts it off and counts its bytes
//!   ([`SpoolStats::corrupt_tail_bytes`]).
//!
//! One process uses a directory at a time; two agents sharing one would corrupt
//! each other's segments.

mod config;
mod error;
mod frame;
mod recover;
mod segment;
mod state;
#[cfg(test)]
mod tests;

use std::{
    collections::VecDeque,
    fs::{self, File},
    io::Write,
    os::unix::fs::FileExt,
    path::PathBuf,
};

pub use config::SpoolConfig;
pub use error::SpoolError;
use error::io_err;
use frame::FRAME_HEADER;
use segment::Segment;
use tracing::warn;

/// The spool: one directory of segment files, owned by one process.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    cfg: SpoolConfig,
    /// Oldest first; the newest is the one appended to.
    segments: VecDeque<Segment>,
    /// The newest segment, open for appending; `None` until the first append,
    /// or after a write left it unusable: the next append begins a new one.
    active: Option<File>,
    next_seq: u64,
    acked: u64,
    /// The sum of the segments' lengths.
    bytes: u64,
    /// Dropped records not yet handed out by [`Spool::take_dropped`].
    unreported_dropped: u64,
    /// A segment file was created since the last [`Spool::flush`].
    dir_dirty: bool,
    /// Records appended since the last [`Spool::flush`].
    unflushed: bool,
    counters: Counters,
    /// The frame being written, kept to spare an allocation per append.
    frame: Vec<u8>,
}

/// The counters of [`SpoolStats`] that are not computed from the segments.
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    appended: u64,
    acked: u64,
    dropped_records: u64,
    dropped_bytes: u64,
    recovered: u64,
    corrupt_tail_bytes: u64,
    corrupt_segments: u64,
    ignored_files: u64,
}

/// The syncs one flush needs, taken by [`Spool::begin_flush`] and run without
/// the spool: the newest segment's data and, after a segment was created, the
/// directory's entries.
#[derive(Debug, Default)]
pub struct PendingSync {
    file: Option<(File, PathBuf)>,
    dir: Option<PathBuf>,
}

impl PendingSync {
    /// Syncs to disk; every record appended before [`Spool::begin_flush`]
    /// survives a power loss once this returns `Ok`.
    pub fn run(&self) -> Result<(), SpoolError> {
        if let Some((file, path)) = &self.file {
            file.sync_data().map_err(io_err("sync", path))?;
        }
        if let Some(dir) = &self.dir {
            state::sync_dir(dir).map_err(io_err("sync", dir))?;
        }
        Ok(())
    }
}

/// What the spool holds and what happened to it since it was opened; for
/// metrics and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Bytes of the segment files (headers and acknowledged records included).
    pub bytes: u64,
    /// Records not yet acknowledged.
    pub records: u64,
    /// Segment files.
    pub segments: u64,
    /// The sequence number the next record gets.
    pub next_seq: u64,
    /// Every record up to this one is acknowledged (0: none yet).
    pub acked_seq: u64,
    /// Records appended since the spool was opened.
    pub appended: u64,
    /// Records acknowledged since the spool was opened.
    pub acked: u64,
    /// Records lost since the spool was opened: dropped unacknowledged when the
    /// spool was full, or found missing behind damage in an older segment.
    pub dropped_records: u64,
    /// The frame bytes (payload plus 16-byte header) of the records dropped when
    /// the spool was full.
    pub dropped_bytes: u64,
    /// Unacknowledged records found on disk at open.
    pub recovered: u64,
    /// Bytes cut off the end of segments at open: torn or damaged frames.
    pub corrupt_tail_bytes: u64,
    /// Segments in which open found damage.
    pub corrupt_segments: u64,
    /// Files in the directory that are not the spool's, or could not be read,
    /// left alone (or renamed `*.bad`) with a warning.
    pub ignored_files: u64,
}

impl Spool {
    /// The largest record [`Spool::append`] accepts.
    pub fn max_record_bytes(&self) -> u64 {
        self.cfg.max_record_bytes()
    }

    /// Appends one record and returns its sequence number. When the record does
    /// not fit under [`SpoolConfig::max_bytes`], the oldest segments are dropped
    /// first (acknowledged or not); the newest is never dropped. The record is
    /// durable against a power loss only after [`Spool::flush`].
    pub fn append(&mut self, record: &[u8]) -> Result<u64, SpoolError> {
        if record.len() as u64 > self.max_record_bytes() {
            return Err(SpoolError::TooLarge {
                len: record.len(),
                max: self.max_record_bytes(),
            });
        }
        let frame_len = (FRAME_HEADER + record.len()) as u64;
        let full = match (&self.active, self.segments.back()) {
            (Some(_), Some(seg)) => {
                !seg.offsets.is_empty() && seg.len + frame_len > self.cfg.segment_bytes
            }
            _ => true,
        };
        if full {
            self.roll()?;
        }
        self.make_room(frame_len);
        let seq = self.next_seq;
        frame::encode(&mut self.frame, seq, record);
        let (Some(file), Some(seg)) = (&mut self.active, self.segments.back_mut()) else {
            // roll() leaves both set or returns an error: this is only a guard.
            return Err(io_err("write", &self.dir)(std::io::Error::other(
                "no segment open for writing",
            )));
        };
        if let Err(e) = file.write_all(&self.frame) {
            // Cut the partial frame so later appends follow good ones; if even
            // that fails, stop writing to this segment (the next open cuts it).
            if file.set_len(seg.len).is_err() {
                self.active = None;
            }
            return Err(io_err("write", &seg.path)(e));
        }
        seg.offsets.push(seg.len as u32);
        seg.len += frame_len;
        self.bytes += frame_len;
        self.next_seq += 1;
        self.counters.appended += 1;
        self.unflushed = true;
        Ok(seq)
    }

    /// Makes every record appended so far durable (see the module's
    /// documentation). Cheap when nothing was appended since the last call.
    pub fn flush(&mut self) -> Result<(), SpoolError> {
        let sync = self.begin_flush()?;
        sync.run().inspect_err(|_| self.flush_failed(&sync))
    }

    /// Whether records or a new segment wait for a [`Spool::flush`].
    pub fn needs_flush(&self) -> bool {
        self.unflushed || self.dir_dirty
    }

    /// What a flush of every record appended so far must sync, to be run with
    /// [`PendingSync::run`] after the caller's lock on the spool is released,
    /// so appends go on meanwhile. The spool counts it flushed from now on;
    /// when the sync fails, [`Spool::flush_failed`] says it is not.
    pub fn begin_flush(&mut self) -> Result<PendingSync, SpoolError> {
        let mut sync = PendingSync::default();
        if self.unflushed
            && let (Some(file), Some(seg)) = (&self.active, self.segments.back())
        {
            // A second handle on the same open file: its sync covers what was
            // written through the first.
            let dup = file.try_clone().map_err(io_err("sync", &seg.path))?;
            sync.file = Some((dup, seg.path.clone()));
        }
        if self.dir_dirty {
            sync.dir = Some(self.dir.clone());
        }
        self.unflushed = false;
        self.dir_dirty = false;
        Ok(sync)
    }

    /// A [`PendingSync`] failed: what it was to sync still waits for a flush.
    pub fn flush_failed(&mut self, sync: &PendingSync) {
        self.unflushed |= sync.file.is_some();
        self.dir_dirty |= sync.dir.is_some();
    }

    /// Up to `max_records` unacknowledged records from `from_seq` on (or from the
    /// first still held, if later), in order, with their sequence numbers, and no
    /// more than `max_bytes` of payload unless the first alone is larger (so a
    /// large record is still sent, alone). The sender keeps its own cursor: the
    /// last sequence number it sent plus one. A record found damaged now (the disk
    /// changed under the spool) ends its segment: the records from it to the
    /// segment's end are counted as dropped and logged.
    pub fn peek(
        &mut self,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, SpoolError> {
        let mut out = Vec::new();
        let mut seq = from_seq.max(self.acked.saturating_add(1));
        let mut budget = max_bytes;
        for k in 0..self.segments.len() {
            if out.len() >= max_records {
                break;
            }
            let (stopped, bad) = self.read_segment(k, seq, &mut out, max_records, &mut budget)?;
            if let Some(i) = bad {
                self.cut_segment(k, i, "a record damaged since it was written");
            }
            if stopped {
                break;
            }
            seq = seq.max(self.segments[k].end_seq());
        }
        Ok(out)
    }

    /// Reads segment `k`'s records from `seq` on into `out`, within the limits.
    /// Returns whether a limit stopped it before the segment's end, and the index
    /// of a damaged record, if it met one.
    fn read_segment(
        &self,
        k: usize,
        seq: u64,
        out: &mut Vec<(u64, Vec<u8>)>,
        max_records: usize,
        budget: &mut usize,
    ) -> Result<(bool, Option<usize>), SpoolError> {
        let seg = &self.segments[k];
        if seg.end_seq() <= seq {
            return Ok((false, None));
        }
        let first = (seq.max(seg.first_seq) - seg.first_seq) as usize;
        // Pick the records that fit, then read them in one call.
        let mut last = first;
        let end = seg.offsets.len();
        while last < end && out.len() + (last - first) < max_records {
            let len = (seg.frame_end(last) - u64::from(seg.offsets[last])) as usize - FRAME_HEADER;
            if len > *budget && !(out.is_empty() && last == first) {
                break;
            }
            *budget = budget.saturating_sub(len);
            last += 1;
        }
        let stopped = last < seg.offsets.len();
        if last == first {
            return Ok((stopped, None));
        }
        let start = u64::from(seg.offsets[first]);
        let mut buf = vec![0u8; (seg.frame_end(last - 1) - start) as usize];
        File::open(&seg.path)
            .and_then(|f| f.read_exact_at(&mut buf, start))
            .map_err(io_err("read", &seg.path))?;
        let mut at = 0;
        for i in first..last {
            let want = seg.first_seq + i as u64;
            let Some(h) = buf
                .get(at..at + FRAME_HEADER)
                .and_then(|b| b.try_into().ok())
                .map(frame::header)
            else {
                return Ok((false, Some(i)));
            };
            let end = at + FRAME_HEADER + h.len as usize;
            match buf.get(at + FRAME_HEADER..end) {
                Some(payload) if h.seq == want && frame::verify(&h, payload) => {
                    out.push((want, payload.to_vec()));
                }
                _ => return Ok((false, Some(i))),
            }
            at = end;
        }
        Ok((stopped, None))
    }

    /// Acknowledges every record up to `up_to_seq`: records the collector has
    /// stored. The position is on disk before this returns; segments holding
    /// only acknowledged records are deleted, except the newest (it is still
    /// being written). Acknowledging less than before, or past the last record
    /// appended, is harmless.
    pub fn ack(&mut self, up_to_seq: u64) -> Result<(), SpoolError> {
        let up_to = up_to_seq.min(self.next_seq - 1);
        if up_to <= self.acked {
            return Ok(());
        }
        let newly: u64 = self
            .segments
            .iter()
            .map(|s| s.unacked(self.acked).0 - s.unacked(up_to).0)
            .sum();
        let before = self.acked;
        self.acked = up_to;
        if let Err(e) = self.store_state() {
            self.acked = before;
            return Err(e);
        }
        self.counters.acked += newly;
        while self.segments.len() > 1 && self.segments[0].end_seq() <= self.acked + 1 {
            if let Some(seg) = self.segments.pop_front() {
                self.remove(&seg);
            }
        }
        Ok(())
    }

    /// How many records were lost since the last call (dropped when the spool
    /// was full, or behind damage on disk), for the caller to report once in a
    /// finding. The count survives a restart until the next acknowledgement
    /// writes it down as taken, so after a crash it may be reported twice, never
    /// not at all.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.unreported_dropped)
    }

    /// What the spool holds and what it did.
    pub fn stats(&self) -> SpoolStats {
        let c = self.counters;
        SpoolStats {
            bytes: self.bytes,
            records: self.segments.iter().map(|s| s.unacked(self.acked).0).sum(),
            segments: self.segments.len() as u64,
            next_seq: self.next_seq,
            acked_seq: self.acked,
            appended: c.appended,
            acked: c.acked,
            dropped_records: c.dropped_records,
            dropped_bytes: c.dropped_bytes,
            recovered: c.recovered,
            corrupt_tail_bytes: c.corrupt_tail_bytes,
            corrupt_segments: c.corrupt_segments,
            ignored_files: c.ignored_files,
        }
    }

    /// Closes the newest segment (synced, so a roll never leaves older data
    /// behind the caller's last flush) and begins a new one at the next sequence
    /// number.
    fn roll(&mut self) -> Result<(), SpoolError> {
        if let (Some(file), Some(seg)) = (self.active.take(), self.segments.back()) {
            file.sync_data().map_err(io_err("sync", &seg.path))?;
        }
        // An empty newest segment that lost its handle is reused, not created again.
        if let Some(seg) = self.segments.back_mut()
            && seg.offsets.is_empty()
            && seg.first_seq == self.next_seq
        {
            let before = seg.len;
            self.active = Some(segment::reopen(seg).map_err(io_err("open", &seg.path))?);
            self.bytes += seg.len - before;
            return Ok(());
        }
        let (file, seg) =
            segment::create(&self.dir, self.next_seq).map_err(io_err("create", &self.dir))?;
        self.bytes += seg.len;
        self.segments.push_back(seg);
        self.active = Some(file);
        self.dir_dirty = true;
        Ok(())
    }

    /// Drops the oldest segments until `frame_len` more bytes fit under the cap.
    fn make_room(&mut self, frame_len: u64) {
        let mut lost = 0;
        while self.bytes + frame_len > self.cfg.max_bytes && self.segments.len() > 1 {
            let Some(seg) = self.segments.pop_front() else {
                break;
            };
            let (records, bytes) = seg.unacked(self.acked);
            self.remove(&seg);
            if records > 0 {
                warn!(
                    segment = %seg.path.display(),
                    records,
                    bytes,
                    max_bytes = self.cfg.max_bytes,
                    "spool full: dropped the oldest unacknowledged findings"
                );
            }
            self.counters.dropped_records += records;
            self.counters.dropped_bytes += bytes;
            lost += records;
        }
        if lost > 0 {
            self.unreported_dropped += lost;
            // Only the report of the loss is at stake: the append goes on.
            if let Err(e) = self.store_state() {
                warn!(error = %e, "spool: cannot record the dropped findings' count");
            }
        }
    }

    /// Forgets records `i..` of segment `k` after damage was found in them.
    fn cut_segment(&mut self, k: usize, i: usize, why: &str) {
        let acked = self.acked;
        let is_newest = k + 1 == self.segments.len();
        let seg = &mut self.segments[k];
        let lost = seg.end_seq() - (seg.first_seq + i as u64).max(acked + 1).min(seg.end_seq());
        warn!(segment = %seg.path.display(), seq = seg.first_seq + i as u64, lost, "spool: {why}; the rest of the segment is skipped");
        seg.offsets.truncate(i);
        if is_newest {
            // Appending after damage would hide the new records behind it at the
            // next open: begin a new segment instead.
            self.active = None;
        }
        self.counters.dropped_records += lost;
        self.unreported_dropped += lost;
    }

    fn remove(&mut self, seg: &Segment) {
        self.bytes -= seg.len;
        // A file left behind holds only acknowledged or dropped records; the next
        // open deletes it or counts it again, so this is worth a warning only.
        if let Err(e) = fs::remove_file(&seg.path) {
            warn!(segment = %seg.path.display(), error = %e, "spool: cannot delete a segment");
        }
    }

    fn store_state(&self) -> Result<(), SpoolError> {
        let s = state::State {
            acked: self.acked,
            next_seq: self.next_seq,
            unreported_dropped: self.unreported_dropped,
        };
        state::store(&self.dir, &s).map_err(io_err("write", &self.dir.join(state::FILE)))
    }
}
