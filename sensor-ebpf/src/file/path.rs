//! Paths from dentries: the walk from a dentry up to the task's root, across
//! mounts, written right to left into a per-CPU scratch buffer.
//!
//! The walk stops at the task's own root (`task->fs->root`), so a path is the one
//! the process sees: inside a container, relative to the container's root.

use aya_ebpf::{helpers::generated::bpf_probe_read_kernel, macros::map, maps::PerCpuArray};
use sensor_common::event::{PATH_MAX, flags};

use crate::{kernel::read_at, maps};

/// Where a walked path ends in the scratch buffer. Each write is bounded by masks
/// the verifier can follow: an offset below `PATH_MAX`, a length below `PATH_MAX`.
pub const END: usize = PATH_MAX;
const MASK: usize = PATH_MAX - 1;
/// Components walked at most; deeper paths come out flagged incomplete.
const MAX_DEPTH: u32 = 48;

/// Scratch for building a path: a walked path ends at [`END`]; a string the process
/// gave goes after it.
#[repr(C)]
pub struct PathScratch {
    /// Where the walk has got to in `buf`. Kept in map memory, read and written
    /// volatile: the verifier then sees an unknown value on each iteration instead
    /// of a different constant, so it can prune the loop's states rather than
    /// explore every iteration of every path (which exceeds its 1M-instruction budget).
    pub pos: u64,
    /// The bytes.
    pub buf: [u8; 3 * PATH_MAX],
}

#[map]
pub static PATH_SCRATCH: PerCpuArray<PathScratch> = PerCpuArray::with_max_entries(1, 0);

/// A `struct path`: mount and dentry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VfsPath {
    /// `struct vfsmount *`.
    pub mnt: u64,
    /// `struct dentry *`.
    pub dentry: u64,
}

/// Reads the `struct path` at `base + offset`.
#[inline(always)]
pub fn read_path(base: u64, offset: u32) -> Result<VfsPath, i32> {
    let o = maps::offsets();
    Ok(VfsPath {
        mnt: read_at(base, offset + o.path_mnt)?,
        dentry: read_at(base, offset + o.path_dentry)?,
    })
}

/// The task's root, where path walks stop.
#[inline(always)]
pub fn task_root(task: u64) -> Result<VfsPath, i32> {
    let o = maps::offsets();
    read_at::<u64>(task, o.task_fs).and_then(|fs| read_path(fs, o.fs_root))
}

/// The result of a walk: the path is `buf[start..END]`.
pub struct Walked {
    /// Where the path starts.
    pub start: usize,
    /// `flags::PATH_TRUNCATED` or `flags::PATH_INCOMPLETE` when the path is partial.
    pub flags: u32,
}

/// Writes the path of `at`, as seen from `root`, to end at [`END`].
#[inline(always)]
pub fn walk(scratch: &mut PathScratch, at: VfsPath, root: VfsPath) -> Walked {
    let o = maps::offsets();
    let mut dentry = at.dentry;
    let mut mnt = at.mnt;
    let mut mount = mnt.wrapping_sub(o.mount_mnt as u64);
    let pos_ptr: *mut u64 = &mut scratch.pos;
    let buf = &mut scratch.buf;
    // SAFETY: a valid, aligned field of the scratch value.
    unsafe { core::ptr::write_volatile(pos_ptr, END as u64) };
    let mut status = flags::PATH_INCOMPLETE;
    for _ in 0..MAX_DEPTH {
        if dentry == root.dentry && mnt == root.mnt {
            status = 0;
            break;
        }
        let Ok(mnt_root) = read_at::<u64>(mnt, o.vfsmount_root) else {
            break;
        };
        if dentry == mnt_root {
            // At the root of a mount: continue from where it is mounted.
            let Ok(parent) = read_at::<u64>(mount, o.mount_parent) else {
                break;
            };
            if parent == mount {
                // The top of the mount tree: the task's root lies below it (a
                // chroot the object is outside of) or is this very root.
                status = 0;
                break;
            }
            let Ok(mountpoint) = read_at::<u64>(mount, o.mount_mountpoint) else {
                break;
            };
            dentry = mountpoint;
            mount = parent;
            mnt = parent + o.mount_mnt as u64;
            continue;
        }
        let Ok(parent) = read_at::<u64>(dentry, o.dentry_parent) else {
            break;
        };
        let (Ok(len), Ok(name)) = (
            read_at::<u32>(dentry, o.dentry_name + o.qstr_len),
            read_at::<u64>(dentry, o.dentry_name + o.qstr_name),
        ) else {
            break;
        };
        let len = len as usize;
        // SAFETY: as above.
        let mut pos = unsafe { core::ptr::read_volatile(pos_ptr) } as usize;
        if len + 1 > pos {
            status = flags::PATH_TRUNCATED;
            break;
        }
        pos -= len + 1;
        // SAFETY: offset and size are masked below PATH_MAX each, inside a buffer
        // of three times that; the helper checks the source.
        unsafe {
            bpf_probe_read_kernel(
                buf.as_mut_ptr().add((pos + 1) & MASK).cast(),
                (len & MASK) as u32,
                name as *const core::ffi::c_void,
            )
        };
        buf[pos & MASK] = b'/';
        // SAFETY: as above.
        unsafe { core::ptr::write_volatile(pos_ptr, pos as u64) };
        if parent == dentry {
            // A dentry that is its own parent without being a mount's root: a
            // pseudo file (memfd, pipe, socket). Its name is the whole path.
            status = 0;
            break;
        }
        dentry = parent;
    }
    // SAFETY: as above.
    let mut pos = unsafe { core::ptr::read_volatile(pos_ptr) } as usize;
    if pos == END {
        // The root itself.
        pos -= 1;
        buf[pos & MASK] = b'/';
    }
    Walked {
        start: pos,
        flags: status,
    }
}
