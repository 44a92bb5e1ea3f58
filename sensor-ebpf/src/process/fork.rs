//! New processes. The raw tracepoint hands over the child's task, so the program can
//! tell a new process (child tgid == child pid) from a new thread, and drop threads
//! in the kernel: the agent's process table needs processes only.

use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};
use sensor_common::{DropReason, EventHeader, EventKind};

use crate::{
    emit::{count, enabled, fill_header, submit_flags},
    kernel,
    maps::{self, EVENTS},
};

/// Raw `sched_process_fork(struct task_struct *parent, struct task_struct *child)`,
/// run in the parent after the child is set up.
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> u32 {
    match try_sched_process_fork(&ctx) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

fn try_sched_process_fork(ctx: &RawTracePointContext) -> Result<(), i32> {
    if !enabled(EventKind::Fork) {
        return Ok(());
    }
    let child: u64 = ctx.arg(1);
    let offsets = maps::offsets();
    let child_tgid: i32 = kernel::read_at(child, offsets.task_tgid)?;
    let child_pid: i32 = kernel::read_at(child, offsets.task_pid)?;
    if child_tgid != child_pid {
        // A new thread, not a new process.
        return Ok(());
    }
    let Some(mut entry) = EVENTS.reserve::<EventHeader>(0) else {
        count(EventKind::Fork, DropReason::RingFull);
        return Err(-1);
    };
    // SAFETY: the reservation is sized for a header, written in full below.
    let header = unsafe { &mut *entry.as_mut_ptr() };
    // The event describes the child, which shares the parent's credentials, comm
    // and cgroup at this point: only its ids and its parent differ.
    fill_header(header, EventKind::Fork, kernel::Current::get());
    header.ppid = header.tgid;
    header.flags = 0;
    header.tgid = child_tgid as u32;
    header.tid = child_pid as u32;
    // The child leads its own thread group; its exec count is the parent's.
    header.start_ns = kernel::read_at(child, offsets.task_start_boottime).unwrap_or(0);
    entry.submit(submit_flags::<EventHeader>());
    Ok(())
}
