//! Privilege changes and tampering: set*id, capset, ptrace, module loads, bpf(2),
//! memfd_create and io_uring_setup. Each is a syscall whose entry tracepoint keeps
//! its arguments and whose exit tracepoint writes one [`SyscallEvent`] with the
//! result.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user, generated::bpf_probe_read_user_str},
    macros::{map, tracepoint},
    maps::LruHashMap,
    programs::TracePointContext,
};
use sensor_common::{
    DropReason, EventKind, SyscallEvent,
    event::{SYSCALL_NAME_LEN, syscall_id as id},
};

use crate::{
    emit::{count, enabled, fill_header, submit_flags},
    inflight::{self, Slot},
    kernel::Current,
    maps::{self, EVENTS},
};

/// A syscall in flight, between its entry and exit.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Pending {
    syscall: u32,
    _pad: u32,
    args: [u64; 4],
}

/// Syscalls in flight, by thread id. LRU so a missed exit can never fill it.
#[map]
static PENDING: LruHashMap<u32, Slot<Pending>> = LruHashMap::with_max_entries(4096, 0);

/// The event kind a syscall reports as.
#[inline(always)]
fn kind_of(syscall: u32) -> EventKind {
    match syscall {
        id::CAPSET => EventKind::Capset,
        id::PTRACE => EventKind::Ptrace,
        id::INIT_MODULE | id::FINIT_MODULE => EventKind::Module,
        id::BPF => EventKind::Bpf,
        id::MEMFD_CREATE => EventKind::Memfd,
        id::IO_URING_SETUP => EventKind::IoUring,
        _ => EventKind::SetId,
    }
}

#[inline(always)]
fn enter(ctx: &TracePointContext, syscall: u32, nargs: usize) -> u32 {
    let kind = kind_of(syscall);
    if !enabled(kind) {
        return 0;
    }
    if kind == EventKind::Bpf && (bpf_get_current_pid_tgid() >> 32) as u32 == maps::self_tgid() {
        // The agent's own map reads would report themselves every second.
        return 0;
    }
    let mut args = [0u64; 4];
    for (i, arg) in args.iter_mut().enumerate().take(nargs) {
        // SAFETY: syscall records hold their arguments in 8-byte slots from offset
        // 16; only the syscall's own `nargs` slots are read.
        *arg = unsafe { ctx.read_at::<u64>(16 + 8 * i) }.unwrap_or(0);
    }
    let pending = Pending {
        syscall,
        _pad: 0,
        args,
    };
    inflight::keep(&PENDING, pending);
    0
}

#[inline(always)]
fn exit(ctx: &TracePointContext) -> u32 {
    let Some(pending) = inflight::take(&PENDING) else {
        return 0;
    };
    let kind = kind_of(pending.syscall);
    let Some(mut entry) = EVENTS.reserve::<SyscallEvent>(0) else {
        count(kind, DropReason::RingFull);
        return 1;
    };
    // SAFETY: the reservation is sized for a SyscallEvent, written in full below.
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, kind, Current::get());
    // SAFETY: `ret` sits at offset 16 of every syscall exit record.
    event.result = unsafe { ctx.read_at::<i64>(16) }.unwrap_or(0);
    event.syscall = pending.syscall;
    event.args = pending.args;
    event.name_len = 0;
    event.name = [0; SYSCALL_NAME_LEN];
    match pending.syscall {
        id::MEMFD_CREATE => read_name(event, pending.args[0]),
        id::CAPSET => read_caps(event, pending.args),
        _ => {}
    }
    entry.submit(submit_flags::<SyscallEvent>());
    0
}

/// memfd_create's name, from the caller's memory.
#[inline(always)]
fn read_name(event: &mut SyscallEvent, ptr: u64) {
    // SAFETY: the helper checks the user address and bounds the copy.
    let n = unsafe {
        bpf_probe_read_user_str(
            event.name.as_mut_ptr().cast(),
            SYSCALL_NAME_LEN as u32,
            ptr as *const core::ffi::c_void,
        )
    };
    if n > 0 {
        event.name_len = (n as u32).saturating_sub(1);
    } else {
        count(EventKind::Memfd, DropReason::ReadFailed);
    }
}

/// capset's header version and the three capability sets, 64 bits each (the
/// caller's `__user_cap_data_struct[2]`: low words first).
#[inline(always)]
fn read_caps(event: &mut SyscallEvent, args: [u64; 4]) {
    // SAFETY: the helper checks the user addresses.
    let version = unsafe { bpf_probe_read_user(args[0] as *const u32) }.unwrap_or(0);
    // SAFETY: as above.
    let data = unsafe { bpf_probe_read_user(args[1] as *const [u32; 6]) };
    let Ok(d) = data else {
        count(EventKind::Capset, DropReason::ReadFailed);
        return;
    };
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    event.args = [
        u64::from(version),
        join(d[0], d[3]),
        join(d[1], d[4]),
        join(d[2], d[5]),
    ];
}

/// The exit of every syscall here (`syscalls:sys_exit_setuid`, ...): one program
/// attached to them all; the entry told which syscall it was.
#[tracepoint]
pub fn sys_exit_priv(ctx: TracePointContext) -> u32 {
    exit(&ctx)
}

/// One entry program per syscall, attached by user space to the tracepoint of its
/// own name.
macro_rules! entry_programs {
    ($($enter:ident, $id:expr, $nargs:literal;)*) => {$(
        #[doc = concat!("`syscalls:", stringify!($enter), "`; its exit is `sys_exit_priv`.")]
        #[tracepoint]
        pub fn $enter(ctx: TracePointContext) -> u32 {
            enter(&ctx, $id, $nargs)
        }
    )*};
}

entry_programs! {
    sys_enter_setuid, id::SETUID, 1;
    sys_enter_setgid, id::SETGID, 1;
    sys_enter_setreuid, id::SETREUID, 2;
    sys_enter_setregid, id::SETREGID, 2;
    sys_enter_setresuid, id::SETRESUID, 3;
    sys_enter_setresgid, id::SETRESGID, 3;
    sys_enter_setfsuid, id::SETFSUID, 1;
    sys_enter_setfsgid, id::SETFSGID, 1;
    sys_enter_capset, id::CAPSET, 2;
    sys_enter_ptrace, id::PTRACE, 4;
    sys_enter_init_module, id::INIT_MODULE, 3;
    sys_enter_finit_module, id::FINIT_MODULE, 3;
    sys_enter_bpf, id::BPF, 3;
    sys_enter_memfd_create, id::MEMFD_CREATE, 2;
    sys_enter_io_uring_setup, id::IO_URING_SETUP, 2;
}
