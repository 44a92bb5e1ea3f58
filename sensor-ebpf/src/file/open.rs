//! File opens: open(2), openat(2), openat2(2) and creat(2).
//!
//! One exit program serves the four syscalls; it reads the arguments from the
//! task's saved registers, so no entry program runs and no map keeps them between
//! entry and exit (that stash cost more than the rest of an unwatched open).
//! Where the kernel allows it, a small program in front of it settles the opens
//! of files judged unwatched a moment ago and tail-calls it for the rest. A
//! successful open reports the path of the object the kernel opened (walked from
//! the new fd), so it is absolute, symlinks resolved, and cannot be faked by
//! changing the argument after the kernel read it. A failed open reports the path
//! as given, made absolute with the working directory or dirfd.

use aya_ebpf::{
    EbpfContext as _,
    helpers::{bpf_probe_read_user, generated::bpf_probe_read_kernel},
    macros::{map, tracepoint},
    maps::{PerCpuArray, ProgramArray},
    programs::TracePointContext,
};
use sensor_common::{
    DropReason, EventKind, FileEvent,
    event::{PATH_MAX, flags, open_syscall, path_source},
};

use super::{
    filter,
    path::{END, PATH_SCRATCH, PathScratch, VfsPath, as_given, path_in, read_path, root_of, walk},
    verdict::{self, Identity, VerdictKey},
};
use crate::{
    emit::{count, enabled, fill_header, output},
    kernel::{Current, Window, read_at, syscall_args},
    maps,
};

const AT_FDCWD: i32 = -100;
/// creat(2) is open(2) with these flags.
const CREAT_FLAGS: u32 = 0o100 | 0o1 | 0o1000;
/// Syscall exit tracepoint records: `int __syscall_nr` at 8, `long ret` at 16.
const SYSCALL_NR: usize = 8;
const RET: usize = 16;

/// The arguments of an open, as the task passed them.
#[derive(Clone, Copy)]
pub struct OpenArgs {
    filename: u64,
    dfd: i32,
    flags: u32,
    mode: u32,
    syscall: u32,
}

/// The record under construction: the event and room for its path.
#[repr(C)]
pub struct FileRecord {
    event: FileEvent,
    path: [u8; PATH_MAX],
}

#[map]
static FILE_RECORD: PerCpuArray<FileRecord> = PerCpuArray::with_max_entries(1, 0);

/// A field of the tracepoint record, read directly (no helper call).
#[inline(always)]
fn field<T: Copy>(ctx: &TracePointContext, offset: usize) -> T {
    // SAFETY: an aligned offset inside the syscall exit record, checked at load
    // against the tracepoint's format; the verifier checks the context access.
    unsafe { core::ptr::read((ctx.as_ptr() as *const u8).add(offset).cast()) }
}

/// The arguments of the open-family syscall `nr` from the saved registers, or
/// `None` for a number that is not one of them.
#[inline(always)]
fn open_args(task: Current, nr: i32) -> Option<OpenArgs> {
    let nrs = maps::open_nrs();
    let regs = syscall_args(task.regs());
    let arg = |n: usize| regs[n & 3];
    let args = if nr == nrs[open_syscall::OPENAT as usize] {
        // openat(int dfd, const char *filename, int flags, umode_t mode)
        OpenArgs {
            filename: arg(1),
            dfd: arg(0) as i32,
            flags: arg(2) as u32,
            mode: arg(3) as u32,
            syscall: open_syscall::OPENAT,
        }
    } else if nr == nrs[open_syscall::OPEN as usize] {
        // open(const char *filename, int flags, umode_t mode)
        OpenArgs {
            filename: arg(0),
            dfd: AT_FDCWD,
            flags: arg(1) as u32,
            mode: arg(2) as u32,
            syscall: open_syscall::OPEN,
        }
    } else if nr == nrs[open_syscall::OPENAT2 as usize] {
        // openat2(int dfd, const char *filename, struct open_how *how, size_t usize),
        // struct open_how { u64 flags; u64 mode; u64 resolve; }
        let how = arg(2);
        // SAFETY: the helper checks the user address.
        let flags = unsafe { bpf_probe_read_user(how as *const u64) }.unwrap_or(0);
        // SAFETY: as above.
        let mode = unsafe { bpf_probe_read_user((how + 8) as *const u64) }.unwrap_or(0);
        OpenArgs {
            filename: arg(1),
            dfd: arg(0) as i32,
            flags: flags as u32,
            mode: mode as u32,
            syscall: open_syscall::OPENAT2,
        }
    } else if nr == nrs[open_syscall::CREAT as usize] {
        // creat(const char *pathname, umode_t mode)
        OpenArgs {
            filename: arg(0),
            dfd: AT_FDCWD,
            flags: CREAT_FLAGS,
            mode: arg(1) as u32,
            syscall: open_syscall::CREAT,
        }
    } else {
        return None;
    };
    Some(args)
}

