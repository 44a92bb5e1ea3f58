//! Time spent inside eBPF programs, from the kernel's own per-program statistics
//! (`BPF_ENABLE_STATS`): what a storm cost in the programs, whatever the rest of
//! this shared machine was doing while it ran. Timing a storm end to end cannot
//! resolve a few percent here, where runs of one setup differ by ten.

use std::{collections::HashMap, os::fd::OwnedFd, time::Duration};

use aya::{
    programs::loaded_programs,
    sys::{Stats, enable_stats},
};

/// Name, run time and run count of every loaded program, by program id.
#[derive(Clone, Debug, Default)]
pub struct Snapshot(HashMap<u32, (String, Duration, u64)>);

/// Keeps the kernel's run-time statistics on while it lives (they cost two
/// clock reads per program run, so benchmarks time storms without them).
pub struct Recording {
    _fd: OwnedFd,
}

impl Recording {
    /// Turns the statistics on.
    pub fn start() -> anyhow::Result<Self> {
        Ok(Self {
            _fd: enable_stats(Stats::RunTime)?,
        })
    }
}

impl Snapshot {
    /// The statistics of every program loaded now.
    pub fn take() -> Self {
        Self(
            loaded_programs()
                .filter_map(Result::ok)
                .map(|p| {
                    let name = p.name_as_str().unwrap_or("?").to_string();
                    (p.id(), (name, p.run_time(), p.run_count()))
                })
                .collect(),
        )
    }

    /// Time and runs since `before` of the programs that `ignoring` did not
    /// know: those loaded for the measurement, not the machine's own.
    pub fn since(&self, before: &Snapshot, ignoring: &Snapshot) -> (Duration, u64) {
        self.by_program(before, ignoring)
            .into_iter()
            .fold((Duration::ZERO, 0), |(time, runs), (_, t, n)| {
                (time + t, runs + n)
            })
    }

    /// As [`Self::since`], per program name (the kernel keeps the first 15
    /// bytes), the costliest first.
    pub fn by_program(
        &self,
        before: &Snapshot,
        ignoring: &Snapshot,
    ) -> Vec<(String, Duration, u64)> {
        let mut by_name: HashMap<&str, (Duration, u64)> = HashMap::new();
        for (id, (name, t, n)) in &self.0 {
            if ignoring.0.contains_key(id) {
                continue;
            }
            let (_, t0, n0) = before.0.get(id).cloned().unwrap_or_default();
            let entry = by_name.entry(name).or_default();
            entry.0 += t.saturating_sub(t0);
            entry.1 += n.saturating_sub(n0);
        }
        let mut out: Vec<_> = by_name
            .into_iter()
            .filter(|(_, (_, n))| *n > 0)
            .map(|(name, (t, n))| (name.to_string(), t, n))
            .collect();
        out.sort_by_key(|entry| std::cmp::Reverse(entry.1));
        out
    }
}
