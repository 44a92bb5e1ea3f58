//! The spool's size settings, with their defaults and checks in one place.

use serde::Deserialize;

use super::{SpoolError, frame::FRAME_HEADER, segment::SEGMENT_HEADER};

/// How big the spool may grow and how it is cut into segment files.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// The most bytes the spool's segment files may hold together (default
    /// 256 MiB). Past it the oldest segments are dropped, acknowledged or not.
    pub max_bytes: u64,
    /// The size at which a segment file is closed and a new one begun (default
    /// 16 MiB). It also caps one record: a record must fit in an empty segment.
    /// Dropping and deleting work by whole segments, so smaller segments lose
    /// less at a time and free acknowledged space sooner.
    pub segment_bytes: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            max_bytes: 256 << 20,
            segment_bytes: 16 << 20,
        }
    }
}

impl SpoolConfig {
    /// The largest record this configuration accepts.
    pub fn max_record_bytes(&self) -> u64 {
        self.segment_bytes
            .saturating_sub((SEGMENT_HEADER + FRAME_HEADER) as u64)
    }

    /// Refuses sizes the spool cannot honour.
    pub fn validate(&self) -> Result<(), SpoolError> {
        let fail = |reason: String| Err(SpoolError::Config { reason });
        if self.max_record_bytes() == 0 {
            return fail(format!(
                "segment_bytes {} leaves no room for a record (at least {} needed)",
                self.segment_bytes,
                SEGMENT_HEADER + FRAME_HEADER + 1
            ));
        }
        // Record offsets inside a segment are kept as u32 to keep the index small.
        if self.segment_bytes > u64::from(u32::MAX) {
            return fail(format!(
                "segment_bytes {} is over the 4 GiB a segment may hold",
                self.segment_bytes
            ));
        }
        // The newest segment is never dropped, so the cap must leave room for at
        // least one older one: otherwise a full spool could only refuse appends.
        if self.max_bytes < self.segment_bytes.saturating_mul(2) {
            return fail(format!(
                "max_bytes {} must be at least twice segment_bytes {}",
                self.max_bytes, self.segment_bytes
            ));
        }
        Ok(())
    }
}
