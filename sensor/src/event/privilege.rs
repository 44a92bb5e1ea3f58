//! Privilege and tampering syscalls: set*id, capset, ptrace, module loads, bpf(2),
//! memfd_create and io_uring_setup, with their arguments named as Falco names them.

use sensor_common::event::syscall_id as id;
use serde_json::Value;

use super::facts::Caps;

/// Which syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivSyscall {
    /// setuid(2)
    Setuid,
    /// setgid(2)
    Setgid,
    /// setreuid(2)
    Setreuid,
    /// setregid(2)
    Setregid,
    /// setresuid(2)
    Setresuid,
    /// setresgid(2)
    Setresgid,
    /// setfsuid(2)
    Setfsuid,
    /// setfsgid(2)
    Setfsgid,
    /// capset(2)
    Capset,
    /// ptrace(2)
    Ptrace,
    /// init_module(2)
    InitModule,
    /// finit_module(2)
    FinitModule,
    /// bpf(2)
    Bpf,
    /// memfd_create(2)
    MemfdCreate,
    /// io_uring_setup(2)
    IoUringSetup,
}

/// A privilege or tampering syscall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivCall {
    /// Which syscall.
    pub syscall: PrivSyscall,
    /// Its result: a value, or a negative errno.
    pub result: i64,
    /// Its arguments (capset: version, effective, permitted, inheritable).
    pub args: [u64; 4],
    /// Its string argument (memfd_create's name), else empty.
    pub name: String,
}

impl PrivSyscall {
    /// From the kernel's number.
    pub fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            id::SETUID => Self::Setuid,
            id::SETGID => Self::Setgid,
            id::SETREUID => Self::Setreuid,
            id::SETREGID => Self::Setregid,
            id::SETRESUID => Self::Setresuid,
            id::SETRESGID => Self::Setresgid,
            id::SETFSUID => Self::Setfsuid,
            id::SETFSGID => Self::Setfsgid,
            id::CAPSET => Self::Capset,
            id::PTRACE => Self::Ptrace,
            id::INIT_MODULE => Self::InitModule,
            id::FINIT_MODULE => Self::FinitModule,
            id::BPF => Self::Bpf,
            id::MEMFD_CREATE => Self::MemfdCreate,
            id::IO_URING_SETUP => Self::IoUringSetup,
            _ => return None,
        })
    }

    /// The syscall's name, as `evt.type`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Setuid => "setuid",
            Self::Setgid => "setgid",
            Self::Setreuid => "setreuid",
            Self::Setregid => "setregid",
            Self::Setresuid => "setresuid",
            Self::Setresgid => "setresgid",
            Self::Setfsuid => "setfsuid",
            Self::Setfsgid => "setfsgid",
            Self::Capset => "capset",
            Self::Ptrace => "ptrace",
            Self::InitModule => "init_module",
            Self::FinitModule => "finit_module",
            Self::Bpf => "bpf",
            Self::MemfdCreate => "memfd_create",
            Self::IoUringSetup => "io_uring_setup",
        }
    }
}

/// An id argument as the syscall reads it: -1 means "leave unchanged".
fn id_arg(raw: u64) -> Value {
    Value::from(raw as u32 as i32)
}

