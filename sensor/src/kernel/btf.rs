//! Kernel struct offsets from the running kernel's BTF.
//!
//! Layouts differ between kernels and Rust eBPF cannot emit CO-RE relocations, so the
//! agent finds each member it needs in `/sys/kernel/btf/vmlinux` and hands the
//! offsets to the programs at load. Members inside anonymous structs and unions
//! (most of `mm_struct`) are found by a walk that adds up the nested offsets.

use btf::types::{Btf, BtfMember, BtfType};
use sensor_common::{KernelOffsets, offsets::ABSENT};

use super::preflight::VMLINUX_BTF;

/// A BTF lookup failure.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    /// The BTF blob could not be read.
    #[error("cannot read kernel BTF from {path}: {source}")]
    Read {
        /// Where it was read from.
        path: String,
        /// The read error.
        #[source]
        source: std::io::Error,
    },
    /// The BTF blob could not be parsed.
    #[error("cannot parse kernel BTF: {reason}")]
    Parse {
        /// The parser's message.
        reason: String,
    },
    /// A struct the programs read is not in the BTF.
    #[error("kernel BTF has no struct {name}")]
    NoStruct {
        /// The struct.
        name: String,
    },
    /// A member the programs read is not in its struct, or is a bitfield.
    #[error("kernel BTF has no byte-addressable member {member} in struct {name}")]
    NoMember {
        /// The struct.
        name: String,
        /// The member.
        member: String,
    },
}

/// The struct called `name`, with its members.
fn find_struct<'a>(
    btf: &'a Btf<'a>,
    name: &str,
) -> Result<&'a btf::types::BtfComposite<'a>, BtfError> {
    btf.types()
        .iter()
        .find_map(|ty| match ty {
            BtfType::Struct(s) if s.name == name && !s.members.is_empty() => Some(s),
            _ => None,
        })
        .ok_or_else(|| BtfError::NoStruct { name: name.into() })
}

/// Size in bytes of struct `name`.
pub fn struct_size(btf: &Btf<'_>, name: &str) -> Result<u32, BtfError> {
    Ok(find_struct(btf, name)?.sz)
}

/// Offset in bytes of `path` (one member name) inside struct `name`.
pub fn member_offset(btf: &Btf<'_>, name: &str, member: &str) -> Result<u32, BtfError> {
    let strukt = find_struct(btf, name)?;
    find_member(btf, &strukt.members, member, 0, 0)
        .filter(|bits| bits % 8 == 0)
        .map(|bits| bits / 8)
        .ok_or_else(|| BtfError::NoMember {
            name: name.into(),
            member: member.into(),
        })
}

/// Depth-first search through anonymous members; returns the bit offset.
fn find_member(
    btf: &Btf<'_>,
    members: &[BtfMember<'_>],
    wanted: &str,
    base_bits: u32,
    depth: u32,
) -> Option<u32> {
    // Kernel structs nest anonymous members a few levels deep, never more than this.
    if depth > 8 {
        return None;
    }
    for m in members {
        if m.name == wanted && m.bit_size == 0 {
            return Some(base_bits + m.bit_offset);
        }
        if m.name.is_empty() {
            let inner = match btf.type_by_id(btf.skip_mods(m.type_id)) {
                BtfType::Struct(c) | BtfType::Union(c) => &c.members,
                _ => continue,
            };
            if let Some(bits) = find_member(btf, inner, wanted, base_bits + m.bit_offset, depth + 1)
            {
                return Some(bits);
            }
        }
    }
    None
}

/// Offset of a `sock_common` member from the start of its `struct sock`.
fn skc(btf: &Btf<'_>, member: &str) -> Result<u32, BtfError> {
    Ok(member_offset(btf, "sock", "__sk_common")? + member_offset(btf, "sock_common", member)?)
}

/// What the programs are loaded with from the running kernel's BTF.
#[derive(Clone, Copy, Debug)]
pub struct KernelFacts {
    /// The struct member offsets the programs read at.
    pub offsets: KernelOffsets,
    /// Whether the verifier types a BTF pointer's member that points at a
    /// non-struct type as read-only untrusted memory (see [`untrusted_mem`]).
    pub untrusted_mem: bool,
}

/// Parses raw BTF bytes.
fn parse(raw: &[u8]) -> Result<Btf<'_>, BtfError> {
    Btf::load_raw(raw).map_err(|e| BtfError::Parse {
        reason: e.to_string(),
    })
}