/// The exit of every open-family syscall (`syscalls:sys_exit_open`, `_openat`,
/// `_openat2`, `_creat`): one program attached to the four, so the verifier checks
/// its path walks once. The record's syscall number tells which it was. Where
/// the kernel allows [`sys_exit_fast_open`], that program is attached instead
/// and tail-calls this one for the opens it cannot settle.
#[tracepoint]
pub fn sys_exit_open_family(ctx: TracePointContext) -> u32 {
    if !enabled(EventKind::Open) {
        return 0;
    }
    match try_exit(&ctx) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// A successful open's file, as far as the filter needs it. Filled in place
/// from zero, never held in an `Option`: LLVM spills the undefined fields of an
/// empty `Option` of a large struct, and the verifier refuses reads of them.
#[derive(Clone, Copy, Default)]
struct Opened {
    at: VfsPath,
    root: VfsPath,
    /// The dentry's identity (its inode gives the event's inode mode); zero if
    /// it could not be read.
    id: Identity,
    /// The opened file's `f_flags`: its access mode judges the open.
    file_flags: u32,
    /// Whether to remember this walk's verdict, under `key` and `generation`.
    remember: bool,
    key: VerdictKey,
    generation: u64,
}

/// What a successful open's fd says before any walk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Judged {
    /// A remembered verdict: unwatched for this access.
    Unwatched,
    /// The path must be walked; `Opened` holds what the walk needs.
    Walk,
    /// The fd's file could not be read.
    Unreadable,
}

/// Judges the open that returned `fd` by its remembered verdict when there is
/// one. The access comes from the opened file's `f_flags`, so this costs no read
/// of the syscall's arguments.
#[inline(always)]
fn judge(task: Current, fd: i64, filtering: bool, opened: &mut Opened) -> Judged {
    let Ok(file) = task.file_of_fd(fd) else {
        return Judged::Unreadable;
    };
    // Offsets one at a time: this path runs for every open, and copying the
    // whole offsets struct costs more than the few it needs.
    let file_flags_at = maps::offset(|o| &o.file_flags);
    let f_path_at = maps::offset(|o| &o.file_f_path);
    let (lo, hi) = (
        file_flags_at.min(f_path_at),
        file_flags_at.max(f_path_at) + 16,
    );
    let (file_flags, at) = match Window::read(file, lo, hi) {
        Ok(w) => (w.u32_at(file_flags_at), path_in(&w, f_path_at)),
        Err(_) => match (
            read_at::<u32>(file, file_flags_at),
            read_path(file, f_path_at),
        ) {
            (Ok(f), Ok(at)) => (f, at),
            _ => return Judged::Unreadable,
        },
    };
    let Ok(root) = root_of(task) else {
        return Judged::Unreadable;
    };
    opened.at = at;
    opened.root = root;
    opened.file_flags = file_flags;
    let Ok(id) = verdict::identity(at.dentry) else {
        return Judged::Walk;
    };
    opened.id = id;
    if filtering {
        let key = verdict::key(at, root);
        match verdict::lookup(&key, &id) {
            Some(bits) if bits & filter::wanted(file_flags) == 0 => return Judged::Unwatched,
            Some(_) => {}
            None => {
                opened.remember = true;
                opened.key = key;
                opened.generation = verdict::generation();
            }
        }
    }
    Judged::Walk
}

/// Whether the open that returned `fd` is of a file this CPU judged unwatched
/// for that access a moment ago. Most opens of a filtered stream are, so this
/// path reads the fd's file, its dentry and the task's root with plain loads
/// (no helper call) and looks only at the per-CPU table of recent verdicts.
/// `false` sends the open down the full path, which judges it anyway.
#[inline(always)]
fn recently_unwatched(task: Current, fd: i64) -> bool {
    let Some((slots, max_fds)) = task.fd_slots() else {
        return false;
    };
    if fd < 0 || fd >= i64::from(max_fds) {
        return false;
    }
    let file_addr: u64 = slots.load(fd as u64 * 8);
    if file_addr == 0 {
        return false;
    }
    let file = slots.at(file_addr);
    let f_path = u64::from(maps::offset(|o| &o.file_f_path));
    let at = VfsPath {
        mnt: file.load(f_path + u64::from(maps::offset(|o| &o.path_mnt))),
        dentry: file.load(f_path + u64::from(maps::offset(|o| &o.path_dentry))),
    };
    let file_flags: u32 = file.load(maps::offset(|o| &o.file_flags).into());
    let Ok(root) = root_of(task) else {
        return false;
    };
    let id = verdict::identity_in(slots.at(at.dentry));
    verdict::recent(&verdict::key(at, root), &id)
        .is_some_and(|bits| bits & filter::wanted(file_flags) == 0)
}

