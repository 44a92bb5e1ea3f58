//! Empty programs, for measuring: `cargo xtask bench kernel` attaches them to every
//! hook the sensor uses, to find the cost floor that attaching alone sets. The
//! agent never loads them.

use aya_ebpf::{
    macros::{cgroup_sock_addr, raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, SockAddrContext, TracePointContext},
};

/// Does nothing, on any tracepoint.
#[tracepoint]
pub fn floor_tracepoint(_ctx: TracePointContext) -> u32 {
    0
}

/// Does nothing, on any raw tracepoint.
#[raw_tracepoint]
pub fn floor_raw_tracepoint(_ctx: RawTracePointContext) -> u32 {
    0
}

/// Lets every IPv4 connect through.
#[cgroup_sock_addr(connect4)]
pub fn floor_connect4(_ctx: SockAddrContext) -> i32 {
    1
}

/// Lets every IPv6 connect through.
#[cgroup_sock_addr(connect6)]
pub fn floor_connect6(_ctx: SockAddrContext) -> i32 {
    1
}

/// Lets every IPv4 bind through.
#[cgroup_sock_addr(bind4)]
pub fn floor_bind4(_ctx: SockAddrContext) -> i32 {
    1
}

/// Lets every IPv6 bind through.
#[cgroup_sock_addr(bind6)]
pub fn floor_bind6(_ctx: SockAddrContext) -> i32 {
    1
}
