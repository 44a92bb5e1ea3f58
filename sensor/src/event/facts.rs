//! Facts of a process that detection rules ask about and that an exec sets anew:
//! what its stdin, stdout and stderr are, its capability sets, its session, and
//! when its executable last changed. The kernel reports them raw at exec; this
//! module names them, and the process table carries them (a fork copies them,
//! an exec replaces them, a capset changes the capabilities).

use sensor_common::event::{StdioFile, stdio_state};

/// What kind of file a descriptor refers to, named as `proc.stdin.type` prints it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FdType {
    /// A regular file (also a memfd, an O_PATH descriptor, a namespace file).
    File,
    /// A directory.
    Directory,
    /// A character device (a terminal, `/dev/null`).
    Char,
    /// A block device.
    Block,
    /// A pipe or a FIFO.
    Pipe,
    /// An IPv4 socket.
    Ipv4,
    /// An IPv6 socket.
    Ipv6,
    /// A Unix domain socket.
    Unix,
    /// A netlink socket.
    Netlink,
    /// A socket of another family, or one whose family could not be read.
    Socket,
    /// An anon inode: eventfd, signalfd, timerfd, epoll, inotify, a pidfd, ...
    Anon,
    /// Nothing is open at that number.
    NotOpen,
    /// Not known: unreadable, or the process was found before its exec.
    #[default]
    Unknown,
}

/// `S_IFMT` and the file types (POSIX values).
const S_IFMT: u32 = 0o170_000;
const S_IFSOCK: u32 = 0o140_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFREG: u32 = 0o100_000;
const S_IFBLK: u32 = 0o060_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFCHR: u32 = 0o020_000;
const S_IFIFO: u32 = 0o010_000;

/// `ANON_INODE_FS_MAGIC` (`include/uapi/linux/magic.h`): eventfd, signalfd, ...
const ANON_INODE_FS_MAGIC: u64 = 0x0904_1934;
/// `PID_FS_MAGIC`: pidfds, anon inodes until 6.9 moved them to their own pidfs.
const PID_FS_MAGIC: u64 = 0x5049_4446;

/// Socket families (`AF_*`, the same numbers on every Linux architecture).
const AF_UNIX: u16 = 1;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const AF_NETLINK: u16 = 16;

impl FdType {
    /// The name used in output and rules.
    pub fn name(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Directory => "directory",
            Self::Char => "char",
            Self::Block => "block",
            Self::Pipe => "pipe",
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Unix => "unix",
            Self::Netlink => "netlink",
            Self::Socket => "socket",
            Self::Anon => "anon",
            Self::NotOpen => "none",
            Self::Unknown => "unknown",
        }
    }

    /// Whether it is an IPv4 or IPv6 socket: what a reverse shell's stdio is.
    pub fn is_inet(self) -> bool {
        matches!(self, Self::Ipv4 | Self::Ipv6)
    }

    /// The type of a file from its inode mode (`st_mode`), for anything but a
    /// socket, whose family decides ([`Self::of_family`]).
    pub fn of_mode(mode: u32) -> Self {
        match mode & S_IFMT {
            S_IFREG | S_IFLNK => Self::File,
            S_IFDIR => Self::Directory,
            S_IFCHR => Self::Char,
            S_IFBLK => Self::Block,
            S_IFIFO => Self::Pipe,
            S_IFSOCK => Self::Socket,
            _ => Self::Unknown,
        }
    }

    /// The type of a socket of family `family` (`AF_*`).
    pub fn of_family(family: u16) -> Self {
        match family {
            AF_INET => Self::Ipv4,
            AF_INET6 => Self::Ipv6,
            AF_UNIX => Self::Unix,
            AF_NETLINK => Self::Netlink,
            _ => Self::Socket,
        }
    }

    /// The type of a file the kernel described at exec.
    pub fn from_kernel(file: &StdioFile) -> Self {
        match file.state {
            stdio_state::CLOSED => return Self::NotOpen,
            stdio_state::OPEN => {}
            _ => return Self::Unknown,
        }
        let mode = u32::from(file.mode);
        let anon = matches!(file.fs_magic, ANON_INODE_FS_MAGIC | PID_FS_MAGIC);
        match mode & S_IFMT {
            // Anon inodes have a regular file's type since 6.16, and none before.
            S_IFREG | 0 if anon => Self::Anon,
            S_IFSOCK => Self::of_family(file.family),
            _ => Self::of_mode(mode),
        }
    }
}