/// [`sys_exit_open_family`], set by the agent: where the fast program goes for
/// what it cannot settle.
#[map]
static OPEN_FULL: ProgramArray = ProgramArray::with_max_entries(1, 0);

/// The exit of every open-family syscall on kernels that give read-only
/// untrusted memory (see [`recently_unwatched`]): drops an open of a file this
/// CPU judged unwatched a moment ago, and passes every other open to
/// [`sys_exit_open_family`] by a tail call. A program of its own, so the path
/// most opens of a filtered stream take is short and not woven through the
/// full program's code; the agent falls back to attaching the full program
/// where the verifier refuses this one.
#[tracepoint]
pub fn sys_exit_fast_open(ctx: TracePointContext) -> u32 {
    if !enabled(EventKind::Open) {
        return 0;
    }
    let ret: i64 = field(&ctx, RET);
    if ret >= 0 && filter::filtering() && recently_unwatched(Current::get(), ret) {
        count(EventKind::Open, DropReason::Filtered);
        return 0;
    }
    // SAFETY: the context is this program's; a tail call that fails returns.
    unsafe { OPEN_FULL.tail_call(&ctx, 0) };
    // Only where the agent left the slot empty: the open goes unreported, and
    // is counted as unreadable rather than lost without a trace.
    count(EventKind::Open, DropReason::ReadFailed);
    1
}

#[inline(always)]
fn try_exit(ctx: &TracePointContext) -> Result<(), i32> {
    let ret: i64 = field(ctx, RET);
    let filtering = filter::filtering();
    let task = Current::get();
    // A successful open of a file judged before is decided here, without a walk
    // or a read of the arguments; otherwise this walk's verdict is remembered.
    let mut opened = Opened::default();
    let judged = if ret >= 0 {
        judge(task, ret, filtering, &mut opened)
    } else {
        Judged::Unreadable
    };
    if judged == Judged::Unwatched {
        count(EventKind::Open, DropReason::Filtered);
        return Ok(());
    }
    let walkable = judged == Judged::Walk;
    let nr: i32 = field(ctx, SYSCALL_NR);
    let Some(args) = open_args(task, nr) else {
        count(EventKind::Open, DropReason::ReadFailed);
        return Ok(());
    };
    // A successful open is judged by the access its file has, as on the path
    // above that judged it by a remembered verdict; a failed one by its flags.
    let wanted = filter::wanted(if walkable {
        opened.file_flags
    } else {
        args.flags
    });
    // A failed open with an absolute path is judged by that path, read straight
    // into the prefix trie's key: no scratch copy, no walk.
    if ret < 0
        && filtering
        && filter::absolute_user_path_access(args.filename).is_some_and(|bits| bits & wanted == 0)
    {
        count(EventKind::Open, DropReason::Filtered);
        return Ok(());
    }
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
    let (start, end) = if ret >= 0 {
        event.path_source = path_source::OPENED;
        opened_path(scratch, walkable.then_some(&opened), event)
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
    // risk dropping a watched open. Nor is its verdict remembered.
    if !partial && filtering {
        let mut bits = filter::watched_access(path, len);
        if walkable {
            bits |=
                filter::watched_name_access(opened.at.dentry, opened.at.mnt, opened.id.hash_len());
        }
        if walkable && opened.remember {
            verdict::store(&opened.key, &opened.id, opened.generation, bits);
        }
        if bits & wanted == 0 {
            count(EventKind::Open, DropReason::Filtered);
            return Ok(());
        }
    }
    if partial {
        count(EventKind::Open, DropReason::Truncated);
    }
    let path_flags = event.header.flags;
    fill_header(&mut event.header, EventKind::Open, task);
    event.header.flags |= path_flags;
    event.path_len = len as u32;
    // SAFETY: source offset masked inside the scratch buffer's first two thirds,
    // length below PATH_MAX, destination sized PATH_MAX.
    unsafe { bpf_probe_read_kernel(record.path.as_mut_ptr().cast(), len as u32, path.cast()) };
    let size = core::mem::size_of::<FileEvent>() + len;
    output(record as *mut FileRecord, size, EventKind::Open)
}

/// For a successful open: the path of the file behind the new fd, walked to the
/// task's root, and its inode mode. Returns `(start, end)`; an empty, flagged
/// path if the file could not be read.
#[inline(always)]
fn opened_path(
    scratch: &mut PathScratch,
    opened: Option<&Opened>,
    event: &mut FileEvent,
) -> (usize, usize) {
    let Some(opened) = opened else {
        event.header.flags |= flags::PATH_INCOMPLETE;
        count(EventKind::Open, DropReason::ReadFailed);
        return (END, END);
    };
    let o = maps::offsets();
    event.inode_mode = u32::from(read_at::<u16>(opened.id.inode, o.inode_mode).unwrap_or(0));
    let walked = walk(scratch, opened.at, opened.root);
    event.header.flags |= walked.flags;
    (walked.start, END)
}
