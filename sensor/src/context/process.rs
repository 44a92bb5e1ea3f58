//! The process table: every process on the node by pid, loaded from /proc at start
//! and kept by fork, exec and exit events, so that each event names its process,
//! its ancestors and how the process entered its container.
//!
//! A pid alone does not name a process: pids are reused. Every event carries its
//! process's start time, so an entry whose start time differs from the event's is
//! an earlier process that reused the pid (its exit was lost) and is replaced. A
//! lost exit can leave entries behind; [`ProcessTable::sweep`] drops those that
//! /proc no longer shows, and the table never holds more than its cap.

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
};

use crate::{
    context::{
        procfs::{self, ProcEntry},
        starts::ContainerStarts,
    },
    event::{Body, Event, Facts},
};

/// How a process came to be in its container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Entry {
    /// Not in a container.
    #[default]
    Host,
    /// The container's first process, or a descendant of it.
    Init,
    /// Entered the container after it started (`runc exec`, `kubectl exec`), or
    /// descends from a process that did.
    Exec,
    /// Not known: the process's entry point into the container was gone before
    /// the agent could see it.
    Unknown,
}

impl Entry {
    /// The name used in output and rules.
    pub fn name(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Init => "init",
            Self::Exec => "exec",
            Self::Unknown => "unknown",
        }
    }
}

/// One process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Process {
    /// Process id, host pid namespace.
    pub pid: u32,
    /// Parent's process id: the latest the kernel reported (a process whose
    /// parent exits is re-parented).
    pub ppid: u32,
    /// When it started, in clock ticks since boot (as `/proc/<pid>/stat`).
    pub start_ticks: u64,
    /// The kernel's count of its execs, once an event has shown it.
    pub exec_seq: Option<u32>,
    /// `comm`.
    pub comm: String,
    /// The executable's path as the process sees it; empty when unknown.
    pub exepath: Arc<str>,
    /// Its arguments, `argv[0]` first (shared with its children until they exec).
    pub args: Arc<[String]>,
    /// Its working directory when it started its program, if it could be read.
    pub cwd: Option<Arc<str>>,
    /// Real user id.
    pub uid: u32,
    /// Real group id.
    pub gid: u32,
    /// Audit login uid, when set.
    pub loginuid: Option<u32>,
    /// Controlling terminal (`tty_nr`), 0 for none.
    pub tty: u32,
    /// Process id in its own pid namespace, when known.
    pub vpid: Option<u32>,
    /// Its cgroup v2 id (0 until an event shows it).
    pub cgroup_id: u64,
    /// Its container's id; `None` on the host.
    pub container: Option<Arc<str>>,
    /// How it entered its container.
    pub entry: Entry,
    /// Its stdio types, capability sets, session id and executable change
    /// time, as its last exec (or /proc at start) showed them.
    pub facts: Facts,
}

impl Process {
    /// Whether capability number `cap` (`CAP_SYS_ADMIN` is 21; see
    /// [`crate::event::facts::cap_number`]) is in its effective set: a mask
    /// test, no string built. False when its capabilities are unknown.
    pub fn has_cap(&self, cap: u32) -> bool {
        self.facts.caps.is_some_and(|caps| caps.has_effective(cap))
    }
}

/// Counts of what the table did, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Processes loaded from the /proc scan.
    pub scanned: u64,
    /// Processes added by fork events.
    pub forks: u64,
    /// Exec events applied.
    pub execs: u64,
    /// Processes removed by exit events.
    pub exits: u64,
    /// Entries replaced because a new process had reused the pid.
    pub pid_reused: u64,
    /// Processes first seen in an event of another kind, then read from /proc.
    pub found_late: u64,
    /// Processes first seen in an event and gone from /proc: known from the
    /// event's header alone.
    pub header_only: u64,
    /// Entries removed by sweeps (their exit was lost).
    pub swept: u64,
    /// Processes not added because the table was full.
    pub full: u64,
}

/// Where the table reads /proc, and how big it may grow.
#[derive(Clone, Debug)]
pub struct TableConfig {
    /// The proc filesystem (`/proc`; the host's, in a container).
    pub proc_root: PathBuf,
    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), the unit of /proc's start times.
    pub ticks_per_second: u64,
    /// The most processes held; beyond it new ones are counted and left out.
    pub max_processes: usize,
}

impl Default for TableConfig {
    fn default() -> Self {
        Self {
            proc_root: PathBuf::from("/proc"),
            ticks_per_second: 100,
            max_processes: 1 << 16,
        }
    }
}

/// Ancestors followed at most, against a loop of parents in a damaged table.
const MAX_DEPTH: usize = 64;

