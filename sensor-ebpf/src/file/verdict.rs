//! Remembered filter verdicts for opened files, so an open outside every watched
//! prefix is dropped without walking its path again.
//!
//! The path the prefix filter judges depends on the opened dentry, the mount it
//! was reached through and the task's root: the cache is keyed by all four
//! pointers. A verdict is used only while the dentry still has the parent, name
//! hash and inode it had when the path was walked (so a freed dentry reused for
//! another file misses), and only while the generation it was stored under is
//! current. The generation moves on when the watched prefixes change (the
//! agent) and whenever a path can change meaning without its dentry changing: a
//! rename (of the file or of any directory above it) or a change to the mount
//! tree (mount, umount, move_mount, pivot_root; container start-up goes through
//! these). A verdict is stored under the generation read before its walk, so a
//! walk that raced a change is never trusted afterwards. What stays open is the
//! race every in-kernel path walk has: an open between a rename and the rename's
//! exit tracepoint may be judged by the old path.
//!
//! Two tables keep verdicts: a small per-CPU one of recent verdicts, looked at
//! first because its lookup costs no hashing, and the shared LRU map behind it.

use super::path::VfsPath;
use crate::{
    kernel::{KernelMem, Window, read_at},
    maps,
};
use aya_ebpf::{
    helpers::bpf_ktime_get_ns,
    macros::{map, tracepoint},
    maps::{Array, LruHashMap, PerCpuArray},
    programs::TracePointContext,
};

/// Files whose verdicts are remembered at most; LRU, so the hot ones stay.
const VERDICTS_MAX: u32 = 16384;

/// Slots of each CPU's table of recent verdicts (a power of two).
const RECENT_SLOTS: u32 = 512;

/// What a verdict depends on besides the dentry's own fields.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct VerdictKey {
    dentry: u64,
    mnt: u64,
    root_dentry: u64,
    root_mnt: u64,
}

/// A remembered verdict: the `filters::access` bits watched at the file's path,
/// and what identified the dentry when its path was walked.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Verdict {
    parent: u64,
    hash_len: u64,
    inode: u64,
    generation: u64,
    access: u32,
    _pad: u32,
}

/// The generation of remembered verdicts (one `u64`): moved on by the agent
/// after it changes the watched prefixes, and here when a path can change.
///
/// Each move writes the monotonic clock's time, not an increment: the BPF
/// target has no atomic add in Rust, and two CPUs incrementing at once could
/// write the same value, so that one change went unseen. A time is written only
/// once, so every write changes the value, whichever lands last.
#[map]
static OPEN_VERDICT_GENERATION: Array<u64> = Array::with_max_entries(1, 0);

#[map]
static OPEN_VERDICTS: LruHashMap<VerdictKey, Verdict> =
    LruHashMap::with_max_entries(VERDICTS_MAX, 0);

/// A verdict with its key, as the per-CPU table of recent ones keeps it.
#[repr(C)]
#[derive(Clone, Copy)]
struct Recent {
    key: VerdictKey,
    verdict: Verdict,
}

/// Each CPU's recent verdicts, direct-mapped by the dentry's name hash: checked
/// before `OPEN_VERDICTS`. A hash map lookup hashes the 32-byte key and walks a
/// bucket (some 20 ns, a fifth of an unwatched open's cost); an array slot
/// needs neither. An entry is trusted exactly as one
/// of `OPEN_VERDICTS` is (same key, same dentry identity, current generation),
/// so a slot overwritten by another file or left stale only costs a miss.
#[map]
static RECENT_VERDICTS: PerCpuArray<Recent> = PerCpuArray::with_max_entries(RECENT_SLOTS, 0);

/// The recent-verdict slot of a dentry with `id`, from its name's hash (the
/// kernel salts it with the parent's address, so equal names in different
/// directories spread too). Not from the dentry's address: the open program's
/// fast path holds that as a BTF pointer, which the verifier lets it compare
/// but not shift.
#[inline(always)]
fn recent_slot(id: &Identity) -> u32 {
    let h = id.hash_len;
    (h ^ (h >> 9) ^ (h >> 32)) as u32 & (RECENT_SLOTS - 1)
}

/// The dentry fields a verdict is checked against.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Identity {
    parent: u64,
    hash_len: u64,
    /// `d_inode`.
    pub inode: u64,
}

impl Identity {
    /// The dentry's `d_name.hash_len`: its name's length in the high half.
    #[inline(always)]
    pub fn hash_len(&self) -> u64 {
        self.hash_len
    }
}

/// The key for a file reached at `at` by a task whose root is `root`.
#[inline(always)]
pub fn key(at: VfsPath, root: VfsPath) -> VerdictKey {
    VerdictKey {
        dentry: at.dentry,
        mnt: at.mnt,
        root_dentry: root.dentry,
        root_mnt: root.mnt,
    }
}

