//! Checks made before loading anything, so that a missing privilege or a kernel
//! without BTF gets a sentence that says what to do, not an errno from deep in aya.

use std::path::Path;

/// Where the running kernel publishes its BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// What stops the sensor from loading its programs.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The kernel has no BTF.
    #[error(
        "the kernel has no BTF ({VMLINUX_BTF} is missing): the sensor needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.8)"
    )]
    NoBtf,
    /// The process lacks the capabilities to load and attach programs.
    #[error(
        "missing capabilities {missing}: run the sensor as root, or grant CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN"
    )]
    MissingCapabilities {
        /// The missing capabilities, comma-separated.
        missing: String,
    },
    /// `/proc/self/status` could not be read or parsed.
    #[error("cannot read this process's capabilities from /proc/self/status: {reason}")]
    Status {
        /// What went wrong.
        reason: String,
    },
}

/// The effective capability set of this process.
fn effective_caps() -> Result<u64, PreflightError> {
    let status =
        std::fs::read_to_string("/proc/self/status").map_err(|e| PreflightError::Status {
            reason: e.to_string(),
        })?;
    parse_cap_eff(&status).ok_or_else(|| PreflightError::Status {
        reason: "no parsable CapEff line".into(),
    })
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn missing_caps(caps: u64) -> Vec<&'static str> {
    [
        (CAP_BPF, "CAP_BPF"),
        (CAP_PERFMON, "CAP_PERFMON"),
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
    ]
    .into_iter()
    .filter(|(bit, _)| caps & (1 << bit) == 0)
    .map(|(_, name)| name)
    .collect()
}

/// Fails with a clear message unless this kernel has BTF and this process may load
/// and attach tracepoint programs and mount tracefs.
pub fn check() -> Result<(), PreflightError> {
    if !Path::new(VMLINUX_BTF).exists() {
        return Err(PreflightError::NoBtf);
    }
    let missing = missing_caps(effective_caps()?);
    if !missing.is_empty() {
        return Err(PreflightError::MissingCapabilities {
            missing: missing.join(", "),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_parsed_and_named() {
        let status = "Name:\tx\nCapEff:\t000001fffeffffff\n";
        let caps = parse_cap_eff(status).expect("parses");
        assert!(missing_caps(caps).is_empty());
        assert_eq!(missing_caps(1 << CAP_SYS_ADMIN), ["CAP_BPF", "CAP_PERFMON"]);
        assert_eq!(missing_caps(0).len(), 3);
        assert_eq!(parse_cap_eff("CapEff:\tzz\n"), None);
        assert_eq!(parse_cap_eff(""), None);
    }
}