impl PrivCall {
    /// The arguments as `evt.arg.*` fields, named as Falco names them.
    pub fn arg_fields(&self) -> Vec<(&'static str, Value)> {
        use crate::fields as f;
        let a = self.args;
        match self.syscall {
            PrivSyscall::Setuid | PrivSyscall::Setfsuid => vec![(f::EVT_ARG_UID, id_arg(a[0]))],
            PrivSyscall::Setgid | PrivSyscall::Setfsgid => vec![(f::EVT_ARG_GID, id_arg(a[0]))],
            PrivSyscall::Setreuid => vec![
                (f::EVT_ARG_RUID, id_arg(a[0])),
                (f::EVT_ARG_EUID, id_arg(a[1])),
            ],
            PrivSyscall::Setregid => vec![
                (f::EVT_ARG_RGID, id_arg(a[0])),
                (f::EVT_ARG_EGID, id_arg(a[1])),
            ],
            PrivSyscall::Setresuid => vec![
                (f::EVT_ARG_RUID, id_arg(a[0])),
                (f::EVT_ARG_EUID, id_arg(a[1])),
                (f::EVT_ARG_SUID, id_arg(a[2])),
            ],
            PrivSyscall::Setresgid => vec![
                (f::EVT_ARG_RGID, id_arg(a[0])),
                (f::EVT_ARG_EGID, id_arg(a[1])),
                (f::EVT_ARG_SGID, id_arg(a[2])),
            ],
            PrivSyscall::Capset => vec![
                (f::EVT_ARG_CAP_EFFECTIVE, cap_names(a[1]).into()),
                (f::EVT_ARG_CAP_PERMITTED, cap_names(a[2]).into()),
                (f::EVT_ARG_CAP_INHERITABLE, cap_names(a[3]).into()),
            ],
            PrivSyscall::Ptrace => vec![
                (f::EVT_ARG_REQUEST, ptrace_request(a[0]).into()),
                (f::EVT_ARG_PID, Value::from(a[1] as i64 as i32)),
            ],
            PrivSyscall::InitModule => vec![(f::EVT_ARG_LEN, a[1].into())],
            PrivSyscall::FinitModule => vec![(f::EVT_ARG_FD, Value::from(a[0] as i64 as i32))],
            PrivSyscall::Bpf => vec![(f::EVT_ARG_CMD, bpf_cmd(a[0]).into())],
            PrivSyscall::MemfdCreate => vec![
                (f::EVT_ARG_NAME, self.name.clone().into()),
                (f::EVT_ARG_FLAGS, memfd_flags(a[1] as u32).into()),
            ],
            PrivSyscall::IoUringSetup => vec![(f::EVT_ARG_ENTRIES, (a[0] as u32).into())],
        }
    }
}

/// Capability sets print as Falco prints them, here as in `thread.cap_*`.
pub use super::facts::cap_names;

/// capset(2)'s header versions (`include/uapi/linux/capability.h`): the first
/// carries 32 bits of each set, the later two 64.
const CAPSET_V1: u64 = 0x1998_0330;
const CAPSET_V2: u64 = 0x2007_1026;
const CAPSET_V3: u64 = 0x2008_0522;

impl PrivCall {
    /// The capability sets a successful capset gave its thread; `None` for
    /// another call, a failed one, or one whose sets the kernel could not read
    /// (its version is then not one the kernel accepts).
    pub fn capset_caps(&self) -> Option<Caps> {
        if self.syscall != PrivSyscall::Capset || self.result != 0 {
            return None;
        }
        let mask = match self.args[0] {
            // Version 1 sets the upper halves to zero.
            CAPSET_V1 => u64::from(u32::MAX),
            CAPSET_V2 | CAPSET_V3 => u64::MAX,
            _ => return None,
        };
        Some(Caps {
            effective: self.args[1] & mask,
            permitted: self.args[2] & mask,
            inheritable: self.args[3] & mask,
        })
    }
}

fn ptrace_request(request: u64) -> String {
    let name = match request {
        0 => "PTRACE_TRACEME",
        1 => "PTRACE_PEEKTEXT",
        2 => "PTRACE_PEEKDATA",
        3 => "PTRACE_PEEKUSR",
        4 => "PTRACE_POKETEXT",
        5 => "PTRACE_POKEDATA",
        6 => "PTRACE_POKEUSR",
        7 => "PTRACE_CONT",
        8 => "PTRACE_KILL",
        9 => "PTRACE_SINGLESTEP",
        12 => "PTRACE_GETREGS",
        13 => "PTRACE_SETREGS",
        16 => "PTRACE_ATTACH",
        17 => "PTRACE_DETACH",
        24 => "PTRACE_SYSCALL",
        0x4200 => "PTRACE_SETOPTIONS",
        0x4206 => "PTRACE_SEIZE",
        0x4207 => "PTRACE_INTERRUPT",
        _ => return format!("PTRACE_{request}"),
    };
    name.to_string()
}

