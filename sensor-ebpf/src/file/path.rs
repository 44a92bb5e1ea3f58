//! Paths from dentries: the walk from a dentry up to the task's root, across
//! mounts, written right to left into a per-CPU scratch buffer.
//!
//! The walk stops at the task's own root (`task->fs->root`), so a path is the one
//! the process sees: inside a container, relative to the container's root.

use aya_ebpf::{
    helpers::generated::{bpf_probe_read_kernel, bpf_probe_read_user_str},
    macros::map,
    maps::PerCpuArray,
};
use sensor_common::{
    DropReason, EventKind,
    event::{PATH_MAX, flags},
};

use crate::{
    emit::count,
    kernel::{Current, Window, read_at},
    maps,
};

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
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct VfsPath {
    /// `struct vfsmount *`.
    pub mnt: u64,
    /// `struct dentry *`.
    pub dentry: u64,
}

/// Reads the `struct path` at `base + offset`, in one read where it can.
#[inline(always)]
pub fn read_path(base: u64, offset: u32) -> Result<VfsPath, i32> {
    let o = maps::offsets();
    let (mnt, dentry) = (offset + o.path_mnt, offset + o.path_dentry);
    if let Ok(w) = Window::read(base, mnt.min(dentry), mnt.max(dentry) + 8) {
        return Ok(path_in(&w, offset));
    }
    Ok(VfsPath {
        mnt: read_at(base, mnt)?,
        dentry: read_at(base, dentry)?,
    })
}

/// The `struct path` at struct offset `offset` inside a window read.
#[inline(always)]
pub fn path_in(window: &Window, offset: u32) -> VfsPath {
    VfsPath {
        mnt: window.u64_at(offset + maps::offset(|o| &o.path_mnt)),
        dentry: window.u64_at(offset + maps::offset(|o| &o.path_dentry)),
    }
}

/// The task's root, where path walks stop.
#[inline(always)]
pub fn root_of(task: Current) -> Result<VfsPath, i32> {
    fs_path(task, maps::offset(|o| &o.fs_root))
}

/// The task's working directory.
#[inline(always)]
pub fn pwd_of(task: Current) -> Result<VfsPath, i32> {
    fs_path(task, maps::offset(|o| &o.fs_pwd))
}

#[inline(always)]
fn fs_path(task: Current, offset: u32) -> Result<VfsPath, i32> {
    match task.fs_path(offset) {
        (0, _) | (_, 0) => Err(-1),
        (mnt, dentry) => Ok(VfsPath { mnt, dentry }),
    }
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

/// `openat`'s and friends' "relative to the working directory".
pub const AT_FDCWD: i32 = -100;

/// The path a process gave (the string at `filename`), made absolute with its
/// working directory or the directory of `dfd` when relative; not normalised.
/// Returns `(start, end)` in `scratch.buf`; flags a path it could not finish.
#[inline(always)]
pub fn as_given(
    scratch: &mut PathScratch,
    task: Current,
    dfd: i32,
    filename: u64,
    kind: EventKind,
    header_flags: &mut u32,
) -> (usize, usize) {
    // The string goes after END + 1, leaving END for a separating '/'.
    // SAFETY: destination inside the buffer's last third; the helper checks the source.
    let n = unsafe {
        bpf_probe_read_user_str(
            scratch.buf.as_mut_ptr().add(END + 1).cast(),
            (PATH_MAX - 1) as u32,
            filename as *const core::ffi::c_void,
        )
    };
    if n <= 1 {
        *header_flags |= flags::PATH_INCOMPLETE;
        count(kind, DropReason::ReadFailed);
        return (END, END);
    }
    let end = END + n as usize; // n counts the NUL
    if scratch.buf[END + 1] == b'/' {
        return (END + 1, end);
    }
    let dir = if dfd == AT_FDCWD {
        pwd_of(task)
    } else {
        file_path(task, dfd as i64)
    };
    let (Ok(dir), Ok(root)) = (dir, root_of(task)) else {
        *header_flags |= flags::PATH_INCOMPLETE;
        count(kind, DropReason::ReadFailed);
        return (END + 1, end);
    };
    let walked = walk(scratch, dir, root);
    *header_flags |= walked.flags;
    scratch.buf[END] = b'/';
    // A directory of "/" would make "//name".
    let start = if walked.start == END - 1 {
        END
    } else {
        walked.start
    };
    (start, end)
}

/// The path of the file behind `fd`, walked to the task's root. Returns
/// `(start, end)`; an empty, flagged path if a read fails.
#[inline(always)]
pub fn fd_path(
    scratch: &mut PathScratch,
    task: Current,
    fd: i64,
    kind: EventKind,
    header_flags: &mut u32,
) -> (usize, usize) {
    let (Ok(at), Ok(root)) = (file_path(task, fd), root_of(task)) else {
        *header_flags |= flags::PATH_INCOMPLETE;
        count(kind, DropReason::ReadFailed);
        return (END, END);
    };
    let walked = walk(scratch, at, root);
    *header_flags |= walked.flags;
    (walked.start, END)
}

/// The `struct path` of the file behind the task's `fd`.
#[inline(always)]
pub fn file_path(task: Current, fd: i64) -> Result<VfsPath, i32> {
    task.file_of_fd(fd)
        .and_then(|file| read_path(file, maps::offset(|o| &o.file_f_path)))
}
