//! tracefs: mounted when missing (aya attaches tracepoints through it), and read to
//! check that each tracepoint's record layout is the one the programs were built for.

use std::{ffi::CString, fs, io, path::PathBuf};

/// Where tracefs is mounted on current kernels.
pub const TRACEFS: &str = "/sys/kernel/tracing";

/// A tracefs problem.
#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    /// tracefs was not mounted and mounting it failed.
    #[error(
        "tracefs is not mounted at {TRACEFS} and mounting it failed: {source}; mount it with `mount -t tracefs nodev {TRACEFS}`"
    )]
    Mount {
        /// The mount(2) error.
        #[source]
        source: io::Error,
    },
    /// A tracepoint the sensor cannot run without is not in this kernel.
    #[error("this kernel has no tracepoint {category}:{name}, which the sensor needs")]
    Missing {
        /// Tracepoint category.
        category: String,
        /// Tracepoint name.
        name: String,
    },
    /// A tracepoint's format file could not be read.
    #[error("cannot read the format of tracepoint {category}:{name}: {source}")]
    Format {
        /// Tracepoint category.
        category: String,
        /// Tracepoint name.
        name: String,
        /// The read error.
        #[source]
        source: io::Error,
    },
    /// A tracepoint's record layout differs from what the programs expect.
    #[error(
        "tracepoint {category}:{name} has field {field} at offset {found:?}, but the sensor's programs read it at {expected}"
    )]
    Layout {
        /// Tracepoint category.
        category: String,
        /// Tracepoint name.
        name: String,
        /// The field.
        field: String,
        /// Where it is (None: absent).
        found: Option<usize>,
        /// Where the programs read it.
        expected: usize,
    },
}

fn is_mounted() -> bool {
    fs::read_to_string("/proc/self/mountinfo").is_ok_and(|mounts| {
        mounts.lines().any(|line| {
            // "... mount-point ... - fstype source options"
            let mut fields = line.split(' ');
            let mount_point = fields.nth(4);
            let fstype = line
                .split(" - ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next());
            mount_point == Some(TRACEFS) && fstype == Some("tracefs")
        })
    })
}

/// Mounts tracefs at [`TRACEFS`] unless it is there. Returns whether it mounted it.
pub fn ensure_mounted() -> Result<bool, TracefsError> {
    if is_mounted() {
        return Ok(false);
    }
    let target = CString::new(TRACEFS).map_err(|e| TracefsError::Mount { source: e.into() })?;
    // SAFETY: all pointers are valid NUL-terminated strings; data may be null.
    let rc = unsafe {
        libc::mount(
            c"nodev".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(TracefsError::Mount {
            source: io::Error::last_os_error(),
        });
    }
    Ok(true)
}

/// The directory of a tracepoint; present only if this kernel has it.
pub fn event_dir(category: &str, name: &str) -> PathBuf {
    PathBuf::from(TRACEFS)
        .join("events")
        .join(category)
        .join(name)
}

/// Whether this kernel has the tracepoint.
pub fn exists(category: &str, name: &str) -> bool {
    event_dir(category, name).is_dir()
}

/// Offset of `field` in a format file's text.
fn field_offset(format: &str, field: &str) -> Option<usize> {
    format.lines().find_map(|line| {
        let decl = line.trim().strip_prefix("field:")?;
        let (decl, rest) = decl.split_once(';')?;
        // The name is the declaration's last word, minus any array suffix.
        let name = decl.rsplit([' ', '\t']).next()?.split('[').next()?;
        if name != field {
            return None;
        }
        rest.trim()
            .strip_prefix("offset:")?
            .split(';')
            .next()?
            .parse()
            .ok()
    })
}

/// Checks that each `(field, offset)` is where the programs read it.
pub fn check_layout(
    category: &str,
    name: &str,
    fields: &[(&str, usize)],
) -> Result<(), TracefsError> {
    if fields.is_empty() {
        return Ok(());
    }
    let format =
        fs::read_to_string(event_dir(category, name).join("format")).map_err(|source| {
            TracefsError::Format {
                category: category.into(),
                name: name.into(),
                source,
            }
        })?;
    for &(field, expected) in fields {
        let found = field_offset(&format, field);
        if found != Some(expected) {
            return Err(TracefsError::Layout {
                category: category.into(),
                name: name.into(),
                field: field.into(),
                found,
                expected,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORMAT: &str = "name: sched_process_exec\nID: 365\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
        \tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n\
        \tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;\n\
        \tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;\n\n\
        print fmt: \"filename=%s\"\n";

    #[test]
    fn finds_field_offsets() {
        assert_eq!(field_offset(FORMAT, "filename"), Some(8));
        assert_eq!(field_offset(FORMAT, "pid"), Some(12));
        assert_eq!(field_offset(FORMAT, "old_pid"), Some(16));
        assert_eq!(field_offset(FORMAT, "common_type"), Some(0));
        assert_eq!(field_offset(FORMAT, "missing"), None);
        assert_eq!(field_offset("garbage\n;;field:\n", "x"), None);
    }
}
