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

/// The `struct file *` behind file descriptor `fd` of `task`.
#[inline(always)]
pub fn file_of_fd(task: u64, fd: i64) -> Result<u64, i32> {
    let o = maps::offsets();
    let files: u64 = read_at(task, o.task_files)?;
    let fdt: u64 = read_at(files, o.files_fdt)?;
    let max_fds: u32 = read_at(fdt, o.fdt_max_fds)?;
    if fd < 0 || fd >= max_fds as i64 {
        return Err(-1);
    }
    let fds: u64 = read_at(fdt, o.fdt_fd)?;
    read_at(fds, (fd as u32) * 8)
}
