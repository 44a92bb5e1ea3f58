//! connect(2), bind(2), accept(2)/accept4(2) and listen(2).

use aya_ebpf::{
    macros::{cgroup_sock_addr, map, tracepoint},
    maps::{LruHashMap, lpm_trie::Key},
    programs::{SockAddrContext, TracePointContext},
};
use sensor_common::{DropReason, EventKind, NetEvent, filters::settings};

use super::socket::{fill_from_fd, fill_from_sock, sock_of_fd};
use crate::{
    emit::{count, enabled, fill_header, submit_flags},
    inflight::{self, Slot},
    kernel::{Current, syscall_args},
    maps::{self, EVENTS, NET_ADDRS, NET_PORTS},
};

/// Tracepoint record offsets: the first argument, and `ret` on exit.
const ARG0: usize = 16;

/// A connect or bind in flight: what its cgroup hook saw, for the syscall's exit.
/// The hook runs only for IPv4 and IPv6 sockets; other connects leave none.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Pending {
    /// The kernel's `struct sock *` the hook ran for. The exit reports the
    /// entry only for the socket behind its own fd: a hook run outside the
    /// syscall (an io_uring connect, say) leaves an entry for another socket.
    sk: u64,
    family: u16,
    protocol: u16,
    port: u16,
    _pad: u16,
    addr: [u8; 16],
}

/// Connects in flight, by thread id. LRU so a missed exit can never fill it.
#[map]
static CONNECTS: LruHashMap<u32, Slot<Pending>> = LruHashMap::with_max_entries(8192, 0);

/// Binds in flight, by thread id.
#[map]
static BINDS: LruHashMap<u32, Slot<Pending>> = LruHashMap::with_max_entries(4096, 0);

/// Listens in flight, by thread id: the socket fd.
#[map]
static LISTENS: LruHashMap<u32, Slot<i64>> = LruHashMap::with_max_entries(1024, 0);

/// Keeps the address the kernel is about to connect or bind to, and its socket,
/// until the syscall's exit. No entry program is needed: the exit reads the fd
/// from the saved registers.
#[inline(always)]
fn note_address(
    ctx: &SockAddrContext,
    kind: EventKind,
    v6: bool,
    map: &LruHashMap<u32, Slot<Pending>>,
) {
    if !enabled(kind) {
        return;
    }
    // SAFETY: the context points at the kernel's bpf_sock_addr for this call.
    let sa = unsafe { &*ctx.sock_addr };
    // SAFETY: `sk` is the union's only pointer member, always set for this hook.
    let sk = unsafe { sa.__bindgen_anon_1.sk } as u64;
    let mut pending = Pending {
        sk,
        family: 2,
        protocol: sa.protocol as u16,
        port: u16::from_be(sa.user_port as u16),
        _pad: 0,
        addr: [0; 16],
    };
    if v6 {
        pending.family = 10;
        for (i, word) in sa.user_ip6.iter().enumerate() {
            pending.addr[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
        }
    } else {
        pending.addr[..4].copy_from_slice(&sa.user_ip4.to_ne_bytes());
    }
    inflight::keep(map, pending);
}

/// cgroup `connect4`: sees the IPv4 destination; always lets the connect through.
#[cgroup_sock_addr(connect4)]
pub fn connect4(ctx: SockAddrContext) -> i32 {
    note_address(&ctx, EventKind::Connect, false, &CONNECTS);
    1
}

/// cgroup `bind4`: sees the IPv4 address asked for; always lets the bind through.
#[cgroup_sock_addr(bind4)]
pub fn bind4(ctx: SockAddrContext) -> i32 {
    note_address(&ctx, EventKind::Bind, false, &BINDS);
    1
}

/// cgroup `bind6`: sees the IPv6 address asked for; always lets the bind through.
#[cgroup_sock_addr(bind6)]
pub fn bind6(ctx: SockAddrContext) -> i32 {
    note_address(&ctx, EventKind::Bind, true, &BINDS);
    1
}

/// cgroup `connect6`: sees the IPv6 destination; always lets the connect through.
#[cgroup_sock_addr(connect6)]
pub fn connect6(ctx: SockAddrContext) -> i32 {
    note_address(&ctx, EventKind::Connect, true, &CONNECTS);
    1
}

/// `syscalls:sys_exit_connect(long ret)`.
#[tracepoint(category = "syscalls", name = "sys_exit_connect")]
pub fn sys_exit_connect(ctx: TracePointContext) -> u32 {
    finish(&ctx, EventKind::Connect, &CONNECTS)
}

/// `syscalls:sys_exit_bind(long ret)`.
#[tracepoint(category = "syscalls", name = "sys_exit_bind")]
pub fn sys_exit_bind(ctx: TracePointContext) -> u32 {
    finish(&ctx, EventKind::Bind, &BINDS)
}

/// Writes the event of a connect or bind whose cgroup hook saw an address.
#[inline(always)]
fn finish(ctx: &TracePointContext, kind: EventKind, map: &LruHashMap<u32, Slot<Pending>>) -> u32 {
    let Some(pending) = inflight::take(map) else {
        return 0;
    };
    if !wanted(pending.port, pending.family, &pending.addr) {
        count(kind, DropReason::Filtered);
        return 0;
    }
    // SAFETY: offset inside the syscall record, checked at load.
    let ret: i64 = unsafe { ctx.read_at(ARG0) }.unwrap_or(0);
    let task = Current::get();
    let fd = syscall_args(task.regs())[0] as i64;
    let Some(mut entry) = EVENTS.reserve::<NetEvent>(0) else {
        count(kind, DropReason::RingFull);
        return 1;
    };
    // SAFETY: the reservation is sized for a NetEvent, written in full below.
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, kind, task);
    event.result = ret;
    event.local_port = 0;
    event.local_addr = [0; 16];
    event.remote_port = 0;
    event.remote_addr = [0; 16];
    // What the socket holds now: the local side the kernel bound (also the port
    // it picked for a bind to port 0).
    match sock_of_fd(task, fd) {
        Ok(sk) if sk != pending.sk => {
            // The hook's entry was for another socket: this call never reached it.
            entry.discard(0);
            return 0;
        }
        Ok(sk) => {
            let _ = fill_from_sock(sk, event);
        }
        // The fd is gone already (closed by another thread): report what the
        // hook saw.
        Err(_) => count(kind, DropReason::ReadFailed),
    }
    event.family = pending.family;
    event.protocol = pending.protocol;
    if kind == EventKind::Connect {
        // The destination stays the one asked for, even if the connect failed.
        event.remote_port = pending.port;
        event.remote_addr = pending.addr;
    } else {
        event.remote_port = 0;
        event.remote_addr = [0; 16];
        if ret != 0 || event.local_port == 0 {
            event.local_port = pending.port;
            event.local_addr = pending.addr;
        }
    }
    entry.submit(submit_flags::<NetEvent>());
    0
}

