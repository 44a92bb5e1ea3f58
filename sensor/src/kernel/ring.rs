//! Reading the event ring buffer without a user-space wakeup per event.
//!
//! The kernel side wakes this reader when enough data waits (see
//! `WakeupPolicy`), or, with quiet wakeups, when a record finds the ring empty
//! and none did for a moment; between wakeups the reader polls on a timer, soon
//! after a read (less soon while every read finds records, so a busy machine is
//! read in fewer, larger batches) and rarely otherwise. While it polls soon, it
//! tells the kernel when it will look (`QUIET_UNTIL`), so a steady stream of
//! events is read by the reader's timer and costs the processes that cause them
//! no wakeup: a wakeup is an interrupt and a cross-CPU wake inside their system
//! call, about 8.5 µs on a VM. Wakeups and timer polls are counted so their
//! effect can be measured.

use std::time::{Duration, Instant};

use aya::maps::{Array, MapData, RingBuf};
use tokio::io::unix::AsyncFd;

use crate::event::{DecodeError, Event, clock, decode};

/// How the kernel side wakes the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeupPolicy {
    /// The kernel's default: a wakeup whenever the reader has caught up, which under
    /// a steady stream means one per record.
    EveryEvent,
    /// Records are submitted with `BPF_RB_NO_WAKEUP` until this many bytes wait unread;
    /// the reader's timer picks up anything smaller.
    Batched {
        /// Unread bytes that trigger a wakeup.
        bytes: u64,
    },
}

impl WakeupPolicy {
    /// The value of the programs' `WAKEUP_BYTES` global.
    pub fn threshold(self) -> u64 {
        match self {
            Self::EveryEvent => 0,
            Self::Batched { bytes } => bytes.max(1),
        }
    }
}

/// What the reader has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// Times the kernel woke the reader.
    pub wakeups: u64,
    /// Times the timer made the reader look without a wakeup.
    pub timer_polls: u64,
    /// Records read.
    pub records: u64,
    /// Records refused by the decoder (counted and dropped).
    pub decode_errors: u64,
}

/// Reads and decodes records from the `EVENTS` ring buffer.
pub struct EventReader {
    ring: AsyncFd<RingBuf<MapData>>,
    poll_interval: Duration,
    /// After a read that found records, how long the next wait lasts at most.
    recheck: Option<ReLook>,
    /// The last read found records.
    recent: bool,
    stats: ReaderStats,
    /// The last read stopped at [`BATCH_MAX`]: records are waiting.
    more: bool,
    /// The kernel's `QUIET_UNTIL`, with quiet wakeups; the reader writes when it
    /// will look next while it polls soon.
    quiet_until: Option<QuietUntil>,
}

/// How late the reader's timer may fire: tokio's timer rounds a deadline up to
/// the next millisecond, and the thread takes a moment to run. A reader that
/// is later still is woken, which costs a wakeup and loses nothing.
const TIMER_SLACK: Duration = Duration::from_millis(2);

/// The longest the reader waits between looks while every look finds records.
/// Each look costs the reader a wakeup (some 10 to 40 µs of CPU on a VM, much
/// of it a context switch), so a steady stream read every 2 ms costs far more
/// than its records. Records wait at most this long, plus [`TIMER_SLACK`]; the
/// ring's byte threshold still wakes the reader at once in a flood.
const BUSY_GAP_MAX: Duration = Duration::from_millis(8);

/// How long looks in a row must keep finding records before the re-look grows:
/// longer than the burst of records one action makes (a process's fork, exec,
/// opens and exit), so such a burst is read in 2 ms steps to its end.
const BUSY_AFTER: Duration = Duration::from_millis(20);

/// The wait before the next look after records: the configured re-look, until
/// looks have found records for [`BUSY_AFTER`]; then doubling with each look
/// that finds records, up to [`BUSY_GAP_MAX`]; back to the start once a look
/// finds nothing. A burst is read again soon; a busy machine is read in fewer,
/// larger batches.
#[derive(Clone, Copy, Debug)]
struct ReLook {
    first: Duration,
    next: Duration,
    /// When the looks that keep finding records began.
    busy_since: Option<Instant>,
}

