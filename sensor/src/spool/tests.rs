//! The spool against restarts, torn and flipped bytes, a full disk budget and
//! hostile directories, in temporary directories.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

use super::*;

/// A directory removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("sensor-spool-{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn cfg(segment_bytes: u64, max_bytes: u64) -> SpoolConfig {
    SpoolConfig {
        max_bytes,
        segment_bytes,
    }
}

fn record(seq_hint: u64, len: usize) -> Vec<u8> {
    let mut r = format!("finding-{seq_hint}-").into_bytes();
    r.resize(len.max(r.len()), b'x');
    r
}

fn all(s: &mut Spool) -> Vec<(u64, Vec<u8>)> {
    s.peek(0, usize::MAX, usize::MAX).unwrap()
}

fn seg_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn append_peek_ack_round_trip() {
    let d = TempDir::new("round");
    let mut s = Spool::open(&d.0, SpoolConfig::default()).unwrap();
    let seqs: Vec<u64> = (0..10).map(|i| s.append(&record(i, 50)).unwrap()).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    // Handed out before they are flushed: delivery does not wait for the disk.
    assert_eq!(all(&mut s).len(), 10);
    assert!(s.needs_flush());
    s.flush().unwrap();
    assert!(!s.needs_flush());
    let got = all(&mut s);
    assert_eq!(got.len(), 10);
    for (i, (seq, r)) in got.iter().enumerate() {
        assert_eq!((*seq, r), (i as u64 + 1, &record(i as u64, 50)));
    }
    // Batches by count and by bytes; the cursor is the sender's.
    assert_eq!(
        s.peek(3, 2, usize::MAX)
            .unwrap()
            .iter()
            .map(|r| r.0)
            .collect::<Vec<_>>(),
        [3, 4]
    );
    assert_eq!(s.peek(3, 100, 120).unwrap().len(), 2);
    assert_eq!(
        s.peek(3, 100, 1).unwrap().len(),
        1,
        "a record larger than the budget goes alone"
    );
    s.ack(5).unwrap();
    assert_eq!(all(&mut s)[0].0, 6);
    assert_eq!(
        s.peek(2, 100, usize::MAX).unwrap()[0].0,
        6,
        "acked records are never returned"
    );
    let st = s.stats();
    assert_eq!(
        (st.appended, st.acked, st.records, st.acked_seq, st.next_seq),
        (10, 5, 5, 5, 11)
    );
    // Acking backwards or past the end is harmless.
    s.ack(2).unwrap();
    s.ack(1000).unwrap();
    assert_eq!(s.stats().acked_seq, 10);
    assert!(all(&mut s).is_empty());
}

#[test]
fn a_flush_runs_without_the_spool_and_a_failed_one_is_retried() {
    let d = TempDir::new("pending");
    let mut s = Spool::open(&d.0, SpoolConfig::default()).unwrap();
    assert!(!s.needs_flush(), "a new spool has nothing to sync");
    s.append(&record(1, 50)).unwrap();
    let sync = s.begin_flush().unwrap();
    assert!(!s.needs_flush());
    // Appended while the sync runs elsewhere: left for the next flush.
    s.append(&record(2, 50)).unwrap();
    assert!(s.needs_flush());
    sync.run().unwrap();
    s.flush().unwrap();
    assert!(!s.needs_flush());
    // A sync that failed leaves its records waiting for the next flush.
    s.append(&record(3, 50)).unwrap();
    let sync = s.begin_flush().unwrap();
    s.flush_failed(&sync);
    assert!(s.needs_flush());
    s.flush().unwrap();
    assert!(!s.needs_flush());
    assert_eq!(all(&mut s).len(), 3);
}

#[test]
fn restart_continues_sequence_and_keeps_acks() {
    let d = TempDir::new("restart");
    {
        let mut s = Spool::open(&d.0, cfg(1024, 8192)).unwrap();
        for i in 0..40 {
            s.append(&record(i, 60)).unwrap();
        }
        s.flush().unwrap();
        s.ack(25).unwrap();
    }
    let mut s = Spool::open(&d.0, cfg(1024, 8192)).unwrap();
    let st = s.stats();
    assert_eq!(
        (st.recovered, st.records, st.acked_seq, st.next_seq),
        (15, 15, 25, 41)
    );
    assert_eq!((st.corrupt_tail_bytes, st.corrupt_segments), (0, 0));
    let got = all(&mut s);
    assert_eq!(got.first().unwrap().0, 26);
    assert_eq!(got.last().unwrap(), &(40, record(39, 60)));
    assert_eq!(s.append(b"after").unwrap(), 41);
    // Everything acked, then restart: numbering still continues.
    s.ack(41).unwrap();
    drop(s);
    let mut s = Spool::open(&d.0, cfg(1024, 8192)).unwrap();
    assert_eq!(s.stats().records, 0);
    assert_eq!(s.append(b"next").unwrap(), 42);
}

