//! Events as the agent sees them: decoded from kernel records, owned, validated.

pub mod clock;
pub mod decode;

pub use decode::{DecodeError, decode};
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
}

/// A process started a new program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exec {
    /// Whether it came through `execveat(2)` rather than `execve(2)`.
    pub via_execveat: bool,
    /// The path the kernel executed.
    pub exepath: String,
    /// The new program's arguments, argv[0] first.
    pub argv: Vec<String>,
}

impl Event {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self.body {
            Body::Exec(_) => EventKind::Exec,
        }
    }

    /// The `evt.type` value: the syscall name, as Falco reports it.
    pub fn evt_type(&self) -> &'static str {
        match &self.body {
            Body::Exec(exec) if exec.via_execveat => "execveat",
            Body::Exec(_) => "execve",
        }
    }
}

/// The stable lowercase name of an event kind, used in metrics and `drop` events.
pub fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Exec => "exec",
    }
}
