//! Container id, runtime and pod UID from a cgroup path (to be written).
