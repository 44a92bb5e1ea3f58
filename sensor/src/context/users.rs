//! User and group names as the process sees them: `user.name`, `group.name`,
//! `user.loginname`, `user.homedir` and `user.shell`.
//!
//! A name is whatever the passwd and group files of the process's own root say:
//! inside a container its image's `/etc/passwd` (uid 1000 is `node` in one image
//! and `ubuntu` in the next), on the host the host's. The agent runs in a container
//! of its own, so its `/etc` is neither: a container's files are read through
//! `<proc>/<pid>/root/etc/...` of one of the container's processes, the host's
//! through `<proc>/1/root/etc/...` (or the event's process's, where pid 1 is
//! guarded), with every open kept inside the root (see `read.rs`).
//!
//! Files are parsed once per root and kept by container id (the host is one more
//! key), so a lookup on the hot path is a few map probes and reference-count copies.
//! Every few seconds a root's next lookup checks the files' inode, size and times
//! (no read) and reads again only what changed, so a new user shows within that
//! interval. A root without files (no `/etc/passwd` in a distroless image) gives
//! no names and is checked again only at that interval, never per event. A root
//! none of whose given processes could be opened (all gone) is tried again after a
//! short back-off, and within it only through processes not tried yet, so a dead
//! process costs one failed open and a live one is not kept waiting behind it;
//! what the root gave before is kept. Sizes are bounded: bytes read per
//! file, entries per file, containers, and the memory of all of them together; the
//! least recently used container goes first.
//!
//! The ids are the kernel's, in the host's user namespace. A container with a user
//! namespace of its own (`hostUsers: false`, rootless runtimes) maps its uid 0 to
//! some host uid such as 65536 and its `/etc/passwd` speaks of its own ids, so its
//! processes' host ids find no name there, or by coincidence another's. Mapping them
//! back through `/proc/<pid>/uid_map` first would name them as the container does;
//! that is not done yet.

mod parse;
mod read;
#[cfg(test)]
mod tests;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

pub use parse::Account;
use read::{EtcFile, OpenError, Stamp};

/// Bounds and timing of the cache.
#[derive(Clone, Debug)]
pub struct UserConfig {
    /// The proc filesystem (the host's: the agent runs with `hostPID`).
    pub proc_root: PathBuf,
    /// How long a root's files are trusted before the next lookup checks them.
    pub check_interval: Duration,
    /// Most containers kept (the host is kept besides).
    pub max_containers: usize,
    /// Most entries kept per file; the rest of a longer file is counted as cut.
    pub max_entries: usize,
    /// Most bytes read per file; the rest of a longer file is counted as cut.
    pub max_file_bytes: usize,
    /// Most memory, roughly, that all roots' entries hold together.
    pub max_total_bytes: usize,
}

impl Default for UserConfig {
    fn default() -> Self {
        Self {
            proc_root: PathBuf::from("/proc"),
            check_interval: Duration::from_secs(2),
            max_containers: 1024,
            max_entries: 8192,
            max_file_bytes: 1 << 20,
            max_total_bytes: 64 << 20,
        }
    }
}

/// Counts of what the cache did, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserStats {
    /// Lookups answered from the cache without touching the files.
    pub hits: u64,
    /// Checks of a root's files (open and stat, no read).
    pub checks: u64,
    /// Files read and parsed: a first read, or a changed file.
    pub reads: u64,
    /// Files not present in their root (distroless images, or no group file).
    pub missing: u64,
    /// Roots or files that could not be read: processes gone, access denied,
    /// not a regular file, I/O errors.
    pub failures: u64,
    /// Files cut at the byte or entry bound.
    pub cut: u64,
    /// Lines skipped because they name no id or hold oversized fields.
    pub bad_lines: u64,
    /// Containers dropped to make room.
    pub evicted: u64,
}

/// The ids to name, as an event reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    /// `user.uid`.
    pub uid: u32,
    /// `group.gid`.
    pub gid: u32,
    /// `user.loginuid`, when set.
    pub loginuid: Option<u32>,
}

/// What the files say of an event's ids; `None` where they say nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    /// The passwd entry of the uid, in the process's root.
    pub user: Option<Account>,
    /// The name of the gid, in the process's root.
    pub group: Option<Arc<str>>,
    /// The name of the login uid, in the host's passwd file: the login uid is set
    /// when someone logs in to the node and is inherited into a container by
    /// `runc exec` or `nsenter`; a container cannot set its own without
    /// `CAP_AUDIT_CONTROL`.
    pub login: Option<Arc<str>>,
}

