//! Process exit: one event when the last thread of a process is gone, with the
//! exit status, so the agent can retire the process from its table.

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use sensor_common::{DropReason, EventKind, ExitEvent};

use crate::{
    emit::{count, enabled, fill_header, submit_flags},
    kernel,
    maps::{self, EVENTS},
};

/// `sched:sched_process_exit(struct task_struct *p)`, run in the exiting thread
/// after `exit_code` is set and the process's live-thread count is decremented.
#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn process_exit(ctx: TracePointContext) -> u32 {
    match try_sched_process_exit(&ctx) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

fn try_sched_process_exit(_ctx: &TracePointContext) -> Result<(), i32> {
    if !enabled(EventKind::Exit) {
        return Ok(());
    }
    let offsets = maps::offsets();
    let task = kernel::current_task();
    // `signal->live` counts the process's running threads; the tracepoint fires
    // after this thread's decrement, so 0 means the whole process is gone. (Newer
    // kernels also pass `group_dead`; this works on older ones too.)
    let signal: u64 = kernel::read_at(task, offsets.task_signal)?;
    let live: i32 = kernel::read_at(signal, offsets.signal_live)?;
    if live != 0 {
        return Ok(());
    }
    let exit_code: i32 = kernel::read_at(task, offsets.task_exit_code).unwrap_or(0);
    let Some(mut entry) = EVENTS.reserve::<ExitEvent>(0) else {
        count(EventKind::Exit, DropReason::RingFull);
        return Err(-1);
    };
    // SAFETY: the reservation is sized for an ExitEvent, written in full below.
    let event = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(&mut event.header, EventKind::Exit, kernel::Current::get());
    event.exit_code = exit_code as u32;
    event._pad = 0;
    entry.submit(submit_flags::<ExitEvent>());
    Ok(())
}
