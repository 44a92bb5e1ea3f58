//! Process exec.
//!
//! `sched:sched_process_exec` fires once the new program is in place, so it reports
//! only execs that succeeded, with the new `comm` and credentials. The arguments are
//! read from the new program's own stack (`mm->arg_start..arg_end`), where the kernel
//! copied them: unlike a read of the `argv` pointers at `sys_enter_execve`, another
//! thread cannot change them between our read and the kernel's, and there is no
//! per-thread state to stage and clean up. `sys_enter_execveat`/`sys_exit_execveat`
//! only mark threads inside `execveat(2)`, which exec by file descriptor (fileless
//! execution starts there).

use aya_ebpf::{
    EbpfContext,
    helpers::generated::{bpf_probe_read_kernel_str, bpf_probe_read_user},
    macros::tracepoint,
    programs::TracePointContext,
};
use aya_log_ebpf::error;
use sensor_common::{
    DropReason, EventKind, ExecEvent,
    event::{ARGS_LEN, FILENAME_LEN, PATH_MAX, flags},
};

use crate::{
    emit::{count, enabled, fill_header, submit_flags},
    file::path::{END, PATH_SCRATCH, read_path, root_of, walk},
    kernel,
    maps::{self, EVENTS, EXECVEAT_INFLIGHT},
    process::facts,
};

/// `sched_process_exec` format: `__data_loc char[] filename` (offset in the low 16
/// bits, length with the NUL in the high 16), then `pid_t pid`, `pid_t old_pid`.
/// The agent checks these against tracefs before it attaches.
const SCHED_EXEC_FILENAME_LOC: usize = 8;
const SCHED_EXEC_OLD_PID: usize = 16;

/// `sched:sched_process_exec(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)`.
#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    match try_sched_process_exec(&ctx) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

fn try_sched_process_exec(ctx: &TracePointContext) -> Result<(), i32> {
    if !enabled(EventKind::Exec) {
        return Ok(());
    }
    let offsets = maps::offsets();
    if offsets.task_mm == 0 {
        // The agent always sets the offsets; reaching this is a loader bug.
        error!(
            ctx,
            "kernel offsets were not set at load; exec events are incomplete"
        );
    }
    let Some(mut entry) = EVENTS.reserve::<ExecEvent>(0) else {
        count(EventKind::Exec, DropReason::RingFull);
        return Err(-1);
    };
    // SAFETY: the reservation is sized for an ExecEvent, and each field is written
    // below before the record is submitted.
    let event = unsafe { &mut *entry.as_mut_ptr() };
    let task = kernel::Current::get();
    fill_header(&mut event.header, EventKind::Exec, task);
    event.loginuid = task.loginuid();
    event.tty = task.tty();
    event.vpid = task.vpid();
    event._pad = 0;
    event.exe_ctime_sec = 0;
    event.exe_ctime_nsec = 0;
    // Cleared once `exe_path` has read the change time.
    event.header.flags |= flags::EXE_CTIME_UNREADABLE;
    facts::fill(event, task);

    // SAFETY: offsets inside the tracepoint record, checked against its format.
    let old_pid: i32 = unsafe { ctx.read_at(SCHED_EXEC_OLD_PID) }.unwrap_or(0);
    if EXECVEAT_INFLIGHT.get_ptr(old_pid as u32).is_some() {
        event.header.flags |= flags::VIA_EXECVEAT;
        let _ = EXECVEAT_INFLIGHT.remove(old_pid as u32);
    }

    if exe_path(event, task).is_err() {
        event.header.flags |= flags::EXEPATH_AS_GIVEN;
        read_filename(ctx, event);
    }
    read_args(event);
    entry.submit(submit_flags::<ExecEvent>());
    Ok(())
}

/// Writes the executable's own path (walked from `mm->exe_file`) into the event and
/// flags a fileless executable. Fails, leaving the event as it was, when the walk
/// cannot give a whole path.
#[inline(always)]
fn exe_path(event: &mut ExecEvent, current: kernel::Current) -> Result<(), i32> {
    let o = maps::offsets();
    let task = kernel::current_task();
    let mm: u64 = kernel::read_at(task, o.task_mm)?;
    let exe: u64 = kernel::read_at(mm, o.mm_exe_file)?;
    let at = read_path(exe, o.file_f_path)?;
    if let Ok(inode) = kernel::read_at::<u64>(at.dentry, o.dentry_inode)
        && facts::exe_inode(event, inode) == Ok(0)
    {
        event.header.flags |= flags::EXE_UNLINKED;
        let name: u64 = kernel::read_at(at.dentry, o.dentry_name + o.qstr_name)?;
        if kernel::read_at::<[u8; 6]>(name, 0) == Ok(*b"memfd:") {
            event.header.flags |= flags::EXE_FROM_MEMFD;
        }
    }
    let root = root_of(current)?;
    let scratch = PATH_SCRATCH.get_ptr_mut(0).ok_or(-1)?;
    // SAFETY: the per-CPU scratch, used by this program alone while it runs.
    let scratch = unsafe { &mut *scratch };
    let walked = walk(scratch, at, root);
    if walked.flags != 0 {
        return Err(-1);
    }
    let len = END.saturating_sub(walked.start);
    let keep = if len < FILENAME_LEN {
        len
    } else {
        FILENAME_LEN - 1
    };
    if len >= FILENAME_LEN {
        event.header.flags |= flags::FILENAME_TRUNCATED;
        count(EventKind::Exec, DropReason::Truncated);
    }
    // SAFETY: source masked inside the scratch buffer, size below the destination's.
    unsafe {
        aya_ebpf::helpers::generated::bpf_probe_read_kernel(
            event.filename.as_mut_ptr().cast(),
            (keep & (FILENAME_LEN - 1)) as u32,
            scratch
                .buf
                .as_ptr()
                .add(walked.start & (2 * PATH_MAX - 1))
                .cast(),
        )
    };
    event.filename_len = (keep & (FILENAME_LEN - 1)) as u32;
    Ok(())
}

