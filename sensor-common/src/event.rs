//! The event records the kernel programs write into the ring buffer.

/// Length of a task's `comm` as the kernel keeps it (TASK_COMM_LEN).
pub const COMM_LEN: usize = 16;
/// Bytes kept of an executable's path. A power of two so the kernel side can bound
/// offsets with a mask; longer paths are cut and flagged with [`flags::FILENAME_TRUNCATED`].
pub const FILENAME_LEN: usize = 512;
/// Bytes kept of a process's NUL-separated argument list; longer lists are cut and
/// flagged with [`flags::ARGS_TRUNCATED`].
pub const ARGS_LEN: usize = 2048;

/// What a record is. The numbers are part of the kernel/user ABI: never reuse or
/// renumber one; add new kinds at the end.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A successful `execve`/`execveat`: the process now runs a new program.
    Exec = 1,
    /// A new process (not a thread): fork, vfork, clone or clone3. A bare
    /// [`EventHeader`] describing the child.
    Fork = 2,
    /// The last thread of a process exited: an [`ExitEvent`].
    Exit = 3,
    /// A file open (open, openat, openat2, creat): a [`FileEvent`] and its path.
    Open = 4,
    /// An outgoing connection, TCP or UDP, IPv4 or IPv6: a [`NetEvent`].
    Connect = 5,
    /// An accepted incoming connection: a [`NetEvent`].
    Accept = 6,
    /// A socket starts listening: a [`NetEvent`] with its local address.
    Listen = 7,
    /// A change of user or group ids (setuid, setresgid, ...): a [`SyscallEvent`].
    SetId = 8,
    /// A change of capabilities (capset): a [`SyscallEvent`].
    Capset = 9,
    /// ptrace(2), with its request and target: a [`SyscallEvent`].
    Ptrace = 10,
    /// A kernel module load (init_module, finit_module): a [`SyscallEvent`].
    Module = 11,
    /// bpf(2), with its command: a [`SyscallEvent`].
    Bpf = 12,
    /// memfd_create(2), with the name: a [`SyscallEvent`].
    Memfd = 13,
    /// io_uring_setup(2), whose rings bypass syscall tracing: a [`SyscallEvent`].
    IoUring = 14,
    /// A file removed (unlink, unlinkat): an [`FsEvent`].
    Unlink = 15,
    /// A file renamed (rename, renameat, renameat2): an [`FsEvent`] with two paths.
    Rename = 16,
    /// A mode change (chmod, fchmodat, fchmod): an [`FsEvent`] with the mode.
    Chmod = 17,
    /// A link made (symlink, symlinkat, link, linkat): an [`FsEvent`] with two paths.
    Link = 18,
    /// A socket bound to a local address: a [`NetEvent`].
    Bind = 19,
    /// A filesystem mounted (mount): an [`FsEvent`] with the target, the source
    /// and the filesystem type.
    Mount = 20,
}

impl EventKind {
    /// The highest kind number in use; counters and the kind filter are sized from it.
    pub const MAX: u32 = 20;
    /// Every kind, in number order.
    pub const ALL: [EventKind; 20] = [
        Self::Exec,
        Self::Fork,
        Self::Exit,
        Self::Open,
        Self::Connect,
        Self::Accept,
        Self::Listen,
        Self::SetId,
        Self::Capset,
        Self::Ptrace,
        Self::Module,
        Self::Bpf,
        Self::Memfd,
        Self::IoUring,
        Self::Unlink,
        Self::Rename,
        Self::Chmod,
        Self::Link,
        Self::Bind,
        Self::Mount,
    ];

    /// Validates a kind read from kernel bytes.
    pub const fn from_u32(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::Exec),
            2 => Some(Self::Fork),
            3 => Some(Self::Exit),
            4 => Some(Self::Open),
            5 => Some(Self::Connect),
            6 => Some(Self::Accept),
            7 => Some(Self::Listen),
            8 => Some(Self::SetId),
            9 => Some(Self::Capset),
            10 => Some(Self::Ptrace),
            11 => Some(Self::Module),
            12 => Some(Self::Bpf),
            13 => Some(Self::Memfd),
            14 => Some(Self::IoUring),
            15 => Some(Self::Unlink),
            16 => Some(Self::Rename),
            17 => Some(Self::Chmod),
            18 => Some(Self::Link),
            19 => Some(Self::Bind),
            20 => Some(Self::Mount),
            _ => None,
        }
    }
}

