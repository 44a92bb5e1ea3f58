//! The probe set, as data: which program attaches where, whether the sensor can run
//! without it, and the record layout it was built for.

/// Where a program attaches.
#[derive(Clone, Copy, Debug)]
pub enum Hook {
    /// A tracepoint, attached through tracefs; `fields` are the record fields the
    /// program reads, with the offsets it reads them at.
    TracePoint {
        /// Category (`sched`, `syscalls`, ...).
        category: &'static str,
        /// Name.
        name: &'static str,
        /// Record fields and their offsets, checked against tracefs at start.
        fields: &'static [(&'static str, usize)],
    },
    /// A raw tracepoint: the tracepoint's C arguments, no record layout.
    RawTracePoint {
        /// The tracepoint's name.
        name: &'static str,
    },
    /// A cgroup socket-address hook, attached to the root of the cgroup v2
    /// hierarchy so it sees every process.
    CgroupSockAddr,
}

/// One program and where it attaches.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// The program's name in the eBPF object.
    pub program: &'static str,
    /// Where it attaches.
    pub hook: Hook,
    /// Whether the sensor refuses to start without it. An optional probe whose
    /// tracepoint this kernel lacks is skipped with a log line.
    pub required: bool,
    /// What the sensor loses without it.
    pub without: &'static str,
}

/// The probes with a fixed program each (see [`all`] for the whole set).
pub const PROBES: &[Probe] = &[
    Probe {
        program: "sched_process_exec",
        hook: Hook::TracePoint {
            category: "sched",
            name: "sched_process_exec",
            fields: &[("filename", 8), ("old_pid", 16)],
        },
        required: true,
        without: "no exec events",
    },
    Probe {
        program: "sys_enter_execveat",
        hook: Hook::TracePoint {
            category: "syscalls",
            name: "sys_enter_execveat",
            fields: &[],
        },
        required: false,
        without: "execveat(2) is reported as execve",
    },
    Probe {
        program: "sys_exit_execveat",
        hook: Hook::TracePoint {
            category: "syscalls",
            name: "sys_exit_execveat",
            fields: &[],
        },
        required: false,
        without: "execveat(2) is reported as execve",
    },
    Probe {
        program: "sched_process_fork",
        hook: Hook::RawTracePoint {
            name: "sched_process_fork",
        },
        required: true,
        without: "no process creation events",
    },
    Probe {
        // Not `sched_process_exit`: the kernel keeps 15 bytes of a name, and
        // those would be the exec program's.
        program: "process_exit",
        hook: Hook::TracePoint {
            category: "sched",
            name: "sched_process_exit",
            fields: &[],
        },
        required: true,
        without: "no process exit events",
    },
    open_exit("sys_exit_open", false),
    open_exit("sys_exit_openat", true),
    open_exit("sys_exit_openat2", false),
    open_exit("sys_exit_creat", false),
    syscall_probe("sys_exit_connect", &[("ret", 16)], true, NET),
    Probe {
        program: "connect4",
        hook: Hook::CgroupSockAddr,
        required: true,
        without: NET,
    },
    Probe {
        program: "connect6",
        hook: Hook::CgroupSockAddr,
        required: true,
        without: NET,
    },
    syscall_probe("sys_exit_bind", &[("ret", 16)], true, NET),
    Probe {
        program: "bind4",
        hook: Hook::CgroupSockAddr,
        required: true,
        without: NET,
    },
    Probe {
        program: "bind6",
        hook: Hook::CgroupSockAddr,
        required: true,
        without: NET,
    },
    syscall_probe("sys_exit_accept4", &[("ret", 16)], true, NET),
    syscall_probe("sys_exit_accept", &[("ret", 16)], false, NET),
    syscall_probe("sys_enter_listen", &[("fd", 16)], true, NET),
    syscall_probe("sys_exit_listen", &[("ret", 16)], true, NET),
];

const NET: &str = "network events of this kind are not reported";
const PRIV: &str = "this privilege or tampering syscall is not reported (the kernel lacks it)";

/// The privilege and tampering syscalls: (name, required). Module loads are absent
/// from kernels built without module support, io_uring from kernels without it.
const PRIV_SYSCALLS: &[(&str, &str, bool)] = &[
    ("sys_enter_setuid", "sys_exit_setuid", true),
    ("sys_enter_setgid", "sys_exit_setgid", true),
    ("sys_enter_setreuid", "sys_exit_setreuid", true),
    ("sys_enter_setregid", "sys_exit_setregid", true),
    ("sys_enter_setresuid", "sys_exit_setresuid", true),
    ("sys_enter_setresgid", "sys_exit_setresgid", true),
    ("sys_enter_setfsuid", "sys_exit_setfsuid", true),
    ("sys_enter_setfsgid", "sys_exit_setfsgid", true),
    ("sys_enter_capset", "sys_exit_capset", true),
    ("sys_enter_ptrace", "sys_exit_ptrace", true),
    ("sys_enter_init_module", "sys_exit_init_module", false),
    ("sys_enter_finit_module", "sys_exit_finit_module", false),
    ("sys_enter_bpf", "sys_exit_bpf", true),
    ("sys_enter_memfd_create", "sys_exit_memfd_create", true),
    ("sys_enter_io_uring_setup", "sys_exit_io_uring_setup", false),
];

