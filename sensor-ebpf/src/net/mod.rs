//! Network hooks: connect, accept and listen on IPv4 and IPv6 sockets.
//!
//! The address a process connects to comes from the cgroup `connect4`/`connect6`
//! hooks, which see the kernel's own copy of it; the syscall's exit tracepoint adds
//! the result and the local side. Accept and listen read the socket behind the fd.

pub mod connect;
pub mod socket;
