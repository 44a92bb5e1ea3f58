//! Decoding kernel records. The bytes come from the kernel, but a version mismatch or
//! a bug must not crash the agent: every length and tag is checked, and a bad record
//! becomes a typed error that the caller counts and drops.

use std::mem::size_of;

use sensor_common::{
    EventHeader, EventKind, ExecEvent, ExitEvent, FileEvent, FsEvent, NetEvent, SyscallEvent,
    event::{
        ARGS_LEN, FILENAME_LEN, FSTYPE_MAX, PATH_MAX, SYSCALL_NAME_LEN, flags, path_source,
        stdio_state,
    },
};

use super::{
    Body, Event, Exec, Exit, Task,
    facts::{self, Caps, Facts, FdType},
    file::{Open, OpenSyscall, PathSource},
    fs::{FsCall, FsSyscall},
    net::{Net, NetOp, endpoint},
    privilege::{PrivCall, PrivSyscall},
};
use crate::fields;

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the common header.
    #[error("record of {len} bytes is shorter than the {need}-byte event header")]
    ShortHeader {
        /// Bytes in the record.
        len: usize,
        /// Bytes in the header.
        need: usize,
    },
    /// A kind number this agent does not know.
    #[error("unknown event kind {kind}")]
    UnknownKind {
        /// The number in the header.
        kind: u32,
    },
    /// Fewer bytes than the record's kind needs.
    #[error("{kind:?} record of {len} bytes is shorter than its {need} bytes")]
    ShortRecord {
        /// The record's kind.
        kind: EventKind,
        /// Bytes in the record.
        len: usize,
        /// Bytes the kind needs.
        need: usize,
    },
    /// A number field with a value this agent does not know.
    #[error("{field} has unknown value {value}")]
    UnknownValue {
        /// The field.
        field: &'static str,
        /// The value.
        value: u32,
    },
    /// A length field larger than the buffer it describes.
    #[error("{field} claims {len} bytes but its buffer holds {cap}")]
    BadLength {
        /// The field.
        field: &'static str,
        /// The claimed length.
        len: usize,
        /// The buffer's size.
        cap: usize,
    },
}

/// Reads a `T` from the start of `bytes`, which the caller has checked is long enough.
fn read<T: Copy>(bytes: &[u8]) -> T {
    assert!(bytes.len() >= size_of::<T>());
    // SAFETY: length checked above; `T` is a repr(C) integer-only type for which
    // every bit pattern is valid; read_unaligned copes with any alignment.
    unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) }
}

/// The bytes before the first NUL.
fn until_nul(bytes: &[u8]) -> &[u8] {
    bytes
        .iter()
        .position(|&b| b == 0)
        .map_or(bytes, |end| &bytes[..end])
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Decodes one ring buffer record.
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    if bytes.len() < size_of::<EventHeader>() {
        return Err(DecodeError::ShortHeader {
            len: bytes.len(),
            need: size_of::<EventHeader>(),
        });
    }
    let header: EventHeader = read(bytes);
    let kind =
        EventKind::from_u32(header.kind).ok_or(DecodeError::UnknownKind { kind: header.kind })?;
    let mut truncated = Vec::new();
    let mut unreadable = Vec::new();
    if header.flags & flags::PPID_UNREADABLE != 0 {
        unreadable.push(fields::PROC_PPID);
    }
    let body = match kind {
        EventKind::Exec => decode_exec(bytes, &header, &mut truncated, &mut unreadable)?,
        EventKind::Fork => Body::Fork,
        EventKind::Exit => {
            let raw: ExitEvent = read(check_len::<ExitEvent>(bytes, kind)?);
            Body::Exit(Exit {
                status: raw.exit_code,
            })
        }
        EventKind::Open => decode_open(bytes, &header, &mut truncated, &mut unreadable)?,
        EventKind::Connect => decode_net(bytes, kind, NetOp::Connect)?,
        EventKind::Accept => decode_net(bytes, kind, NetOp::Accept)?,
        EventKind::Listen => decode_net(bytes, kind, NetOp::Listen)?,
        EventKind::Bind => decode_net(bytes, kind, NetOp::Bind)?,
        EventKind::SetId
        | EventKind::Capset
        | EventKind::Ptrace
        | EventKind::Module
        | EventKind::Bpf
        | EventKind::Memfd
        | EventKind::IoUring => decode_syscall(bytes, kind)?,
        EventKind::Unlink
        | EventKind::Rename
        | EventKind::Chmod
        | EventKind::Link
        | EventKind::Mount => decode_fs(bytes, kind, &header, &mut truncated, &mut unreadable)?,
    };
    Ok(Event {
        boot_ns: header.boot_ns,
        task: Task {
            pid: header.tgid,
            tid: header.tid,
            ppid: header.ppid,
            uid: header.uid,
            gid: header.gid,
            comm: text(until_nul(&header.comm)),
            cgroup_id: header.cgroup_id,
            start_ns: header.start_ns,
            exec_seq: header.exec_seq,
        },
        truncated,
        unreadable,
        body,
    })
}