#[test]
fn sequence_survives_losing_every_segment() {
    let d = TempDir::new("noseg");
    {
        let mut s = Spool::open(&d.0, SpoolConfig::default()).unwrap();
        for i in 0..5 {
            s.append(&record(i, 10)).unwrap();
        }
        s.ack(3).unwrap();
    }
    for f in seg_files(&d.0) {
        fs::remove_file(f).unwrap();
    }
    let mut s = Spool::open(&d.0, SpoolConfig::default()).unwrap();
    assert!(
        s.append(b"x").unwrap() >= 6,
        "a number the collector saw is never reused"
    );
}

/// Five records in one segment, then the last segment's file damaged by `hurt`.
fn damaged_tail(label: &str, hurt: impl FnOnce(&Path, u64)) -> Spool {
    let d = TempDir::new(label);
    let path;
    {
        let mut s = Spool::open(&d.0, SpoolConfig::default()).unwrap();
        for i in 0..5 {
            s.append(&record(i, 100)).unwrap();
        }
        s.flush().unwrap();
        path = s.segments[0].path.clone();
    }
    let len = fs::metadata(&path).unwrap().len();
    hurt(&path, len);
    let s = Spool::open(&d.0, SpoolConfig::default()).unwrap();
    // Keep the directory alive with the spool for the caller's checks.
    std::mem::forget(d);
    s
}

#[test]
fn torn_tail_is_cut_at_the_last_good_record() {
    let mut s = damaged_tail("torn", |p, len| {
        let f = fs::OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(len - 30).unwrap();
    });
    let st = s.stats();
    assert_eq!(st.records, 4);
    assert_eq!(st.corrupt_tail_bytes, 116 - 30);
    assert_eq!(st.corrupt_segments, 1);
    let got = all(&mut s);
    assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(got[3].1, record(3, 100));
    // Appends go on after the cut, and read back.
    assert_eq!(s.append(b"new").unwrap(), 5);
    s.flush().unwrap();
    assert_eq!(all(&mut s).last().unwrap(), &(5, b"new".to_vec()));
    let dir = s.dir.clone();
    drop(s);
    let mut s = Spool::open(&dir, SpoolConfig::default()).unwrap();
    assert_eq!(s.stats().corrupt_tail_bytes, 0, "the cut is made once");
    assert_eq!(all(&mut s).len(), 5);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn flipped_byte_in_the_tail_is_cut() {
    let mut s = damaged_tail("flip", |p, len| {
        let mut b = fs::read(p).unwrap();
        b[(len - 10) as usize] ^= 0x40;
        fs::write(p, b).unwrap();
    });
    assert_eq!(s.stats().corrupt_tail_bytes, 116);
    assert_eq!(all(&mut s).len(), 4);
    let _ = fs::remove_dir_all(&s.dir);
}

#[test]
fn short_segment_header_is_a_fresh_segment() {
    let mut s = damaged_tail("hdr", |p, _| {
        let f = fs::OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(3).unwrap();
    });
    assert_eq!(s.stats().records, 0);
    assert_eq!(s.append(b"again").unwrap(), 1);
    s.flush().unwrap();
    assert_eq!(all(&mut s), [(1, b"again".to_vec())]);
    let _ = fs::remove_dir_all(&s.dir);
}

#[test]
fn damage_in_an_older_segment_skips_to_the_next_and_counts_the_gap() {
    let d = TempDir::new("middle");
    let c = cfg(1024, 1 << 20);
    {
        let mut s = Spool::open(&d.0, c.clone()).unwrap();
        // 8 records of 116 bytes per 1024-byte segment.
        for i in 0..24 {
            s.append(&record(i, 100)).unwrap();
        }
        s.flush().unwrap();
    }
    let files = seg_files(&d.0);
    assert_eq!(files.len(), 3);
    // Damage the third record of the first segment.
    let mut b = fs::read(&files[0]).unwrap();
    b[8 + 2 * 116 + 20] ^= 1;
    fs::write(&files[0], b).unwrap();
    let mut s = Spool::open(&d.0, c).unwrap();
    let st = s.stats();
    assert_eq!(
        (st.corrupt_segments, st.dropped_records, st.records),
        (1, 6, 18)
    );
    let seqs: Vec<u64> = all(&mut s).iter().map(|r| r.0).collect();
    assert_eq!(seqs, [1, 2].into_iter().chain(9..=24).collect::<Vec<_>>());
    assert_eq!(s.take_dropped(), 6);
    assert_eq!(s.take_dropped(), 0);
}

#[test]
fn damage_found_while_reading_is_skipped_and_counted() {
    let d = TempDir::new("readdmg");
    let mut s = Spool::open(&d.0, cfg(1024, 1 << 20)).unwrap();
    for i in 0..16 {
        s.append(&record(i, 100)).unwrap();
    }
    s.flush().unwrap();
    let first = s.segments[0].path.clone();
    let mut b = fs::read(&first).unwrap();
    b[8 + 5 * 116 + 30] ^= 1;
    fs::write(&first, b).unwrap();
    let seqs: Vec<u64> = all(&mut s).iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=5).chain(9..=16).collect::<Vec<_>>());
    assert_eq!(s.stats().dropped_records, 3);
    assert_eq!(s.take_dropped(), 3);
}

