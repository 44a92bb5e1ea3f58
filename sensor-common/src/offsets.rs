//! Kernel struct member offsets, read by the agent from the running kernel's BTF and
//! handed to the programs as a load-time global. Rust eBPF cannot emit CO-RE
//! relocations, and layouts differ between kernels, so nothing here is a constant.

/// Byte offsets of the kernel struct members the programs read.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    /// `task_struct.real_parent` (a `struct task_struct *`).
    pub task_real_parent: u32,
    /// `task_struct.tgid` (a `pid_t`).
    pub task_tgid: u32,
    /// `task_struct.pid` (a `pid_t`: the thread id).
    pub task_pid: u32,
    /// `task_struct.mm` (a `struct mm_struct *`).
    pub task_mm: u32,
    /// `task_struct.exit_code` (an `int`, wait(2)-status encoded).
    pub task_exit_code: u32,
    /// `task_struct.signal` (a `struct signal_struct *`).
    pub task_signal: u32,
    /// `signal_struct.live` (an `atomic_t`: threads of the process still running).
    pub signal_live: u32,
    /// `mm_struct.arg_start` (an `unsigned long`).
    pub mm_arg_start: u32,
    /// `mm_struct.arg_end` (an `unsigned long`).
    pub mm_arg_end: u32,
    /// `task_struct.fs` (a `struct fs_struct *`).
    pub task_fs: u32,
    /// `task_struct.files` (a `struct files_struct *`).
    pub task_files: u32,
    /// `fs_struct.root` (a `struct path`).
    pub fs_root: u32,
    /// `fs_struct.pwd` (a `struct path`).
    pub fs_pwd: u32,
    /// `path.mnt` (a `struct vfsmount *`).
    pub path_mnt: u32,
    /// `path.dentry` (a `struct dentry *`).
    pub path_dentry: u32,
    /// `files_struct.fdt` (a `struct fdtable *`).
    pub files_fdt: u32,
    /// `fdtable.max_fds` (an `unsigned int`).
    pub fdt_max_fds: u32,
    /// `fdtable.fd` (a `struct file **`).
    pub fdt_fd: u32,
    /// `file.f_path` (a `struct path`).
    pub file_f_path: u32,
    /// `dentry.d_parent` (a `struct dentry *`).
    pub dentry_parent: u32,
    /// `dentry.d_name` (a `struct qstr`).
    pub dentry_name: u32,
    /// `dentry.d_inode` (a `struct inode *`).
    pub dentry_inode: u32,
    /// `qstr.len` (a `u32`).
    pub qstr_len: u32,
    /// `qstr.name` (a `const unsigned char *`).
    pub qstr_name: u32,
    /// `inode.i_mode` (a `umode_t`).
    pub inode_mode: u32,
    /// `vfsmount.mnt_root` (a `struct dentry *`).
    pub vfsmount_root: u32,
    /// `mount.mnt` (the `struct vfsmount` inside a `struct mount`).
    pub mount_mnt: u32,
    /// `mount.mnt_parent` (a `struct mount *`).
    pub mount_parent: u32,
    /// `mount.mnt_mountpoint` (a `struct dentry *`).
    pub mount_mountpoint: u32,
    /// `file.private_data` (a `struct socket *` for a socket).
    pub file_private_data: u32,
    /// `socket.sk` (a `struct sock *`).
    pub socket_sk: u32,
    /// `sock_common.skc_family` (an `unsigned short`).
    pub skc_family: u32,
    /// `sock_common.skc_num` (the local port, host order).
    pub skc_num: u32,
    /// `sock_common.skc_dport` (the remote port, network order).
    pub skc_dport: u32,
    /// `sock_common.skc_rcv_saddr` (the local IPv4 address).
    pub skc_rcv_saddr: u32,
    /// `sock_common.skc_daddr` (the remote IPv4 address).
    pub skc_daddr: u32,
    /// `sock_common.skc_v6_rcv_saddr` (the local IPv6 address).
    pub skc_v6_rcv_saddr: u32,
    /// `sock_common.skc_v6_daddr` (the remote IPv6 address).
    pub skc_v6_daddr: u32,
    /// `sock.sk_protocol` (a `u16`).
    pub sk_protocol: u32,
    /// `mm_struct.exe_file` (a `struct file *`).
    pub mm_exe_file: u32,
    /// `inode.i_nlink` (an `unsigned int`).
    pub inode_nlink: u32,
    /// `pt_regs` members holding a syscall's first four arguments as the task
    /// passed them (x86-64: `di`, `si`, `dx`, `r10`), so an exit program reads
    /// the arguments without an entry program to keep them.
    pub regs_args: [u32; 4],
    /// `dentry.d_name.hash_len` (the name's hash and length in one `u64`).
    pub dentry_hash_len: u32,
    /// `file.f_flags` (an `unsigned int`).
    pub file_flags: u32,
    /// `task_struct.cred` (a `const struct cred *`).
    pub task_cred: u32,
    /// `cred.uid` (a `kuid_t`).
    pub cred_uid: u32,
    /// `cred.gid` (a `kgid_t`).
    pub cred_gid: u32,
    /// `task_struct.comm` (a `char[16]`).
    pub task_comm: u32,
    /// `task_struct.group_leader` (a `struct task_struct *`).
    pub task_group_leader: u32,
    /// `task_struct.start_boottime` (a `u64`, ns since boot).
    pub task_start_boottime: u32,
    /// `task_struct.self_exec_id` (a `u64` on recent kernels, `u32` before; read
    /// as its low `u32`, little-endian).
    pub task_self_exec_id: u32,
    /// `task_struct.loginuid` (a `kuid_t`; absent without CONFIG_AUDIT, then
    /// [`ABSENT`]).
    pub task_loginuid: u32,
    /// `signal_struct.tty` (a `struct tty_struct *`).
    pub signal_tty: u32,
    /// `tty_struct.index` (an `int`: the minor within its driver).
    pub tty_index: u32,
    /// `tty_struct.driver` (a `struct tty_driver *`).
    pub tty_driver: u32,
    /// `tty_driver.major` (an `int`).
    pub tty_driver_major: u32,
    /// `tty_driver.minor_start` (an `int`).
    pub tty_driver_minor_start: u32,
    /// `task_struct.thread_pid` (a `struct pid *`).
    pub task_thread_pid: u32,
    /// `pid.level` (an `unsigned int`: the depth of the task's pid namespace).
    pub pid_level: u32,
    /// `pid.numbers` (a `struct upid[]`, one per namespace level) plus
    /// `upid.nr`: where level 0's number is.
    pub pid_numbers_nr: u32,
    /// `sizeof(struct upid)`: the stride of `pid.numbers`.
    pub upid_size: u32,
    /// `file.f_inode` (a `struct inode *`); [`ABSENT`] if missing.
    pub file_f_inode: u32,
    /// `inode.i_sb` (a `struct super_block *`); [`ABSENT`] if missing.
    pub inode_sb: u32,
    /// `super_block.s_magic` (an `unsigned long`); [`ABSENT`] if missing.
    pub sb_magic: u32,
    /// `cred.cap_effective` (a `kernel_cap_t`: 64 bits, one per capability,
    /// whether one `u64` or two `u32`s); [`ABSENT`] if missing.
    pub cred_cap_effective: u32,
    /// `cred.cap_permitted`, as `cred_cap_effective`.
    pub cred_cap_permitted: u32,
    /// `cred.cap_inheritable`, as `cred_cap_effective`.
    pub cred_cap_inheritable: u32,
    /// `signal_struct.pids[PIDTYPE_SID]` (a `struct pid *`), with `PIDTYPE_SID`
    /// from BTF's `enum pid_type`; [`ABSENT`] if missing.
    pub signal_pids_sid: u32,
    /// The seconds of `inode`'s change time: `i_ctime_sec` (6.11 on),
    /// `__i_ctime.tv_sec` (6.6 to 6.10) or `i_ctime.tv_sec`; [`ABSENT`] if none.
    pub inode_ctime_sec: u32,
    /// The nanoseconds of that change time (`i_ctime_nsec`, or `tv_nsec` of the
    /// `timespec64`, read as its low `u32`); [`ABSENT`] if none.
    pub inode_ctime_nsec: u32,
}

