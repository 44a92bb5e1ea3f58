//! What can go wrong with the spool.

use std::{io, path::PathBuf};

/// A spool operation failed. Corruption found on disk is not an error: it is
/// cut away, counted in [`super::SpoolStats`] and logged, and the spool goes on.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The settings cannot work.
    #[error("bad spool configuration: {reason}")]
    Config {
        /// Which setting and why.
        reason: String,
    },
    /// A record was refused: it cannot fit in one segment.
    #[error("a record of {len} bytes is larger than the spool's {max}-byte limit per record")]
    TooLarge {
        /// The record's size.
        len: usize,
        /// The largest record the spool accepts ([`super::SpoolConfig::max_record_bytes`]).
        max: u64,
    },
    /// A file system call failed.
    #[error("spool: cannot {op} {path}: {source}")]
    Io {
        /// What the spool was doing (`create`, `write`, `sync`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// A closure turning an [`io::Error`] into a [`SpoolError::Io`] for `map_err`.
pub(super) fn io_err(
    op: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(io::Error) -> SpoolError + use<> {
    let path = path.to_path_buf();
    move |source| SpoolError::Io { op, path, source }
}