/// The process table.
#[derive(Debug)]
pub struct ProcessTable {
    procs: HashMap<u32, Process>,
    starts: ContainerStarts,
    config: TableConfig,
    stats: TableStats,
    /// The processes (pid, start ns) whose exit is in the batch being applied:
    /// already gone, so their /proc entries have nothing left to read.
    exiting: HashSet<(u32, u64)>,
}

impl ProcessTable {
    /// An empty table.
    pub fn new(config: TableConfig) -> Self {
        Self {
            procs: HashMap::new(),
            starts: ContainerStarts::default(),
            config,
            stats: TableStats::default(),
            exiting: HashSet::new(),
        }
    }

    /// Loads the processes of a /proc scan; `container_of` names each one's
    /// container from its cgroup path. Kernel threads are left out.
    pub fn load(
        &mut self,
        mut entries: Vec<ProcEntry>,
        container_of: impl Fn(&ProcEntry) -> Option<Arc<str>>,
    ) {
        // Parents start before their children (re-parenting aside), so each
        // process's entry can be taken from its parent's, already loaded.
        entries.sort_by_key(|e| e.start_ticks);
        for entry in entries.into_iter().filter(|e| !e.kernel_thread) {
            let container = container_of(&entry);
            if let Some(c) = &container {
                let start_ns = self.ticks_ns(entry.start_ticks);
                self.starts.note(c, start_ns);
            }
            let process = self.process_from_proc(entry, container);
            if self.insert(process) {
                self.stats.scanned += 1;
            }
        }
    }

    /// The process with this pid.
    pub fn get(&self, pid: u32) -> Option<&Process> {
        self.procs.get(&pid)
    }

    /// When `container` started: the start of the earliest process the table
    /// has known in it, ns since boot (see [`crate::context::starts`]).
    pub fn container_start_ns(&self, container: &str) -> Option<u64> {
        self.starts.get(container)
    }

    /// The leader of the process's session: the process whose pid is its
    /// session id or, when that one is gone, its eldest ancestor in the same
    /// session, as Falco's `proc.sname` finds it. `None` when neither is known.
    pub fn session_leader(&self, pid: u32) -> Option<&Process> {
        let sid = self.procs.get(&pid)?.facts.sid.filter(|&sid| sid != 0)?;
        if let Some(leader) = self.procs.get(&sid)
            && leader.facts.sid.is_none_or(|own| own == sid)
        {
            return Some(leader);
        }
        self.ancestors(pid)
            .take_while(|p| p.facts.sid == Some(sid))
            .last()
    }

    /// How many processes the table holds.
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// What the table did so far.
    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// The process's ancestors, parent first, as far as the table knows them.
    pub fn ancestors(&self, pid: u32) -> impl Iterator<Item = &Process> {
        let mut next = self.procs.get(&pid).map(|p| p.ppid);
        let mut depth = 0;
        std::iter::from_fn(move || {
            let ppid = next.take()?;
            depth += 1;
            if ppid == 0 || depth > MAX_DEPTH {
                return None;
            }
            let parent = self.procs.get(&ppid)?;
            if parent.pid != parent.ppid {
                next = Some(parent.ppid);
            }
            Some(parent)
        })
    }

    /// Notes the processes whose exit is in `batch`, before its events are
    /// applied one by one: an exec of one of them reads no working directory.
    /// A process whose exit the reader already holds is gone, and its
    /// `/proc/<pid>/cwd` cannot be read (a zombie has no fs); under an exec
    /// storm of short programs, that failed lookup was most of what an exec
    /// cost the table.
    pub fn expect_exits(&mut self, batch: &[Event]) {
        self.exiting.clear();
        self.exiting.extend(
            batch
                .iter()
                .filter(|e| matches!(e.body, Body::Exit(_)))
                .map(|e| (e.task.pid, e.task.start_ns)),
        );
    }