/// The offset of a member this kernel does not have; programs skip the read.
pub const ABSENT: u32 = u32::MAX;

const _: () = assert!(core::mem::size_of::<KernelOffsets>() == 4 * 73);

/// Names of the load-time globals in the eBPF object.
pub mod globals {
    /// The [`super::KernelOffsets`] global.
    pub const OFFSETS: &str = "OFFSETS";
    /// Bytes of unread data in the ring buffer above which a record wakes the reader;
    /// 0 leaves the wakeup to the kernel's default (one per record when the reader keeps up).
    pub const WAKEUP_BYTES: &str = "WAKEUP_BYTES";
    /// Nanoseconds (a `u64`): a record into an empty ring wakes the reader when no
    /// record did for this long, so a lone event on a quiet machine is read at
    /// once rather than at the reader's next timer; 0 turns this off.
    pub const QUIET_WAKEUP_NS: &str = "QUIET_WAKEUP_NS";
    /// The agent's own process id (a `u32`).
    pub const SELF_TGID: &str = "SELF_TGID";
    /// This architecture's numbers of open(2), openat(2), openat2(2) and creat(2),
    /// indexed by `event::open_syscall` (an `[i32; 4]`, -1 where it lacks one).
    pub const OPEN_NRS: &str = "OPEN_NRS";
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all these types are `repr(C)`, made of integers with explicit padding,
    // so every bit pattern is valid and there are no hidden padding bytes.
    unsafe impl aya::Pod for super::KernelOffsets {}
    unsafe impl aya::Pod for crate::event::EventHeader {}
    unsafe impl aya::Pod for crate::event::ExecEvent {}
    unsafe impl aya::Pod for crate::event::ExitEvent {}
    unsafe impl aya::Pod for crate::event::FileEvent {}
    unsafe impl aya::Pod for crate::event::NetEvent {}
    unsafe impl aya::Pod for crate::event::SyscallEvent {}
    unsafe impl aya::Pod for crate::event::FsEvent {}
}
