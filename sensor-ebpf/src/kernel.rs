//! Reads of kernel structs at offsets the agent took from BTF.

use aya_ebpf::{
    helpers::{
        bpf_get_current_task, bpf_probe_read_kernel,
        generated::{self, bpf_get_current_task_btf, bpf_task_pt_regs},
    },
    macros::map,
    maps::PerCpuArray,
};

use sensor_common::offsets::ABSENT;

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

/// The current task as the BTF pointer `bpf_get_current_task_btf` gives: its
/// members, and the structs they point to, are plain loads (see [`btf_load`]).
/// That helper is a real call, so a program fetches the task once and passes it
/// down.
#[derive(Clone, Copy)]
pub struct Current(*const u8);

/// The current task's ids, credentials and name, as the header reports them.
pub struct Ids {
    /// `tgid`: the process id.
    pub tgid: u32,
    /// `pid`: the thread id.
    pub tid: u32,
    /// `cred->uid`.
    pub uid: u32,
    /// `cred->gid`.
    pub gid: u32,
    /// `comm`.
    pub comm: [u8; 16],
}

// SAFETY (for every block below): `self.0` is the BTF task pointer, and each
// load is at a member's offset with the member's type, which the verifier checks.
impl Current {
    /// The current task.
    #[inline(always)]
    pub fn get() -> Self {
        // SAFETY: the helper has no preconditions.
        Self(unsafe { bpf_get_current_task_btf() } as *const u8)
    }

    /// The `struct file *` behind the task's file descriptor `fd`: one helper
    /// call (the fd array holds plain pointers) where reads through
    /// `bpf_probe_read_kernel` need four.
    #[inline(always)]
    pub fn file_of_fd(self, fd: i64) -> Result<u64, i32> {
        let (fds, max_fds) = self.fds();
        if fd < 0 || fd >= i64::from(max_fds) {
            return Err(-1);
        }
        read_at(fds, (fd as u32) * 8)
    }

    /// The task's fd array (`files->fdt->fd`) as [`KernelMem`], and its length
    /// (`max_fds`). Only for a program that may be refused: a kernel before
    /// 6.17 refuses loads through the view.
    #[inline(always)]
    pub fn fd_slots(self) -> Option<(KernelMem, u32)> {
        // `fdt->fd` is a `struct file **`, which kernels since 6.17 type as
        // read-only untrusted memory: the register `fds` loads it into is that
        // memory, whatever Rust calls its type.
        let (fds, max_fds) = self.fds();
        Some((KernelMem::new(fds as *const u8)?, max_fds))
    }

    /// The `struct path` (mount, dentry) at `offset` in the task's `fs_struct`
    /// (its root or its working directory); zeros where the task has none.
    #[inline(always)]
    pub fn fs_path(self, offset: u32) -> (u64, u64) {
        // SAFETY: see above the impl.
        unsafe {
            let fs: *const u8 = btf_load(self.0, maps::offset(|o| &o.task_fs));
            let mnt: u64 = btf_load(fs, offset + maps::offset(|o| &o.path_mnt));
            let dentry: u64 = btf_load(fs, offset + maps::offset(|o| &o.path_dentry));
            (mnt, dentry)
        }
    }

    /// The task's [`Ids`].
    #[inline(always)]
    pub fn ids(self) -> Ids {
        // SAFETY: see above the impl; `comm` is read as the two words of its array.
        unsafe {
            let cred: *const u8 = btf_load(self.0, maps::offset(|o| &o.task_cred));
            let comm_at = maps::offset(|o| &o.task_comm);
            let (lo, hi): (u64, u64) = (btf_load(self.0, comm_at), btf_load(self.0, comm_at + 8));
            let mut comm = [0u8; 16];
            comm[..8].copy_from_slice(&lo.to_ne_bytes());
            comm[8..].copy_from_slice(&hi.to_ne_bytes());
            Ids {
                tgid: btf_load::<i32>(self.0, maps::offset(|o| &o.task_tgid)) as u32,
                tid: btf_load::<i32>(self.0, maps::offset(|o| &o.task_pid)) as u32,
                uid: btf_load(cred, maps::offset(|o| &o.cred_uid)),
                gid: btf_load(cred, maps::offset(|o| &o.cred_gid)),
                comm,
            }
        }
    }

