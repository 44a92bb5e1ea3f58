//! When each container started, for `container.start_ts` and for container
//! drift (`proc.is_exe_changed`: an executable changed after its container
//! started).
//!
//! A container's start is the start of the earliest process the agent has known
//! in it: the runtime's first process in its cgroup (runc's `runc init`, which
//! sets the container up and forks its pid 1; measured here 40 ms before that
//! one), after the image's files are in place and before the entry point can
//! write any. Its pid 1 lives as long as the container, so a restarted agent
//! finds a start from /proc too (pid 1's, a little later). That time is
//! the kernel's own `start_boottime`, exact in events and to a clock tick from
//! /proc, and it cannot move. The cgroup directory was measured as the other
//! candidate and refused: cgroupfs (kernfs) reports no birth time, and its
//! ctime and mtime are when the directory's inode was last brought into the
//! inode cache (a `stat` 1.5 s after `mkdir` showed the `stat`'s own time), so
//! they move whenever the cache evicts it.

use std::{collections::HashMap, sync::Arc};

/// Container starts, in ns since boot, by container id.
#[derive(Debug, Default)]
pub struct ContainerStarts {
    starts: HashMap<Arc<str>, u64>,
}

impl ContainerStarts {
    /// Notes a process of `container` that started `start_ns` after boot; 0
    /// (an unreadable start) is ignored.
    pub fn note(&mut self, container: &Arc<str>, start_ns: u64) {
        if start_ns == 0 {
            return;
        }
        match self.starts.get_mut(container) {
            Some(known) => *known = (*known).min(start_ns),
            None => {
                self.starts.insert(container.clone(), start_ns);
            }
        }
    }

    /// When `container` started, ns since boot, if any of its processes is known.
    pub fn get(&self, container: &str) -> Option<u64> {
        self.starts.get(container).copied()
    }

    /// Keeps the containers for which `live` says true (those with processes).
    pub fn retain(&mut self, mut live: impl FnMut(&str) -> bool) {
        self.starts.retain(|id, _| live(id));
    }

    /// How many containers are known.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_process_is_the_start() {
        let mut starts = ContainerStarts::default();
        let c: Arc<str> = "c1".into();
        starts.note(&c, 500);
        starts.note(&c, 300);
        starts.note(&c, 900);
        starts.note(&c, 0);
        assert_eq!(starts.get("c1"), Some(300));
        assert_eq!(starts.get("c2"), None);
        starts.retain(|id| id != "c1");
        assert!(starts.is_empty());
    }
}
