//! Opening a spool: what a previous run left is checked record by record and
//! taken up again. Damage never stops the agent: a torn or corrupt frame is cut
//! off with everything after it in its segment, counted and logged; files that
//! are not the spool's are left alone with a warning.

use std::{
    collections::VecDeque,
    fs,
    path::{Path, PathBuf},
};

use tracing::{info, warn};

use super::{
    Counters, Spool, SpoolConfig, SpoolError,
    error::io_err,
    frame::FRAME_HEADER,
    segment::{self, SEGMENT_HEADER, Segment},
    state,
};

impl Spool {
    /// Opens the spool in `dir` (created if missing) and recovers what a previous
    /// run left there: unacknowledged records are returned by [`Spool::peek`]
    /// again, sequence numbers continue after the last one used, and the
    /// acknowledged position stays. Fails only on bad settings or when the
    /// directory itself cannot be created or listed.
    pub fn open(dir: impl Into<PathBuf>, cfg: SpoolConfig) -> Result<Spool, SpoolError> {
        cfg.validate()?;
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let st = state::load(&dir).unwrap_or_else(|why| {
            warn!("spool: {why}; every record on disk will be sent again");
            state::State::default()
        });
        let mut spool = Spool {
            dir,
            cfg,
            segments: VecDeque::new(),
            active: None,
            next_seq: st.next_seq.max(st.acked.saturating_add(1)).max(1),
            acked: st.acked,
            bytes: 0,
            unreported_dropped: st.unreported_dropped,
            dir_dirty: false,
            unflushed: false,
            counters: Counters::default(),
            frame: Vec::new(),
        };
        let files = spool.list()?;
        let n = files.len();
        // The end of a segment cut short by damage: the records between it and
        // the next segment's first are lost, and that count is known.
        let mut cut_end = None;
        for (k, (first_seq, path)) in files.into_iter().enumerate() {
            if let Some(seg) = spool.take_up(first_seq, path, k + 1 == n, &mut cut_end) {
                spool.next_seq = spool.next_seq.max(seg.end_seq());
                spool.bytes += seg.len;
                spool.segments.push_back(seg);
            }
        }
        // Acknowledged segments a crash kept from being deleted.
        while spool.segments.len() > 1 && spool.segments[0].end_seq() <= spool.acked + 1 {
            if let Some(seg) = spool.segments.pop_front() {
                spool.remove(&seg);
            }
        }
        if let Some(seg) = spool.segments.back_mut() {
            let before = seg.len;
            match segment::reopen(seg) {
                Ok(f) => {
                    spool.bytes += seg.len - before;
                    spool.active = Some(f);
                }
                // The next append begins a new segment.
                Err(e) => {
                    warn!(segment = %seg.path.display(), error = %e, "spool: cannot reopen the newest segment")
                }
            }
        }
        // A smaller cap than last time.
        spool.make_room(0);
        let s = spool.stats();
        spool.counters.recovered = s.records;
        if s.records > 0 || s.corrupt_segments > 0 {
            info!(
                dir = %spool.dir.display(),
                records = s.records,
                segments = s.segments,
                next_seq = s.next_seq,
                corrupt_segments = s.corrupt_segments,
                corrupt_tail_bytes = s.corrupt_tail_bytes,
                "spool: recovered unacknowledged findings"
            );
        }
        Ok(spool)
    }

    /// The directory's segment files by first sequence number; anything else is
    /// left alone with a warning (a leftover `acked.tmp` is removed).
    fn list(&mut self) -> Result<Vec<(u64, PathBuf)>, SpoolError> {
        let mut files = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err("list", &self.dir))? {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    warn!(dir = %self.dir.display(), error = %e, "spool: cannot read a directory entry");
                    self.counters.ignored_files += 1;
                    continue;
                }
            };
            let name = entry.file_name();
            let path = entry.path();
            if name == state::FILE {
                continue;
            }
            if name == state::TMP {
                // A state write the last run did not finish; the old file stands.
                let _ = fs::remove_file(&path);
                continue;
            }
            // Symbolic links are not followed: the spool writes only its own files.
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            match segment::parse_name(&name) {
                Some(seq) if is_file => files.push((seq, path)),
                _ => {
                    if !name.to_string_lossy().ends_with(".bad") {
                        warn!(file = %path.display(), "spool: not a segment file, ignored");
                    }
                    self.counters.ignored_files += 1;
                }
            }
        }
        files.sort_unstable_by_key(|f| f.0);
        Ok(files)
    }

    /// Checks one segment file and returns what can be kept of it.
    fn take_up(
        &mut self,
        first_seq: u64,
        path: PathBuf,
        newest: bool,
        cut_end: &mut Option<u64>,
    ) -> Option<Segment> {
        let scan = match segment::scan(&path, first_seq, self.cfg.max_record_bytes()) {
            Ok(s) => s,
            Err(e) => {
                warn!(segment = %path.display(), error = %e, "spool: cannot read a segment, ignored");
                self.counters.ignored_files += 1;
                // Its records may have been sent: never reuse their numbers. Each
                // takes at least one frame header.
                let most = fs::metadata(&path).map_or(0, |m| m.len() / FRAME_HEADER as u64);
                self.next_seq = self.next_seq.max(first_seq.saturating_add(most));
                return None;
            }
        };
        if let Some(prev) = self.segments.back()
            && first_seq < prev.end_seq()
        {
            warn!(segment = %path.display(), "spool: a segment overlapping the one before it, ignored");
            self.counters.ignored_files += 1;
            return None;
        }
        if !scan.magic_ok {
            if scan.file_len < SEGMENT_HEADER as u64 {
                // Created but never written before a crash: it holds no record.
                // The newest keeps its name, the record of the next sequence number.
                if newest {
                    return Some(Segment {
                        first_seq,
                        path,
                        len: 0,
                        offsets: Vec::new(),
                    });
                }
                let _ = fs::remove_file(&path);
                return None;
            }
            // Not ours: renamed so a new segment can never collide with it.
            let bad = path.with_extension("seg.bad");
            warn!(segment = %path.display(), renamed = %bad.display(), "spool: a file with a segment's name but not a segment's header");
            let _ = fs::rename(&path, &bad);
            self.counters.ignored_files += 1;
            return None;
        }
        let seg = Segment {
            first_seq,
            path,
            len: scan.good_len,
            offsets: scan.offsets,
        };
        if let Some(end) = cut_end.take() {
            // Only damage found now: a gap cut by an earlier open was counted then.
            let lost = first_seq.saturating_sub(end.max(self.acked + 1));
            if lost > 0 {
                warn!(
                    lost,
                    "spool: findings lost behind damage in an older segment"
                );
                self.counters.dropped_records += lost;
                self.unreported_dropped += lost;
            }
        }
        if let Some(why) = scan.bad {
            let cut = scan.file_len - seg.len;
            warn!(segment = %seg.path.display(), good_records = seg.offsets.len(), cut_bytes = cut, "spool: {why}; the segment is cut after its last good record");
            self.counters.corrupt_tail_bytes += cut;
            self.counters.corrupt_segments += 1;
            if !newest {
                *cut_end = Some(seg.end_seq());
                truncate(&seg.path, seg.len);
            }
            // The newest is cut when it is reopened for appending.
        }
        Some(seg)
    }
}

/// Cuts a file's damaged end, so that the next open does not count it again.
fn truncate(path: &Path, len: u64) {
    let r = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len));
    if let Err(e) = r {
        warn!(segment = %path.display(), error = %e, "spool: cannot cut a damaged segment");
    }
}
