//! File operations: unlink, rename, chmod (with the mode, so a setuid bit shows),
//! symlink, link and mount. The entry tracepoints keep the arguments; the exit tracepoints
//! write one [`FsEvent`] with the result and up to two paths. The paths are the
//! ones given, made absolute (the object may be gone by the exit: unlink, rename);
//! fchmod's comes from its fd; a symlink's target is kept as written.

use aya_ebpf::{
    helpers::generated::{bpf_probe_read_kernel, bpf_probe_read_user_str},
    macros::{map, tracepoint},
    maps::{LruHashMap, PerCpuArray},
    programs::TracePointContext,
};
use sensor_common::{
    EventKind, FsEvent,
    event::{FSTYPE_MAX, PATH_MAX, fs_op as op},
};

use super::path::{AT_FDCWD, PATH_SCRATCH, PathScratch, as_given, fd_path};
use crate::{
    emit::{enabled, fill_header, output},
    inflight::{self, Slot},
    kernel::Current,
};

/// A file operation in flight, between its entry and exit.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Pending {
    op: u32,
    dfd: i32,
    path: u64,
    dfd2: i32,
    mode: u32,
    path2: u64,
    flags: u32,
    _pad: u32,
    /// mount's filesystem type (a user pointer), else 0.
    path3: u64,
}

#[map]
static PENDING_FS: LruHashMap<u32, Slot<Pending>> = LruHashMap::with_max_entries(4096, 0);

/// The record under construction: the event, then both paths and a mount's type.
#[repr(C)]
pub struct FsRecord {
    event: FsEvent,
    paths: [u8; 2 * PATH_MAX + FSTYPE_MAX],
}

#[map]
static FS_RECORD: PerCpuArray<FsRecord> = PerCpuArray::with_max_entries(1, 0);

fn kind_of(op: u32) -> EventKind {
    match op {
        op::UNLINK | op::UNLINKAT => EventKind::Unlink,
        op::RENAME | op::RENAMEAT | op::RENAMEAT2 => EventKind::Rename,
        op::CHMOD | op::FCHMODAT | op::FCHMOD => EventKind::Chmod,
        op::MOUNT => EventKind::Mount,
        _ => EventKind::Link,
    }
}

#[inline(always)]
fn arg(ctx: &TracePointContext, index: usize) -> u64 {
    // SAFETY: syscall records hold their arguments in 8-byte slots from offset 16;
    // callers read only the syscall's own arguments.
    unsafe { ctx.read_at::<u64>(16 + 8 * index) }.unwrap_or(0)
}

#[inline(always)]
fn stash(pending: Pending) -> u32 {
    if enabled(kind_of(pending.op)) {
        inflight::keep(&PENDING_FS, pending);
    }
    0
}

const fn pending(op: u32, dfd: i32, path: u64, dfd2: i32, path2: u64) -> Pending {
    Pending {
        op,
        dfd,
        path,
        dfd2,
        mode: 0,
        path2,
        flags: 0,
        _pad: 0,
        path3: 0,
    }
}

/// `syscalls:sys_enter_unlink(const char *pathname)`.
#[tracepoint]
pub fn sys_enter_unlink(ctx: TracePointContext) -> u32 {
    stash(pending(op::UNLINK, AT_FDCWD, arg(&ctx, 0), 0, 0))
}

/// `syscalls:sys_enter_unlinkat(int dfd, const char *pathname, int flag)`.
#[tracepoint]
pub fn sys_enter_unlinkat(ctx: TracePointContext) -> u32 {
    let mut p = pending(op::UNLINKAT, arg(&ctx, 0) as i32, arg(&ctx, 1), 0, 0);
    p.flags = arg(&ctx, 2) as u32;
    stash(p)
}

/// `syscalls:sys_enter_rename(const char *oldname, const char *newname)`.
#[tracepoint]
pub fn sys_enter_rename(ctx: TracePointContext) -> u32 {
    stash(pending(
        op::RENAME,
        AT_FDCWD,
        arg(&ctx, 0),
        AT_FDCWD,
        arg(&ctx, 1),
    ))
}

