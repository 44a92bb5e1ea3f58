//! Reads of kernel structs at offsets the agent took from BTF.

use aya_ebpf::helpers::{
    bpf_get_current_task, bpf_probe_read_kernel,
    generated::{self, bpf_get_current_task_btf, bpf_task_pt_regs},
};

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

/// A load of a `T` at `offset` from `base`, a BTF pointer (a task from
/// `bpf_get_current_task_btf`, or a struct pointer loaded through one): the
/// verifier checks it against the kernel's BTF, and the JIT makes it a plain load
/// that yields zero where the memory is not there, no helper call. `offset` must
/// be one the verifier knows (from [`maps::offset`]).
///
/// # Safety
///
/// `base` must be a BTF pointer and `offset` the offset of a member of type `T`.
#[inline(always)]
pub unsafe fn btf_load<T: Copy>(base: *const u8, offset: u32) -> T {
    // SAFETY: the verifier refuses the program unless the load is a member access.
    unsafe { core::ptr::read_volatile(base.add(offset as usize).cast()) }
}

/// The `struct file *` behind file descriptor `fd` of the current task, reached
/// through BTF pointers: one helper call (the fd array holds plain pointers)
/// where [`file_of_fd`] needs four.
#[inline(always)]
pub fn current_file(fd: i64) -> Result<u64, i32> {
    // SAFETY: the helper has no preconditions; its result is a BTF task pointer,
    // and each load below is at a member's offset with the member's type.
    unsafe {
        let task = bpf_get_current_task_btf() as *const u8;
        let files: *const u8 = btf_load(task, maps::offset(|o| &o.task_files));
        let fdt: *const u8 = btf_load(files, maps::offset(|o| &o.files_fdt));
        let max_fds: u32 = btf_load(fdt, maps::offset(|o| &o.fdt_max_fds));
        let fds: u64 = btf_load(fdt, maps::offset(|o| &o.fdt_fd));
        if fd < 0 || fd >= max_fds as i64 {
            return Err(-1);
        }
        read_at(fds, (fd as u32) * 8)
    }
}

/// The current task's root (`current->fs->root`: mount and dentry), reached
/// through BTF pointers with no helper call.
#[inline(always)]
pub fn current_root() -> (u64, u64) {
    // SAFETY: as in `current_file`.
    unsafe {
        let task = bpf_get_current_task_btf() as *const u8;
        let fs: *const u8 = btf_load(task, maps::offset(|o| &o.task_fs));
        let root = maps::offset(|o| &o.fs_root);
        let mnt: u64 = btf_load(fs, root + maps::offset(|o| &o.path_mnt));
        let dentry: u64 = btf_load(fs, root + maps::offset(|o| &o.path_dentry));
        (mnt, dentry)
    }
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
    // `max_fds` and `fd` are neighbours: one read where the layout allows.
    let (max_fds, fds) = match Window::read(
        fdt,
        o.fdt_max_fds.min(o.fdt_fd),
        o.fdt_fd.max(o.fdt_max_fds) + 8,
    ) {
        Ok(w) => (w.u32_at(o.fdt_max_fds), w.u64_at(o.fdt_fd)),
        Err(_) => (
            read_at::<u32>(fdt, o.fdt_max_fds)?,
            read_at::<u64>(fdt, o.fdt_fd)?,
        ),
    };
    if fd < 0 || fd >= max_fds as i64 {
        return Err(-1);
    }
    read_at(fds, (fd as u32) * 8)
}

/// Bytes a [`Window`] holds.
pub const WINDOW_BYTES: u32 = 64;

/// Up to 64 bytes of a kernel struct, read with one helper call. A helper call
/// costs far more than the bytes it copies, so members that lie close together
/// are read at once; callers fall back to one read each when a kernel's layout
/// spreads them wider.
pub struct Window {
    lo: u32,
    words: [u64; (WINDOW_BYTES / 8) as usize],
}

impl Window {
    /// The bytes of the struct at `base` from offset `lo` (rounded down to a word)
    /// to `hi`; an error if they span more than the window or cannot be read.
    #[inline(always)]
    pub fn read(base: u64, lo: u32, hi: u32) -> Result<Self, i32> {
        let lo = lo & !7;
        if base == 0 || hi <= lo || hi - lo > WINDOW_BYTES {
            return Err(-1);
        }
        let mut window = Window {
            lo,
            words: [0; (WINDOW_BYTES / 8) as usize],
        };
        let len = (hi - lo) & (2 * WINDOW_BYTES - 1);
        if len > WINDOW_BYTES {
            return Err(-1);
        }
        // SAFETY: at most the window's size into the window; the helper checks the source.
        let rc = unsafe {
            generated::bpf_probe_read_kernel(
                window.words.as_mut_ptr().cast(),
                len,
                (base + lo as u64) as *const core::ffi::c_void,
            )
        };
        if rc != 0 {
            return Err(rc as i32);
        }
        Ok(window)
    }

    /// The `u64` at struct offset `offset` (8-byte aligned, inside the window).
    #[inline(always)]
    pub fn u64_at(&self, offset: u32) -> u64 {
        let rel = offset.wrapping_sub(self.lo);
        self.words[((rel / 8) & (WINDOW_BYTES / 8 - 1)) as usize]
    }

    /// The `u32` at struct offset `offset` (4-byte aligned, inside the window).
    #[inline(always)]
    pub fn u32_at(&self, offset: u32) -> u32 {
        let rel = offset.wrapping_sub(self.lo);
        let word = self.words[((rel / 8) & (WINDOW_BYTES / 8 - 1)) as usize];
        (word >> ((rel & 4) * 8)) as u32
    }
}

/// The current task's saved user registers (`struct pt_regs *`): at a syscall's
/// exit they still hold the arguments it was called with.
#[inline(always)]
pub fn current_regs() -> u64 {
    // SAFETY: the helpers take the current task, which is always valid.
    unsafe { bpf_task_pt_regs(bpf_get_current_task_btf()) as u64 }
}

/// The first four arguments of the current syscall, from the saved registers
/// `regs`: in one read where the registers lie within a window (x86-64: `r10`
/// to `di` span 64 bytes), else one read each. An unreadable one is 0.
#[inline(always)]
pub fn syscall_args(regs: u64) -> [u64; 4] {
    let at = maps::offsets().regs_args;
    let lo = at[0].min(at[1]).min(at[2]).min(at[3]);
    let hi = at[0].max(at[1]).max(at[2]).max(at[3]) + 8;
    if let Ok(w) = Window::read(regs, lo, hi) {
        return [
            w.u64_at(at[0]),
            w.u64_at(at[1]),
            w.u64_at(at[2]),
            w.u64_at(at[3]),
        ];
    }
    at.map(|offset| read_at::<u64>(regs, offset).unwrap_or(0))
}