/// Reads the offsets the programs need from raw BTF bytes.
pub fn offsets_from(raw: &[u8]) -> Result<KernelOffsets, BtfError> {
    offsets_of(&parse(raw)?)
}

/// Reads everything the programs are loaded with from raw BTF bytes.
pub fn facts_from(raw: &[u8]) -> Result<KernelFacts, BtfError> {
    let btf = parse(raw)?;
    Ok(KernelFacts {
        offsets: offsets_of(&btf)?,
        untrusted_mem: untrusted_mem(&btf),
    })
}

/// Whether this kernel's verifier gives read-only untrusted memory for a
/// member such as `fdtable.fd` (a `struct file **`), which the open program's
/// fast path reads through. Linux 6.17 brought that together with void casts
/// by `bpf_rdonly_cast`, whose `enum bpf_features` entry is the one trace of
/// either in BTF. A guess, then: the agent falls back if the program is refused.
fn untrusted_mem(btf: &Btf<'_>) -> bool {
    enum_value(btf, "bpf_features", "BPF_FEAT_RDONLY_CAST_TO_VOID").is_some()
}

/// The offsets the programs need, from parsed BTF.
fn offsets_of(btf: &Btf<'_>) -> Result<KernelOffsets, BtfError> {
    let ctime = ctime_offsets(btf);
    Ok(KernelOffsets {
        task_real_parent: member_offset(btf, "task_struct", "real_parent")?,
        task_tgid: member_offset(btf, "task_struct", "tgid")?,
        task_pid: member_offset(btf, "task_struct", "pid")?,
        task_mm: member_offset(btf, "task_struct", "mm")?,
        task_exit_code: member_offset(btf, "task_struct", "exit_code")?,
        task_signal: member_offset(btf, "task_struct", "signal")?,
        signal_live: member_offset(btf, "signal_struct", "live")?,
        mm_arg_start: member_offset(btf, "mm_struct", "arg_start")?,
        mm_arg_end: member_offset(btf, "mm_struct", "arg_end")?,
        task_fs: member_offset(btf, "task_struct", "fs")?,
        task_files: member_offset(btf, "task_struct", "files")?,
        fs_root: member_offset(btf, "fs_struct", "root")?,
        fs_pwd: member_offset(btf, "fs_struct", "pwd")?,
        path_mnt: member_offset(btf, "path", "mnt")?,
        path_dentry: member_offset(btf, "path", "dentry")?,
        files_fdt: member_offset(btf, "files_struct", "fdt")?,
        fdt_max_fds: member_offset(btf, "fdtable", "max_fds")?,
        fdt_fd: member_offset(btf, "fdtable", "fd")?,
        file_f_path: member_offset(btf, "file", "f_path")?,
        dentry_parent: member_offset(btf, "dentry", "d_parent")?,
        dentry_name: member_offset(btf, "dentry", "d_name")?,
        dentry_inode: member_offset(btf, "dentry", "d_inode")?,
        qstr_len: member_offset(btf, "qstr", "len")?,
        qstr_name: member_offset(btf, "qstr", "name")?,
        inode_mode: member_offset(btf, "inode", "i_mode")?,
        vfsmount_root: member_offset(btf, "vfsmount", "mnt_root")?,
        mount_mnt: member_offset(btf, "mount", "mnt")?,
        mount_parent: member_offset(btf, "mount", "mnt_parent")?,
        mount_mountpoint: member_offset(btf, "mount", "mnt_mountpoint")?,
        file_private_data: member_offset(btf, "file", "private_data")?,
        socket_sk: member_offset(btf, "socket", "sk")?,
        skc_family: skc(btf, "skc_family")?,
        skc_num: skc(btf, "skc_num")?,
        skc_dport: skc(btf, "skc_dport")?,
        skc_rcv_saddr: skc(btf, "skc_rcv_saddr")?,
        skc_daddr: skc(btf, "skc_daddr")?,
        skc_v6_rcv_saddr: skc(btf, "skc_v6_rcv_saddr")?,
        skc_v6_daddr: skc(btf, "skc_v6_daddr")?,
        sk_protocol: member_offset(btf, "sock", "sk_protocol")?,
        mm_exe_file: member_offset(btf, "mm_struct", "exe_file")?,
        inode_nlink: member_offset(btf, "inode", "i_nlink")?,
        regs_args: syscall_arg_regs(btf)?,
        dentry_hash_len: member_offset(btf, "dentry", "d_name")?
            + member_offset(btf, "qstr", "hash_len")?,
        file_flags: member_offset(btf, "file", "f_flags")?,
        task_cred: member_offset(btf, "task_struct", "cred")?,
        cred_uid: member_offset(btf, "cred", "uid")?,
        cred_gid: member_offset(btf, "cred", "gid")?,
        task_comm: member_offset(btf, "task_struct", "comm")?,
        task_group_leader: member_offset(btf, "task_struct", "group_leader")?,
        task_start_boottime: member_offset(btf, "task_struct", "start_boottime")?,
        task_self_exec_id: member_offset(btf, "task_struct", "self_exec_id")?,
        // Only kernels built with CONFIG_AUDIT keep a login uid.
        task_loginuid: member_offset(btf, "task_struct", "loginuid").unwrap_or(ABSENT),
        signal_tty: member_offset(btf, "signal_struct", "tty")?,
        tty_index: member_offset(btf, "tty_struct", "index")?,
        tty_driver: member_offset(btf, "tty_struct", "driver")?,
        tty_driver_major: member_offset(btf, "tty_driver", "major")?,
        tty_driver_minor_start: member_offset(btf, "tty_driver", "minor_start")?,
        task_thread_pid: member_offset(btf, "task_struct", "thread_pid")?,
        pid_level: member_offset(btf, "pid", "level")?,
        pid_numbers_nr: member_offset(btf, "pid", "numbers")? + member_offset(btf, "upid", "nr")?,
        upid_size: struct_size(btf, "upid")?,
        // The facts an exec reports beyond the program (stdio, capabilities,
        // session, executable change time) are extras: a kernel without one of
        // these members loses that fact, not the exec event.
        file_f_inode: optional(member_offset(btf, "file", "f_inode")),
        inode_sb: optional(member_offset(btf, "inode", "i_sb")),
        sb_magic: optional(member_offset(btf, "super_block", "s_magic")),
        cred_cap_effective: optional(member_offset(btf, "cred", "cap_effective")),
        cred_cap_permitted: optional(member_offset(btf, "cred", "cap_permitted")),
        cred_cap_inheritable: optional(member_offset(btf, "cred", "cap_inheritable")),
        signal_pids_sid: session_pid(btf),
        inode_ctime_sec: ctime.0,
        inode_ctime_nsec: ctime.1,
    })
}

