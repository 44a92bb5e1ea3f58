//! cgroup id to cgroup path (to be written).