impl ReLook {
    fn new(first: Duration) -> Self {
        Self {
            first,
            next: first,
            busy_since: None,
        }
    }

    /// The wait after a look at `now` that found records (never longer than
    /// `cap`).
    fn after_records(&mut self, now: Instant, cap: Duration) -> Duration {
        let since = *self.busy_since.get_or_insert(now);
        if now.duration_since(since) < BUSY_AFTER {
            return self.first.min(cap);
        }
        let wait = self.next.min(cap);
        self.next = (self.next * 2).min(BUSY_GAP_MAX.max(self.first));
        wait
    }

    /// A look found nothing: the next records are read again soon.
    fn reset(&mut self) {
        self.next = self.first;
        self.busy_since = None;
    }
}

/// The reader's side of `QUIET_UNTIL`.
struct QuietUntil {
    map: Array<MapData, u64>,
    /// The last time written is still ahead, or may be: it holds wakeups back.
    holding: bool,
    /// A write failed: logged once, and quiet wakeups left to the kernel.
    failed: bool,
}

impl QuietUntil {
    /// Writes `boot_ns` (0: wake me as soon as the gap allows).
    fn write(&mut self, boot_ns: u64) {
        if self.failed {
            return;
        }
        match self.map.set(0, boot_ns, 0) {
            Ok(()) => self.holding = boot_ns != 0,
            Err(err) => {
                // Only the wakeup timing suffers: every event is still read.
                tracing::warn!(error = %err, "cannot tell the kernel when the reader looks next: a busy machine's events will wake it more often");
                self.failed = true;
            }
        }
    }
}

/// Records decoded by one [`EventReader::read_batch`] at most, so that a burst
/// makes several modest batches rather than one that holds the whole ring in
/// memory at once (the agent's memory must not grow with the event rate).
pub const BATCH_MAX: usize = 4096;

impl EventReader {
    /// `quiet_until` is the kernel's `QUIET_UNTIL`, given with a `recheck`.
    pub(super) fn new(
        ring: RingBuf<MapData>,
        poll_interval: Duration,
        recheck: Option<Duration>,
        quiet_until: Option<Array<MapData, u64>>,
    ) -> std::io::Result<Self> {
        Ok(Self {
            // SAFETY: the RingBuf owns its map fd and keeps it open for as long as
            // the AsyncFd holds it.
            ring: unsafe { AsyncFd::register(ring)? },
            poll_interval,
            recheck: recheck.map(ReLook::new),
            recent: false,
            stats: ReaderStats::default(),
            more: false,
            quiet_until: quiet_until.map(|map| QuietUntil {
                map,
                holding: false,
                failed: false,
            }),
        })
    }

    /// Counters of wakeups, polls, records and decode errors.
    pub fn stats(&self) -> ReaderStats {
        self.stats
    }

    /// Waits for a wakeup or the poll interval, unless records are known to wait,
    /// then decodes up to [`BATCH_MAX`] waiting records into `out`. Returns how
    /// many records it read.
    pub async fn read_batch(&mut self, out: &mut Vec<Event>) -> std::io::Result<usize> {
        if self.more {
            return Ok(self.drain_at_most(out, BATCH_MAX));
        }
        // Records that came just after a quiet wakeup found the reader awake and
        // woke nobody: look again soon after reading, not a whole interval later.
        let wait = match &mut self.recheck {
            Some(relook) if self.recent => relook.after_records(Instant::now(), self.poll_interval),
            Some(relook) => {
                relook.reset();
                self.poll_interval
            }
            None => self.poll_interval,
        };
        if let Some(quiet) = &mut self.quiet_until {
            if self.recent {
                // Records meanwhile need not wake a reader that looks by then.
                // Its timer fires late by up to a tick, so it is given that too.
                let wait_ns = u64::try_from((wait + TIMER_SLACK).as_nanos()).unwrap_or(u64::MAX);
                quiet.write(clock::boot_ns_now().saturating_add(wait_ns));
            } else if quiet.holding {
                // Going quiet: records from now on wake the reader again. Those
                // that came since the last read, held back, are read first.
                quiet.write(0);
                let read = self.drain_at_most(out, BATCH_MAX);
                if read > 0 {
                    return Ok(read);
                }
            }
        }
        match tokio::time::timeout(wait, self.ring.readable()).await {
            Ok(guard) => {
                self.stats.wakeups += 1;
                // Clear before draining: a record submitted during the drain re-arms
                // readiness instead of being missed.
                guard?.clear_ready();
            }
            Err(_elapsed) => self.stats.timer_polls += 1,
        }
        Ok(self.drain_at_most(out, BATCH_MAX))
    }