/// The fields of `dentry` that tell it apart from a later reuse of its memory:
/// neighbours, read at once where the layout allows.
#[inline(always)]
pub fn identity(dentry: u64) -> Result<Identity, i32> {
    let parent = maps::offset(|o| &o.dentry_parent);
    let hash_len = maps::offset(|o| &o.dentry_hash_len);
    let inode = maps::offset(|o| &o.dentry_inode);
    let lo = parent.min(hash_len).min(inode);
    let hi = parent.max(hash_len).max(inode) + 8;
    if let Ok(w) = Window::read(dentry, lo, hi) {
        return Ok(Identity {
            parent: w.u64_at(parent),
            hash_len: w.u64_at(hash_len),
            inode: w.u64_at(inode),
        });
    }
    Ok(Identity {
        parent: read_at(dentry, parent)?,
        hash_len: read_at(dentry, hash_len)?,
        inode: read_at(dentry, inode)?,
    })
}

/// [`identity`] of the dentry `dentry` views: plain loads, no helper call.
#[inline(always)]
pub fn identity_in(dentry: KernelMem) -> Identity {
    Identity {
        parent: dentry.load(maps::offset(|o| &o.dentry_parent).into()),
        hash_len: dentry.load(maps::offset(|o| &o.dentry_hash_len).into()),
        inode: dentry.load(maps::offset(|o| &o.dentry_inode).into()),
    }
}

/// The current generation of verdicts.
#[inline(always)]
pub fn generation() -> u64 {
    match OPEN_VERDICT_GENERATION.get_ptr(0) {
        // SAFETY: a valid, aligned map value; an aligned 8-byte load is whole.
        Some(slot) => unsafe { core::ptr::read_volatile(slot) },
        None => 0,
    }
}

/// The remembered access bits for `key`, if the verdict is still good for a
/// dentry with `id`.
#[inline(always)]
pub fn lookup(key: &VerdictKey, id: &Identity) -> Option<u32> {
    let generation = generation();
    let recent = RECENT_VERDICTS.get_ptr_mut(recent_slot(id));
    if let Some(access) = recent.and_then(|slot| held(slot, key, id, generation)) {
        return Some(access);
    }
    let verdict = OPEN_VERDICTS.get_ptr(key)?;
    // SAFETY: a valid map value; a concurrent update can only make it miss below.
    let v = unsafe { *verdict };
    if !v.holds_for(id, generation) {
        return None;
    }
    if let Some(recent) = recent {
        remember_recent(recent, key, v);
    }
    Some(v.access)
}

/// The remembered access bits for `key` in this CPU's table of recent verdicts
/// alone, if its slot holds a verdict still good for a dentry with `id`.
#[inline(always)]
pub fn recent(key: &VerdictKey, id: &Identity) -> Option<u32> {
    let slot = RECENT_VERDICTS.get_ptr(recent_slot(id))?;
    held(slot, key, id, generation())
}

/// The access bits the recent-verdict slot `slot` holds for `key`, if its
/// verdict is still good for a dentry with `id` under `generation`.
#[inline(always)]
fn held(slot: *const Recent, key: &VerdictKey, id: &Identity, generation: u64) -> Option<u32> {
    // SAFETY: a slot of this CPU's map; programs on one CPU do not preempt
    // each other.
    let r = unsafe { &*slot };
    (r.key == *key && r.verdict.holds_for(id, generation)).then_some(r.verdict.access)
}

/// Puts `verdict` for `key` in this CPU's recent-verdict slot `slot`.
#[inline(always)]
fn remember_recent(slot: *mut Recent, key: &VerdictKey, verdict: Verdict) {
    // SAFETY: a slot of this CPU's map; programs on one CPU do not preempt
    // each other.
    unsafe { *slot = Recent { key: *key, verdict } };
}

impl Verdict {
    /// Whether this verdict still judges a dentry with `id` under `generation`.
    #[inline(always)]
    fn holds_for(&self, id: &Identity, generation: u64) -> bool {
        self.generation == generation
            && self.parent == id.parent
            && self.hash_len == id.hash_len
            && self.inode == id.inode
    }
}

/// Remembers the access bits watched at the path walked for `key`, under the
/// generation read before the walk.
#[inline(always)]
pub fn store(key: &VerdictKey, id: &Identity, generation: u64, access: u32) {
    let verdict = Verdict {
        parent: id.parent,
        hash_len: id.hash_len,
        inode: id.inode,
        generation,
        access,
        _pad: 0,
    };
    let _ = OPEN_VERDICTS.insert(key, verdict, 0);
    if let Some(recent) = RECENT_VERDICTS.get_ptr_mut(recent_slot(id)) {
        remember_recent(recent, key, verdict);
    }
}

/// Moves the generation on: every remembered verdict is stale.
#[inline(always)]
pub fn invalidate() {
    if let Some(slot) = OPEN_VERDICT_GENERATION.get_ptr_mut(0) {
        // SAFETY: a valid, aligned map value; an aligned 8-byte store is whole.
        unsafe { core::ptr::write_volatile(slot, bpf_ktime_get_ns()) };
    }
}

/// The exit of a syscall that can change what path a dentry has
/// (`syscalls:sys_exit_rename*`, `_mount`, `_umount`, `_move_mount`,
/// `_pivot_root`): remembered verdicts are stale, whatever the result.
#[tracepoint]
pub fn sys_exit_path_change(_ctx: TracePointContext) -> u32 {
    invalidate();
    0
}