    /// Applies an event: a fork adds the child, an exec replaces the program, any
    /// event refreshes the ids its header reports. `container` is the event's
    /// container id, from its cgroup. Exits are applied by [`Self::retire`],
    /// after the event has been reported with its process.
    pub fn observe(&mut self, event: &Event, container: Option<Arc<str>>) {
        let start_ticks = self.ticks(event.task.start_ns);
        if let Some(c) = &container {
            self.starts.note(c, event.task.start_ns);
        }
        match &event.body {
            Body::Fork => self.fork(event, start_ticks, container),
            Body::Exec(exec) => {
                self.stats.execs += 1;
                let cwd = if self
                    .exiting
                    .contains(&(event.task.pid, event.task.start_ns))
                {
                    None
                } else {
                    self.read_cwd(event.task.pid, start_ticks)
                };
                let vpid = (exec.vpid != 0).then_some(exec.vpid);
                // An exec does not change how the process came into its container,
                // unless this is its first program there (runc moves `runc init`
                // into the container's cgroup before it execs the entry point).
                let entry = match self.procs.get(&event.task.pid) {
                    Some(p)
                        if p.start_ticks == start_ticks
                            && p.container == container
                            && p.entry != Entry::Unknown =>
                    {
                        p.entry
                    }
                    _ => self.entry_of(event.task.ppid, container.as_deref(), vpid),
                };
                if let Some(process) = self.current(event, start_ticks, container.clone()) {
                    process.exepath = exec.exepath.as_str().into();
                    process.args = exec.argv.clone().into();
                    process.cwd = cwd;
                    process.loginuid = exec.loginuid;
                    process.tty = exec.tty;
                    process.vpid = vpid;
                    process.entry = entry;
                    process.facts = exec.facts;
                }
            }
            Body::Priv(call) => {
                let caps = call.capset_caps();
                if let Some(process) = self.current(event, start_ticks, container)
                    && caps.is_some()
                {
                    process.facts.caps = caps;
                }
            }
            _ => {
                self.current(event, start_ticks, container);
            }
        }
    }

    /// Removes the process of an exit event.
    pub fn retire(&mut self, event: &Event) {
        if !matches!(event.body, Body::Exit(_)) {
            return;
        }
        let start_ticks = self.ticks(event.task.start_ns);
        if self
            .procs
            .get(&event.task.pid)
            .is_some_and(|p| p.start_ticks == start_ticks || event.task.start_ns == 0)
        {
            self.procs.remove(&event.task.pid);
            self.stats.exits += 1;
        }
    }

    /// Drops the processes that /proc no longer shows, or shows with another
    /// start time: their exits were lost. Returns how many went.
    pub fn sweep(&mut self) -> usize {
        let root = self.config.proc_root.clone();
        let before = self.procs.len();
        self.procs
            .retain(|&pid, process| procfs::start_ticks(&root, pid) == Some(process.start_ticks));
        let swept = before - self.procs.len();
        self.stats.swept += swept as u64;
        let live: std::collections::HashSet<&str> = self
            .procs
            .values()
            .filter_map(|p| p.container.as_deref())
            .collect();
        self.starts.retain(|id| live.contains(id));
        swept
    }

    /// The kernel's ns since boot in /proc's clock ticks, as the kernel converts
    /// them for `/proc/<pid>/stat`.
    pub fn ticks(&self, ns: u64) -> u64 {
        procfs::ticks_from_boot_ns(ns, self.config.ticks_per_second)
    }

    /// /proc's clock ticks since boot in ns since boot, to a tick.
    fn ticks_ns(&self, ticks: u64) -> u64 {
        let per_tick = 1_000_000_000 / self.config.ticks_per_second.clamp(1, 1_000_000_000);
        ticks.saturating_mul(per_tick)
    }

    /// Adds `process`, replacing an entry with its pid; false when full.
    fn insert(&mut self, process: Process) -> bool {
        if !self.procs.contains_key(&process.pid) && self.procs.len() >= self.config.max_processes {
            self.sweep();
            if self.procs.len() >= self.config.max_processes {
                self.stats.full += 1;
                // Logged the first time and then once per thousand, so a flood of
                // new processes cannot flood the log.
                if self.stats.full % 1000 == 1 {
                    tracing::warn!(
                        max = self.config.max_processes,
                        left_out = self.stats.full,
                        "the process table is full: new processes are reported without their context"
                    );
                }
                return false;
            }
        }
        let start_ticks = process.start_ticks;
        if let Some(old) = self.procs.insert(process.pid, process)
            && old.start_ticks != start_ticks
        {
            self.stats.pid_reused += 1;
        }
        true
    }

    fn fork(&mut self, event: &Event, start_ticks: u64, container: Option<Arc<str>>) {
        let task = &event.task;
        let parent = self.procs.get(&task.ppid);
        // Until it execs, the child runs its parent's program, in its parent's
        // working directory, and entered the container as its parent did.
        let child = Process {
            pid: task.pid,
            ppid: task.ppid,
            start_ticks,
            exec_seq: Some(task.exec_seq),
            comm: task.comm.clone(),
            exepath: parent.map_or_else(|| "".into(), |p| p.exepath.clone()),
            args: parent.map_or_else(|| Arc::from([]), |p| p.args.clone()),
            cwd: parent.and_then(|p| p.cwd.clone()),
            uid: task.uid,
            gid: task.gid,
            loginuid: parent.and_then(|p| p.loginuid),
            tty: parent.map_or(0, |p| p.tty),
            vpid: None,
            cgroup_id: task.cgroup_id,
            facts: parent.map_or_else(Facts::default, |p| p.facts),
            entry: match (&container, parent) {
                (None, _) => Entry::Host,
                (Some(_), Some(p)) if p.container == container => p.entry,
                (Some(_), _) => Entry::Unknown,
            },
            container,
        };
        if self.insert(child) {
            self.stats.forks += 1;
        }
    }

