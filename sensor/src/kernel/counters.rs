//! The kernel's per-CPU drop counters, summed over CPUs.

use aya::maps::{MapData, PerCpuArray};
use sensor_common::{DropReason, EventKind, counters::counter_slot};

/// A counter slot: an event kind and a reason.
pub type Slot = (EventKind, DropReason);

/// Every (kind, reason) slot the kernel counts in.
pub fn slots() -> impl Iterator<Item = Slot> {
    EventKind::ALL.into_iter().flat_map(|kind| {
        DropReason::ALL
            .into_iter()
            .map(move |reason| (kind, reason))
    })
}

/// Reads the kernel's counters.
pub struct DropCounters {
    map: PerCpuArray<MapData, u64>,
}

impl DropCounters {
    pub(super) fn new(map: PerCpuArray<MapData, u64>) -> Self {
        Self { map }
    }

    /// The total over all CPUs for each slot, in [`slots`] order.
    pub fn read(&self) -> Result<Vec<(Slot, u64)>, aya::maps::MapError> {
        slots()
            .map(|(kind, reason)| {
                let per_cpu = self.map.get(&counter_slot(kind, reason), 0)?;
                Ok(((kind, reason), per_cpu.iter().sum()))
            })
            .collect()
    }
}

/// One (kind, reason) whose count grew since the last report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropDelta {
    /// The kind of record; `None` for records the agent could not decode.
    pub kind: Option<EventKind>,
    /// A [`DropReason`] name, or `decode_error`.
    pub reason: &'static str,
    /// Growth since the last report.
    pub count: u64,
    /// Total since start.
    pub total: u64,
}

/// Turns running totals into the deltas worth reporting.
#[derive(Debug, Default)]
pub struct DropTracker {
    last: Vec<u64>,
    last_decode_errors: u64,
}

impl DropTracker {
    /// Compares the kernel totals and the agent's decode errors with the last call.
    pub fn update(&mut self, kernel: &[(Slot, u64)], decode_errors: u64) -> Vec<DropDelta> {
        self.last.resize(kernel.len(), 0);
        let mut deltas = Vec::new();
        for (last, &((kind, reason), total)) in self.last.iter_mut().zip(kernel) {
            if reason.is_loss() && total > *last {
                deltas.push(DropDelta {
                    kind: Some(kind),
                    reason: reason.name(),
                    count: total - *last,
                    total,
                });
                *last = total;
            }
        }
        if decode_errors > self.last_decode_errors {
            deltas.push(DropDelta {
                kind: None,
                reason: "decode_error",
                count: decode_errors - self.last_decode_errors,
                total: decode_errors,
            });
            self.last_decode_errors = decode_errors;
        }
        deltas
    }
}

/// The total of one reason over all kinds.
pub fn total(counts: &[(Slot, u64)], reason: DropReason) -> u64 {
    counts
        .iter()
        .filter(|((_, r), _)| *r == reason)
        .map(|(_, n)| n)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtered_records_are_not_losses() {
        let mut tracker = DropTracker::default();
        let slot = (EventKind::Open, DropReason::Filtered);
        assert!(tracker.update(&[(slot, 1_000)], 0).is_empty());
    }

    #[test]
    fn reports_only_growth() {
        let mut tracker = DropTracker::default();
        let slot = (EventKind::Exec, DropReason::RingFull);
        assert!(tracker.update(&[(slot, 0)], 0).is_empty());
        let deltas = tracker.update(&[(slot, 5)], 1);
        assert_eq!(deltas.len(), 2);
        assert_eq!((deltas[0].count, deltas[0].total), (5, 5));
        assert_eq!(deltas[1].reason, "decode_error");
        assert!(tracker.update(&[(slot, 5)], 1).is_empty());
        let deltas = tracker.update(&[(slot, 7)], 1);
        assert_eq!((deltas[0].count, deltas[0].total), (2, 7));
    }
}