/// Capability names by number (`include/uapi/linux/capability.h`).
const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A capability set as Falco prints it: names in number order separated by
/// spaces (`CAP_CHOWN CAP_SYS_ADMIN`), unknown bits as `CAP_<n>`, empty for none.
pub fn cap_names(set: u64) -> String {
    let mut out = String::new();
    for bit in (0..64u32).filter(|bit| set & (1 << bit) != 0) {
        if !out.is_empty() {
            out.push(' ');
        }
        match CAP_NAMES.get(bit as usize) {
            Some(name) => out.push_str(name),
            None => {
                out.push_str("CAP_");
                out.push_str(&bit.to_string());
            }
        }
    }
    out
}

/// The number of a capability by name, with or without `CAP_`, in any case
/// (`CAP_SYS_ADMIN`, `sys_admin`, `CAP_63`), as rules name them.
pub fn cap_number(name: &str) -> Option<u32> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if let Some(n) = CAP_NAMES.iter().position(|known| *known == full) {
        return u32::try_from(n).ok();
    }
    full.strip_prefix("CAP_")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|&n| n < 64)
}

/// A thread's capability sets, one bit per capability number (`CAP_SYS_ADMIN`
/// is bit 21), as the kernel keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Caps {
    /// What the kernel checks (`thread.cap_effective`).
    pub effective: u64,
    /// What it may make effective (`thread.cap_permitted`).
    pub permitted: u64,
    /// What an exec may pass on (`thread.cap_inheritable`).
    pub inheritable: u64,
}

impl Caps {
    /// Whether capability number `cap` is effective: a mask test, no string.
    pub fn has_effective(&self, cap: u32) -> bool {
        cap < 64 && self.effective & (1 << cap) != 0
    }

    /// Whether capability number `cap` is permitted.
    pub fn has_permitted(&self, cap: u32) -> bool {
        cap < 64 && self.permitted & (1 << cap) != 0
    }
}

/// What the kernel read of a process at its exec, beyond its program. Kept in
/// the process table: copied by a fork (a child inherits its parent's
/// descriptors, credentials and session), replaced by the next exec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Facts {
    /// What fd 0, 1 and 2 (stdin, stdout, stderr) are.
    pub stdio: [FdType; 3],
    /// The capability sets; `None` when unknown.
    pub caps: Option<Caps>,
    /// The session id, host pid namespace; `None` when unknown.
    pub sid: Option<u32>,
    /// When the executable's inode last changed (its ctime: written, created,
    /// chmod-ed, linked), ns since the Unix epoch; `None` when unknown.
    pub exe_ctime_ns: Option<u64>,
}