fn bpf_cmd(cmd: u64) -> String {
    const CMDS: [&str; 12] = [
        "BPF_MAP_CREATE",
        "BPF_MAP_LOOKUP_ELEM",
        "BPF_MAP_UPDATE_ELEM",
        "BPF_MAP_DELETE_ELEM",
        "BPF_MAP_GET_NEXT_KEY",
        "BPF_PROG_LOAD",
        "BPF_OBJ_PIN",
        "BPF_OBJ_GET",
        "BPF_PROG_ATTACH",
        "BPF_PROG_DETACH",
        "BPF_PROG_TEST_RUN",
        "BPF_PROG_GET_NEXT_ID",
    ];
    match cmd {
        28 => "BPF_LINK_CREATE".into(),
        18 => "BPF_BTF_LOAD".into(),
        17 => "BPF_RAW_TRACEPOINT_OPEN".into(),
        c => CMDS
            .get(c as usize)
            .map_or_else(|| format!("BPF_CMD_{c}"), |name| (*name).to_string()),
    }
}

fn memfd_flags(flags: u32) -> String {
    const NAMES: [(u32, &str); 4] = [
        (1, "MFD_CLOEXEC"),
        (2, "MFD_ALLOW_SEALING"),
        (4, "MFD_HUGETLB"),
        (8, "MFD_NOEXEC_SEAL"),
    ];
    let parts: Vec<&str> = NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    parts.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_caps_requests_and_commands() {
        assert_eq!(cap_names(0), "");
        assert_eq!(cap_names(1 << 21 | 1 << 13), "CAP_NET_RAW CAP_SYS_ADMIN");
        assert_eq!(cap_names(1 << 63), "CAP_63");
        assert_eq!(ptrace_request(16), "PTRACE_ATTACH");
        assert_eq!(ptrace_request(999), "PTRACE_999");
        assert_eq!(bpf_cmd(5), "BPF_PROG_LOAD");
        assert_eq!(bpf_cmd(u64::MAX), format!("BPF_CMD_{}", u64::MAX));
        assert_eq!(memfd_flags(3), "MFD_CLOEXEC|MFD_ALLOW_SEALING");
        for raw in 0..=20 {
            if let Some(s) = PrivSyscall::from_raw(raw) {
                assert!(!s.name().is_empty());
            }
        }
    }

    #[test]
    fn only_a_successful_capset_of_a_known_version_sets_caps() {
        let call = |result, version| PrivCall {
            syscall: PrivSyscall::Capset,
            result,
            args: [version, u64::MAX, 1 << 21, 0],
            name: String::new(),
        };
        let v3 = call(0, CAPSET_V3).capset_caps().expect("caps");
        assert_eq!((v3.effective, v3.permitted), (u64::MAX, 1 << 21));
        let v1 = call(0, CAPSET_V1).capset_caps().expect("caps");
        assert_eq!(v1.effective, u64::from(u32::MAX));
        assert_eq!(call(-1, CAPSET_V3).capset_caps(), None);
        // An unread header leaves the user pointer where the version goes.
        assert_eq!(call(0, 0x7ffd_1234_5678).capset_caps(), None);
        let mut setuid = call(0, CAPSET_V3);
        setuid.syscall = PrivSyscall::Setuid;
        assert_eq!(setuid.capset_caps(), None);
    }

    #[test]
    fn unchanged_ids_show_as_minus_one() {
        let call = PrivCall {
            syscall: PrivSyscall::Setresuid,
            result: 0,
            args: [1000, u64::from(u32::MAX), 0, 0],
            name: String::new(),
        };
        let fields = call.arg_fields();
        assert_eq!(fields[0].1, 1000);
        assert_eq!(fields[1].1, -1);
    }
}