    /// Decodes every record waiting now, without waiting.
    pub fn drain(&mut self, out: &mut Vec<Event>) -> usize {
        self.drain_at_most(out, usize::MAX)
    }

    fn drain_at_most(&mut self, out: &mut Vec<Event>, max: usize) -> usize {
        let ring = self.ring.get_mut();
        let mut read = 0;
        let mut errors = Vec::new();
        self.more = false;
        while read < max {
            let Some(item) = ring.next() else { break };
            read += 1;
            match decode(&item) {
                Ok(event) => out.push(event),
                Err(err) => errors.push(err),
            }
        }
        self.more = read == max;
        self.recent = read > 0;
        self.stats.records += read as u64;
        for err in &errors {
            self.refuse(err);
        }
        read
    }

    fn refuse(&mut self, err: &DecodeError) {
        self.stats.decode_errors += 1;
        // A bad record means a kernel/agent mismatch or a bug: worth a line each
        // time, but only the first few, so a flood cannot drown the log.
        if self.stats.decode_errors <= 10 {
            tracing::warn!(error = %err, total = self.stats.decode_errors, "dropped an undecodable kernel record");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// The waits of `n` looks in a row that find records, each made when the
    /// wait before it ends.
    fn waits(relook: &mut ReLook, start: Instant, n: usize, cap: Duration) -> Vec<Duration> {
        let mut now = start;
        (0..n)
            .map(|_| {
                let wait = relook.after_records(now, cap);
                now += wait;
                wait
            })
            .collect()
    }

    #[test]
    fn a_burst_is_read_in_short_steps() {
        let mut relook = ReLook::new(2 * MS);
        // Ten looks, 18 ms: shorter than BUSY_AFTER.
        assert_eq!(
            waits(&mut relook, Instant::now(), 10, 100 * MS),
            [2 * MS; 10]
        );
    }

    #[test]
    fn a_busy_reader_looks_less_often_up_to_the_cap() {
        let mut relook = ReLook::new(2 * MS);
        let all = waits(&mut relook, Instant::now(), 15, 100 * MS);
        // 2 ms until looks have found records for 20 ms, then 2, 4, 8, 8.
        assert_eq!(all[..11], [2 * MS; 11]);
        assert_eq!(all[11..], [4 * MS, 8 * MS, 8 * MS, 8 * MS]);
    }

    #[test]
    fn a_look_that_finds_nothing_starts_the_re_look_over() {
        let mut relook = ReLook::new(2 * MS);
        let start = Instant::now();
        waits(&mut relook, start, 14, 100 * MS);
        relook.reset();
        let later = start + 100 * MS;
        assert_eq!(waits(&mut relook, later, 2, 100 * MS), [2 * MS, 2 * MS]);
    }

    #[test]
    fn the_re_look_never_waits_past_the_poll_interval_or_below_its_first() {
        let mut relook = ReLook::new(2 * MS);
        let all = waits(&mut relook, Instant::now(), 14, 3 * MS);
        assert!(all.iter().all(|&w| w <= 3 * MS), "{all:?}");
        assert_eq!(all.last(), Some(&(3 * MS)));
        // A first re-look longer than the cap on growth is kept, not cut.
        let mut slow = ReLook::new(30 * MS);
        assert_eq!(waits(&mut slow, Instant::now(), 3, 100 * MS), [30 * MS; 3]);
    }
}
