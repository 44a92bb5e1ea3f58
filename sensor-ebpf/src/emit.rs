//! The event header, drop counting, and the ring buffer's wakeup policy.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id, bpf_ktime_get_boot_ns,
    },
};
use sensor_common::{
    DropReason, EventHeader, EventKind,
    counters::counter_slot,
    event::flags,
    filters::{SCOPE_DEPTH, settings},
};

use crate::{
    kernel::Current,
    maps::{self, COUNTERS, EVENTS, KINDS, QUIET_UNTIL, SCOPE_CGROUPS},
};

/// Whether the agent turned `kind` on and the current task is in scope.
#[inline(always)]
pub fn enabled(kind: EventKind) -> bool {
    KINDS.get(kind as u32).is_some_and(|on| *on != 0) && in_scope()
}

/// Whether the current task is in a cgroup subtree the agent scoped to (always,
/// when it set no scope). Walks up from the task's own cgroup: a subtree's root id
/// in `SCOPE_CGROUPS` takes in every container below it.
#[inline(always)]
fn in_scope() -> bool {
    if maps::setting(settings::CGROUP_SCOPE) == 0 {
        return true;
    }
    for level in 0..SCOPE_DEPTH {
        // SAFETY: the helper has no preconditions; it returns 0 past the task's depth.
        let id = unsafe { bpf_get_current_ancestor_cgroup_id(level) };
        if id == 0 {
            break;
        }
        if SCOPE_CGROUPS.get_ptr(id).is_some() {
            return true;
        }
    }
    false
}

/// Adds one to the counter of `kind` and `reason` on this CPU.
#[inline(always)]
pub fn count(kind: EventKind, reason: DropReason) {
    if let Some(slot) = COUNTERS.get_ptr_mut(counter_slot(kind, reason)) {
        // SAFETY: per-CPU slot; programs on one CPU do not preempt each other here.
        unsafe { *slot += 1 };
    }
}

/// Fills the common header from the current task, `task`. Ids, credentials and `comm`
/// are loads through the task's BTF pointer (what the `get_current_*` helpers
/// read, without a helper call each).
#[inline(always)]
pub fn fill_header(header: &mut EventHeader, kind: EventKind, task: Current) {
    let current = task.ids();
    header.kind = kind as u32;
    header.flags = 0;
    // SAFETY: these helpers have no preconditions.
    header.boot_ns = unsafe { bpf_ktime_get_boot_ns() };
    header.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    header.tgid = current.tgid;
    header.tid = current.tid;
    header.uid = current.uid;
    header.gid = current.gid;
    header.comm = current.comm;
    (header.start_ns, header.exec_seq) = task.process_start();
    // Only the idle task (0) and its two children, init (1) and kthreadd (2),
    // have no parent with a tgid; for any other a 0 means the read failed.
    header.ppid = task.parent_tgid();
    if header.ppid == 0 && header.tgid > 2 {
        header.flags |= flags::PPID_UNREADABLE;
        count(kind, DropReason::ReadFailed);
    }
}

/// Flags for `bpf_ringbuf_submit`. Waking the reader costs about 8.5 µs on a VM, so a
/// record wakes it once `WAKEUP_BYTES` of data wait unread, or when it is alone
/// in the ring and the reader is neither known to look soon nor was woken so
/// within `QUIET_WAKEUP_NS` (a quiet machine's events are read at once, a busy
/// one's in batches by the reader's own timer, which costs the workload no
/// wakeup); the reader polls on a timer as well, which bounds the latency of
/// what falls between. `T` is the record reserved in the ring and about to be
/// submitted (`()` for one copied in by `bpf_ringbuf_output`): a reserved
/// record already counts as unread data, so alone it leaves its own size waiting.
#[inline(always)]
pub fn submit_flags<T>() -> u64 {
    let threshold = maps::wakeup_bytes();
    if threshold == 0 {
        return 0;
    }
    let waiting = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    if waiting >= threshold {
        return BPF_RB_FORCE_WAKEUP as u64;
    }
    // The ring's 8-byte record header, and records rounded up to 8 bytes.
    let own = if core::mem::size_of::<T>() == 0 {
        0
    } else {
        ((core::mem::size_of::<T>() + 8 + 7) & !7) as u64
    };
    let gap = maps::quiet_wakeup_ns();
    if waiting <= own
        && gap != 0
        && let Some(until) = QUIET_UNTIL.get_ptr_mut(0)
    {
        // SAFETY: this helper has no preconditions.
        let now = unsafe { bpf_ktime_get_boot_ns() };
        // SAFETY: a map value; a racing write only moves one wakeup (see QUIET_UNTIL).
        let until = unsafe { &mut *until };
        if now >= *until {
            *until = now.saturating_add(gap);
            return BPF_RB_FORCE_WAKEUP as u64;
        }
    }
    BPF_RB_NO_WAKEUP as u64
}

/// Copies the first `size` bytes of a record built in map memory into the ring
/// buffer, for records whose size varies (a path follows the fixed part). Counts
/// a full ring as a loss of `kind`.
#[inline(always)]
pub fn output<T>(record: *mut T, size: usize, kind: EventKind) -> Result<(), i32> {
    // SAFETY: `record` is a map value of at least `size` bytes (callers bound
    // `size` by the record's size); the helper copies it into the ring.
    let rc = unsafe {
        aya_ebpf::helpers::generated::bpf_ringbuf_output(
            &EVENTS as *const _ as *mut core::ffi::c_void,
            record.cast(),
            size as u64,
            submit_flags::<()>(),
        )
    };
    if rc != 0 {
        count(kind, DropReason::RingFull);
        return Err(-1);
    }
    Ok(())
}
