//! File opens: open(2), openat(2), openat2(2) and creat(2).
//!
//! The entry tracepoints keep the arguments per thread; the exit tracepoints write
//! the event with the result. A successful open reports the path of the object the
//! kernel opened (walked from the new fd), so it is absolute, symlinks resolved, and
//! cannot be faked by changing the argument after the kernel read it. A failed open
//! reports the path as given, made absolute with the working directory or dirfd.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, generated::bpf_probe_read_kernel},
    macros::{map, tracepoint},
    maps::{LruHashMap, PerCpuArray},
    programs::TracePointContext,
};
use sensor_common::{
    DropReason, EventKind, FileEvent,
    event::{PATH_MAX, flags, open_syscall, path_source},
};

use super::{
    filter,
    path::{END, PATH_SCRATCH, PathScratch, as_given, file_path, task_root, walk},
};
use crate::{
    emit::{count, enabled, fill_header, output},
    kernel::{current_task, read_at},
    maps,
};

const AT_FDCWD: i32 = -100;
/// creat(2) is open(2) with these flags.
const CREAT_FLAGS: u32 = 0o100 | 0o1 | 0o1000;
/// Syscall tracepoint records: the arguments follow an 8-byte common header and the
/// syscall number, one 8-byte slot each from offset 16; `ret` is at 16 on exit.
const ARG0: usize = 16;
const ARG1: usize = 24;
const ARG2: usize = 32;
const ARG3: usize = 40;

/// An open in flight, between its entry and exit tracepoints.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OpenArgs {
    filename: u64,
    dfd: i32,
    flags: u32,
    mode: u32,
    syscall: u32,
}

/// Opens in flight, by thread id. LRU so a missed exit can never fill it.
#[map]
static OPEN_ARGS: LruHashMap<u32, OpenArgs> = LruHashMap::with_max_entries(8192, 0);

/// The record under construction: the event and room for its path.
#[repr(C)]
pub struct FileRecord {
    event: FileEvent,
    path: [u8; PATH_MAX],
}

#[map]
static FILE_RECORD: PerCpuArray<FileRecord> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn arg<T>(ctx: &TracePointContext, offset: usize) -> T
where
    T: Default,
{
    // SAFETY: offsets inside the syscall tracepoint record, checked at load.
    unsafe { ctx.read_at(offset) }.unwrap_or_default()
}

#[inline(always)]
fn stash(filename: u64, dfd: i32, flags: u32, mode: u32, syscall: u32) -> u32 {
    if !enabled(EventKind::Open) {
        return 0;
    }
    let tid = bpf_get_current_pid_tgid() as u32;
    let args = OpenArgs {
        filename,
        dfd,
        flags,
        mode,
        syscall,
    };
    let _ = OPEN_ARGS.insert(tid, args, 0);
    0
}

/// `syscalls:sys_enter_open(const char *filename, int flags, umode_t mode)`.
#[tracepoint(category = "syscalls", name = "sys_enter_open")]
pub fn sys_enter_open(ctx: TracePointContext) -> u32 {
    let (filename, flags, mode) = (
        arg::<u64>(&ctx, ARG0),
        arg::<u64>(&ctx, ARG1),
        arg::<u64>(&ctx, ARG2),
    );
    stash(
        filename,
        AT_FDCWD,
        flags as u32,
        mode as u32,
        open_syscall::OPEN,
    )
}

/// `syscalls:sys_enter_openat(int dfd, const char *filename, int flags, umode_t mode)`.
#[tracepoint(category = "syscalls", name = "sys_enter_openat")]
pub fn sys_enter_openat(ctx: TracePointContext) -> u32 {
    let dfd = arg::<u64>(&ctx, ARG0) as i32;
    let (filename, flags, mode) = (
        arg::<u64>(&ctx, ARG1),
        arg::<u64>(&ctx, ARG2),
        arg::<u64>(&ctx, ARG3),
    );
    stash(
        filename,
        dfd,
        flags as u32,
        mode as u32,
        open_syscall::OPENAT,
    )
}

/// `syscalls:sys_enter_openat2(int dfd, const char *filename, struct open_how *how, size_t usize)`.
#[tracepoint(category = "syscalls", name = "sys_enter_openat2")]
pub fn sys_enter_openat2(ctx: TracePointContext) -> u32 {
    let dfd = arg::<u64>(&ctx, ARG0) as i32;
    let filename = arg::<u64>(&ctx, ARG1);
    let how = arg::<u64>(&ctx, ARG2);
    // struct open_how { u64 flags; u64 mode; u64 resolve; }
    // SAFETY: the helper checks the user address.
    let flags = unsafe { aya_ebpf::helpers::bpf_probe_read_user(how as *const u64) }.unwrap_or(0);
    // SAFETY: as above.
    let mode =
        unsafe { aya_ebpf::helpers::bpf_probe_read_user((how + 8) as *const u64) }.unwrap_or(0);
    stash(
        filename,
        dfd,
        flags as u32,
        mode as u32,
        open_syscall::OPENAT2,
    )
}

