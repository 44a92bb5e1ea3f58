//! Filters the agent sets in the kernel: settings by index, and the watched path
//! prefixes for opens.

/// Indexes of the kernel's `SETTINGS` array.
pub mod settings {
    /// Non-zero: opens are reported only under a watched prefix (see
    /// [`super::access`]); zero: every open is reported.
    pub const OPEN_FILTER: u32 = 0;
    /// Number of settings.
    pub const COUNT: u32 = 1;
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