/// Whether the agent's port and address filters let a network event on this
/// port and address through. Addresses are matched as IPv6, IPv4 ones mapped
/// (`::ffff:a.b.c.d`), so one trie holds both.
#[inline(always)]
fn wanted(port: u16, family: u16, addr: &[u8; 16]) -> bool {
    if maps::setting(settings::NET_PORT_FILTER) != 0 && NET_PORTS.get_ptr(port).is_none() {
        return false;
    }
    if maps::setting(settings::NET_ADDR_FILTER) == 0 {
        return true;
    }
    let mut data = [0u8; 16];
    if family == 2 {
        data[10] = 0xff;
        data[11] = 0xff;
        data[12..].copy_from_slice(&addr[..4]);
    } else {
        data = *addr;
    }
    NET_ADDRS.get(Key::new(128, data)).is_some()
}

/// Writes an accept or listen event for the socket behind `fd`.
#[inline(always)]
fn emit_socket(kind: EventKind, fd: i64, ret: i64) -> u32 {
    let Some(mut entry) = EVENTS.reserve::<NetEvent>(0) else {
        count(kind, DropReason::RingFull);
        return 1;
    };
    // SAFETY: the reservation is sized for a NetEvent, written in full below.
    let event = unsafe { &mut *entry.as_mut_ptr() };
    let task = Current::get();
    fill_header(&mut event.header, kind, task);
    event.result = ret;
    event.local_addr = [0; 16];
    event.remote_addr = [0; 16];
    event.local_port = 0;
    event.remote_port = 0;
    if fill_from_fd(task, fd, event).is_err() {
        // Not an IPv4/IPv6 socket: not a network event.
        entry.discard(0);
        return 0;
    }
    // The port of interest of an accepted or listening socket is its own; the
    // address, an accepted connection's peer or a listener's own.
    let addr = if kind == EventKind::Accept {
        event.remote_addr
    } else {
        event.local_addr
    };
    if !wanted(event.local_port, event.family, &addr) {
        entry.discard(0);
        count(kind, DropReason::Filtered);
        return 0;
    }
    entry.submit(submit_flags::<NetEvent>());
    0
}

/// `syscalls:sys_exit_accept4(long ret)`: the new connection's socket.
#[tracepoint(category = "syscalls", name = "sys_exit_accept4")]
pub fn sys_exit_accept4(ctx: TracePointContext) -> u32 {
    exit_accept(&ctx)
}

/// `syscalls:sys_exit_accept(long ret)`.
#[tracepoint(category = "syscalls", name = "sys_exit_accept")]
pub fn sys_exit_accept(ctx: TracePointContext) -> u32 {
    exit_accept(&ctx)
}

#[inline(always)]
fn exit_accept(ctx: &TracePointContext) -> u32 {
    if !enabled(EventKind::Accept) {
        return 0;
    }
    // SAFETY: offset inside the syscall record, checked at load.
    let ret: i64 = unsafe { ctx.read_at(ARG0) }.unwrap_or(-1);
    if ret < 0 {
        // Failed accepts (EAGAIN on a non-blocking listener) are not connections.
        return 0;
    }
    emit_socket(EventKind::Accept, ret, ret)
}

/// `syscalls:sys_enter_listen(int fd, int backlog)`.
#[tracepoint(category = "syscalls", name = "sys_enter_listen")]
pub fn sys_enter_listen(ctx: TracePointContext) -> u32 {
    if !enabled(EventKind::Listen) {
        return 0;
    }
    // SAFETY: offset inside the syscall record, checked at load.
    let fd: u64 = unsafe { ctx.read_at(ARG0) }.unwrap_or(0);
    inflight::keep(&LISTENS, fd as i64);
    0
}

/// `syscalls:sys_exit_listen(long ret)`.
#[tracepoint(category = "syscalls", name = "sys_exit_listen")]
pub fn sys_exit_listen(ctx: TracePointContext) -> u32 {
    let Some(fd) = inflight::take(&LISTENS) else {
        return 0;
    };
    // SAFETY: offset inside the syscall record, checked at load.
    let ret: i64 = unsafe { ctx.read_at(ARG0) }.unwrap_or(0);
    emit_socket(EventKind::Listen, fd, ret)
}