/// One file's entries and the version they came from.
#[derive(Debug)]
struct Table<T> {
    /// `None`: not read, or not there.
    stamp: Option<Stamp>,
    entries: HashMap<u32, T>,
    bytes: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            stamp: None,
            entries: HashMap::new(),
            bytes: 0,
        }
    }
}

/// The files of one root.
#[derive(Debug)]
struct Root {
    users: Table<Account>,
    groups: Table<Arc<str>>,
    /// Lookups before this trust what is held.
    next_check: Instant,
    /// Processes whose root could not be opened since the last check that failed
    /// (none after one that succeeded); until `next_check` only others are tried.
    refused: Vec<u32>,
    last_used: Instant,
}

impl Root {
    fn new(now: Instant) -> Self {
        Self {
            users: Table::default(),
            groups: Table::default(),
            next_check: now,
            refused: Vec::new(),
            last_used: now,
        }
    }

    fn bytes(&self) -> usize {
        self.users.bytes + self.groups.bytes
    }

    fn names(&self, ids: Ids) -> (Option<Account>, Option<Arc<str>>) {
        (
            self.users.entries.get(&ids.uid).cloned(),
            self.groups.entries.get(&ids.gid).cloned(),
        )
    }
}

/// Passwd and group files by container, read from each one's root.
#[derive(Debug)]
pub struct UserCache {
    config: UserConfig,
    host: Root,
    containers: HashMap<Arc<str>, Root>,
    total_bytes: usize,
    stats: UserStats,
}

/// The host's files are read through the root of pid 1, the node's init.
const HOST_PID: u32 = 1;

/// How soon a root none of whose processes could be opened is tried again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(50);

/// Most refused processes a root remembers; past it the oldest is forgotten
/// (and may cost one more failed open).
const MAX_REFUSED: usize = 32;

impl UserCache {
    /// An empty cache; files are read on first use.
    pub fn new(config: UserConfig) -> Self {
        let now = Instant::now();
        Self {
            config,
            host: Root::new(now),
            containers: HashMap::new(),
            total_bytes: 0,
            stats: UserStats::default(),
        }
    }

    /// Names `ids` for a process of `container` (`None`: the host) at `now`.
    /// `pids` are processes whose root is the container's, best first (the
    /// event's process, then its ancestors in the container): the first that is
    /// still alive is read, and only when the files are due for a check. The
    /// host's files are read through pid 1, and through `pids` only when pid 1
    /// cannot be read.
    pub fn names(
        &mut self,
        container: Option<&str>,
        pids: impl IntoIterator<Item = u32>,
        ids: Ids,
        now: Instant,
    ) -> Names {
        let (user, group) = match container {
            None => self.host(pids, now).names(ids),
            Some(id) => self.container_names(id, pids, ids, now),
        };
        let login = ids.loginuid.and_then(|uid| {
            // Not the container's pids: their root is the container's.
            let account = self.host([], now).users.entries.get(&uid)?;
            Some(Arc::clone(&account.name))
        });
        Names { user, group, login }
    }

    /// What the cache did so far.
    pub fn stats(&self) -> UserStats {
        self.stats
    }

    /// How many containers it holds.
    pub fn containers(&self) -> usize {
        self.containers.len()
    }

    /// The host's root, checked when due. `pids` are host processes to read it
    /// through when pid 1 refuses (a sandbox that guards its init does): on the
    /// host a process's root is the host's unless it chrooted.
    fn host(&mut self, pids: impl IntoIterator<Item = u32>, now: Instant) -> &Root {
        let before = self.host.bytes();
        let pids = std::iter::once(HOST_PID).chain(pids);
        if refresh(
            &mut self.host,
            "host",
            &self.config,
            &mut self.stats,
            pids,
            now,
        ) {
            let after = self.host.bytes();
            self.account(before, after, None);
        }
        &self.host
    }

    fn container_names(
        &mut self,
        id: &str,
        pids: impl IntoIterator<Item = u32>,
        ids: Ids,
        now: Instant,
    ) -> (Option<Account>, Option<Arc<str>>) {
        if !self.containers.contains_key(id) {
            if self.containers.len() >= self.config.max_containers {
                self.evict_one(None);
            }
            self.containers.insert(Arc::from(id), Root::new(now));
        }
        let Some(root) = self.containers.get_mut(id) else {
            return (None, None);
        };
        let before = root.bytes();
        let changed = refresh(root, id, &self.config, &mut self.stats, pids, now);
        let found = root.names(ids);
        if changed {
            let after = root.bytes();
            self.account(before, after, Some(id));
        }
        found
    }

