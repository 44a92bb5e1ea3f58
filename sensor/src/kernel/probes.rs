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

/// Every probe the sensor knows.
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
        program: "sched_process_exit",
        hook: Hook::TracePoint {
            category: "sched",
            name: "sched_process_exit",
            fields: &[],
        },
        required: true,
        without: "no process exit events",
    },
    open_probe(
        "sys_enter_open",
        &[("filename", 16), ("flags", 24), ("mode", 32)],
        false,
    ),
    open_probe("sys_exit_open", &[("ret", 16)], false),
    open_probe(
        "sys_enter_openat",
        &[("dfd", 16), ("filename", 24), ("flags", 32), ("mode", 40)],
        true,
    ),
    open_probe("sys_exit_openat", &[("ret", 16)], true),
    open_probe(
        "sys_enter_openat2",
        &[("dfd", 16), ("filename", 24), ("how", 32)],
        false,
    ),
    open_probe("sys_exit_openat2", &[("ret", 16)], false),
    open_probe("sys_enter_creat", &[("pathname", 16), ("mode", 24)], false),
    open_probe("sys_exit_creat", &[("ret", 16)], false),
    syscall_probe("sys_enter_connect", &[("fd", 16)], true, NET),
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
    syscall_probe("sys_exit_accept4", &[("ret", 16)], true, NET),
    syscall_probe("sys_exit_accept", &[("ret", 16)], false, NET),
    syscall_probe("sys_enter_listen", &[("fd", 16)], true, NET),
    syscall_probe("sys_exit_listen", &[("ret", 16)], true, NET),
];

const NET: &str = "network events of this kind are not reported";

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

/// A syscall tracepoint of the open family.
const fn open_probe(
    name: &'static str,
    fields: &'static [(&'static str, usize)],
    required: bool,
) -> Probe {
    syscall_probe(
        name,
        fields,
        required,
        "opens through this syscall are not reported (some architectures lack it)",
    )
}