/// Bits of [`EventHeader::flags`]: what the kernel could not capture in full.
pub mod flags {
    /// The executable path was longer than [`super::FILENAME_LEN`] and was cut.
    pub const FILENAME_TRUNCATED: u32 = 1 << 0;
    /// The argument list was longer than [`super::ARGS_LEN`] and was cut.
    pub const ARGS_TRUNCATED: u32 = 1 << 1;
    /// The argument list could not be read from the process's memory.
    pub const ARGS_UNREADABLE: u32 = 1 << 2;
    /// The parent could not be read from the task struct; `ppid` is 0.
    pub const PPID_UNREADABLE: u32 = 1 << 3;
    /// The exec came through `execveat(2)` rather than `execve(2)`.
    pub const VIA_EXECVEAT: u32 = 1 << 4;
    /// A file path was longer than [`super::PATH_MAX`] and lost its leading part.
    pub const PATH_TRUNCATED: u32 = 1 << 5;
    /// A file path walk stopped before the root (too deep, or a read failed): the
    /// path lacks its leading part.
    pub const PATH_INCOMPLETE: u32 = 1 << 6;
    /// The exec's path is `bprm->filename` as the caller gave it (perhaps relative),
    /// because the executable's own path could not be walked.
    pub const EXEPATH_AS_GIVEN: u32 = 1 << 7;
    /// The executable has no link left on disk (deleted, or never linked: memfd).
    pub const EXE_UNLINKED: u32 = 1 << 8;
    /// The executable is a memfd (`memfd_create`): fileless execution.
    pub const EXE_FROM_MEMFD: u32 = 1 << 9;
    /// The capability sets could not be read (or this kernel's BTF lacks them).
    pub const CAPS_UNREADABLE: u32 = 1 << 10;
    /// The session id could not be read (or this kernel's BTF lacks it).
    pub const SID_UNREADABLE: u32 = 1 << 11;
    /// The executable's inode change time could not be read.
    pub const EXE_CTIME_UNREADABLE: u32 = 1 << 12;
}

/// What the kernel found behind one of fd 0, 1 and 2 ([`StdioFile::state`]).
pub mod stdio_state {
    /// Not read: the read failed, or this kernel's BTF lacks a member on the way.
    pub const UNREAD: u16 = 0;
    /// No file open at that number.
    pub const CLOSED: u16 = 1;
    /// A file is open there; the other members describe it.
    pub const OPEN: u16 = 2;
}

/// The raw facts of the file at fd 0, 1 or 2 after an exec; user space names
/// its type (file, pipe, ipv4 socket, ...) from them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StdioFile {
    /// A [`stdio_state`] number.
    pub state: u16,
    /// The inode's `i_mode`: file type and permission bits.
    pub mode: u16,
    /// For a socket, `sk->__sk_common.skc_family` (`AF_*`); else 0.
    pub family: u16,
    /// Explicit padding; always zero.
    pub _pad: u16,
    /// The magic number of the inode's filesystem (`i_sb->s_magic`): anon
    /// inodes (eventfd, signalfd, ...) are told by it; 0 when not needed or unread.
    pub fs_magic: u64,
}

/// Bytes kept of a file path, NUL excluded; longer paths lose their leading part
/// and are flagged with [`flags::PATH_TRUNCATED`].
pub const PATH_MAX: usize = 4096;

/// How a [`FileEvent`]'s path was found.
pub mod path_source {
    /// From the object the kernel opened: absolute, as the process sees it from its
    /// root (its container's root inside a container), symlinks resolved.
    pub const OPENED: u32 = 0;
    /// The open failed: the path the process gave, made absolute with its working
    /// directory or directory fd, not normalised (`..` and symlinks are kept).
    pub const AS_GIVEN: u32 = 1;
}