    /// Books a root's new size, and makes room when all of them hold too much.
    fn account(&mut self, before: usize, after: usize, keep: Option<&str>) {
        self.total_bytes = self.total_bytes.saturating_sub(before) + after;
        while self.total_bytes > self.config.max_total_bytes && self.evict_one(keep) {}
    }

    /// Drops the least recently used container but `keep`; false when none is left.
    fn evict_one(&mut self, keep: Option<&str>) -> bool {
        let oldest = self
            .containers
            .iter()
            .filter(|(id, _)| keep != Some(id.as_ref()))
            .min_by_key(|(_, root)| root.last_used)
            .map(|(id, _)| Arc::clone(id));
        let Some(root) = oldest.and_then(|id| self.containers.remove(&id)) else {
            return false;
        };
        self.total_bytes = self.total_bytes.saturating_sub(root.bytes());
        self.stats.evicted += 1;
        true
    }
}

/// Checks `root`'s files when they are due and reads what changed; true when its
/// entries changed. `key` names the root in logs.
fn refresh(
    root: &mut Root,
    key: &str,
    config: &UserConfig,
    stats: &mut UserStats,
    pids: impl IntoIterator<Item = u32>,
    now: Instant,
) -> bool {
    root.last_used = now;
    let due = now >= root.next_check;
    if !due && root.refused.is_empty() {
        stats.hits += 1;
        return false;
    }
    if due {
        root.refused.clear();
    }
    // Within a failure's back-off only processes not tried yet are worth an open:
    // the first host events after a start are often of short-lived runc
    // processes (and pid 1 may be guarded), and the next event's own process may
    // still be alive.
    let mut tried = false;
    let mut refused = Vec::new();
    let dir = pids
        .into_iter()
        .filter(|pid| !root.refused.contains(pid))
        .find_map(|pid| {
            tried = true;
            let opened = read::open_root(&config.proc_root, pid).ok();
            if opened.is_none() {
                refused.push(pid);
            }
            opened
        });
    if !tried {
        stats.hits += 1;
        return false;
    }
    stats.checks += 1;
    let Some(dir) = dir else {
        // Keep what the root gave before: its processes are gone, not its files.
        // Try again soon rather than after a whole interval: until then this
        // root names nobody.
        stats.failures += 1;
        if due {
            root.next_check = now + config.check_interval.min(RETRY_AFTER_FAILURE);
        }
        root.refused.extend(refused);
        let excess = root.refused.len().saturating_sub(MAX_REFUSED);
        root.refused.drain(..excess);
        return false;
    };
    root.refused.clear();
    root.next_check = now + config.check_interval;
    let users = update(
        &mut root.users,
        key,
        &dir,
        read::PASSWD,
        config,
        stats,
        parse::passwd,
    );
    let groups = update(
        &mut root.groups,
        key,
        &dir,
        read::GROUP,
        config,
        stats,
        parse::group,
    );
    users || groups
}

/// Reads `file` into `table` when its stamp changed; true when the table changed.
fn update<T>(
    table: &mut Table<T>,
    key: &str,
    dir: &std::fs::File,
    file: EtcFile,
    config: &UserConfig,
    stats: &mut UserStats,
    parse: fn(&[u8], bool, usize) -> parse::Parsed<T>,
) -> bool {
    let opened = match read::open(dir, file) {
        Ok(opened) => opened,
        Err(OpenError::Failed(err)) => {
            // Not evidence that the file changed: keep what it said.
            tracing::debug!(error = %err, root = key, ?file, "cannot open a user database");
            stats.failures += 1;
            return false;
        }
        Err(gone) => {
            if matches!(gone, OpenError::Missing) {
                stats.missing += 1;
            } else {
                stats.failures += 1;
            }
            // A file that went away, or was replaced by one that cannot be read
            // safely, names no one any more.
            let had = table.stamp.is_some() || !table.entries.is_empty();
            *table = Table::default();
            return had;
        }
    };
    let (handle, stamp) = opened;
    if table.stamp == Some(stamp) {
        return false;
    }
    let Ok((bytes, complete)) = read::read(handle, config.max_file_bytes) else {
        stats.failures += 1;
        return false;
    };
    let parsed = parse(&bytes, complete, config.max_entries);
    stats.reads += 1;
    stats.bad_lines += parsed.bad_lines;
    if parsed.cut {
        stats.cut += 1;
        tracing::warn!(
            root = key,
            ?file,
            kept = parsed.entries.len(),
            max_bytes = config.max_file_bytes,
            max_entries = config.max_entries,
            "a user database was cut at its bound: ids past it have no name"
        );
    }
    *table = Table {
        stamp: Some(stamp),
        entries: parsed.entries,
        bytes: parsed.bytes,
    };
    true
}
