//! Events as the agent sees them: decoded from kernel records, owned, validated.

pub mod clock;
pub mod decode;
pub mod facts;
pub mod file;
pub mod fs;
pub mod net;
pub mod privilege;

pub use decode::{DecodeError, decode};
pub use facts::{Caps, Facts, FdType};
pub use file::{Open, OpenSyscall};
pub use fs::{FsCall, FsSyscall};
pub use net::{Net, NetOp};
pub use privilege::{PrivCall, PrivSyscall};
pub use sensor_common::EventKind;

/// Who did it: the task that caused the event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// Process id (tgid), host pid namespace.
    pub pid: u32,
    /// Thread id, host pid namespace.
    pub tid: u32,
    /// Parent process id, host pid namespace; 0 when unreadable.
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// The kernel's `comm`.
    pub comm: String,
    /// Id of the task's cgroup v2.
    pub cgroup_id: u64,
    /// When the process started, ns since boot (0 if unreadable): with `pid`, it
    /// names one process, whatever later process reuses the pid.
    pub start_ns: u64,
    /// The kernel's count of the task's execs (low 32 bits of `self_exec_id`).
    pub exec_seq: u32,
}

/// One event from the kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Nanoseconds since boot (`CLOCK_BOOTTIME`), as the kernel stamped it.
    pub boot_ns: u64,
    /// The task that caused it.
    pub task: Task,
    /// Fields the kernel had to cut, by catalogue name.
    pub truncated: Vec<&'static str>,
    /// Fields the kernel could not read, by catalogue name.
    pub unreadable: Vec<&'static str>,
    /// What happened.
    pub body: Body,
}

/// The kind-specific part of an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A successful exec.
    Exec(Exec),
    /// A new process; [`Event::task`] is the child, its `ppid` the parent.
    Fork,
    /// A process ended; [`Event::task`] is its last thread.
    Exit(Exit),
    /// A file open.
    Open(Open),
    /// A connect, bind, accept or listen.
    Net(Net),
    /// A privilege or tampering syscall.
    Priv(PrivCall),
    /// A file operation: unlink, rename, chmod, symlink, link, mount.
    Fs(FsCall),
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// The exit status as wait(2) encodes it.
    pub status: u32,
}

impl Exit {
    /// The exit code, if the process exited rather than being killed.
    pub fn code(self) -> Option<u32> {
        (self.status & 0x7f == 0).then_some((self.status >> 8) & 0xff)
    }

    /// The signal that killed the process, if one did.
    pub fn signal(self) -> Option<u32> {
        let signal = self.status & 0x7f;
        (signal != 0).then_some(signal)
    }
}

/// A process started a new program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    /// Whether it came through `execveat(2)` rather than `execve(2)`.
    pub via_execveat: bool,
    /// The executable's absolute path as the process sees it (walked from its
    /// file), or, when `exepath_as_given`, the path the caller passed to exec.
    pub exepath: String,
    /// Whether `exepath` is the caller's path rather than the walked one.
    pub exepath_as_given: bool,
    /// The executable has no link on disk: deleted, or a memfd.
    pub exe_unlinked: bool,
    /// The executable is a memfd: fileless execution.
    pub exe_from_memfd: bool,
    /// The new program's arguments, `argv[0]` first.
    pub argv: Vec<String>,
    /// The audit login uid; `None` when unset.
    pub loginuid: Option<u32>,
    /// The controlling terminal (`tty_nr` encoding); 0 for none.
    pub tty: u32,
    /// The process id in its own pid namespace (1: a container's first process);
    /// 0 if unreadable.
    pub vpid: u32,
    /// Its stdio, capabilities, session and executable change time after the exec.
    pub facts: Facts,
}