    /// `real_parent->tgid`; 0 where the parent cannot be read.
    #[inline(always)]
    pub fn parent_tgid(self) -> u32 {
        // SAFETY: see above the impl.
        unsafe {
            let parent: *const u8 = btf_load(self.0, maps::offset(|o| &o.task_real_parent));
            btf_load::<i32>(parent, maps::offset(|o| &o.task_tgid)) as u32
        }
    }

    /// When the task's process started (its group leader's `start_boottime`),
    /// and the low half of the task's `self_exec_id`.
    #[inline(always)]
    pub fn process_start(self) -> (u64, u32) {
        // SAFETY: see above the impl; `self_exec_id` is read as its low half.
        unsafe {
            let leader: *const u8 = btf_load(self.0, maps::offset(|o| &o.task_group_leader));
            (
                btf_load(leader, maps::offset(|o| &o.task_start_boottime)),
                btf_load(self.0, maps::offset(|o| &o.task_self_exec_id)),
            )
        }
    }

    /// The audit login uid; `u32::MAX` (unset) where the kernel keeps none.
    #[inline(always)]
    pub fn loginuid(self) -> u32 {
        let at = maps::offset(|o| &o.task_loginuid);
        if at == ABSENT {
            return u32::MAX;
        }
        // SAFETY: see above the impl (`kuid_t` is one `u32`).
        unsafe { btf_load(self.0, at) }
    }

    /// The controlling terminal, encoded as `/proc/<pid>/stat`'s `tty_nr`
    /// (`new_encode_dev`); 0 for none.
    #[inline(always)]
    pub fn tty(self) -> u32 {
        // SAFETY: see above the impl; a task without a terminal has a NULL
        // `signal->tty`, and a BTF load through NULL yields 0.
        unsafe {
            let signal: *const u8 = btf_load(self.0, maps::offset(|o| &o.task_signal));
            let tty: *const u8 = btf_load(signal, maps::offset(|o| &o.signal_tty));
            if tty.is_null() {
                return 0;
            }
            let driver: *const u8 = btf_load(tty, maps::offset(|o| &o.tty_driver));
            let index: i32 = btf_load(tty, maps::offset(|o| &o.tty_index));
            let major: i32 = btf_load(driver, maps::offset(|o| &o.tty_driver_major));
            let minor_start: i32 = btf_load(driver, maps::offset(|o| &o.tty_driver_minor_start));
            let (major, minor) = (
                major as u32 & 0xfff,
                (minor_start + index) as u32 & 0xf_ffff,
            );
            (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
        }
    }

    /// The task's process id in its own pid namespace (`thread_pid`'s number at
    /// its deepest level); 0 if unreadable.
    #[inline(always)]
    pub fn vpid(self) -> u32 {
        // SAFETY: see above the impl. `numbers` is a flexible array, which the
        // verifier cannot index by a run-time level: that read is a probe read.
        unsafe {
            let pid: *const u8 = btf_load(self.0, maps::offset(|o| &o.task_thread_pid));
            let level: u32 = btf_load(pid, maps::offset(|o| &o.pid_level));
            let o = maps::offsets();
            // Namespaces nest at most 32 deep (MAX_PID_NS_LEVEL).
            let at = o.pid_numbers_nr + (level & 31) * o.upid_size;
            read_at::<i32>(pid as u64, at).map_or(0, |nr| nr as u32)
        }
    }

    /// The task's fd array (`files->fdt->fd`, a `struct file **`) and its
    /// length (`max_fds`).
    #[inline(always)]
    pub fn fds(self) -> (u64, u32) {
        // SAFETY: see above the impl.
        unsafe {
            let files: *const u8 = btf_load(self.0, maps::offset(|o| &o.task_files));
            let fdt: *const u8 = btf_load(files, maps::offset(|o| &o.files_fdt));
            (
                btf_load(fdt, maps::offset(|o| &o.fdt_fd)),
                btf_load(fdt, maps::offset(|o| &o.fdt_max_fds)),
            )
        }
    }

    /// The task's credentials (`cred`), as an address to probe-read from:
    /// `kernel_cap_t` is one `u64` on recent kernels and two `u32`s before, a
    /// difference a BTF load would trip over and a probe read does not see.
    #[inline(always)]
    pub fn cred(self) -> u64 {
        // SAFETY: see above the impl.
        unsafe { btf_load::<*const u8>(self.0, maps::offset(|o| &o.task_cred)) as u64 }
    }

    /// The task's session id in the initial pid namespace: level 0 of the
    /// `struct pid` in `signal->pids[PIDTYPE_SID]`.
    #[inline(always)]
    pub fn sid(self) -> Result<u32, i32> {
        let at = maps::offset(|o| &o.signal_pids_sid);
        if at == ABSENT {
            return Err(-1);
        }
        // SAFETY: see above the impl; `pids` is an array of `struct pid *`,
        // and `at` the offset of one of its elements.
        let pid: *const u8 = unsafe {
            let signal: *const u8 = btf_load(self.0, maps::offset(|o| &o.task_signal));
            btf_load(signal, at)
        };
        let nr: i32 = read_at(pid as u64, maps::offsets().pid_numbers_nr)?;
        Ok(nr as u32)
    }

    /// The task's saved user registers (`struct pt_regs *`): at a syscall's exit
    /// they still hold the arguments it was called with.
    #[inline(always)]
    pub fn regs(self) -> u64 {
        // SAFETY: the helper takes a BTF task pointer.
        unsafe { bpf_task_pt_regs(self.0 as *mut _) as u64 }
    }
}

/// Where a pointer's address is read back as a number: the verifier keeps
/// track of a pointer held in a register or spilled to the stack, but what a
/// program loads from a map value is a plain number.
#[map]
static ADDRESS: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// A view of kernel memory read with plain loads, no helper call: the JIT makes
/// each a load that yields zero where nothing is mapped, as a failed probe read
/// does. The verifier allows it from a pointer it types as read-only untrusted
/// memory, which kernels since 6.17 give for a member of a BTF pointer that
/// points at a non-struct type (`fdtable.fd`, a `struct file **`), at any offset.
/// Any other kernel address is then reached from that base: the view keeps the
/// base pointer and the address it holds, as a number, to move it by.
#[derive(Clone, Copy)]
pub struct KernelMem {
    base: *const u8,
    addr: u64,
}

impl KernelMem {
    /// The view whose base is `base`, a read-only untrusted memory pointer.
    #[inline(always)]
    fn new(base: *const u8) -> Option<Self> {
        let slot = ADDRESS.get_ptr_mut(0)?;
        // SAFETY: this CPU's slot, used by this program alone while it runs; the
        // volatile store and load keep the compiler from forwarding the pointer.
        let addr = unsafe {
            core::ptr::write_volatile(slot.cast::<*const u8>(), base);
            core::ptr::read_volatile(slot)
        };
        Some(Self { base, addr })
    }