#[test]
fn full_spool_drops_the_oldest_and_counts_exactly() {
    let d = TempDir::new("full");
    // 8 records (116 bytes framed) per segment of at most 1024 bytes; 4096 in all.
    let mut s = Spool::open(&d.0, cfg(1024, 4096)).unwrap();
    for i in 0..100 {
        s.append(&record(i, 100)).unwrap();
        assert!(s.stats().bytes <= 4096);
    }
    s.flush().unwrap();
    let st = s.stats();
    assert!(
        st.dropped_records.is_multiple_of(8),
        "whole segments are dropped"
    );
    assert_eq!(st.dropped_records + st.records, 100);
    assert_eq!(st.dropped_bytes, st.dropped_records * 116);
    let got = all(&mut s);
    assert_eq!(got.len() as u64, st.records);
    assert_eq!(got[0].0, st.dropped_records + 1);
    assert_eq!(got.last().unwrap().0, 100);
    assert_eq!(s.take_dropped(), st.dropped_records);
    assert_eq!(s.take_dropped(), 0);
    // Acknowledged records dropped are not lost findings. The newest segment
    // (97..=100) fills up with 101..=104 and is acknowledged but kept, being the
    // newest; 31 more records push it out.
    s.ack(100).unwrap();
    for i in 0..4 {
        s.append(&record(i, 100)).unwrap();
    }
    s.ack(104).unwrap();
    let before = s.stats().dropped_records;
    for i in 0..31 {
        s.append(&record(i, 100)).unwrap();
    }
    let st = s.stats();
    assert_eq!(
        (st.dropped_records, st.records, st.segments),
        (before, 31, 4)
    );
    assert_eq!(s.take_dropped(), 0);
}

#[test]
fn dropped_count_survives_a_restart_until_taken() {
    let d = TempDir::new("dropkeep");
    {
        let mut s = Spool::open(&d.0, cfg(1024, 2048)).unwrap();
        for i in 0..30 {
            s.append(&record(i, 100)).unwrap();
        }
        assert!(s.stats().dropped_records > 0);
    }
    let mut s = Spool::open(&d.0, cfg(1024, 2048)).unwrap();
    let lost = s.take_dropped();
    assert!(lost > 0 && lost.is_multiple_of(8));
    s.ack(1).unwrap();
    drop(s);
    let mut s = Spool::open(&d.0, cfg(1024, 2048)).unwrap();
    assert_eq!(
        s.take_dropped(),
        0,
        "taken and written down at the next ack"
    );
}

#[test]
fn ack_deletes_fully_acknowledged_segments() {
    let d = TempDir::new("ackdel");
    let mut s = Spool::open(&d.0, cfg(1024, 1 << 20)).unwrap();
    for i in 0..40 {
        s.append(&record(i, 100)).unwrap();
    }
    assert_eq!(seg_files(&d.0).len(), 5);
    s.ack(12).unwrap(); // the second segment holds 9..=16
    assert_eq!(seg_files(&d.0).len(), 4);
    s.ack(16).unwrap();
    assert_eq!(seg_files(&d.0).len(), 3);
    s.ack(40).unwrap();
    // The newest stays: it is still being written to.
    assert_eq!(seg_files(&d.0).len(), 1);
    assert_eq!(s.stats().segments, 1);
    assert_eq!(s.append(b"x").unwrap(), 41);
}

#[test]
fn many_small_records_across_many_segments() {
    let d = TempDir::new("many");
    let c = cfg(256, 1 << 20);
    let mut s = Spool::open(&d.0, c.clone()).unwrap();
    for i in 0..5000u64 {
        s.append(&i.to_le_bytes()).unwrap();
    }
    s.flush().unwrap();
    assert!(s.stats().segments > 100);
    drop(s);
    let mut s = Spool::open(&d.0, c).unwrap();
    let mut cursor = 0;
    let mut n = 0u64;
    loop {
        let batch = s.peek(cursor, 97, usize::MAX).unwrap();
        let Some(last) = batch.last() else { break };
        for (seq, r) in &batch {
            assert_eq!(*seq, n + 1);
            assert_eq!(r, &n.to_le_bytes());
            n += 1;
        }
        cursor = last.0 + 1;
        s.ack(last.0).unwrap();
    }
    assert_eq!(n, 5000);
    assert_eq!(s.stats().segments, 1);
}

