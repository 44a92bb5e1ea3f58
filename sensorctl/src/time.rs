//! Times on the command line: a duration back from now (`1h`, `30m`, `2d`) or
//! an RFC 3339 instant (`2026-12-01T10:00:00Z`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the epoch for `s`, relative to `now`.
pub fn parse_instant(s: &str, now: SystemTime) -> Result<u64, String> {
    let s = s.trim();
    let at = match humantime::parse_duration(s) {
        Ok(ago) => now
            .checked_sub(ago)
            .ok_or_else(|| format!("`{s}` reaches before 1970"))?,
        Err(_) => humantime::parse_rfc3339_weak(s).map_err(|_| {
            format!("`{s}` is neither a duration back from now (1h, 30m) nor a time (2026-12-01T10:00:00Z)")
        })?,
    };
    let since = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("`{s}` is before 1970"))?;
    u64::try_from(since.as_nanos()).map_err(|_| format!("`{s}` is too far away"))
}

/// A duration (`1h`, `5m`) for buckets.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("`{s}`: {e}"))
}

/// The time of a finding as people read it: UTC, to the millisecond.
pub fn show(ns: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_nanos(ns);
    let full = humantime::format_rfc3339_millis(t).to_string();
    // 2026-12-01T10:00:00.123Z -> 2026-12-01 10:00:00.123
    full.trim_end_matches('Z').replacen('T', " ", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_instants() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(parse_instant("1h", now), Ok(6_400 * 1_000_000_000));
        assert_eq!(
            parse_instant("1970-01-01T00:00:05Z", now),
            Ok(5_000_000_000)
        );
        assert!(parse_instant("5h", now).is_err(), "before 1970");
        assert!(parse_instant("yesterday-ish", now).is_err());
        assert_eq!(show(1_500_000_000), "1970-01-01 00:00:01.500");
        assert!(parse_duration("15m").is_ok());
        assert!(parse_duration("fortnight").is_err());
    }
}
