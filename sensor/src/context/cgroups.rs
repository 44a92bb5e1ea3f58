//! cgroup id to cgroup path.
//!
//! The kernel tags every event with the id of the task's cgroup v2, which is the
//! inode number of that cgroup's directory under the v2 mount; [`super::container`]
//! needs the path. [`CgroupPaths`] keeps a cache from ids to paths relative to the
//! mount's root. On a miss it first tries the cheap way, the event's process's
//! `/proc/<pid>/cgroup` checked by inode, and then walks the whole hierarchy,
//! recording every directory. Events arrive faster than directories can be read, so
//! walks are rate-limited, ids no walk found are remembered for a while, and the
//! cache is capped: cgroups of finished containers vanish, and a walk forgets them.

use std::{
    collections::HashMap,
    ffi::OsStr,
    fs, io,
    os::unix::{ffi::OsStrExt, fs::DirEntryExt, fs::MetadataExt},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

/// Why the cgroup v2 hierarchy cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No cgroup v2 mount in this process's mountinfo.
    #[error(
        "no cgroup v2 hierarchy is mounted (no cgroup2 entry in /proc/self/mountinfo): mount one with `mount -t cgroup2 none /sys/fs/cgroup`"
    )]
    NoV2Mount,
    /// The mount point could not be read.
    #[error("cannot read the cgroup v2 hierarchy at {path}: {source}")]
    Root {
        /// The mount point.
        path: PathBuf,
        /// The error from reading it.
        #[source]
        source: io::Error,
    },
}

/// How much work and memory [`CgroupPaths`] may spend.
#[derive(Clone, Debug)]
pub struct CgroupLimits {
    /// At most one full walk of the hierarchy per this interval.
    pub walk_interval: Duration,
    /// How long an id that a walk did not find is answered with `None` at once.
    pub miss_ttl: Duration,
    /// Most ids kept in the cache.
    pub max_entries: usize,
    /// Most unknown ids remembered.
    pub max_misses: usize,
    /// Most directories one walk visits, so a container that may create cgroups
    /// cannot make a walk endless.
    pub max_walk_dirs: usize,
}

impl Default for CgroupLimits {
    fn default() -> Self {
        Self {
            // Short: an event whose process is gone can only be placed by a
            // walk, and an event left without its container escapes every rule
            // that names containers. At most 20 walks a second bounds the cost of
            // ids no walk finds (they are remembered besides).
            walk_interval: Duration::from_millis(50),
            miss_ttl: Duration::from_secs(30),
            // A busy node has a few hundred pods with a few containers each, and
            // systemd's units besides: this leaves room for far more.
            max_entries: 16_384,
            max_misses: 4_096,
            max_walk_dirs: 65_536,
        }
    }
}

/// What [`CgroupPaths`] did so far: plain counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups not in the cache.
    pub misses: u64,
    /// Full walks of the hierarchy.
    pub walks: u64,
    /// Lookups that found no path.
    pub unresolved: u64,
    /// Cached ids dropped to stay under [`CgroupLimits::max_entries`].
    pub evicted: u64,
}

/// Turns cgroup ids into cgroup paths relative to the v2 mount's root, cached.
#[derive(Debug)]
pub struct CgroupPaths {
    root: PathBuf,
    proc_root: PathBuf,
    limits: CgroupLimits,
    cache: HashMap<u64, Arc<str>>,
    /// Ids a walk did not find, with when.
    unknown: HashMap<u64, Instant>,
    last_walk: Option<Instant>,
    stats: CgroupStats,
}

impl CgroupPaths {
    /// Uses the cgroup v2 mount of this process's mount namespace.
    pub fn new() -> Result<Self, CgroupError> {
        let root = crate::kernel::cgroup::v2_mount().ok_or(CgroupError::NoV2Mount)?;
        fs::read_dir(&root).map_err(|source| CgroupError::Root {
            path: root.clone(),
            source,
        })?;
        Ok(Self::with_root(root))
    }

