//! Filters the agent sets in the kernel: settings by index, and the watched path
//! prefixes for opens.

/// Indexes of the kernel's `SETTINGS` array.
pub mod settings {
    /// Non-zero: opens are reported only under a watched prefix (see
    /// [`super::access`]); zero: every open is reported.
    pub const OPEN_FILTER: u32 = 0;
    /// Non-zero: only processes in the cgroup subtrees of the kernel's
    /// `SCOPE_CGROUPS` map are reported; zero: all processes.
    pub const CGROUP_SCOPE: u32 = 1;
    /// Non-zero: network events are reported only for the ports in `NET_PORTS`;
    /// zero: all.
    pub const NET_PORT_FILTER: u32 = 2;
    /// Non-zero: network events are reported only for addresses in `NET_ADDRS`
    /// (the remote address of a connect or accept, the local one of a bind or
    /// listen); zero: all.
    pub const NET_ADDR_FILTER: u32 = 3;
    /// Non-zero: the kernel's `OPEN_NAMES` map holds watched file names, which
    /// an open's path is also judged by; zero: prefixes alone judge it.
    pub const OPEN_NAMES: u32 = 4;
    /// Number of settings.
    pub const COUNT: u32 = 5;
}

/// Bits of a watched prefix's value: which opens under it are reported.
pub mod access {
    /// Opens for reading.
    pub const READ: u32 = 1;
    /// Opens for writing.
    pub const WRITE: u32 = 2;
}

/// Bytes of a path the prefix trie compares; longer prefixes cannot be watched.
pub const PREFIX_MAX: usize = 255;
/// Bytes of a prefix trie key's data (the kernel's limit for LPM trie keys).
pub const PREFIX_KEY_LEN: usize = 256;
/// Watched prefixes at most.
pub const PREFIXES_MAX: u32 = 1024;
/// Bytes of a file name key; watched names are shorter (the kernel finds a
/// name's '/' within the path's last `NAME_MAX` bytes).
pub const NAME_MAX: usize = 64;
/// Watched file names at most.
pub const NAMES_MAX: u32 = 256;

/// Cgroup subtrees in scope at most.
pub const SCOPE_CGROUPS_MAX: u32 = 1024;
/// Cgroup levels the scope check walks up from a task's cgroup.
pub const SCOPE_DEPTH: i32 = 16;
/// Ports of interest at most.
pub const NET_PORTS_MAX: u32 = 1024;
/// Address ranges of interest at most.
pub const NET_ADDRS_MAX: u32 = 1024;