/// `syscalls:sys_enter_renameat(int olddfd, const char *oldname, int newdfd, const char *newname)`.
#[tracepoint]
pub fn sys_enter_renameat(ctx: TracePointContext) -> u32 {
    stash(pending(
        op::RENAMEAT,
        arg(&ctx, 0) as i32,
        arg(&ctx, 1),
        arg(&ctx, 2) as i32,
        arg(&ctx, 3),
    ))
}

/// `syscalls:sys_enter_renameat2(olddfd, oldname, newdfd, newname, unsigned int flags)`.
#[tracepoint]
pub fn sys_enter_renameat2(ctx: TracePointContext) -> u32 {
    let mut p = pending(
        op::RENAMEAT2,
        arg(&ctx, 0) as i32,
        arg(&ctx, 1),
        arg(&ctx, 2) as i32,
        arg(&ctx, 3),
    );
    p.flags = arg(&ctx, 4) as u32;
    stash(p)
}

/// `syscalls:sys_enter_chmod(const char *filename, umode_t mode)`.
#[tracepoint]
pub fn sys_enter_chmod(ctx: TracePointContext) -> u32 {
    let mut p = pending(op::CHMOD, AT_FDCWD, arg(&ctx, 0), 0, 0);
    p.mode = arg(&ctx, 1) as u32;
    stash(p)
}

/// `syscalls:sys_enter_fchmodat(int dfd, const char *filename, umode_t mode)`.
#[tracepoint]
pub fn sys_enter_fchmodat(ctx: TracePointContext) -> u32 {
    let mut p = pending(op::FCHMODAT, arg(&ctx, 0) as i32, arg(&ctx, 1), 0, 0);
    p.mode = arg(&ctx, 2) as u32;
    stash(p)
}

/// `syscalls:sys_enter_fchmod(unsigned int fd, umode_t mode)`.
#[tracepoint]
pub fn sys_enter_fchmod(ctx: TracePointContext) -> u32 {
    let mut p = pending(op::FCHMOD, arg(&ctx, 0) as i32, 0, 0, 0);
    p.mode = arg(&ctx, 1) as u32;
    stash(p)
}

/// `syscalls:sys_enter_symlink(const char *oldname, const char *newname)`.
#[tracepoint]
pub fn sys_enter_symlink(ctx: TracePointContext) -> u32 {
    // path: the new link; path2: the target, verbatim.
    stash(pending(
        op::SYMLINK,
        AT_FDCWD,
        arg(&ctx, 1),
        0,
        arg(&ctx, 0),
    ))
}

/// `syscalls:sys_enter_symlinkat(const char *oldname, int newdfd, const char *newname)`.
#[tracepoint]
pub fn sys_enter_symlinkat(ctx: TracePointContext) -> u32 {
    stash(pending(
        op::SYMLINKAT,
        arg(&ctx, 1) as i32,
        arg(&ctx, 2),
        0,
        arg(&ctx, 0),
    ))
}

/// `syscalls:sys_enter_link(const char *oldname, const char *newname)`.
#[tracepoint]
pub fn sys_enter_link(ctx: TracePointContext) -> u32 {
    stash(pending(
        op::LINK,
        AT_FDCWD,
        arg(&ctx, 0),
        AT_FDCWD,
        arg(&ctx, 1),
    ))
}

/// `syscalls:sys_enter_linkat(olddfd, oldname, newdfd, newname, int flags)`.
#[tracepoint]
pub fn sys_enter_linkat(ctx: TracePointContext) -> u32 {
    let mut p = pending(
        op::LINKAT,
        arg(&ctx, 0) as i32,
        arg(&ctx, 1),
        arg(&ctx, 2) as i32,
        arg(&ctx, 3),
    );
    p.flags = arg(&ctx, 4) as u32;
    stash(p)
}

/// `syscalls:sys_enter_mount(char *dev_name, char *dir_name, char *type, unsigned long flags, void *data)`.
#[tracepoint]
pub fn sys_enter_mount(ctx: TracePointContext) -> u32 {
    // path: the target; path2: the source, verbatim; path3: the type.
    let mut p = pending(op::MOUNT, AT_FDCWD, arg(&ctx, 1), 0, arg(&ctx, 0));
    p.path3 = arg(&ctx, 2);
    p.flags = arg(&ctx, 3) as u32;
    stash(p)
}