/// Which syscall a [`FileEvent`] came from. Part of the ABI: never renumber.
pub mod open_syscall {
    /// open(2)
    pub const OPEN: u32 = 0;
    /// openat(2)
    pub const OPENAT: u32 = 1;
    /// openat2(2)
    pub const OPENAT2: u32 = 2;
    /// creat(2)
    pub const CREAT: u32 = 3;
}

/// The header every record starts with.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventHeader {
    /// An [`EventKind`] number.
    pub kind: u32,
    /// Bits from [`flags`].
    pub flags: u32,
    /// `bpf_ktime_get_boot_ns()`: nanoseconds since boot, suspend included.
    pub boot_ns: u64,
    /// Id of the task's cgroup v2 (the inode number of its directory).
    pub cgroup_id: u64,
    /// Process id (the kernel's tgid), in the initial pid namespace.
    pub tgid: u32,
    /// Thread id (the kernel's pid), in the initial pid namespace.
    pub tid: u32,
    /// Parent process id (`real_parent->tgid`), in the initial pid namespace.
    pub ppid: u32,
    /// Real user id, in the initial user namespace.
    pub uid: u32,
    /// Real group id, in the initial user namespace.
    pub gid: u32,
    /// The low 32 bits of the task's `self_exec_id`: the kernel counts a task's
    /// execs (a child starts from its parent's count), so (tgid, `start_ns`,
    /// `exec_seq`) names one program run by one process, for its exec id.
    pub exec_seq: u32,
    /// The task's `comm`, NUL-padded.
    pub comm: [u8; COMM_LEN],
    /// When the process (its thread group leader) started: `start_boottime`, ns
    /// since boot. With `tgid` it tells a process from a later one with its pid;
    /// `/proc/<pid>/stat` shows the same time in clock ticks.
    pub start_ns: u64,
}

/// A successful exec, written at `sched:sched_process_exec`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecEvent {
    /// Common header; `kind` is [`EventKind::Exec`].
    pub header: EventHeader,
    /// Valid bytes in `filename`, without the terminating NUL.
    pub filename_len: u32,
    /// Valid bytes in `args` (NUL-separated arguments, `argv[0]` first).
    pub args_len: u32,
    /// The audit login uid (`loginuid`): who logged in, kept across su and sudo;
    /// `u32::MAX` when unset.
    pub loginuid: u32,
    /// The controlling terminal as `/proc/<pid>/stat` encodes it (`tty_nr`); 0
    /// for none.
    pub tty: u32,
    /// The process id in the process's own pid namespace: 1 for a container's
    /// first process; 0 if unreadable.
    pub vpid: u32,
    /// The session id (`signal->pids[PIDTYPE_SID]`), in the initial pid
    /// namespace; see [`flags::SID_UNREADABLE`].
    pub sid: u32,
    /// The capability sets after the exec (`cred->cap_*`, one bit per
    /// capability number); see [`flags::CAPS_UNREADABLE`].
    pub cap_effective: u64,
    /// As `cap_effective`, the permitted set.
    pub cap_permitted: u64,
    /// As `cap_effective`, the inheritable set.
    pub cap_inheritable: u64,
    /// The executable's inode change time (`ctime`), seconds since the Unix
    /// epoch; see [`flags::EXE_CTIME_UNREADABLE`].
    pub exe_ctime_sec: i64,
    /// The nanoseconds of `exe_ctime_sec`.
    pub exe_ctime_nsec: u32,
    /// Explicit padding; always zero.
    pub _pad: u32,
    /// The files at fd 0, 1 and 2 (stdin, stdout, stderr) after the exec.
    pub stdio: [StdioFile; 3],
    /// The executable's absolute path as the process sees it, walked from its file;
    /// `bprm->filename` when [`flags::EXEPATH_AS_GIVEN`]. NUL-padded.
    pub filename: [u8; FILENAME_LEN],
    /// The new program's arguments as the kernel copied them to its stack.
    pub args: [u8; ARGS_LEN],
}

