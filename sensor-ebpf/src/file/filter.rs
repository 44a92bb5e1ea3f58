//! Watched path prefixes and file names: when the agent turns the open filter
//! on, an open is reported only if its path lies under a prefix, or ends in a
//! file name, watched for its access (read or write). The agent stores, for each
//! prefix, the access bits of every shorter watched prefix too, so the trie's
//! longest match alone decides.

use aya_ebpf::{
    helpers::generated::{bpf_probe_read_kernel, bpf_probe_read_user_str},
    macros::map,
    maps::{
        HashMap, PerCpuArray,
        lpm_trie::{Key, LpmTrie},
    },
};
use sensor_common::filters::{
    NAME_MAX, NAMES_MAX, PREFIX_KEY_LEN, PREFIX_MAX, PREFIXES_MAX, access, settings,
};

use crate::{
    kernel::read_at,
    maps::{self, setting},
};

/// Watched prefixes: path bytes to `access` bits.
#[map]
static OPEN_PREFIXES: LpmTrie<[u8; PREFIX_KEY_LEN], u32> =
    LpmTrie::with_max_entries(PREFIXES_MAX, 0);

/// Room for the lookup key, too large for the stack next to everything else.
#[map]
static PREFIX_KEY: PerCpuArray<Key<[u8; PREFIX_KEY_LEN]>> = PerCpuArray::with_max_entries(1, 0);

/// Watched file names, NUL-padded, to `access` bits.
#[map]
static OPEN_NAMES: HashMap<[u8; NAME_MAX], u32> = HashMap::with_max_entries(NAMES_MAX, 0);

/// Room for a name key, too large for the stack next to everything else.
#[map]
static NAME_KEY: PerCpuArray<[u8; NAME_MAX]> = PerCpuArray::with_max_entries(1, 0);

/// Whether watched file names judge opens too.
#[inline(always)]
pub fn names_on() -> bool {
    setting(settings::OPEN_NAMES) != 0
}

/// Whether the open filter is on.
#[inline(always)]
pub fn filtering() -> bool {
    setting(settings::OPEN_FILTER) != 0
}

/// The access bits (`filters::access`) watched at the `len` path bytes at `path`:
/// those of the longest watched prefix it extends, 0 when it extends none.
#[inline(always)]
pub fn watched_access(path: *const u8, len: usize) -> u32 {
    let Some(key) = PREFIX_KEY.get_ptr_mut(0) else {
        return access::READ | access::WRITE;
    };
    // SAFETY: the per-CPU key, used by this program alone while it runs.
    let key = unsafe { &mut *key };
    let n = if len < PREFIX_MAX { len } else { PREFIX_MAX };
    // SAFETY: the size is masked below the key's data size; the helper checks the source.
    unsafe {
        bpf_probe_read_kernel(
            key.data.as_mut_ptr().cast(),
            (n & PREFIX_MAX) as u32,
            path.cast(),
        )
    };
    access_at(key, n)
}

/// The access bits watched for the name of an opened file: that of its
/// dentry, which a walk of its path ends in, read from the dentry's `d_name`
/// (`hash_len` as read for its identity; 0 if that read failed). 0 when names
/// are off or this one is not watched. Only successful opens have a dentry: a
/// failed open is judged by its prefixes alone, and the agent's plan watches
/// every path for failed opens a name would have bounded.
///
/// A file that is the root of its mount (a file bind-mounted over another, as
/// Kubernetes mounts a Secret's key with `subPath`) keeps its source's name;
/// its path ends in the mountpoint's. Such an open is reported unjudged.
#[inline(always)]
pub fn watched_name_access(dentry: u64, mnt: u64, hash_len: u64) -> u32 {
    if !names_on() {
        return 0;
    }
    match read_at::<u64>(mnt, maps::offset(|o| &o.vfsmount_root)) {
        Ok(root) if root != dentry => {}
        _ => return access::READ | access::WRITE,
    }
    let len = (hash_len >> 32) as usize;
    if len >= NAME_MAX {
        // Longer than every watched name.
        return 0;
    }
    let Some(key) = NAME_KEY.get_ptr_mut(0) else {
        return access::READ | access::WRITE;
    };
    // SAFETY: the per-CPU key, used by this program alone while it runs.
    let key = unsafe { &mut *key };
    let at = maps::offset(|o| &o.dentry_name) + maps::offset(|o| &o.qstr_name);
    // No dentry's name is empty: a length of 0 is an identity that could not
    // be read, so the name cannot be judged and the open is reported.
    let Ok(name) = read_at::<u64>(dentry, at) else {
        return access::READ | access::WRITE;
    };
    if len == 0 {
        return access::READ | access::WRITE;
    }
    *key = [0; NAME_MAX];
    // SAFETY: at most NAME_MAX - 1 bytes into a key of NAME_MAX; the helper
    // checks the source.
    let read = unsafe {
        bpf_probe_read_kernel(
            key.as_mut_ptr().cast(),
            (len & (NAME_MAX - 1)) as u32,
            name as *const core::ffi::c_void,
        )
    };
    if read != 0 {
        return access::READ | access::WRITE;
    }
    // SAFETY: the value is copied at once, inside the RCU read section every
    // program runs in, so a concurrent removal cannot free it under us.
    unsafe { OPEN_NAMES.get(key) }.copied().unwrap_or(0)
}

/// The access bits of the longest watched prefix of the first `len` bytes of
/// `key`'s data.
#[inline(always)]
fn access_at(key: &mut Key<[u8; PREFIX_KEY_LEN]>, len: usize) -> u32 {
    key.prefix_len = (len * 8) as u32;
    OPEN_PREFIXES.get(&*key).copied().unwrap_or(0)
}

/// The access bits watched at the path a process gave, the string at user
/// address `filename`, read directly into the trie's key; `None` when it is not
/// absolute or cannot be read, so the caller judges it the long way. A path
/// longer than the key is judged by its first [`PREFIX_MAX`] bytes, exactly as
/// no watched prefix is longer.
#[inline(always)]
pub fn absolute_user_path_access(filename: u64) -> Option<u32> {
    let key = PREFIX_KEY.get_ptr_mut(0)?;
    // SAFETY: the per-CPU key, used by this program alone while it runs.
    let key = unsafe { &mut *key };
    // SAFETY: at most the key's data size; the helper checks the source.
    let n = unsafe {
        bpf_probe_read_user_str(
            key.data.as_mut_ptr().cast(),
            PREFIX_KEY_LEN as u32,
            filename as *const core::ffi::c_void,
        )
    };
    if n <= 1 || key.data[0] != b'/' {
        return None;
    }
    // n counts the NUL; a full key holds PREFIX_MAX path bytes.
    Some(access_at(key, (n as usize - 1).min(PREFIX_MAX)))
}

/// The access bits an open with these flags needs watched to be reported.
#[inline(always)]
pub fn wanted(open_flags: u32) -> u32 {
    match open_flags & 0o3 {
        0 => access::READ,
        1 => access::WRITE,
        _ => access::READ | access::WRITE,
    }
}