/// `bytes` if it holds a whole `T`, else the error for a short `kind` record.
fn check_len<T>(bytes: &[u8], kind: EventKind) -> Result<&[u8], DecodeError> {
    if bytes.len() < size_of::<T>() {
        return Err(DecodeError::ShortRecord {
            kind,
            len: bytes.len(),
            need: size_of::<T>(),
        });
    }
    Ok(bytes)
}

fn decode_exec(
    bytes: &[u8],
    header: &EventHeader,
    truncated: &mut Vec<&'static str>,
    unreadable: &mut Vec<&'static str>,
) -> Result<Body, DecodeError> {
    let raw: ExecEvent = read(check_len::<ExecEvent>(bytes, EventKind::Exec)?);
    let filename_len = raw.filename_len as usize;
    if filename_len > FILENAME_LEN {
        return Err(DecodeError::BadLength {
            field: fields::PROC_EXEPATH,
            len: filename_len,
            cap: FILENAME_LEN,
        });
    }
    let args_len = raw.args_len as usize;
    if args_len > ARGS_LEN {
        return Err(DecodeError::BadLength {
            field: fields::PROC_ARGV,
            len: args_len,
            cap: ARGS_LEN,
        });
    }
    if header.flags & flags::FILENAME_TRUNCATED != 0 {
        truncated.push(fields::PROC_EXEPATH);
    }
    if header.flags & flags::ARGS_TRUNCATED != 0 {
        truncated.push(fields::PROC_ARGV);
    }
    if header.flags & flags::ARGS_UNREADABLE != 0 {
        unreadable.push(fields::PROC_ARGV);
    }
    Ok(Body::Exec(Exec {
        via_execveat: header.flags & flags::VIA_EXECVEAT != 0,
        exepath_as_given: header.flags & flags::EXEPATH_AS_GIVEN != 0,
        exe_unlinked: header.flags & flags::EXE_UNLINKED != 0,
        exe_from_memfd: header.flags & flags::EXE_FROM_MEMFD != 0,
        exepath: text(until_nul(&raw.filename[..filename_len])),
        argv: split_args(&raw.args[..args_len]),
        loginuid: (raw.loginuid != u32::MAX).then_some(raw.loginuid),
        tty: raw.tty,
        vpid: raw.vpid,
        facts: exec_facts(&raw, header.flags, unreadable),
    }))
}