/// The exec facts this kernel's BTF cannot give, by catalogue field: each of
/// them is absent from every event (logged once at load, not counted per exec).
pub fn missing_exec_facts(o: &KernelOffsets) -> Vec<&'static str> {
    use crate::fields as f;
    let mut missing = Vec::new();
    if o.file_f_inode == ABSENT {
        missing.extend([f::PROC_STDIN_TYPE, f::PROC_STDOUT_TYPE, f::PROC_STDERR_TYPE]);
    }
    if [
        o.cred_cap_effective,
        o.cred_cap_permitted,
        o.cred_cap_inheritable,
    ]
    .contains(&ABSENT)
    {
        missing.extend([
            f::THREAD_CAP_EFFECTIVE,
            f::THREAD_CAP_PERMITTED,
            f::THREAD_CAP_INHERITABLE,
        ]);
    }
    if o.signal_pids_sid == ABSENT {
        missing.extend([f::PROC_SID, f::PROC_SNAME]);
    }
    if o.inode_ctime_sec == ABSENT || o.inode_ctime_nsec == ABSENT {
        missing.push(f::PROC_IS_EXE_CHANGED);
    }
    missing
}

/// The offset, or [`ABSENT`] for a member this kernel lacks.
fn optional(offset: Result<u32, BtfError>) -> u32 {
    offset.unwrap_or(ABSENT)
}