#[test]
fn oversized_record_is_refused() {
    let d = TempDir::new("big");
    let mut s = Spool::open(&d.0, cfg(1024, 4096)).unwrap();
    let max = s.max_record_bytes() as usize;
    assert!(matches!(
        s.append(&vec![0; max + 1]),
        Err(SpoolError::TooLarge { .. })
    ));
    assert_eq!(s.append(&vec![7; max]).unwrap(), 1);
    assert_eq!(s.append(b"small").unwrap(), 2);
    s.flush().unwrap();
    assert_eq!(all(&mut s).len(), 2);
}

#[test]
fn bad_config_is_refused() {
    let d = TempDir::new("cfg");
    for c in [cfg(10, 4096), cfg(1024, 1500), cfg(1 << 33, 1 << 40)] {
        assert!(matches!(
            Spool::open(&d.0, c),
            Err(SpoolError::Config { .. })
        ));
    }
}

#[test]
fn hostile_directory_is_ignored_with_warnings() {
    let d = TempDir::new("hostile");
    fs::create_dir_all(&d.0).unwrap();
    fs::write(d.0.join("junk.txt"), b"hello").unwrap();
    fs::write(d.0.join("12.seg"), b"not canonical").unwrap();
    fs::write(d.0.join(segment::file_name(99)), b"garbage that is long").unwrap();
    fs::create_dir(d.0.join(segment::file_name(5))).unwrap();
    fs::write(d.0.join("acked"), b"nonsense").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", d.0.join(segment::file_name(7))).unwrap();
    let mut s = Spool::open(&d.0, SpoolConfig::default()).unwrap();
    assert_eq!(s.stats().ignored_files, 5);
    assert!(d.0.join("00000000000000000099.seg.bad").exists());
    assert_eq!(s.append(b"ok").unwrap(), 1);
    s.flush().unwrap();
    assert_eq!(all(&mut s), [(1, b"ok".to_vec())]);
    drop(s);
    // The renamed file is not warned about twice, but still counted.
    let s = Spool::open(&d.0, SpoolConfig::default()).unwrap();
    assert_eq!(s.stats().ignored_files, 5);
}

/// A small deterministic generator: the test must replay the same way.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Random appends, acks, flushes and reopens against a model: every record
/// appended and neither dropped nor acknowledged comes back exactly once, in
/// order, and drops take only the oldest and are counted one for one.
#[test]
fn random_operations_keep_the_invariant() {
    for seed in 1..=8u64 {
        let d = TempDir::new("prop");
        let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let c = cfg(512 + rng.below(1024), 8192);
        let mut s = Spool::open(&d.0, c.clone()).unwrap();
        // Unacknowledged records, oldest first.
        let mut model: std::collections::VecDeque<(u64, Vec<u8>)> = Default::default();
        let mut last_seq = 0;
        let mut dropped_seen = 0;
        for step in 0..400 {
            match rng.below(10) {
                0..=5 => {
                    let len = rng.below(200) as usize;
                    let r = record(step, len);
                    let seq = s.append(&r).unwrap();
                    assert!(seq > last_seq, "seed {seed}: sequence went back");
                    last_seq = seq;
                    model.push_back((seq, r));
                }
                6 => {
                    let up_to = last_seq.saturating_sub(rng.below(20));
                    s.ack(up_to).unwrap();
                    while model.front().is_some_and(|r| r.0 <= up_to) {
                        model.pop_front();
                    }
                }
                7 => {
                    drop(s);
                    s = Spool::open(&d.0, c.clone()).unwrap();
                    dropped_seen = 0;
                }
                // Checked after each flush and reopen (each flush costs an
                // fsync: only some steps flush).
                _ => s.flush().unwrap(),
            }
            if !s.unflushed && !s.dir_dirty {
                check(&mut s, &mut model, &mut dropped_seen, seed, step);
            }
        }
    }
}

/// Compares what the spool hands out with the model: the spool's records must
/// be the model's newest, and the ones missing exactly those counted dropped.
fn check(
    s: &mut Spool,
    model: &mut std::collections::VecDeque<(u64, Vec<u8>)>,
    dropped_seen: &mut u64,
    seed: u64,
    step: u64,
) {
    let got = all(s);
    let dropped = s.stats().dropped_records;
    let lost = model.len() - got.len();
    assert_eq!(
        lost as u64,
        dropped - *dropped_seen,
        "seed {seed} step {step}"
    );
    *dropped_seen = dropped;
    model.drain(..lost);
    assert!(got.iter().eq(model.iter()), "seed {seed} step {step}");
    assert!(s.stats().bytes <= 8192);
}
