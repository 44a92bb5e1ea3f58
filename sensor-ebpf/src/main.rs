//! The sensor's kernel programs. Each module holds one hook family; each program is
//! a thin entry point around a `try_` function. Everything they share (maps, the
//! event header, the ring buffer wakeup policy) lives in `maps` and `emit`.
#![no_std]
#![no_main]

mod emit;
mod file;
mod floor;
mod inflight;
mod kernel;
mod maps;
mod net;
mod privilege;
mod process;

/// The kernel lets only GPL-compatible programs call helpers such as
/// `bpf_probe_read_user`.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any program that could reach this, so it is never run.
    loop {}
}
