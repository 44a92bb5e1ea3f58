//! Per-CPU counters of what the kernel side could not deliver.
//!
//! The kernel programs count into one per-CPU array; slot `kind * REASONS + reason`
//! holds the count for that event kind and reason. The agent sums the CPUs and
//! reports non-zero counts: a blind spot is never silent.

use crate::event::EventKind;

/// Why a record was lost or is incomplete.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The ring buffer had no room: the whole record was lost.
    RingFull = 0,
    /// Reading kernel or user memory failed: the record went out incomplete.
    ReadFailed = 1,
    /// A string was longer than its buffer: the record went out with it cut.
    Truncated = 2,
    /// A filter the agent set dropped the record on purpose (not a loss).
    Filtered = 3,
}

impl DropReason {
    /// Number of reasons; the stride of the counter array.
    pub const COUNT: u32 = 4;
    /// Every reason, in slot order.
    pub const ALL: [DropReason; 4] = [
        Self::RingFull,
        Self::ReadFailed,
        Self::Truncated,
        Self::Filtered,
    ];

    /// Whether the count is a loss to report (everything but [`Self::Filtered`]).
    pub const fn is_loss(self) -> bool {
        !matches!(self, Self::Filtered)
    }

    /// The stable name used in metrics and in `drop` lines.
    pub const fn name(self) -> &'static str {
        match self {
            Self::RingFull => "ring_full",
            Self::ReadFailed => "read_failed",
            Self::Truncated => "truncated",
            Self::Filtered => "filtered",
        }
    }
}

/// Slots in the counter array: one per (kind, reason), kind 0 unused.
pub const COUNTER_SLOTS: u32 = (EventKind::MAX + 1) * DropReason::COUNT;

/// The counter slot for an event kind and a reason.
pub const fn counter_slot(kind: EventKind, reason: DropReason) -> u32 {
    kind as u32 * DropReason::COUNT + reason as u32
}
