//! Turns the kernel's boot-time stamps into wall-clock time.
//!
//! The kernel stamps events with `CLOCK_BOOTTIME`, which never jumps; analysts want
//! wall-clock time. The offset between the two clocks moves when the wall clock is
//! set or slewed, so it is re-read for every batch of events, not once at start.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The offset from `CLOCK_BOOTTIME` to `CLOCK_REALTIME`, read at one instant.
#[derive(Clone, Copy, Debug)]
pub struct BootClock {
    realtime_minus_boot_ns: i128,
}

fn now_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; both clocks exist on every Linux kernel
    // this sensor supports, so the call cannot fail.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
}

/// Nanoseconds since boot now, on the clock the kernel stamps events with.
pub fn boot_ns_now() -> u64 {
    u64::try_from(now_ns(libc::CLOCK_BOOTTIME)).unwrap_or(0)
}

impl BootClock {
    /// Reads both clocks now.
    pub fn now() -> Self {
        let boot = now_ns(libc::CLOCK_BOOTTIME);
        let real = now_ns(libc::CLOCK_REALTIME);
        Self {
            realtime_minus_boot_ns: real - boot,
        }
    }

    /// Nanoseconds since the Unix epoch for a boot-time stamp (0 if before the epoch).
    pub fn epoch_ns(&self, boot_ns: u64) -> u64 {
        u64::try_from(boot_ns as i128 + self.realtime_minus_boot_ns).unwrap_or(0)
    }

    /// The wall-clock time for a boot-time stamp.
    pub fn wall(&self, boot_ns: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.epoch_ns(boot_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_stamps_map_to_now() {
        let clock = BootClock::now();
        let boot_now = u64::try_from(now_ns(libc::CLOCK_BOOTTIME)).expect("boot time is positive");
        let wall = clock.wall(boot_now);
        let skew = SystemTime::now()
            .duration_since(wall)
            .unwrap_or_else(|e| e.duration());
        assert!(skew < Duration::from_secs(1), "skew {skew:?}");
        assert!(clock.epoch_ns(0) > 0, "boot lies after the epoch");
    }
}