    /// Uses `root` as the hierarchy's root (any directory tree, for tests).
    pub fn with_root(root: PathBuf) -> Self {
        Self {
            root,
            proc_root: PathBuf::from("/proc"),
            limits: CgroupLimits::default(),
            cache: HashMap::new(),
            unknown: HashMap::new(),
            last_walk: None,
            stats: CgroupStats::default(),
        }
    }

    /// Reads the pid hints' `<pid>/cgroup` under `proc_root` instead of `/proc`.
    pub fn with_proc_root(mut self, proc_root: PathBuf) -> Self {
        self.proc_root = proc_root;
        self
    }

    /// Replaces the default limits.
    pub fn with_limits(mut self, limits: CgroupLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The hierarchy's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of cgroup `id` relative to the root (`/` for the root itself), or
    /// `None` when it cannot be found now. `pid_hint` is a process believed to be in
    /// that cgroup, usually the event's.
    pub fn path(&mut self, id: u64, pid_hint: Option<u32>) -> Option<Arc<str>> {
        self.path_at(id, pid_hint, Instant::now())
    }

    /// The counters so far.
    pub fn stats(&self) -> CgroupStats {
        self.stats
    }

    fn path_at(&mut self, id: u64, pid_hint: Option<u32>, now: Instant) -> Option<Arc<str>> {
        if let Some(path) = self.cache.get(&id) {
            self.stats.hits += 1;
            return Some(path.clone());
        }
        self.stats.misses += 1;
        let found = self.resolve(id, pid_hint, now);
        if found.is_none() {
            self.stats.unresolved += 1;
        }
        found
    }

    fn resolve(&mut self, id: u64, pid_hint: Option<u32>, now: Instant) -> Option<Arc<str>> {
        if let Some(&since) = self.unknown.get(&id) {
            // Cgroup ids are not reused soon, so one a walk after the event did not
            // find is gone (or outside this mount): neither hint nor walk would help.
            if now.saturating_duration_since(since) < self.limits.miss_ttl {
                return None;
            }
            self.unknown.remove(&id);
        }
        if let Some(path) = pid_hint.and_then(|pid| self.hinted(id, pid)) {
            self.insert(id, path.clone(), now);
            return Some(path);
        }
        if !self.walk_allowed(now) {
            // Not remembered as unknown: a walk after the interval may still find it.
            return None;
        }
        self.walk(id, now);
        let found = self.cache.get(&id).cloned();
        if found.is_none() {
            self.remember_unknown(id, now);
        }
        found
    }

    /// The cgroup of process `pid`, if its directory is the one with inode `id`. The
    /// path is checked rather than trusted: inside a cgroup namespace it is relative to
    /// the namespace (`/..` for cgroups outside), and the process may have moved.
    fn hinted(&self, id: u64, pid: u32) -> Option<Arc<str>> {
        let file = fs::read(self.proc_root.join(pid.to_string()).join("cgroup")).ok()?;
        let rel = file
            .split(|&b| b == b'\n')
            .find_map(|line| line.strip_prefix(b"0::"))?;
        let names = rel.strip_prefix(b"/")?;
        let mut dir = self.root.clone();
        for name in names.split(|&b| b == b'/').filter(|n| !n.is_empty()) {
            if name == b".." || name == b"." {
                return None;
            }
            dir.push(OsStr::from_bytes(name));
        }
        let inode = fs::metadata(&dir).ok()?.ino();
        (inode == id).then(|| Arc::from(String::from_utf8_lossy(rel).as_ref()))
    }

    fn walk_allowed(&self, now: Instant) -> bool {
        self.last_walk
            .is_none_or(|last| now.saturating_duration_since(last) >= self.limits.walk_interval)
    }

    /// Records every directory of the hierarchy. A complete walk replaces the cache,
    /// which forgets the cgroups that are gone; a walk cut short by the limits only
    /// adds to it. `wanted` is kept even when the cache is full.
    fn walk(&mut self, wanted: u64, now: Instant) {
        self.last_walk = Some(now);
        self.stats.walks += 1;
        let max_entries = self.limits.max_entries.max(1);
        let mut found: HashMap<u64, Arc<str>> = HashMap::new();
        let mut complete = true;
        if let Ok(meta) = fs::metadata(&self.root) {
            found.insert(meta.ino(), Arc::from("/"));
        }
        let mut stack = vec![(self.root.clone(), String::new())];
        let mut visited = 0usize;
        'walk: while let Some((dir, rel)) = stack.pop() {
            // A directory that vanished or cannot be read is simply not recorded.
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                // d_type and d_ino from the directory itself: no stat per cgroup.
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                visited += 1;
                if visited > self.limits.max_walk_dirs {
                    complete = false;
                    break 'walk;
                }
                let child = format!("{rel}/{}", entry.file_name().to_string_lossy());
                let inode = entry.ino();
                if found.len() < max_entries || inode == wanted {
                    found.insert(inode, Arc::from(child.as_str()));
                } else {
                    complete = false;
                }
                stack.push((entry.path(), child));
            }
        }
        if complete {
            self.cache = found;
        } else {
            for (inode, path) in found {
                if self.cache.len() >= max_entries && !self.cache.contains_key(&inode) {
                    if inode != wanted {
                        continue;
                    }
                    self.evict_one();
                }
                self.cache.insert(inode, path);
            }
        }
    }

    fn insert(&mut self, id: u64, path: Arc<str>, now: Instant) {
        if self.cache.len() >= self.limits.max_entries.max(1) && !self.cache.contains_key(&id) {
            // Full, most likely of cgroups that are gone: a walk rebuilds the cache
            // from what exists. Between walks, or if it is still full, make room.
            if self.walk_allowed(now) {
                self.walk(id, now);
            }
            while self.cache.len() >= self.limits.max_entries.max(1) {
                self.evict_one();
            }
        }
        self.cache.insert(id, path);
    }

    /// Drops one entry, whichever the map yields first: as good as random, and a
    /// dropped id that is still in use costs one more lookup.
    fn evict_one(&mut self) {
        if let Some(&victim) = self.cache.keys().next() {
            self.cache.remove(&victim);
            self.stats.evicted += 1;
        }
    }

    fn remember_unknown(&mut self, id: u64, now: Instant) {
        if self.unknown.len() >= self.limits.max_misses {
            let ttl = self.limits.miss_ttl;
            self.unknown
                .retain(|_, since| now.saturating_duration_since(*since) < ttl);
        }
        // Still full: not remembering costs at most a rate-limited walk.
        if self.unknown.len() < self.limits.max_misses {
            self.unknown.insert(id, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        process::{Child, Command},
        sync::atomic::{AtomicUsize, Ordering},
    };

    /// A directory tree under the temp dir, removed when dropped.
    struct Tree(PathBuf);

    impl Tree {
        fn new() -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let root =
                std::env::temp_dir().join(format!("sensor-cgroups-{}-{n}", std::process::id()));
            fs::create_dir_all(&root).expect("temp tree");
            Self(root)
        }

        fn mkdir(&self, rel: &str) -> u64 {
            let dir = self.0.join(rel.trim_start_matches('/'));
            fs::create_dir_all(&dir).expect("temp dir");
            inode(&dir)
        }

        fn paths(&self, limits: CgroupLimits) -> CgroupPaths {
            CgroupPaths::with_root(self.0.join("root")).with_limits(limits)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn inode(path: &Path) -> u64 {
        fs::metadata(path).expect("stat").ino()
    }

    fn unlimited() -> CgroupLimits {
        CgroupLimits {
            walk_interval: Duration::ZERO,
            ..CgroupLimits::default()
        }
    }

    #[test]
    fn a_walk_finds_every_directory() {
        let tree = Tree::new();
        let root = tree.mkdir("root");
        let pod = tree.mkdir("root/kubepods/besteffort/pod1");
        let container = tree.mkdir("root/kubepods/besteffort/pod1/c1");
        let system = tree.mkdir("root/system.slice");
        fs::write(tree.0.join("root/system.slice/cgroup.procs"), "").expect("file");
        let mut paths = tree.paths(CgroupLimits::default());
        let path = paths.path(container, None);
        assert_eq!(path.as_deref(), Some("/kubepods/besteffort/pod1/c1"));
        assert_eq!(paths.path(root, None).as_deref(), Some("/"));
        assert_eq!(
            paths.path(pod, None).as_deref(),
            Some("/kubepods/besteffort/pod1")
        );
        assert_eq!(paths.path(system, None).as_deref(), Some("/system.slice"));
        let files = inode(&tree.0.join("root/system.slice/cgroup.procs"));
        assert_eq!(paths.path(files, None), None, "files are not cgroups");
        let stats = paths.stats();
        assert_eq!(
            (stats.hits, stats.misses, stats.walks),
            (3, 2, 1),
            "{stats:?}"
        );
        assert_eq!(stats.unresolved, 1);
    }

    #[test]
    fn walks_are_rate_limited_and_misses_remembered() {
        let tree = Tree::new();
        tree.mkdir("root/a");
        let limits = CgroupLimits {
            walk_interval: Duration::from_secs(1),
            miss_ttl: Duration::from_secs(10),
            ..CgroupLimits::default()
        };
        let mut paths = tree.paths(limits);
        let t0 = Instant::now();
        assert_eq!(paths.path_at(u64::MAX, None, t0), None);
        assert_eq!(paths.stats().walks, 1);

        // A new cgroup inside the interval waits for the next walk.
        let late = tree.mkdir("root/b");
        let soon = t0 + Duration::from_millis(500);
        assert_eq!(paths.path_at(late, None, soon), None);
        assert_eq!(paths.stats().walks, 1);
        let later = t0 + Duration::from_secs(1);
        assert_eq!(paths.path_at(late, None, later).as_deref(), Some("/b"));
        assert_eq!(paths.stats().walks, 2);

        // A flood of the unknown id walks no more until it has been forgotten.
        for step in 0..1000 {
            let now = later + Duration::from_millis(8 * step);
            assert_eq!(paths.path_at(u64::MAX, None, now), None);
        }
        assert_eq!(paths.stats().walks, 2);
        assert_eq!(
            paths.path_at(u64::MAX, None, t0 + Duration::from_secs(11)),
            None
        );
        assert_eq!(paths.stats().walks, 3);
        assert_eq!(paths.stats().unresolved, 1 + 1 + 1000 + 1);
    }

    #[test]
    fn a_walk_forgets_removed_cgroups() {
        let tree = Tree::new();
        let gone = tree.mkdir("root/kubepods/pod1/c1");
        let mut paths = tree.paths(unlimited());
        assert_eq!(paths.path(gone, None).as_deref(), Some("/kubepods/pod1/c1"));
        fs::remove_dir(tree.0.join("root/kubepods/pod1/c1")).expect("rmdir");
        assert_eq!(
            paths.path(gone, None).as_deref(),
            Some("/kubepods/pod1/c1"),
            "cached"
        );
        assert_eq!(paths.path(u64::MAX, None), None);
        assert!(!paths.cache.contains_key(&gone));
        assert_eq!(paths.path(gone, None), None);
    }

    #[test]
    fn the_cache_stays_under_its_cap() {
        let tree = Tree::new();
        let ids: Vec<u64> = (0..20).map(|i| tree.mkdir(&format!("root/d{i}"))).collect();
        let limits = CgroupLimits {
            max_entries: 4,
            max_misses: 3,
            ..unlimited()
        };
        let mut paths = tree.paths(limits);
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(
                paths.path(id, None).as_deref(),
                Some(format!("/d{i}").as_str())
            );
            assert!(paths.cache.len() <= 4, "{}", paths.cache.len());
        }
        for unknown in 0..10 {
            assert_eq!(paths.path(u64::MAX - unknown, None), None);
            assert!(paths.unknown.len() <= 3);
        }
        // The walk visits no more directories than allowed, and still answers.
        let limits = CgroupLimits {
            max_walk_dirs: 5,
            ..unlimited()
        };
        let mut paths = tree.paths(limits);
        let found = ids
            .iter()
            .filter(|&&id| paths.path(id, None).is_some())
            .count();
        assert!(found <= 6, "{found}");
    }

    #[test]
    fn a_pid_hint_resolves_without_a_walk() {
        let tree = Tree::new();
        let id = tree.mkdir("root/kubepods/burstable/pod1/c1");
        let other = tree.mkdir("root/other");
        let proc_root = tree.0.join("proc");
        let hint = |pid: u32, text: &[u8]| {
            fs::create_dir_all(proc_root.join(pid.to_string())).expect("proc dir");
            fs::write(proc_root.join(pid.to_string()).join("cgroup"), text).expect("cgroup file");
        };
        hint(10, b"12:memory:/kubepods\n0::/kubepods/burstable/pod1/c1\n");
        hint(11, b"0::/other\n");
        hint(12, b"0::/../../kubepods/burstable/pod1/c1\n");
        hint(13, b"garbage\xff\n");
        let mut paths = tree
            .paths(CgroupLimits::default())
            .with_proc_root(proc_root.clone());
        let path = paths.path(id, Some(10));
        assert_eq!(path.as_deref(), Some("/kubepods/burstable/pod1/c1"));
        assert_eq!(paths.stats().walks, 0);
        // A hint that names another cgroup, or one outside, falls back to a walk.
        let mut paths = tree.paths(unlimited()).with_proc_root(proc_root);
        for pid in [11, 12, 13, 99] {
            paths.cache.clear();
            assert_eq!(
                paths.path(id, Some(pid)).as_deref(),
                Some("/kubepods/burstable/pod1/c1")
            );
        }
        assert_eq!(paths.stats().walks, 4);
        assert_eq!(paths.path(other, None).as_deref(), Some("/other"));
    }

    #[test]
    fn a_missing_root_resolves_nothing() {
        let mut paths = CgroupPaths::with_root(PathBuf::from("/nonexistent/cgroup"));
        assert_eq!(paths.path(1, Some(std::process::id())), None);
        assert_eq!(paths.stats().unresolved, 1);
    }

    /// Whether this test may create cgroups; under CI it must.
    fn privileged(test: &str) -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            return true;
        }
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("{test}: needs root to create a cgroup, and CI runs as root");
        }
        eprintln!("skipping {test}: needs root to create a cgroup under the v2 mount");
        false
    }

    /// A real cgroup with a `sleep` in it, both gone when dropped, panics included.
    struct RealCgroup {
        dir: PathBuf,
        child: Option<Child>,
    }

    impl Drop for RealCgroup {
        fn drop(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            let _ = fs::remove_dir(&self.dir);
        }
    }

    #[test]
    fn resolves_and_forgets_a_real_cgroup() {
        if !privileged("resolves_and_forgets_a_real_cgroup") {
            return;
        }
        let mut paths = CgroupPaths::new()
            .expect("the v2 mount")
            .with_limits(unlimited());
        let name = format!("sensor-test-cgroups-{}", std::process::id());
        let mut cgroup = RealCgroup {
            dir: paths.root().join(&name),
            child: None,
        };
        fs::create_dir(&cgroup.dir).expect("mkdir under the v2 mount");
        let id = inode(&cgroup.dir);
        let child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id();
        cgroup.child = Some(child);
        fs::write(cgroup.dir.join("cgroup.procs"), pid.to_string()).expect("move sleep");

        let want = format!("/{name}");
        assert_eq!(paths.path(id, Some(pid)).as_deref(), Some(want.as_str()));
        assert_eq!(paths.stats().walks, 0, "the hint was enough");
        paths.cache.clear();
        assert_eq!(paths.path(id, None).as_deref(), Some(want.as_str()));
        assert_eq!(paths.stats().walks, 1);

        drop(cgroup);
        assert!(!paths.root().join(&name).exists(), "cgroup removed");
        assert_eq!(
            paths.path(id, None).as_deref(),
            Some(want.as_str()),
            "cached"
        );
        assert_eq!(paths.path(u64::MAX, None), None);
        assert!(!paths.cache.contains_key(&id), "a walk forgot it");
        assert_eq!(paths.path(id, None), None);
    }
}
