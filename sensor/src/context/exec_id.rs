//! Exec ids: one name for each program run by each process on the node, the same
//! whichever agent computes it, so that an agent restart keeps them and the
//! events of one run can be joined across restarts and nodes.
//!
//! A run is named by the node's boot (its random boot id, so ids of two boots or
//! two nodes never meet), the process's pid and start time (a reused pid starts
//! later), and the kernel's exec count for the task (a process that execs twice
//! runs two programs). /proc shows the start time, and every event carries the
//! exec count, so an agent that started after the process computes the same id.

use std::{fmt::Write as _, path::Path};

/// Where the kernel publishes this boot's id.
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// Makes exec ids for this boot of this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecIds {
    boot: String,
}

/// The boot id could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the boot id from {path}: {source}")]
pub struct BootIdError {
    /// Where it was read from.
    pub path: String,
    /// Why not.
    #[source]
    pub source: std::io::Error,
}

impl ExecIds {
    /// Exec ids for the boot whose id (a UUID) is `boot_id`.
    pub fn new(boot_id: &str) -> Self {
        // 64 bits of the boot id's randomness are plenty to tell boots apart.
        let boot: String = boot_id
            .chars()
            .filter(char::is_ascii_hexdigit)
            .map(|c| c.to_ascii_lowercase())
            .take(16)
            .collect();
        Self { boot }
    }

    /// Exec ids for the running boot, whose id is in `sys/kernel/random/boot_id`
    /// under `proc_root` (see [`BOOT_ID_PATH`]).
    pub fn for_this_boot(proc_root: &Path) -> Result<Self, BootIdError> {
        let path = proc_root.join("sys/kernel/random/boot_id");
        std::fs::read_to_string(&path)
            .map(|id| Self::new(id.trim()))
            .map_err(|source| BootIdError {
                path: path.display().to_string(),
                source,
            })
    }

    /// The id of the program run `exec_seq` of process `pid`, started at
    /// `start_ticks`: `<boot>-<start>-<pid>-<exec>`, the numbers in hex.
    pub fn id(&self, pid: u32, start_ticks: u64, exec_seq: u32) -> String {
        let mut id = String::with_capacity(self.boot.len() + 28);
        let _ = write!(id, "{}-{start_ticks:x}-{pid:x}-{exec_seq:x}", self.boot);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_by_boot_pid_start_and_exec() {
        let ids = ExecIds::new("6F0E1B3A-9C2D-4E5F-8A7B-1C2D3E4F5A6B");
        let base = ids.id(4242, 1000, 3);
        assert_eq!(base, "6f0e1b3a9c2d4e5f-3e8-1092-3");
        assert_eq!(ids.id(4242, 1000, 3), base, "the same run, the same id");
        for other in [
            ids.id(4243, 1000, 3),
            ids.id(4242, 1001, 3),
            ids.id(4242, 1000, 4),
        ] {
            assert_ne!(other, base);
        }
        assert_ne!(
            ExecIds::new("00000000-0000-0000-0000-000000000001").id(4242, 1000, 3),
            base
        );
    }

    #[test]
    fn a_hostile_boot_id_cannot_break_the_format() {
        let ids = ExecIds::new("zz\n-\u{1F600}-ab");
        assert_eq!(ids.id(1, 2, 3), "ab-2-1-3");
    }

    #[test]
    fn this_boot_has_an_id() {
        let ids = ExecIds::for_this_boot(Path::new("/proc")).expect("a boot id");
        assert_eq!(ids.boot.len(), 16);
        assert!(ExecIds::for_this_boot(Path::new("/nonexistent")).is_err());
    }
}
