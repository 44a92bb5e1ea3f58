//! Types shared by the kernel programs (`sensor-ebpf`) and the agent (`sensor`).
//!
//! Everything here crosses the kernel/user boundary as raw bytes, so every type is
//! `#[repr(C)]`, has explicit padding, holds no `bool` and has its size asserted at
//! compile time. The kernel side writes these structs into the ring buffer; the agent
//! decodes them with length and tag checks (see `sensor::event::decode`), never by
//! transmuting unchecked bytes.
#![no_std]

pub mod counters;
pub mod event;
pub mod filters;
pub mod offsets;

pub use counters::{COUNTER_SLOTS, DropReason};
pub use event::{
    EventHeader, EventKind, ExecEvent, ExitEvent, FileEvent, FsEvent, NetEvent, SyscallEvent,
};
pub use offsets::KernelOffsets;