/// `syscalls:sys_enter_creat(const char *pathname, umode_t mode)`.
#[tracepoint(category = "syscalls", name = "sys_enter_creat")]
pub fn sys_enter_creat(ctx: TracePointContext) -> u32 {
    let (filename, mode) = (arg::<u64>(&ctx, ARG0), arg::<u64>(&ctx, ARG1));
    stash(
        filename,
        AT_FDCWD,
        CREAT_FLAGS,
        mode as u32,
        open_syscall::CREAT,
    )
}

/// The exit of every open-family syscall (`syscalls:sys_exit_open`, `_openat`,
/// `_openat2`, `_creat`): one program attached to the four, so the verifier checks
/// its path walks once. The entry told which syscall it was.
#[tracepoint]
pub fn sys_exit_open_family(ctx: TracePointContext) -> u32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(args) = OPEN_ARGS.get_ptr(tid) else {
        return 0;
    };
    // SAFETY: a valid map value; copied before the entry is removed.
    let args = unsafe { *args };
    let _ = OPEN_ARGS.remove(tid);
    let ret: i64 = arg(&ctx, ARG0);
    match try_exit(ret, &args) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

#[inline(always)]
fn try_exit(ret: i64, args: &OpenArgs) -> Result<(), i32> {
    let scratch = PATH_SCRATCH.get_ptr_mut(0).ok_or(-1)?;
    let record = FILE_RECORD.get_ptr_mut(0).ok_or(-1)?;
    // SAFETY: per-CPU map values, used by this program alone while it runs.
    let (scratch, record) = unsafe { (&mut *scratch, &mut *record) };
    let event = &mut record.event;
    // The header is filled only for opens that pass the filter (below): most opens
    // of a filtered stream never need it. Until then it collects the path flags.
    event.header.flags = 0;
    event.result = ret;
    event.flags = args.flags;
    event.mode = args.mode;
    event.syscall = args.syscall;
    event.inode_mode = 0;

    let task = current_task();
    let (start, end) = if ret >= 0 {
        event.path_source = path_source::OPENED;
        opened_path(scratch, task, ret, event)
    } else {
        event.path_source = path_source::AS_GIVEN;
        as_given(
            scratch,
            task,
            args.dfd,
            args.filename,
            EventKind::Open,
            &mut event.header.flags,
        )
    };
    let partial = event.header.flags & (flags::PATH_TRUNCATED | flags::PATH_INCOMPLETE) != 0;
    let len = end.saturating_sub(start) & (PATH_MAX - 1);
    let path = scratch
        .buf
        .as_ptr()
        .wrapping_add(start & (2 * PATH_MAX - 1));
    // A partial path cannot be matched against prefixes: report it rather than
    // risk dropping a watched open.
    if !partial && filter::filtering() && !filter::watched(path, len, args.flags) {
        count(EventKind::Open, DropReason::Filtered);
        return Ok(());
    }
    if partial {
        count(EventKind::Open, DropReason::Truncated);
    }
    let path_flags = event.header.flags;
    fill_header(&mut event.header, EventKind::Open);
    event.header.flags |= path_flags;
    event.path_len = len as u32;
    // SAFETY: source offset masked inside the scratch buffer's first two thirds,
    // length below PATH_MAX, destination sized PATH_MAX.
    unsafe { bpf_probe_read_kernel(record.path.as_mut_ptr().cast(), len as u32, path.cast()) };
    let size = core::mem::size_of::<FileEvent>() + len;
    output(record as *mut FileRecord, size, EventKind::Open)
}

/// For a successful open: the path of the file behind the new fd, and its inode
/// mode. Returns `(start, end)`; an empty, flagged path if a read fails.
#[inline(always)]
fn opened_path(
    scratch: &mut PathScratch,
    task: u64,
    fd: i64,
    event: &mut FileEvent,
) -> (usize, usize) {
    let o = maps::offsets();
    let (Ok(at), Ok(root)) = (file_path(task, fd), task_root(task)) else {
        event.header.flags |= flags::PATH_INCOMPLETE;
        count(EventKind::Open, DropReason::ReadFailed);
        return (END, END);
    };
    if let Ok(inode) = read_at::<u64>(at.dentry, o.dentry_inode) {
        event.inode_mode = u32::from(read_at::<u16>(inode, o.inode_mode).unwrap_or(0));
    }
    let walked = walk(scratch, at, root);
    event.header.flags |= walked.flags;
    (walked.start, END)
}