/// The stdio, capability, session and change-time facts of an exec record;
/// each one the kernel could not read is `None` (or `unknown`) and listed.
fn exec_facts(raw: &ExecEvent, flag_bits: u32, unreadable: &mut Vec<&'static str>) -> Facts {
    let caps = if flag_bits & flags::CAPS_UNREADABLE != 0 {
        unreadable.extend([
            fields::THREAD_CAP_EFFECTIVE,
            fields::THREAD_CAP_PERMITTED,
            fields::THREAD_CAP_INHERITABLE,
        ]);
        None
    } else {
        Some(Caps {
            effective: raw.cap_effective,
            permitted: raw.cap_permitted,
            inheritable: raw.cap_inheritable,
        })
    };
    let sid = if flag_bits & flags::SID_UNREADABLE != 0 {
        unreadable.push(fields::PROC_SID);
        None
    } else {
        Some(raw.sid)
    };
    let exe_ctime_ns = if flag_bits & flags::EXE_CTIME_UNREADABLE != 0 {
        None
    } else {
        facts::epoch_ns(raw.exe_ctime_sec, raw.exe_ctime_nsec)
    };
    if exe_ctime_ns.is_none() {
        unreadable.push(fields::PROC_IS_EXE_CHANGED);
    }
    let stdio = raw.stdio.map(|file| FdType::from_kernel(&file));
    for (fd, name) in [
        fields::PROC_STDIN_TYPE,
        fields::PROC_STDOUT_TYPE,
        fields::PROC_STDERR_TYPE,
    ]
    .into_iter()
    .enumerate()
    {
        if raw.stdio[fd].state == stdio_state::UNREAD {
            unreadable.push(name);
        }
    }
    Facts {
        stdio,
        caps,
        sid,
        exe_ctime_ns,
    }
}

/// Lists `fd.name` as cut or unreadable when the kernel flagged its path so.
fn path_flags(
    header: &EventHeader,
    truncated: &mut Vec<&'static str>,
    unreadable: &mut Vec<&'static str>,
) {
    if header.flags & flags::PATH_TRUNCATED != 0 {
        truncated.push(fields::FD_NAME);
    }
    if header.flags & flags::PATH_INCOMPLETE != 0 {
        unreadable.push(fields::FD_NAME);
    }
}

fn decode_open(
    bytes: &[u8],
    header: &EventHeader,
    truncated: &mut Vec<&'static str>,
    unreadable: &mut Vec<&'static str>,
) -> Result<Body, DecodeError> {
    let raw: FileEvent = read(check_len::<FileEvent>(bytes, EventKind::Open)?);
    let path_len = raw.path_len as usize;
    let path = &bytes[size_of::<FileEvent>()..];
    if path_len > PATH_MAX || path_len > path.len() {
        return Err(DecodeError::BadLength {
            field: fields::FD_NAME,
            len: path_len,
            cap: path.len().min(PATH_MAX),
        });
    }
    let syscall = OpenSyscall::from_raw(raw.syscall).ok_or(DecodeError::UnknownValue {
        field: "syscall",
        value: raw.syscall,
    })?;
    let source = match raw.path_source {
        path_source::OPENED => PathSource::Opened,
        path_source::AS_GIVEN => PathSource::AsGiven,
        value => {
            return Err(DecodeError::UnknownValue {
                field: "path_source",
                value,
            });
        }
    };
    path_flags(header, truncated, unreadable);
    Ok(Body::Open(Open {
        syscall,
        path: text(until_nul(&path[..path_len])),
        source,
        result: raw.result,
        flags: raw.flags,
        mode: raw.mode,
        inode_mode: raw.inode_mode,
    }))
}

fn decode_net(bytes: &[u8], kind: EventKind, op: NetOp) -> Result<Body, DecodeError> {
    let raw: NetEvent = read(check_len::<NetEvent>(bytes, kind)?);
    let bad_family = DecodeError::UnknownValue {
        field: "family",
        value: u32::from(raw.family),
    };
    let local = endpoint(raw.family, raw.local_addr, raw.local_port).ok_or(bad_family.clone())?;
    let remote = endpoint(raw.family, raw.remote_addr, raw.remote_port).ok_or(bad_family)?;
    Ok(Body::Net(Net {
        op,
        protocol: raw.protocol,
        local,
        remote,
        result: raw.result,
    }))
}