/// Nanoseconds since the Unix epoch of a time in seconds and nanoseconds;
/// `None` for a time before the epoch or a nanosecond part past a second.
pub fn epoch_ns(sec: i64, nsec: u32) -> Option<u64> {
    if nsec >= 1_000_000_000 {
        return None;
    }
    u64::try_from(sec)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(u64::from(nsec))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(mode: u32, family: u16, fs_magic: u64) -> StdioFile {
        StdioFile {
            state: stdio_state::OPEN,
            mode: mode as u16,
            family,
            _pad: 0,
            fs_magic,
        }
    }

    #[test]
    fn kernel_modes_and_families_name_the_type() {
        let cases = [
            (open(0o100_644, 0, 0xef53), FdType::File),
            (open(0o040_755, 0, 0), FdType::Directory),
            (open(0o020_620, 0, 0), FdType::Char),
            (open(0o060_660, 0, 0), FdType::Block),
            (open(0o010_600, 0, 0), FdType::Pipe),
            (open(0o140_777, 2, 0), FdType::Ipv4),
            (open(0o140_777, 10, 0), FdType::Ipv6),
            (open(0o140_777, 1, 0), FdType::Unix),
            (open(0o140_777, 16, 0), FdType::Netlink),
            (open(0o140_777, 17, 0), FdType::Socket),
            (open(0o140_777, 0, 0), FdType::Socket),
            // Anon inodes: a regular file's type on new kernels, none on old.
            (open(0o100_600, 0, ANON_INODE_FS_MAGIC), FdType::Anon),
            (open(0o000_600, 0, ANON_INODE_FS_MAGIC), FdType::Anon),
            (open(0o100_600, 0, PID_FS_MAGIC), FdType::Anon),
            // The magic does not make a pipe or a device anon.
            (open(0o010_600, 0, ANON_INODE_FS_MAGIC), FdType::Pipe),
            (open(0o000_600, 0, 0), FdType::Unknown),
            (open(0o170_000, 0, 0), FdType::Unknown),
        ];
        for (file, want) in cases {
            assert_eq!(FdType::from_kernel(&file), want, "{file:?}");
        }
        let closed = StdioFile {
            state: stdio_state::CLOSED,
            ..StdioFile::default()
        };
        assert_eq!(FdType::from_kernel(&closed), FdType::NotOpen);
        assert_eq!(FdType::from_kernel(&StdioFile::default()), FdType::Unknown);
        let garbage = StdioFile {
            state: 0xffff,
            mode: 0xffff,
            ..StdioFile::default()
        };
        assert_eq!(FdType::from_kernel(&garbage), FdType::Unknown);
        assert_eq!(FdType::NotOpen.name(), "none");
        assert!(FdType::Ipv6.is_inet() && !FdType::Unix.is_inet());
    }

    #[test]
    fn cap_sets_print_as_falco_and_names_parse_back() {
        assert_eq!(cap_names(0), "");
        assert_eq!(cap_names(1 << 21 | 1 << 13), "CAP_NET_RAW CAP_SYS_ADMIN");
        assert_eq!(cap_names(1 << 63 | 1), "CAP_CHOWN CAP_63");
        let all = cap_names(u64::MAX);
        assert_eq!(all.split(' ').count(), 64);
        assert!(all.contains("CAP_CHECKPOINT_RESTORE CAP_41"));
        assert_eq!(cap_number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(cap_number("sys_module"), Some(16));
        assert_eq!(cap_number(" cap_bpf "), Some(39));
        assert_eq!(cap_number("CAP_63"), Some(63));
        for bad in [
            "",
            "CAP_",
            "CAP_64",
            "CAP_-1",
            "sys_nothing",
            "CAP_SYS_ADMIN2",
        ] {
            assert_eq!(cap_number(bad), None, "{bad}");
        }
        for n in 0..64 {
            assert_eq!(cap_number(&cap_names(1 << n)), Some(n));
        }
        let caps = Caps {
            effective: 1 << 21,
            permitted: 1 << 21 | 1 << 12,
            inheritable: 0,
        };
        assert!(caps.has_effective(21) && !caps.has_effective(12));
        assert!(caps.has_permitted(12) && !caps.has_effective(64) && !caps.has_permitted(99));
    }

    #[test]
    fn times_before_the_epoch_or_out_of_range_are_none() {
        assert_eq!(epoch_ns(1, 5), Some(1_000_000_005));
        assert_eq!(epoch_ns(0, 0), Some(0));
        assert_eq!(epoch_ns(-1, 0), None);
        assert_eq!(epoch_ns(1, 1_000_000_000), None);
        assert_eq!(epoch_ns(i64::MAX, 0), None);
    }
}