    /// The view of the kernel address `addr`.
    #[inline(always)]
    pub fn at(self, addr: u64) -> Self {
        Self {
            base: self
                .base
                .wrapping_add(addr.wrapping_sub(self.addr) as usize),
            addr,
        }
    }

    /// The `T` at `offset` from this view's address; zero where it is not mapped.
    #[inline(always)]
    pub fn load<T: Copy>(self, offset: u64) -> T {
        // SAFETY: the verifier turns loads through read-only untrusted memory
        // into faulting-safe ones; nothing is written.
        unsafe { core::ptr::read_volatile(self.base.wrapping_add(offset as usize).cast()) }
    }
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
        self.word(offset).0
    }

    /// The word holding struct offset `offset`, and the offset's place in it.
    #[inline(always)]
    fn word(&self, offset: u32) -> (u64, u32) {
        let rel = offset.wrapping_sub(self.lo);
        let word = self.words[((rel / 8) & (WINDOW_BYTES / 8 - 1)) as usize];
        (word, rel & 7)
    }

    /// The `u16` at struct offset `offset` (2-byte aligned, inside the window).
    #[inline(always)]
    pub fn u16_at(&self, offset: u32) -> u16 {
        let (word, at) = self.word(offset);
        (word >> ((at & 6) * 8)) as u16
    }

    /// The 16 bytes at struct offset `offset` (8-byte aligned, inside the window).
    #[inline(always)]
    pub fn bytes16_at(&self, offset: u32) -> [u8; 16] {
        let (a, b) = (self.u64_at(offset), self.u64_at(offset + 8));
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&a.to_ne_bytes());
        out[8..].copy_from_slice(&b.to_ne_bytes());
        out
    }

    /// The `u32` at struct offset `offset` (4-byte aligned, inside the window).
    #[inline(always)]
    pub fn u32_at(&self, offset: u32) -> u32 {
        let (word, at) = self.word(offset);
        (word >> ((at & 4) * 8)) as u32
    }
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