fn decode_fs(
    bytes: &[u8],
    kind: EventKind,
    header: &EventHeader,
    truncated: &mut Vec<&'static str>,
    unreadable: &mut Vec<&'static str>,
) -> Result<Body, DecodeError> {
    let raw: FsEvent = read(check_len::<FsEvent>(bytes, kind)?);
    let syscall = FsSyscall::from_raw(raw.op).ok_or(DecodeError::UnknownValue {
        field: "op",
        value: raw.op,
    })?;
    let paths = &bytes[size_of::<FsEvent>()..];
    let (len, len2, len3) = (
        raw.path_len as usize,
        raw.path2_len as usize,
        raw.fstype_len as usize,
    );
    if len > PATH_MAX || len2 > PATH_MAX || len3 > FSTYPE_MAX || len + len2 + len3 > paths.len() {
        return Err(DecodeError::BadLength {
            field: fields::FD_NAME,
            len: len + len2 + len3,
            cap: paths.len(),
        });
    }
    path_flags(header, truncated, unreadable);
    Ok(Body::Fs(FsCall {
        syscall,
        path: text(until_nul(&paths[..len])),
        path2: text(until_nul(&paths[len..len + len2])),
        fstype: text(until_nul(&paths[len + len2..len + len2 + len3])),
        mode: raw.mode,
        flags: raw.flags,
        result: raw.result,
    }))
}

fn decode_syscall(bytes: &[u8], kind: EventKind) -> Result<Body, DecodeError> {
    let raw: SyscallEvent = read(check_len::<SyscallEvent>(bytes, kind)?);
    let syscall = PrivSyscall::from_raw(raw.syscall).ok_or(DecodeError::UnknownValue {
        field: "syscall",
        value: raw.syscall,
    })?;
    let name_len = raw.name_len as usize;
    if name_len > SYSCALL_NAME_LEN {
        return Err(DecodeError::BadLength {
            field: fields::EVT_ARG_NAME,
            len: name_len,
            cap: SYSCALL_NAME_LEN,
        });
    }
    Ok(Body::Priv(PrivCall {
        syscall,
        result: raw.result,
        args: raw.args,
        name: text(until_nul(&raw.name[..name_len])),
    }))
}

