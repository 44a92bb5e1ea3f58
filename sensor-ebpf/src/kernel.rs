//! Reads of kernel structs at offsets the agent took from BTF.

use aya_ebpf::helpers::{bpf_get_current_task, bpf_probe_read_kernel};

use crate::maps;

/// Reads a `T` at `base + offset` in kernel memory.
#[inline(always)]
pub fn read_at<T>(base: u64, offset: u32) -> Result<T, i32> {
    if base == 0 {
        return Err(-1);
    }
    // SAFETY: bpf_probe_read_kernel checks the address; a bad one returns an error.
    unsafe { bpf_probe_read_kernel((base + offset as u64) as *const T) }
}

/// The current task's `struct task_struct *`.
#[inline(always)]
pub fn current_task() -> u64 {
    // SAFETY: the helper has no preconditions.
    unsafe { bpf_get_current_task() }
}

/// `current->real_parent->tgid`.
#[inline(always)]
pub fn parent_tgid(task: u64) -> Result<u32, i32> {
    let offsets = maps::offsets();
    let parent: u64 = read_at(task, offsets.task_real_parent)?;
    let tgid: i32 = read_at(parent, offsets.task_tgid)?;
    Ok(tgid as u32)
}