/// Copies `bprm->filename` from the tracepoint record.
#[inline(always)]
fn read_filename(ctx: &TracePointContext, event: &mut ExecEvent) {
    // SAFETY: offset inside the tracepoint record, checked against its format.
    let loc: u32 = unsafe { ctx.read_at(SCHED_EXEC_FILENAME_LOC) }.unwrap_or(0);
    let src = (ctx.as_ptr() as u64 + (loc & 0xffff) as u64) as *const core::ffi::c_void;
    let full_len = (loc >> 16) as usize;
    // SAFETY: the helper checks the source address and bounds the copy by the size.
    let copied = unsafe {
        bpf_probe_read_kernel_str(event.filename.as_mut_ptr().cast(), FILENAME_LEN as u32, src)
    };
    if copied <= 0 {
        event.filename_len = 0;
        event.header.flags |= flags::FILENAME_TRUNCATED;
        count(EventKind::Exec, DropReason::ReadFailed);
        return;
    }
    event.filename_len = (copied as u32).saturating_sub(1);
    if full_len > FILENAME_LEN {
        event.header.flags |= flags::FILENAME_TRUNCATED;
        count(EventKind::Exec, DropReason::Truncated);
    }
}

/// Copies the new program's arguments from `current->mm->arg_start..arg_end`.
#[inline(always)]
fn read_args(event: &mut ExecEvent) {
    event.args_len = 0;
    let offsets = maps::offsets();
    let Ok(mm) = kernel::read_at::<u64>(kernel::current_task(), offsets.task_mm) else {
        return args_unreadable(event);
    };
    let (Ok(start), Ok(end)) = (
        kernel::read_at::<u64>(mm, offsets.mm_arg_start),
        kernel::read_at::<u64>(mm, offsets.mm_arg_end),
    ) else {
        return args_unreadable(event);
    };
    if end <= start {
        return args_unreadable(event);
    }
    let len = end - start;
    let dst = event.args.as_mut_ptr().cast();
    let src = start as *const core::ffi::c_void;
    // Two calls with sizes the verifier can bound: the full buffer, or a length
    // masked below it.
    let (ret, read) = if len >= ARGS_LEN as u64 {
        if len > ARGS_LEN as u64 {
            event.header.flags |= flags::ARGS_TRUNCATED;
            count(EventKind::Exec, DropReason::Truncated);
        }
        // SAFETY: the helper checks the source; the size is the buffer's.
        (
            unsafe { bpf_probe_read_user(dst, ARGS_LEN as u32, src) },
            ARGS_LEN as u32,
        )
    } else {
        let n = (len as u32) & (ARGS_LEN as u32 - 1);
        // SAFETY: as above; n < ARGS_LEN.
        (unsafe { bpf_probe_read_user(dst, n, src) }, n)
    };
    if ret < 0 {
        return args_unreadable(event);
    }
    event.args_len = read;
}

#[inline(always)]
fn args_unreadable(event: &mut ExecEvent) {
    event.args_len = 0;
    event.header.flags |= flags::ARGS_UNREADABLE;
    count(EventKind::Exec, DropReason::ReadFailed);
}

/// `syscalls:sys_enter_execveat(int fd, const char *filename, argv, envp, int flags)`.
#[tracepoint(category = "syscalls", name = "sys_enter_execveat")]
pub fn sys_enter_execveat(_ctx: TracePointContext) -> u32 {
    if !enabled(EventKind::Exec) {
        return 0;
    }
    let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
    // A full LRU map evicts its oldest entry; the insert itself cannot fail for room.
    let _ = EXECVEAT_INFLIGHT.insert(tid, 1, 0);
    0
}

/// `syscalls:sys_exit_execveat(long ret)`: clears the mark left by a failed execveat.
#[tracepoint(category = "syscalls", name = "sys_exit_execveat")]
pub fn sys_exit_execveat(_ctx: TracePointContext) -> u32 {
    let tid = aya_ebpf::helpers::bpf_get_current_pid_tgid() as u32;
    let _ = EXECVEAT_INFLIGHT.remove(tid);
    0
}