/// A process ended, written at `sched:sched_process_exit` for its last thread.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExitEvent {
    /// Common header; `kind` is [`EventKind::Exit`].
    pub header: EventHeader,
    /// The exit status as wait(2) encodes it: `code << 8`, or the signal number
    /// (bit 7 set if it dumped core).
    pub exit_code: u32,
    /// Explicit padding; always zero.
    pub _pad: u32,
}

/// A file open, written at the syscall's exit. `path_len` bytes of path follow the
/// struct in the record (no NUL).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FileEvent {
    /// Common header; `kind` is [`EventKind::Open`].
    pub header: EventHeader,
    /// The syscall's result: a file descriptor, or a negative errno.
    pub result: i64,
    /// The open flags (`O_*`).
    pub flags: u32,
    /// The mode given for a created file.
    pub mode: u32,
    /// An [`open_syscall`] number.
    pub syscall: u32,
    /// A [`path_source`] number.
    pub path_source: u32,
    /// The opened inode's `i_mode` (file type and permissions); 0 if the open failed.
    pub inode_mode: u32,
    /// Bytes of path after this struct, at most [`PATH_MAX`].
    pub path_len: u32,
}

/// A network action on an IPv4 or IPv6 socket.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NetEvent {
    /// Common header; `kind` is Connect, Bind, Accept or Listen.
    pub header: EventHeader,
    /// The syscall's result: 0 or a file descriptor, or a negative errno.
    pub result: i64,
    /// `AF_INET` or `AF_INET6`.
    pub family: u16,
    /// `IPPROTO_TCP`, `IPPROTO_UDP`, ... (0 if unknown).
    pub protocol: u16,
    /// Local port, host byte order (0 if not bound yet).
    pub local_port: u16,
    /// Remote port, host byte order (0 for a listener).
    pub remote_port: u16,
    /// Local address: 4 bytes for IPv4, 16 for IPv6, network order.
    pub local_addr: [u8; 16],
    /// Remote address, as `local_addr`.
    pub remote_addr: [u8; 16],
}

/// Syscalls reported as a [`SyscallEvent`], by a number of our own. Part of the
/// ABI: never renumber.
pub mod syscall_id {
    /// setuid(uid)
    pub const SETUID: u32 = 1;
    /// setgid(gid)
    pub const SETGID: u32 = 2;
    /// setreuid(ruid, euid)
    pub const SETREUID: u32 = 3;
    /// setregid(rgid, egid)
    pub const SETREGID: u32 = 4;
    /// setresuid(ruid, euid, suid)
    pub const SETRESUID: u32 = 5;
    /// setresgid(rgid, egid, sgid)
    pub const SETRESGID: u32 = 6;
    /// setfsuid(uid)
    pub const SETFSUID: u32 = 7;
    /// setfsgid(gid)
    pub const SETFSGID: u32 = 8;
    /// capset(hdr, data): args are the header's version, then the effective,
    /// permitted and inheritable sets, 64 bits each.
    pub const CAPSET: u32 = 9;
    /// ptrace(request, pid, addr, data)
    pub const PTRACE: u32 = 10;
    /// init_module(image, len, params)
    pub const INIT_MODULE: u32 = 11;
    /// finit_module(fd, params, flags)
    pub const FINIT_MODULE: u32 = 12;
    /// bpf(cmd, attr, size)
    pub const BPF: u32 = 13;
    /// memfd_create(name, flags): the name goes in `SyscallEvent::name`.
    pub const MEMFD_CREATE: u32 = 14;
    /// io_uring_setup(entries, params)
    pub const IO_URING_SETUP: u32 = 15;
}