/// Exits of the syscalls that can give a dentry another path, where
/// `sys_exit_path_change` makes the remembered open verdicts stale: (tracepoint,
/// required). Without them an unwatched verdict could outlive a rename that put
/// the file under a watched prefix.
const PATH_CHANGES: &[(&str, bool)] = &[
    ("sys_exit_rename", false),
    ("sys_exit_renameat", false),
    ("sys_exit_renameat2", true),
    ("sys_exit_mount", true),
    ("sys_exit_umount", true),
    ("sys_exit_move_mount", false),
    ("sys_exit_pivot_root", true),
];

/// The probes whose hook this kernel has (tracefs must be mounted to tell).
pub fn available() -> impl Iterator<Item = Probe> {
    all().filter(|probe| match probe.hook {
        Hook::TracePoint { category, name, .. } => super::tracefs::exists(category, name),
        Hook::RawTracePoint { .. } | Hook::CgroupSockAddr => true,
    })
}

/// File operations: (entry tracepoint, exit tracepoint, required). All exits run
/// one program, `sys_exit_fs_op`. The legacy unlink/rename/chmod/symlink/link
/// syscalls are missing on some architectures.
const FS_SYSCALLS: &[(&str, &str, bool)] = &[
    ("sys_enter_unlink", "sys_exit_unlink", false),
    ("sys_enter_unlinkat", "sys_exit_unlinkat", true),
    ("sys_enter_rename", "sys_exit_rename", false),
    ("sys_enter_renameat", "sys_exit_renameat", false),
    ("sys_enter_renameat2", "sys_exit_renameat2", true),
    ("sys_enter_chmod", "sys_exit_chmod", false),
    ("sys_enter_fchmodat", "sys_exit_fchmodat", true),
    ("sys_enter_fchmod", "sys_exit_fchmod", true),
    ("sys_enter_symlink", "sys_exit_symlink", false),
    ("sys_enter_symlinkat", "sys_exit_symlinkat", true),
    ("sys_enter_link", "sys_exit_link", false),
    ("sys_enter_linkat", "sys_exit_linkat", true),
    ("sys_enter_mount", "sys_exit_mount", true),
];
const FS: &str = "this file operation is not reported (the kernel lacks the syscall)";

/// Every probe: [`PROBES`], a pair for each privilege syscall and each file operation.
pub fn all() -> impl Iterator<Item = Probe> {
    let privilege = PRIV_SYSCALLS.iter().flat_map(|&(enter, exit, required)| {
        let mut exit_probe = syscall_probe(exit, &[("ret", 16)], required, PRIV);
        exit_probe.program = "sys_exit_priv";
        [syscall_probe(enter, &[], required, PRIV), exit_probe]
    });
    let fs = FS_SYSCALLS.iter().flat_map(|&(enter, exit, required)| {
        let mut exit_probe = syscall_probe(exit, &[("ret", 16)], required, FS);
        exit_probe.program = "sys_exit_fs_op";
        [syscall_probe(enter, &[], required, FS), exit_probe]
    });
    let path_changes = PATH_CHANGES.iter().map(|&(exit, required)| {
        let mut probe = syscall_probe(exit, &[], required, PATH_CHANGE);
        probe.program = "sys_exit_path_change";
        probe
    });
    PROBES
        .iter()
        .copied()
        .chain(privilege)
        .chain(fs)
        .chain(path_changes)
}

const PATH_CHANGE: &str = "opens are judged by the path a file had before this syscall \
    renamed it or changed the mounts above it (the kernel lacks the syscall)";

/// A syscall tracepoint; the program has the tracepoint's name.
const fn syscall_probe(
    name: &'static str,
    fields: &'static [(&'static str, usize)],
    required: bool,
    without: &'static str,
) -> Probe {
    Probe {
        program: name,
        hook: Hook::TracePoint {
            category: "syscalls",
            name,
            fields,
        },
        required,
        without,
    }
}

const OPEN: &str = "opens through this syscall are not reported (some architectures lack it)";

/// The program every open-family syscall's exit runs.
pub const OPEN_PROGRAM: &str = "sys_exit_open_family";

/// The program attached in place of [`OPEN_PROGRAM`] where the kernel allows
/// it: it settles most unwatched opens alone and tail-calls that one for the rest.
pub const OPEN_FAST_PROGRAM: &str = "sys_exit_fast_open";

/// The exit tracepoint of an open-family syscall: all four run one program,
/// `sys_exit_open_family`, which tells them apart by the syscall number and reads
/// their arguments from the saved registers (no entry program).
const fn open_exit(name: &'static str, required: bool) -> Probe {
    let mut probe = syscall_probe(name, &[("__syscall_nr", 8), ("ret", 16)], required, OPEN);
    probe.program = OPEN_PROGRAM;
    probe
}