    /// The event's process, made current: found by pid and start time, else read
    /// from /proc, else made from the event's header. Its ids are the event's.
    fn current(
        &mut self,
        event: &Event,
        start_ticks: u64,
        container: Option<Arc<str>>,
    ) -> Option<&mut Process> {
        let task = &event.task;
        let known = self
            .procs
            .get(&task.pid)
            .is_some_and(|p| p.start_ticks == start_ticks || task.start_ns == 0);
        if !known {
            let process = match procfs::read(&self.config.proc_root, task.pid) {
                Ok(entry) if entry.start_ticks == start_ticks => {
                    self.stats.found_late += 1;
                    self.process_from_proc(entry, container.clone())
                }
                _ => {
                    self.stats.header_only += 1;
                    self.process_from_header(event, start_ticks, container.clone())
                }
            };
            if !self.insert(process) {
                return None;
            }
        }
        let process = self.procs.get_mut(&task.pid)?;
        process.ppid = task.ppid;
        process.exec_seq = Some(task.exec_seq);
        process.uid = task.uid;
        process.gid = task.gid;
        process.cgroup_id = task.cgroup_id;
        if process.comm != task.comm {
            process.comm.clone_from(&task.comm);
        }
        if process.container != container {
            // Moved to another cgroup (runc moves `runc init` into the container).
            process.container = container;
        }
        Some(process)
    }

    /// How a process with parent `ppid` entered `container`: as its parent did
    /// if the parent is in the same container; else it is the container's first
    /// process if its own pid namespace calls it 1, and came in later if not.
    fn entry_of(&self, ppid: u32, container: Option<&str>, vpid: Option<u32>) -> Entry {
        let Some(container) = container else {
            return Entry::Host;
        };
        match self.procs.get(&ppid) {
            Some(parent) if parent.container.as_deref() == Some(container) => parent.entry,
            _ => match vpid {
                Some(1) => Entry::Init,
                Some(_) => Entry::Exec,
                None => Entry::Unknown,
            },
        }
    }

    fn process_from_proc(&self, entry: ProcEntry, container: Option<Arc<str>>) -> Process {
        Process {
            entry: self.entry_of(entry.ppid, container.as_deref(), entry.vpid),
            pid: entry.pid,
            ppid: entry.ppid,
            start_ticks: entry.start_ticks,
            exec_seq: None,
            comm: entry.comm,
            exepath: entry.exe.unwrap_or_default().into(),
            args: entry.args.into(),
            cwd: entry.cwd.map(Into::into),
            uid: entry.uid,
            gid: entry.gid,
            loginuid: entry.loginuid,
            tty: entry.tty,
            vpid: entry.vpid,
            cgroup_id: 0,
            facts: entry.facts,
            container,
        }
    }

    fn process_from_header(
        &self,
        event: &Event,
        start_ticks: u64,
        container: Option<Arc<str>>,
    ) -> Process {
        let task = &event.task;
        Process {
            entry: self.entry_of(task.ppid, container.as_deref(), None),
            pid: task.pid,
            ppid: task.ppid,
            start_ticks,
            exec_seq: Some(task.exec_seq),
            comm: task.comm.clone(),
            exepath: "".into(),
            args: Arc::from([]),
            cwd: None,
            uid: task.uid,
            gid: task.gid,
            loginuid: None,
            tty: 0,
            vpid: None,
            cgroup_id: task.cgroup_id,
            facts: Facts::default(),
            container,
        }
    }

    /// The working directory of `pid`, if it is still the process that started
    /// at `start_ticks` (it may have exited, and its pid been reused, by now).
    fn read_cwd(&self, pid: u32, start_ticks: u64) -> Option<Arc<str>> {
        let root = &self.config.proc_root;
        let cwd = std::fs::read_link(root.join(pid.to_string()).join("cwd")).ok()?;
        let still = procfs::start_ticks(root, pid) == Some(start_ticks);
        still.then(|| cwd.to_string_lossy().into())
    }
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
