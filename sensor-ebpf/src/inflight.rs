//! Per-thread values kept from a syscall's entry (or a hook inside it) to its exit.
//!
//! A thread's entry stays in its map between calls, disarmed, and the next call
//! overwrites it in place: a map insert (allocating an element, LRU bookkeeping)
//! and a delete cost several lookups each, and a thread that makes a syscall
//! once tends to make it again. The maps are LRU, so the entries of threads that
//! have gone are evicted when room is needed.

use aya_ebpf::{helpers::bpf_get_current_pid_tgid, maps::LruHashMap};

/// A kept value and whether it waits for its syscall's exit.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Slot<V> {
    armed: u32,
    _pad: u32,
    value: V,
}

/// The current thread's id: the key of the in-flight maps.
#[inline(always)]
pub fn tid() -> u32 {
    bpf_get_current_pid_tgid() as u32
}

/// Keeps `value` for the current thread until its syscall exits.
#[inline(always)]
pub fn keep<V: Copy>(map: &LruHashMap<u32, Slot<V>>, value: V) {
    let tid = tid();
    if let Some(slot) = map.get_ptr_mut(tid) {
        // SAFETY: a valid map value; only this thread uses its own entry.
        unsafe {
            (*slot).value = value;
            (*slot).armed = 1;
        }
        return;
    }
    let slot = Slot {
        armed: 1,
        _pad: 0,
        value,
    };
    // A full LRU map evicts its oldest entry; the insert itself cannot fail for room.
    let _ = map.insert(tid, slot, 0);
}

/// Takes the value the current thread kept at its syscall's entry; `None` if
/// none waits (the entry came before the programs were attached, or was
/// evicted). The entry stays, disarmed, for the thread's next call.
#[inline(always)]
pub fn take<V: Copy>(map: &LruHashMap<u32, Slot<V>>) -> Option<V> {
    let slot = map.get_ptr_mut(tid())?;
    // SAFETY: a valid map value; only this thread uses its own entry.
    unsafe {
        if (*slot).armed == 0 {
            return None;
        }
        (*slot).armed = 0;
        Some((*slot).value)
    }
}
