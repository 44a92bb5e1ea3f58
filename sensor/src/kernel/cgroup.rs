//! Finding the cgroup v2 hierarchy, where the network hooks attach.

use std::path::PathBuf;

/// The cgroup v2 mount point, from this process's mountinfo: `/sys/fs/cgroup` on
/// most nodes, `/sys/fs/cgroup/unified` in hybrid mode. Its root holds every
/// process, so programs attached there see them all.
pub fn v2_mount() -> Option<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    v2_mount_in(&mountinfo)
}

fn v2_mount_in(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let fstype = line.split(" - ").nth(1)?.split(' ').next()?;
        let mount_point = line.split(' ').nth(4)?;
        (fstype == "cgroup2").then(|| PathBuf::from(mount_point))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v2_mount_in_hybrid_and_unified_layouts() {
        let hybrid = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw\n\
                      40 31 0:35 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        assert_eq!(v2_mount_in(hybrid), Some("/sys/fs/cgroup/unified".into()));
        let unified = "30 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(v2_mount_in(unified), Some("/sys/fs/cgroup".into()));
        assert_eq!(v2_mount_in("garbage\n\n - \n"), None);
    }
}