/// Splits a NUL-separated argument block. The last argument may lack its NUL when
/// the block was cut; an empty argument in the middle is kept (`printf ''` is real).
fn split_args(block: &[u8]) -> Vec<String> {
    let block = block.strip_suffix(&[0]).unwrap_or(block);
    if block.is_empty() {
        return Vec::new();
    }
    block.split(|&b| b == 0).map(text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sensor_common::event::StdioFile;

    fn header(kind: u32, flags: u32) -> EventHeader {
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"bash");
        EventHeader {
            kind,
            flags,
            boot_ns: 42,
            cgroup_id: 7,
            tgid: 100,
            tid: 101,
            ppid: 1,
            uid: 1000,
            gid: 1001,
            exec_seq: 3,
            comm,
            start_ns: 40,
        }
    }

    fn exec_bytes(flags: u32, filename: &[u8], args: &[u8]) -> Vec<u8> {
        let mut event = ExecEvent {
            header: header(EventKind::Exec as u32, flags),
            filename_len: filename.len() as u32,
            args_len: args.len() as u32,
            loginuid: u32::MAX,
            tty: 0x8801,
            vpid: 1,
            sid: 77,
            cap_effective: 1 << 21,
            cap_permitted: 1 << 21 | 1,
            cap_inheritable: 0,
            exe_ctime_sec: 1_700_000_000,
            exe_ctime_nsec: 5,
            _pad: 0,
            stdio: [
                StdioFile {
                    state: stdio_state::OPEN,
                    mode: 0o140_777,
                    family: 2,
                    ..StdioFile::default()
                },
                StdioFile {
                    state: stdio_state::OPEN,
                    mode: 0o010_600,
                    ..StdioFile::default()
                },
                StdioFile {
                    state: stdio_state::CLOSED,
                    ..StdioFile::default()
                },
            ],
            filename: [0; FILENAME_LEN],
            args: [0; ARGS_LEN],
        };
        event.filename[..filename.len()].copy_from_slice(filename);
        event.args[..args.len()].copy_from_slice(args);
        as_bytes(&event)
    }

    fn as_bytes<T>(value: &T) -> Vec<u8> {
        // SAFETY: test values are repr(C) and fully initialised.
        unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
            .to_vec()
    }

    #[test]
    fn decodes_an_exec() {
        let bytes = exec_bytes(0, b"/bin/ls", b"ls\0-l\0\0/tmp\0");
        let event = decode(&bytes).expect("valid record");
        assert_eq!(event.task.comm, "bash");
        assert_eq!(event.task.pid, 100);
        assert_eq!(event.task.ppid, 1);
        assert_eq!(event.evt_type(), "execve");
        let Body::Exec(exec) = event.body else {
            panic!("an exec body")
        };
        assert_eq!(exec.exepath, "/bin/ls");
        assert_eq!(exec.argv, ["ls", "-l", "", "/tmp"]);
        assert_eq!((exec.loginuid, exec.tty), (None, 0x8801));
        assert_eq!((event.task.start_ns, event.task.exec_seq), (40, 3));
        assert!(event.truncated.is_empty() && event.unreadable.is_empty());
        let f = exec.facts;
        assert_eq!(f.stdio, [FdType::Ipv4, FdType::Pipe, FdType::NotOpen]);
        assert_eq!(f.sid, Some(77));
        assert_eq!(f.caps.map(|c| c.permitted), Some(1 << 21 | 1));
        assert_eq!(f.exe_ctime_ns, Some(1_700_000_000_000_000_005));
    }

    #[test]
    fn unreadable_exec_facts_are_none_and_listed() {
        let bits = flags::CAPS_UNREADABLE | flags::SID_UNREADABLE | flags::EXE_CTIME_UNREADABLE;
        let mut bytes = exec_bytes(bits, b"/bin/ls", b"ls\0");
        // The state of stdout: unread.
        let stdout_at = size_of::<EventHeader>() + 24 + 40 + 16;
        bytes[stdout_at..stdout_at + 2].copy_from_slice(&stdio_state::UNREAD.to_ne_bytes());
        let event = decode(&bytes).expect("valid record");
        let Body::Exec(exec) = event.body else {
            panic!("an exec body")
        };
        let f = exec.facts;
        assert_eq!((f.caps, f.sid, f.exe_ctime_ns), (None, None, None));
        assert_eq!(f.stdio[1], FdType::Unknown);
        for field in [
            fields::THREAD_CAP_EFFECTIVE,
            fields::PROC_SID,
            fields::PROC_IS_EXE_CHANGED,
            fields::PROC_STDOUT_TYPE,
        ] {
            assert!(event.unreadable.contains(&field), "{field}");
        }
        assert!(!event.unreadable.contains(&fields::PROC_STDIN_TYPE));
        // A nanosecond part past a second is not a time.
        let mut bytes = exec_bytes(0, b"/bin/ls", b"ls\0");
        let nsec_at = size_of::<EventHeader>() + 24 + 32;
        bytes[nsec_at..nsec_at + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        let event = decode(&bytes).expect("valid record");
        let Body::Exec(exec) = event.body else {
            panic!("an exec body")
        };
        assert_eq!(exec.facts.exe_ctime_ns, None);
    }

    #[test]
    fn short_buffers_are_errors() {
        let bytes = exec_bytes(0, b"/bin/ls", b"ls\0");
        for len in [0, 1, size_of::<EventHeader>() - 1] {
            assert!(matches!(
                decode(&bytes[..len]),
                Err(DecodeError::ShortHeader { .. })
            ));
        }
        for len in [size_of::<EventHeader>(), bytes.len() - 1] {
            assert!(matches!(
                decode(&bytes[..len]),
                Err(DecodeError::ShortRecord { .. })
            ));
        }
    }

    #[test]
    fn unknown_kinds_are_errors() {
        for kind in [0, EventKind::MAX + 1, 999, u32::MAX] {
            let bytes = as_bytes(&header(kind, 0));
            assert_eq!(decode(&bytes), Err(DecodeError::UnknownKind { kind }));
        }
    }

    #[test]
    fn lengths_beyond_buffers_are_errors() {
        let mut bytes = exec_bytes(0, b"/bin/ls", b"ls\0");
        let filename_len_at = size_of::<EventHeader>();
        bytes[filename_len_at..filename_len_at + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(matches!(decode(&bytes), Err(DecodeError::BadLength { .. })));
        let mut bytes = exec_bytes(0, b"/bin/ls", b"ls\0");
        bytes[filename_len_at + 4..filename_len_at + 8]
            .copy_from_slice(&(ARGS_LEN as u32 + 1).to_ne_bytes());
        assert!(matches!(decode(&bytes), Err(DecodeError::BadLength { .. })));
    }

    #[test]
    fn truncation_and_unreadable_fields_are_reported() {
        let full = vec![b'a'; ARGS_LEN];
        let bytes = exec_bytes(
            flags::ARGS_TRUNCATED | flags::FILENAME_TRUNCATED,
            b"/x",
            &full,
        );
        let event = decode(&bytes).expect("valid record");
        assert_eq!(event.truncated, [fields::PROC_EXEPATH, fields::PROC_ARGV]);
        let Body::Exec(exec) = event.body else {
            panic!("an exec body")
        };
        assert_eq!(exec.argv, [String::from_utf8(full).expect("ascii")]);

        let bytes = exec_bytes(flags::ARGS_UNREADABLE | flags::PPID_UNREADABLE, b"/x", b"");
        let event = decode(&bytes).expect("valid record");
        assert_eq!(event.unreadable, [fields::PROC_PPID, fields::PROC_ARGV]);
        let Body::Exec(exec) = event.body else {
            panic!("an exec body")
        };
        assert!(exec.argv.is_empty());
    }

    #[test]
    fn fork_and_exit_records_decode() {
        let fork = as_bytes(&header(EventKind::Fork as u32, 0));
        assert_eq!(decode(&fork).expect("valid").body, Body::Fork);
        let exit = ExitEvent {
            header: header(EventKind::Exit as u32, 0),
            exit_code: 2 << 8,
            _pad: 0,
        };
        let bytes = as_bytes(&exit);
        let event = decode(&bytes).expect("valid");
        assert_eq!(event.body, Body::Exit(Exit { status: 512 }));
        assert_eq!(event.evt_type(), "procexit");
        assert!(matches!(
            decode(&bytes[..bytes.len() - 1]),
            Err(DecodeError::ShortRecord {
                kind: EventKind::Exit,
                ..
            })
        ));
    }

    #[test]
    fn net_records_decode_and_bad_families_are_errors() {
        let mut raw = NetEvent {
            header: header(EventKind::Connect as u32, 0),
            result: -111,
            family: 2,
            protocol: 6,
            local_port: 40000,
            remote_port: 80,
            local_addr: [0; 16],
            remote_addr: [0; 16],
        };
        raw.remote_addr[..4].copy_from_slice(&[127, 0, 0, 1]);
        let event = decode(&as_bytes(&raw)).expect("valid");
        assert_eq!(event.evt_type(), "connect");
        let Body::Net(net) = event.body else {
            panic!("a net body")
        };
        assert_eq!(net.remote.to_string(), "127.0.0.1:80");
        assert_eq!(net.result, -111);
        raw.family = 1;
        assert!(matches!(
            decode(&as_bytes(&raw)),
            Err(DecodeError::UnknownValue {
                field: "family",
                ..
            })
        ));
    }

    #[test]
    fn hostile_strings_decode() {
        let bytes = exec_bytes(flags::VIA_EXECVEAT, b"/tmp/\xff\xfe\nx", b"a\nb\0\xc3\0");
        let event = decode(&bytes).expect("valid record");
        assert_eq!(event.evt_type(), "execveat");
        let Body::Exec(exec) = event.body else {
            panic!("an exec body")
        };
        assert_eq!(exec.exepath, "/tmp/\u{fffd}\u{fffd}\nx");
        assert_eq!(exec.argv, ["a\nb", "\u{fffd}"]);
    }

    #[test]
    fn every_prefix_and_garbage_is_handled_without_panic() {
        let bytes = exec_bytes(0, b"/bin/ls", b"ls\0");
        for len in 0..bytes.len() {
            let _ = decode(&bytes[..len]);
        }
        // A cheap deterministic pseudo-random fill: no panic whatever the bytes.
        let mut state = 0x9e37_79b9_u32;
        let mut garbage = vec![0u8; size_of::<ExecEvent>() + 3];
        for _ in 0..200 {
            for b in &mut garbage {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                *b = state as u8;
            }
            garbage[..4].copy_from_slice(&(EventKind::Exec as u32).to_ne_bytes());
            let _ = decode(&garbage);
        }
    }
}
