//! File operations: unlink, rename, chmod, symlink, link and mount, with Falco's
//! argument names and formats (`evt.arg.mode` as `S_IRUSR|...|S_ISUID`).

use sensor_common::event::fs_op as op;
use serde_json::Value;

/// Which syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsSyscall {
    /// unlink(2)
    Unlink,
    /// unlinkat(2)
    Unlinkat,
    /// rename(2)
    Rename,
    /// renameat(2)
    Renameat,
    /// renameat2(2)
    Renameat2,
    /// chmod(2)
    Chmod,
    /// fchmodat(2)
    Fchmodat,
    /// fchmod(2)
    Fchmod,
    /// symlink(2)
    Symlink,
    /// symlinkat(2)
    Symlinkat,
    /// link(2)
    Link,
    /// linkat(2)
    Linkat,
    /// mount(2)
    Mount,
}

/// A file operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsCall {
    /// Which syscall.
    pub syscall: FsSyscall,
    /// The first path: unlinked, renamed from, chmod-ed, linked from; a symlink's
    /// new link.
    pub path: String,
    /// The second path: renamed or linked to; a symlink's target as written; a
    /// mount's source as written.
    pub path2: String,
    /// A mount's filesystem type, else empty.
    pub fstype: String,
    /// chmod's mode.
    pub mode: u32,
    /// The syscall's flags argument.
    pub flags: u32,
    /// 0, or a negative errno.
    pub result: i64,
}

impl FsSyscall {
    /// From the kernel's number.
    pub fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            op::UNLINK => Self::Unlink,
            op::UNLINKAT => Self::Unlinkat,
            op::RENAME => Self::Rename,
            op::RENAMEAT => Self::Renameat,
            op::RENAMEAT2 => Self::Renameat2,
            op::CHMOD => Self::Chmod,
            op::FCHMODAT => Self::Fchmodat,
            op::FCHMOD => Self::Fchmod,
            op::SYMLINK => Self::Symlink,
            op::SYMLINKAT => Self::Symlinkat,
            op::LINK => Self::Link,
            op::LINKAT => Self::Linkat,
            op::MOUNT => Self::Mount,
            _ => return None,
        })
    }

    /// The syscall's name, as `evt.type`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unlink => "unlink",
            Self::Unlinkat => "unlinkat",
            Self::Rename => "rename",
            Self::Renameat => "renameat",
            Self::Renameat2 => "renameat2",
            Self::Chmod => "chmod",
            Self::Fchmodat => "fchmodat",
            Self::Fchmod => "fchmod",
            Self::Symlink => "symlink",
            Self::Symlinkat => "symlinkat",
            Self::Link => "link",
            Self::Linkat => "linkat",
            Self::Mount => "mount",
        }
    }
}

/// A mode as Falco prints chmod's: `S_IXOTH|...|S_ISUID`, lowest bit first.
pub fn mode_text(mode: u32) -> String {
    const BITS: [&str; 12] = [
        "S_IXOTH", "S_IWOTH", "S_IROTH", "S_IXGRP", "S_IWGRP", "S_IRGRP", "S_IXUSR", "S_IWUSR",
        "S_IRUSR", "S_ISVTX", "S_ISGID", "S_ISUID",
    ];
    let parts: Vec<&str> = BITS
        .iter()
        .enumerate()
        .filter(|(bit, _)| mode & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect();
    parts.join("|")
}

fn flags_text(syscall: FsSyscall, flags: u32) -> String {
    let names: &[(u32, &str)] = match syscall {
        FsSyscall::Unlinkat => &[(0x200, "AT_REMOVEDIR")],
        FsSyscall::Renameat2 => &[
            (1, "RENAME_NOREPLACE"),
            (2, "RENAME_EXCHANGE"),
            (4, "RENAME_WHITEOUT"),
        ],
        FsSyscall::Linkat => &[(0x400, "AT_SYMLINK_FOLLOW"), (0x1000, "AT_EMPTY_PATH")],
        FsSyscall::Mount => &[
            (1, "MS_RDONLY"),
            (2, "MS_NOSUID"),
            (4, "MS_NODEV"),
            (8, "MS_NOEXEC"),
            (32, "MS_REMOUNT"),
            (4096, "MS_BIND"),
            (8192, "MS_MOVE"),
            (16384, "MS_REC"),
            (1 << 18, "MS_PRIVATE"),
            (1 << 20, "MS_SHARED"),
        ],
        _ => &[],
    };
    let parts: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    parts.join("|")
}

impl FsCall {
    /// Falco's `fd.name` for the operation: the path acted on (the new link for a
    /// symlink or link).
    pub fn fd_name(&self) -> &str {
        match self.syscall {
            FsSyscall::Link | FsSyscall::Linkat => &self.path2,
            _ => &self.path,
        }
    }

    /// The arguments as `evt.arg.*` fields, with Falco's names.
    pub fn arg_fields(&self) -> Vec<(&'static str, Value)> {
        use crate::fields as f;
        let mut fields = match self.syscall {
            FsSyscall::Unlink | FsSyscall::Unlinkat => {
                vec![(f::EVT_ARG_PATH, self.path.clone().into())]
            }
            FsSyscall::Rename
            | FsSyscall::Renameat
            | FsSyscall::Renameat2
            | FsSyscall::Link
            | FsSyscall::Linkat => vec![
                (f::EVT_ARG_OLDPATH, self.path.clone().into()),
                (f::EVT_ARG_NEWPATH, self.path2.clone().into()),
            ],
            FsSyscall::Chmod | FsSyscall::Fchmodat | FsSyscall::Fchmod => vec![
                (f::EVT_ARG_PATH, self.path.clone().into()),
                (f::EVT_ARG_MODE, mode_text(self.mode).into()),
            ],
            FsSyscall::Symlink | FsSyscall::Symlinkat => vec![
                (f::EVT_ARG_LINKPATH, self.path.clone().into()),
                (f::EVT_ARG_TARGET, self.path2.clone().into()),
            ],
            FsSyscall::Mount => vec![
                (f::EVT_ARG_DIR, self.path.clone().into()),
                (f::EVT_ARG_DEV, self.path2.clone().into()),
                (f::EVT_ARG_TYPE, self.fstype.clone().into()),
            ],
        };
        let flags = flags_text(self.syscall, self.flags);
        if !flags.is_empty() {
            fields.push((f::EVT_ARG_FLAGS, flags.into()));
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_flags_follow_falco() {
        assert_eq!(
            mode_text(0o4755),
            "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"
        );
        assert_eq!(mode_text(0), "");
        assert_eq!(flags_text(FsSyscall::Unlinkat, 0x200), "AT_REMOVEDIR");
        assert_eq!(
            flags_text(FsSyscall::Renameat2, 3),
            "RENAME_NOREPLACE|RENAME_EXCHANGE"
        );
        assert_eq!(flags_text(FsSyscall::Unlink, u32::MAX), "");
        assert_eq!(flags_text(FsSyscall::Mount, 4096 | 16384), "MS_BIND|MS_REC");
        for raw in 0..20 {
            if let Some(s) = FsSyscall::from_raw(raw) {
                assert!(!s.name().is_empty());
            }
        }
    }
}
