//! The probe set, as data: which program attaches where, whether the sensor can run
//! without it, and the record layout it was built for.

/// One tracepoint program.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// The program's name in the eBPF object.
    pub program: &'static str,
    /// Tracepoint category (`sched`, `syscalls`, ...).
    pub category: &'static str,
    /// Tracepoint name.
    pub name: &'static str,
    /// Whether the sensor refuses to start without it. An optional probe whose
    /// tracepoint this kernel lacks is skipped with a log line.
    pub required: bool,
    /// Record fields the program reads, with the offsets it reads them at.
    pub fields: &'static [(&'static str, usize)],
    /// What the sensor loses without it.
    pub without: &'static str,
}

/// Every probe the sensor knows.
pub const PROBES: &[Probe] = &[
    Probe {
        program: "sched_process_exec",
        category: "sched",
        name: "sched_process_exec",
        required: true,
        fields: &[("filename", 8), ("old_pid", 16)],
        without: "no exec events",
    },
    Probe {
        program: "sys_enter_execveat",
        category: "syscalls",
        name: "sys_enter_execveat",
        required: false,
        fields: &[],
        without: "execveat(2) is reported as execve",
    },
    Probe {
        program: "sys_exit_execveat",
        category: "syscalls",
        name: "sys_exit_execveat",
        required: false,
        fields: &[],
        without: "execveat(2) is reported as execve",
    },
];