/// The value of enumerator `name` in the enum called `enum_name`.
fn enum_value(btf: &Btf<'_>, enum_name: &str, name: &str) -> Option<i64> {
    btf.types().iter().find_map(|ty| match ty {
        BtfType::Enum(e) if e.name == enum_name => e
            .values
            .iter()
            .find(|v| v.name == name)
            .map(|v| i64::from(v.value)),
        BtfType::Enum64(e) if e.name == enum_name => {
            e.values.iter().find(|v| v.name == name).map(|v| v.value)
        }
        _ => None,
    })
}

/// Where `signal_struct.pids[PIDTYPE_SID]` is: the array of `struct pid *`
/// (kernels since 4.19) indexed by the enum's own value, not a number of ours.
fn session_pid(btf: &Btf<'_>) -> u32 {
    let Ok(pids) = member_offset(btf, "signal_struct", "pids") else {
        return ABSENT;
    };
    match enum_value(btf, "pid_type", "PIDTYPE_SID").and_then(|v| u32::try_from(v).ok()) {
        // `pids` holds pointers: 8 bytes each on the 64-bit targets we build for.
        Some(index) if index < 16 => pids + index * 8,
        _ => ABSENT,
    }
}

/// Where an inode's change time is, seconds then nanoseconds: its own members
/// since 6.11, a `timespec64` called `__i_ctime` in 6.6 to 6.10 and `i_ctime`
/// before. The `timespec64`'s `tv_nsec` is a `long`, read as its low half.
fn ctime_offsets(btf: &Btf<'_>) -> (u32, u32) {
    if let (Ok(sec), Ok(nsec)) = (
        member_offset(btf, "inode", "i_ctime_sec"),
        member_offset(btf, "inode", "i_ctime_nsec"),
    ) {
        return (sec, nsec);
    }
    let (Ok(tv_sec), Ok(tv_nsec)) = (
        member_offset(btf, "timespec64", "tv_sec"),
        member_offset(btf, "timespec64", "tv_nsec"),
    ) else {
        return (ABSENT, ABSENT);
    };
    ["__i_ctime", "i_ctime"]
        .iter()
        .find_map(|name| member_offset(btf, "inode", name).ok())
        .map_or((ABSENT, ABSENT), |at| (at + tv_sec, at + tv_nsec))
}

/// Offsets in `struct pt_regs` of the registers that carry a syscall's first four
/// arguments in this architecture's syscall ABI.
#[cfg(target_arch = "x86_64")]
fn syscall_arg_regs(btf: &Btf<'_>) -> Result<[u32; 4], BtfError> {
    Ok([
        member_offset(btf, "pt_regs", "di")?,
        member_offset(btf, "pt_regs", "si")?,
        member_offset(btf, "pt_regs", "dx")?,
        member_offset(btf, "pt_regs", "r10")?,
    ])
}

/// Offsets in `struct pt_regs` of the registers that carry a syscall's first four
/// arguments: the first is kept in `orig_x0`, since `x0` takes the return value.
#[cfg(target_arch = "aarch64")]
fn syscall_arg_regs(btf: &Btf<'_>) -> Result<[u32; 4], BtfError> {
    let regs = member_offset(btf, "pt_regs", "regs")?;
    Ok([
        member_offset(btf, "pt_regs", "orig_x0")?,
        regs + 8,
        regs + 16,
        regs + 24,
    ])
}

/// Reads what the programs are loaded with from the running kernel's BTF.
pub fn kernel_facts() -> Result<KernelFacts, BtfError> {
    let raw = std::fs::read(VMLINUX_BTF).map_err(|source| BtfError::Read {
        path: VMLINUX_BTF.into(),
        source,
    })?;
    facts_from(&raw)
}
