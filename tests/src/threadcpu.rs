//! CPU time a process spent, by thread name, from `/proc/PID/task/*/stat`: what
//! a benchmark's work cost the process under test, whatever else this shared
//! machine ran meanwhile. A rate measured by the wall clock moves by a third
//! between runs here; CPU seconds per unit of work move far less.

use std::{collections::BTreeMap, path::Path, time::Duration};

/// CPU time (user and system) of each thread name of a process, summed over
/// threads of the same name.
#[derive(Clone, Debug, Default)]
pub struct ThreadCpu(pub BTreeMap<String, Duration>);

impl ThreadCpu {
    /// The process's threads now. Threads that exit between the listing and
    /// the read are left out (their time is lost to this sample).
    pub fn sample(pid: u32) -> std::io::Result<Self> {
        // SAFETY: sysconf reads a constant of the C library.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let mut by_name = BTreeMap::new();
        for task in std::fs::read_dir(Path::new("/proc").join(pid.to_string()).join("task"))? {
            let Ok(stat) = std::fs::read_to_string(task?.path().join("stat")) else {
                continue;
            };
            if let Some((name, cpu)) = parse_stat(&stat, ticks) {
                *by_name.entry(name).or_insert(Duration::ZERO) += cpu;
            }
        }
        Ok(Self(by_name))
    }

    /// What each thread name spent since `earlier`.
    pub fn since(&self, earlier: &Self) -> Self {
        let mut spent = self.0.clone();
        for (name, cpu) in spent.iter_mut() {
            *cpu = cpu.saturating_sub(earlier.0.get(name).copied().unwrap_or_default());
        }
        Self(spent)
    }

    /// All threads together.
    pub fn total(&self) -> Duration {
        self.0.values().sum()
    }
}

/// Thread name and utime + stime of one `stat` line. The name is in
/// parentheses and may hold spaces or parentheses itself: it ends at the last
/// `)`.
fn parse_stat(stat: &str, ticks: f64) -> Option<(String, Duration)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    // After the name: state is field 3, utime 14 and stime 15.
    let mut rest = stat.get(close + 1..)?.split_ascii_whitespace().skip(11);
    let utime: u64 = rest.next()?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some((
        name,
        Duration::from_secs_f64((utime + stime) as f64 / ticks),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_name_with_spaces_and_parentheses() {
        let line = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        let (name, cpu) = parse_stat(line, 100.0).expect("parses");
        assert_eq!(name, "a (b) c");
        assert_eq!(cpu, Duration::from_secs(3));
    }

    #[test]
    fn this_process_spent_time() {
        let busy = (0..2_000_000u64).fold(0u64, |a, b| a.wrapping_mul(31).wrapping_add(b));
        assert_ne!(busy, 1);
        let cpu = ThreadCpu::sample(std::process::id()).expect("samples");
        assert!(!cpu.0.is_empty());
        assert!(cpu.since(&cpu).total().is_zero());
    }
}