impl Event {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match &self.body {
            Body::Exec(_) => EventKind::Exec,
            Body::Fork => EventKind::Fork,
            Body::Exit(_) => EventKind::Exit,
            Body::Open(_) => EventKind::Open,
            Body::Net(net) => match net.op {
                NetOp::Connect => EventKind::Connect,
                NetOp::Accept => EventKind::Accept,
                NetOp::Listen => EventKind::Listen,
                NetOp::Bind => EventKind::Bind,
            },
            Body::Priv(call) => match call.syscall {
                PrivSyscall::Capset => EventKind::Capset,
                PrivSyscall::Ptrace => EventKind::Ptrace,
                PrivSyscall::InitModule | PrivSyscall::FinitModule => EventKind::Module,
                PrivSyscall::Bpf => EventKind::Bpf,
                PrivSyscall::MemfdCreate => EventKind::Memfd,
                PrivSyscall::IoUringSetup => EventKind::IoUring,
                _ => EventKind::SetId,
            },
            Body::Fs(call) => match call.syscall {
                FsSyscall::Unlink | FsSyscall::Unlinkat => EventKind::Unlink,
                FsSyscall::Rename | FsSyscall::Renameat | FsSyscall::Renameat2 => EventKind::Rename,
                FsSyscall::Chmod | FsSyscall::Fchmodat | FsSyscall::Fchmod => EventKind::Chmod,
                FsSyscall::Mount => EventKind::Mount,
                _ => EventKind::Link,
            },
        }
    }

    /// The `evt.type` value, as Falco names it: the syscall for exec, `clone` for
    /// every way of making a process (fork, vfork, clone, clone3), `procexit`.
    pub fn evt_type(&self) -> &'static str {
        match &self.body {
            Body::Exec(exec) if exec.via_execveat => "execveat",
            Body::Exec(_) => "execve",
            Body::Fork => "clone",
            Body::Exit(_) => "procexit",
            Body::Open(open) => open.syscall.name(),
            Body::Net(net) => match net.op {
                NetOp::Connect => "connect",
                NetOp::Accept => "accept",
                NetOp::Listen => "listen",
                NetOp::Bind => "bind",
            },
            Body::Priv(call) => call.syscall.name(),
            Body::Fs(call) => call.syscall.name(),
        }
    }
}

/// Every `evt.type` value the sensor reports (see [`Event::evt_type`]), for rules
/// to be checked against.
pub fn evt_types() -> Vec<&'static str> {
    let mut types = vec![
        "execve", "execveat", "clone", "procexit", "connect", "accept", "listen", "bind",
    ];
    // The syscall enums' own names; their raw numbers are small and dense.
    types.extend(
        (0..64)
            .filter_map(OpenSyscall::from_raw)
            .map(OpenSyscall::name),
    );
    types.extend((0..64).filter_map(FsSyscall::from_raw).map(FsSyscall::name));
    types.extend(
        (0..64)
            .filter_map(PrivSyscall::from_raw)
            .map(PrivSyscall::name),
    );
    types
}

/// The stable lowercase name of an event kind, used in configuration, metrics and
/// `drop` events.
pub fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Exec => "exec",
        EventKind::Fork => "fork",
        EventKind::Exit => "exit",
        EventKind::Open => "open",
        EventKind::Connect => "connect",
        EventKind::Accept => "accept",
        EventKind::Listen => "listen",
        EventKind::SetId => "setid",
        EventKind::Capset => "capset",
        EventKind::Ptrace => "ptrace",
        EventKind::Module => "module",
        EventKind::Bpf => "bpf",
        EventKind::Memfd => "memfd",
        EventKind::IoUring => "io_uring",
        EventKind::Unlink => "unlink",
        EventKind::Rename => "rename",
        EventKind::Chmod => "chmod",
        EventKind::Link => "link",
        EventKind::Bind => "bind",
        EventKind::Mount => "mount",
    }
}

/// The kind with this name (see [`kind_name`]).
pub fn kind_by_name(name: &str) -> Option<EventKind> {
    EventKind::ALL
        .into_iter()
        .find(|&kind| kind_name(kind) == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_is_decoded_like_wait() {
        let exited = Exit { status: 3 << 8 };
        assert_eq!((exited.code(), exited.signal()), (Some(3), None));
        let killed = Exit { status: 9 };
        assert_eq!((killed.code(), killed.signal()), (None, Some(9)));
        let dumped = Exit { status: 0x80 | 11 };
        assert_eq!(dumped.signal(), Some(11));
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(kind_by_name(kind_name(kind)), Some(kind));
        }
        assert_eq!(kind_by_name("nope"), None);
    }
}