/// The exit of every file operation (`syscalls:sys_exit_unlink`, ...).
#[tracepoint]
pub fn sys_exit_fs_op(ctx: TracePointContext) -> u32 {
    let Some(pending) = inflight::take(&PENDING_FS) else {
        return 0;
    };
    match try_exit(&ctx, &pending) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

#[inline(always)]
fn try_exit(ctx: &TracePointContext, pending: &Pending) -> Result<(), i32> {
    let kind = kind_of(pending.op);
    let scratch = PATH_SCRATCH.get_ptr_mut(0).ok_or(-1)?;
    let record = FS_RECORD.get_ptr_mut(0).ok_or(-1)?;
    // SAFETY: per-CPU map values, used by this program alone while it runs.
    let (scratch, record) = unsafe { (&mut *scratch, &mut *record) };
    let event = &mut record.event;
    let task = Current::get();
    fill_header(&mut event.header, kind, task);
    // SAFETY: `ret` sits at offset 16 of every syscall exit record.
    event.result = unsafe { ctx.read_at::<i64>(16) }.unwrap_or(0);
    event.op = pending.op;
    event.mode = pending.mode;
    event.flags = pending.flags;
    event.fstype_len = 0;

    let (start, end) = if pending.op == op::FCHMOD {
        fd_path(
            scratch,
            task,
            pending.dfd as i64,
            kind,
            &mut event.header.flags,
        )
    } else {
        as_given(
            scratch,
            task,
            pending.dfd,
            pending.path,
            kind,
            &mut event.header.flags,
        )
    };
    let len = copy_out(scratch, start, end, record.paths.as_mut_ptr());
    record.event.path_len = len as u32;

    let len2 = if pending.path2 == 0 {
        0
    } else if matches!(pending.op, op::SYMLINK | op::SYMLINKAT | op::MOUNT) {
        verbatim(pending.path2, record, len, PATH_MAX)
    } else {
        let (start, end) = as_given(
            scratch,
            task,
            pending.dfd2,
            pending.path2,
            kind,
            &mut record.event.header.flags,
        );
        copy_out(
            scratch,
            start,
            end,
            record.paths.as_mut_ptr().wrapping_add(len & (PATH_MAX - 1)),
        )
    };
    record.event.path2_len = len2 as u32;
    let after = (len & (PATH_MAX - 1)) + (len2 & (PATH_MAX - 1));
    let len3 = if pending.path3 == 0 {
        0
    } else {
        verbatim(pending.path3, record, after, FSTYPE_MAX) & (FSTYPE_MAX - 1)
    };
    record.event.fstype_len = len3 as u32;
    let size = core::mem::size_of::<FsEvent>() + after + len3;
    output(record as *mut FsRecord, size, kind)
}

/// Copies `scratch.buf[start..end]` to `dst`; returns the length copied.
#[inline(always)]
fn copy_out(scratch: &PathScratch, start: usize, end: usize, dst: *mut u8) -> usize {
    let len = end.saturating_sub(start) & (PATH_MAX - 1);
    // SAFETY: source masked inside the scratch buffer, length below PATH_MAX, and the
    // destination has PATH_MAX bytes left (paths start below PATH_MAX).
    unsafe {
        bpf_probe_read_kernel(
            dst.cast(),
            len as u32,
            scratch
                .buf
                .as_ptr()
                .wrapping_add(start & (2 * PATH_MAX - 1))
                .cast(),
        )
    };
    len
}

/// A string kept as written (a symlink's target, a mount's source or type), copied
/// at `after` in the paths; at most `max - 1` bytes. `max` is PATH_MAX (after the
/// first path) or FSTYPE_MAX (after two).
#[inline(always)]
fn verbatim(user: u64, record: &mut FsRecord, after: usize, max: usize) -> usize {
    // Bounds the verifier can follow: a PATH_MAX string starts below PATH_MAX, a
    // FSTYPE_MAX one below 2 * PATH_MAX, and the buffer has room for either.
    let mask = if max == PATH_MAX {
        PATH_MAX - 1
    } else {
        2 * PATH_MAX - 1
    };
    // SAFETY: as above; the helper checks the source and bounds the copy.
    let n = unsafe {
        bpf_probe_read_user_str(
            record.paths.as_mut_ptr().wrapping_add(after & mask).cast(),
            (max - 1) as u32,
            user as *const core::ffi::c_void,
        )
    };
    if n <= 1 { 0 } else { n as usize - 1 }
}
