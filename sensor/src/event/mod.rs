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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
            Body::Net(net) => net_kind(net.op),
            Body::Priv(call) => priv_kind(call.syscall),
            Body::Fs(call) => fs_kind(call.syscall),
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

/// The kind of event whose [`Event::evt_type`] is `evt_type`; `None` for a type
/// the sensor never reports (Falco's `dup` or `sendto`, say). The kernel filters
/// work by kind, so this is how rules written by `evt.type` become kernel filters.
pub fn event_type_kind(evt_type: &str) -> Option<EventKind> {
    Some(match evt_type {
        "execve" | "execveat" => EventKind::Exec,
        "clone" => EventKind::Fork,
        "procexit" => EventKind::Exit,
        "connect" => net_kind(NetOp::Connect),
        "accept" => net_kind(NetOp::Accept),
        "listen" => net_kind(NetOp::Listen),
        "bind" => net_kind(NetOp::Bind),
        name => {
            // The syscall enums' raw numbers are small and dense, as in `evt_types`.
            let raws = || 0..64;
            if raws()
                .filter_map(OpenSyscall::from_raw)
                .any(|s| s.name() == name)
            {
                return Some(EventKind::Open);
            }
            if let Some(s) = raws()
                .filter_map(FsSyscall::from_raw)
                .find(|s| s.name() == name)
            {
                return Some(fs_kind(s));
            }
            return raws()
                .filter_map(PrivSyscall::from_raw)
                .find(|s| s.name() == name)
                .map(priv_kind);
        }
    })
}

/// The `evt.type` values of events of `kind`, in [`evt_types`] order.
pub fn kind_evt_types(kind: EventKind) -> Vec<&'static str> {
    evt_types()
        .into_iter()
        .filter(|t| event_type_kind(t) == Some(kind))
        .collect()
}

// One mapping per family, shared by `Event::kind` and `event_type_kind` so the
// two cannot drift apart.
fn net_kind(op: NetOp) -> EventKind {
    match op {
        NetOp::Connect => EventKind::Connect,
        NetOp::Accept => EventKind::Accept,
        NetOp::Listen => EventKind::Listen,
        NetOp::Bind => EventKind::Bind,
    }
}

fn priv_kind(syscall: PrivSyscall) -> EventKind {
    match syscall {
        PrivSyscall::Capset => EventKind::Capset,
        PrivSyscall::Ptrace => EventKind::Ptrace,
        PrivSyscall::InitModule | PrivSyscall::FinitModule => EventKind::Module,
        PrivSyscall::Bpf => EventKind::Bpf,
        PrivSyscall::MemfdCreate => EventKind::Memfd,
        PrivSyscall::IoUringSetup => EventKind::IoUring,
        _ => EventKind::SetId,
    }
}

fn fs_kind(syscall: FsSyscall) -> EventKind {
    match syscall {
        FsSyscall::Unlink | FsSyscall::Unlinkat => EventKind::Unlink,
        FsSyscall::Rename | FsSyscall::Renameat | FsSyscall::Renameat2 => EventKind::Rename,
        FsSyscall::Chmod | FsSyscall::Fchmodat | FsSyscall::Fchmod => EventKind::Chmod,
        FsSyscall::Mount => EventKind::Mount,
        _ => EventKind::Link,
    }
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

    /// One event of every body and syscall the sensor decodes.
    fn one_of_each() -> Vec<Event> {
        let exec = |via_execveat| {
            Body::Exec(Exec {
                via_execveat,
                exepath: "/bin/true".into(),
                exepath_as_given: false,
                exe_unlinked: false,
                exe_from_memfd: false,
                argv: vec![],
                loginuid: None,
                tty: 0,
                vpid: 0,
                facts: Default::default(),
            })
        };
        let addr = "127.0.0.1:80".parse().expect("address");
        let mut bodies = vec![
            exec(false),
            exec(true),
            Body::Fork,
            Body::Exit(Exit { status: 0 }),
        ];
        bodies.extend(
            [NetOp::Connect, NetOp::Accept, NetOp::Listen, NetOp::Bind].map(|op| {
                Body::Net(Net {
                    op,
                    protocol: 6,
                    local: addr,
                    remote: addr,
                    result: 0,
                })
            }),
        );
        bodies.extend((0..64).filter_map(OpenSyscall::from_raw).map(|syscall| {
            Body::Open(Open {
                syscall,
                path: "/x".into(),
                source: file::PathSource::Opened,
                result: 3,
                flags: 0,
                mode: 0,
                inode_mode: 0,
            })
        }));
        bodies.extend((0..64).filter_map(FsSyscall::from_raw).map(|syscall| {
            Body::Fs(FsCall {
                syscall,
                path: "/x".into(),
                path2: String::new(),
                fstype: String::new(),
                mode: 0,
                flags: 0,
                result: 0,
            })
        }));
        bodies.extend((0..64).filter_map(PrivSyscall::from_raw).map(|syscall| {
            Body::Priv(PrivCall {
                syscall,
                result: 0,
                args: [0; 4],
                name: String::new(),
            })
        }));
        bodies
            .into_iter()
            .map(|body| Event {
                boot_ns: 0,
                task: Task {
                    pid: 1,
                    tid: 1,
                    ppid: 0,
                    uid: 0,
                    gid: 0,
                    comm: "t".into(),
                    cgroup_id: 0,
                    start_ns: 0,
                    exec_seq: 0,
                },
                truncated: vec![],
                unreadable: vec![],
                body,
            })
            .collect()
    }

    #[test]
    fn every_evt_type_maps_to_the_kind_its_events_have() {
        let events = one_of_each();
        let names: Vec<&str> = events.iter().map(Event::evt_type).collect();
        for name in evt_types() {
            assert!(names.contains(&name), "no event reports {name}");
        }
        for event in &events {
            let name = event.evt_type();
            assert!(evt_types().contains(&name), "{name} missing from evt_types");
            assert_eq!(event_type_kind(name), Some(event.kind()), "{name}");
            assert!(kind_evt_types(event.kind()).contains(&name), "{name}");
        }
        for other in ["dup", "sendto", "accept4", "", "drop"] {
            assert_eq!(event_type_kind(other), None, "{other}");
        }
        // Every kind has at least one type: a rule can ask for each.
        for kind in EventKind::ALL {
            assert!(!kind_evt_types(kind).is_empty(), "{}", kind_name(kind));
        }
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(kind_by_name(kind_name(kind)), Some(kind));
        }
        assert_eq!(kind_by_name("nope"), None);
    }
}