/// File operations reported as an [`FsEvent`], by a number of our own. Part of the
/// ABI: never renumber.
pub mod fs_op {
    /// unlink(path)
    pub const UNLINK: u32 = 0;
    /// unlinkat(dfd, path, flags)
    pub const UNLINKAT: u32 = 1;
    /// rename(old, new)
    pub const RENAME: u32 = 2;
    /// renameat(olddfd, old, newdfd, new)
    pub const RENAMEAT: u32 = 3;
    /// renameat2(olddfd, old, newdfd, new, flags)
    pub const RENAMEAT2: u32 = 4;
    /// chmod(path, mode)
    pub const CHMOD: u32 = 5;
    /// fchmodat(dfd, path, mode)
    pub const FCHMODAT: u32 = 6;
    /// fchmod(fd, mode): the path is walked from the fd.
    pub const FCHMOD: u32 = 7;
    /// symlink(target, linkpath): `path` is the new link, `path2` the target as
    /// written into it (not resolved: a relative target is relative to the link).
    pub const SYMLINK: u32 = 8;
    /// symlinkat(target, newdfd, linkpath): as symlink.
    pub const SYMLINKAT: u32 = 9;
    /// link(old, new): `path` is the existing file, `path2` the new name.
    pub const LINK: u32 = 10;
    /// linkat(olddfd, old, newdfd, new, flags): as link.
    pub const LINKAT: u32 = 11;
    /// mount(source, target, fstype, flags, data): `path` is the target, made
    /// absolute; `path2` the source verbatim (a device, a path or a name); the
    /// filesystem type follows them.
    pub const MOUNT: u32 = 12;
}

/// Bytes kept of a mount's filesystem type.
pub const FSTYPE_MAX: usize = 64;

/// A file operation, written at the syscall's exit. `path_len` bytes of `path`
/// follow the struct, then `path2_len` bytes of `path2` (no NULs). Paths are made
/// absolute with the working directory or directory fd, as given (`as_given`),
/// except fchmod's, walked from its fd, and a symlink's target, kept verbatim.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FsEvent {
    /// Common header; `kind` is Unlink, Rename, Chmod, Link or Mount.
    pub header: EventHeader,
    /// The syscall's result: 0, or a negative errno.
    pub result: i64,
    /// An [`fs_op`] number.
    pub op: u32,
    /// chmod's mode (with the setuid, setgid and sticky bits).
    pub mode: u32,
    /// The syscall's flags argument (unlinkat, renameat2, linkat, mount), else 0.
    pub flags: u32,
    /// Bytes of the first path.
    pub path_len: u32,
    /// Bytes of the second path (rename, link, symlink, mount), else 0.
    pub path2_len: u32,
    /// Bytes of a mount's filesystem type, after the two paths; else 0.
    pub fstype_len: u32,
}

/// Bytes kept of a [`SyscallEvent`]'s string argument.
pub const SYSCALL_NAME_LEN: usize = 64;

/// A security-relevant syscall with integer arguments, written at its exit.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SyscallEvent {
    /// Common header, with the credentials after the call.
    pub header: EventHeader,
    /// The syscall's result: a value, or a negative errno.
    pub result: i64,
    /// A [`syscall_id`] number.
    pub syscall: u32,
    /// Valid bytes in `name`.
    pub name_len: u32,
    /// The arguments, as the syscall took them (see [`syscall_id`] for capset).
    pub args: [u64; 4],
    /// A string argument (memfd_create's name), NUL-padded.
    pub name: [u8; SYSCALL_NAME_LEN],
}

const _: () = assert!(core::mem::size_of::<EventHeader>() == 72);
const _: () = assert!(core::mem::size_of::<SyscallEvent>() == 184);
const _: () = assert!(core::mem::size_of::<FsEvent>() == 104);
const _: () = assert!(core::mem::size_of::<NetEvent>() == 120);
const _: () = assert!(core::mem::size_of::<FileEvent>() == 104);
const _: () = assert!(core::mem::size_of::<ExitEvent>() == 80);
const _: () = assert!(core::mem::align_of::<EventHeader>() == 8);
const _: () = assert!(core::mem::size_of::<StdioFile>() == 16);
const _: () =
    assert!(core::mem::size_of::<ExecEvent>() == 72 + 24 + 40 + 48 + FILENAME_LEN + ARGS_LEN);
const _: () = assert!(core::mem::size_of::<ExecEvent>().is_multiple_of(8));
const _: () = assert!(FILENAME_LEN.is_power_of_two() && ARGS_LEN.is_power_of_two());
