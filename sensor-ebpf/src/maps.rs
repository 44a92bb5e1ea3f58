//! Maps shared by all programs, and the load-time globals the agent sets.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, RingBuf},
};
use sensor_common::{
    COUNTER_SLOTS, EventKind, KernelOffsets,
    filters::{NET_ADDRS_MAX, NET_PORTS_MAX, SCOPE_CGROUPS_MAX, settings},
};

/// Every event record goes here. The agent may resize it at load time.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

/// Per-CPU counts of records lost or cut, by kind and reason (see `sensor_common::counters`).
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

/// Which event kinds are on, indexed by kind number (non-zero = on). The agent
/// writes it at start and whenever its configuration changes.
#[map]
pub static KINDS: Array<u32> = Array::with_max_entries(EventKind::MAX + 1, 0);

/// Filter settings by index (`sensor_common::filters::settings`), written by the agent.
#[map]
pub static SETTINGS: Array<u32> = Array::with_max_entries(settings::COUNT, 0);

/// Roots of the cgroup subtrees in scope, by cgroup id (see `emit::enabled`).
#[map]
pub static SCOPE_CGROUPS: HashMap<u64, u8> = HashMap::with_max_entries(SCOPE_CGROUPS_MAX, 0);

/// Ports of interest for network events, host order.
#[map]
pub static NET_PORTS: HashMap<u16, u8> = HashMap::with_max_entries(NET_PORTS_MAX, 0);

/// Address ranges of interest for network events: IPv6 prefixes, IPv4 ones
/// mapped into `::ffff:0:0/96`.
#[map]
pub static NET_ADDRS: LpmTrie<[u8; 16], u8> = LpmTrie::with_max_entries(NET_ADDRS_MAX, 0);

/// A setting's value (0 when unset).
#[inline(always)]
pub fn setting(index: u32) -> u32 {
    SETTINGS.get(index).copied().unwrap_or(0)
}

/// Threads inside `execveat(2)`, keyed by thread id, so the exec event can say which
/// syscall it came through. LRU so that a missed exit can never fill it.
#[map]
pub static EXECVEAT_INFLIGHT: LruHashMap<u32, u32> = LruHashMap::with_max_entries(4096, 0);

// Load-time globals are plain statics read through `read_volatile`, not
// `aya_ebpf::Global`: the kernel refuses the BTF that `Global<T>` generates (its
// `MaybeUninit<..>` type name is invalid there), and aya then loads the object
// without BTF, with a warning on every start.

/// Kernel struct offsets from the running kernel's BTF, set by the agent at load.
#[unsafe(no_mangle)]
// SAFETY: all-integer struct; zero is a valid value (and is always overwritten).
static OFFSETS: KernelOffsets = unsafe { core::mem::zeroed() };

/// Unread bytes in `EVENTS` from which a record wakes the reader; 0 = kernel default.
#[unsafe(no_mangle)]
static WAKEUP_BYTES: u64 = 0;

/// A record into an empty ring wakes the reader if none did for this many
/// nanoseconds; 0 = never. Set by the agent at load.
#[unsafe(no_mangle)]
static QUIET_WAKEUP_NS: u64 = 0;

/// Before this time (the boot clock, ns) no record wakes the reader for being
/// alone in the ring: the quiet gap past the last such wakeup, or, written by
/// the reader, the time it will look anyway. Written by every CPU and the reader
/// without a lock: a lost write lets one more wakeup through, or holds one back
/// until the reader's next look.
#[map]
pub static QUIET_UNTIL: Array<u64> = Array::with_max_entries(1, 0);

/// The agent's own process id, set at load, so it can leave out its own bpf(2) calls.
#[unsafe(no_mangle)]
static SELF_TGID: u32 = 0;

/// This architecture's open-family syscall numbers, by `event::open_syscall`; -1
/// where it has none. Set by the agent at load.
#[unsafe(no_mangle)]
static OPEN_NRS: [i32; 4] = [-1; 4];

/// The open-family syscall numbers the agent set at load.
#[inline(always)]
pub fn open_nrs() -> [i32; 4] {
    // SAFETY: as for `offsets`.
    unsafe { core::ptr::read_volatile(&OPEN_NRS) }
}

/// The agent's own process id.
#[inline(always)]
pub fn self_tgid() -> u32 {
    // SAFETY: as for `offsets`.
    unsafe { core::ptr::read_volatile(&SELF_TGID) }
}

/// One kernel struct offset, read alone from the frozen read-only global: the
/// verifier then knows its value, so a load at that offset from a BTF pointer
/// (see `kernel::btf_load`) is checked against the kernel's types at load time
/// and needs no helper call at run time.
#[inline(always)]
pub fn offset(member: fn(&KernelOffsets) -> &u32) -> u32 {
    // SAFETY: a valid static; volatile for the reason given in `offsets`.
    unsafe { core::ptr::read_volatile(member(&OFFSETS)) }
}

/// The kernel struct offsets the agent set at load.
#[inline(always)]
pub fn offsets() -> KernelOffsets {
    // SAFETY: a valid static; the volatile read keeps the compiler from folding in
    // the zero it was compiled with instead of the value the loader wrote.
    unsafe { core::ptr::read_volatile(&OFFSETS) }
}

/// The quiet wakeup gap the agent set at load.
#[inline(always)]
pub fn quiet_wakeup_ns() -> u64 {
    // SAFETY: as for `offsets`.
    unsafe { core::ptr::read_volatile(&QUIET_WAKEUP_NS) }
}

/// The wakeup threshold the agent set at load.
#[inline(always)]
pub fn wakeup_bytes() -> u64 {
    // SAFETY: as for `offsets`.
    unsafe { core::ptr::read_volatile(&WAKEUP_BYTES) }
}
