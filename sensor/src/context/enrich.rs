//! Puts the pieces together: for each event, its process and ancestors from the
//! process table, its container from its cgroup, and its pod from the kubelet.
//!
//! The event loop calls [`Enricher::observe`] for each event in ring order, reads
//! the result with [`Enricher::who`], then [`Enricher::retire`]s exits, so an exit
//! is still reported with the process that made it.

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
    time::Instant,
};

use crate::{
    context::{
        cgroups::CgroupPaths,
        container::{self, ContainerRef},
        exec_id::{BootIdError, ExecIds},
        kubelet::{PodCache, PodContainer, PodInfo},
        process::{Process, ProcessTable, TableConfig, TableStats},
        procfs,
        users::{Ids, UserCache, UserConfig, UserStats},
    },
    event::{Event, clock::BootClock},
};

/// What the enricher needs to start.
#[derive(Clone, Debug)]
pub struct EnrichConfig {
    /// The proc filesystem (the host's: the agent runs with `hostPID`).
    pub proc_root: PathBuf,
    /// The most processes the table holds.
    pub max_processes: usize,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        Self {
            proc_root: PathBuf::from("/proc"),
            max_processes: TableConfig::default().max_processes,
        }
    }
}

/// The enricher could not start.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// No boot id, so no exec ids.
    #[error(transparent)]
    BootId(#[from] BootIdError),
    /// No cgroup v2 hierarchy to resolve cgroup ids in.
    #[error("cannot resolve cgroup ids: {source}")]
    Cgroups {
        /// Why.
        #[source]
        source: crate::context::cgroups::CgroupError,
    },
}

/// Who did it: everything known of an event's process, container and pod.
#[derive(Debug, Default)]
pub struct Who<'a> {
    /// The process, if the table has it.
    pub process: Option<&'a Process>,
    /// Its ancestors, parent first, as far as they are known.
    pub ancestors: Vec<&'a Process>,
    /// The exec id of the program the process runs.
    pub exec_id: String,
    /// The exec id of the parent's program, when the parent's exec count is known.
    pub parent_exec_id: Option<String>,
    /// The container, from the cgroup path; `None` on the host.
    pub container: Option<Arc<ContainerRef>>,
    /// The container and its pod as the kubelet lists them.
    pub pod_container: Option<PodContainer>,
    /// The pod by the UID in the cgroup path, when the kubelet lists the pod
    /// but not (yet) this container.
    pub pod: Option<Arc<PodInfo>>,
    /// `user.name`: the name of the event's uid in its root's passwd file.
    pub user_name: Option<Arc<str>>,
    /// `user.homedir`: that passwd entry's home directory.
    pub user_homedir: Option<Arc<str>>,
    /// `user.shell`: that passwd entry's shell.
    pub user_shell: Option<Arc<str>>,
    /// `group.name`: the name of the event's gid in its root's group file.
    pub group_name: Option<Arc<str>>,
    /// `user.loginname`: the name of the process's login uid, when set, in the
    /// host's passwd file.
    pub user_loginname: Option<Arc<str>>,
    /// The leader of the process's session (`proc.sname`), when known: see
    /// [`crate::context::process::ProcessTable::session_leader`].
    pub session_leader: Option<&'a Process>,
    /// When the process's container started, ns since the Unix epoch
    /// (`container.start_ts`); `None` on the host or when unknown.
    pub container_start_ns: Option<u64>,
}

impl Who<'_> {
    /// Container drift (`proc.is_exe_changed`): whether the executable's inode
    /// changed after the container started. `Some(false)` on the host; `None`
    /// when the process, its executable's change time or its container's start
    /// is unknown.
    pub fn is_exe_changed(&self) -> Option<bool> {
        if self.container.is_none() {
            return Some(false);
        }
        let ctime = self.process?.facts.exe_ctime_ns?;
        Some(ctime > self.container_start_ns?)
    }
}

/// Containers by cgroup id; a cgroup's container never changes. Bounded: cleared
/// when it grows past this (containers come and go; a miss costs one parse).
const CONTAINERS_MAX: usize = 8192;

/// The enricher: process table, cgroup paths, containers, pods.
pub struct Enricher {
    table: ProcessTable,
    cgroups: CgroupPaths,
    containers: HashMap<u64, Option<Arc<ContainerRef>>>,
    exec_ids: ExecIds,
    pods: Option<PodCache>,
    /// Containers seen without their pod since the last [`Self::take_unlisted`].
    unlisted: HashSet<Arc<str>>,
    /// Containers already waited for once; their events go on without waiting.
    waited: HashSet<Arc<str>>,
    users: UserCache,
}

impl Enricher {
    /// Starts from the processes /proc shows now. Call after the kernel programs
    /// are attached, so that no process falls between the scan and the events.
    pub fn start(config: &EnrichConfig, pods: Option<PodCache>) -> Result<Self, EnrichError> {
        let exec_ids = ExecIds::for_this_boot(&config.proc_root)?;
        let cgroups = CgroupPaths::new().map_err(|source| EnrichError::Cgroups { source })?;
        let mut table = ProcessTable::new(TableConfig {
            proc_root: config.proc_root.clone(),
            ticks_per_second: procfs::clock_ticks_per_second(),
            max_processes: config.max_processes,
        });
        let scan = procfs::scan(&config.proc_root);
        if scan.errors > 0 {
            tracing::warn!(
                errors = scan.errors,
                "some processes could not be read from /proc"
            );
        }
        table.load(scan.entries, |entry| {
            let path = entry.cgroup.as_deref()?;
            container::from_cgroup_path(path).map(|c| Arc::<str>::from(c.id.as_str()))
        });
        tracing::info!(processes = table.len(), "process table loaded from /proc");
        Ok(Self {
            table,
            cgroups,
            containers: HashMap::new(),
            exec_ids,
            pods,
            unlisted: HashSet::new(),
            waited: HashSet::new(),
            users: UserCache::new(UserConfig {
                proc_root: config.proc_root.clone(),
                ..UserConfig::default()
            }),
        })
    }

    /// The container of the cgroup with this id (`pid` helps find its path).
    fn container(&mut self, cgroup_id: u64, pid: u32) -> Option<Arc<ContainerRef>> {
        if let Some(known) = self.containers.get(&cgroup_id) {
            return known.clone();
        }
        let path = self.cgroups.path(cgroup_id, Some(pid))?;
        let found = container::from_cgroup_path(&path).map(Arc::new);
        if self.containers.len() >= CONTAINERS_MAX {
            self.containers.clear();
        }
        self.containers.insert(cgroup_id, found.clone());
        found
    }

    /// Notes the event's container: one the kubelet has not listed is reported
    /// by [`Self::take_unlisted`] the first time, and asks for a (rate-limited)
    /// fetch every time. Call for a batch before [`Self::observe`].
    pub fn note(&mut self, event: &Event) {
        let Some(c) = self.container(event.task.cgroup_id, event.task.pid) else {
            return;
        };
        let Some(pods) = &self.pods else { return };
        if pods.container(&c.id).is_some() {
            return;
        }
        if self.waited.contains(c.id.as_str()) {
            pods.request_refresh();
        } else {
            self.unlisted.insert(c.id.as_str().into());
        }
    }

    /// Notes the exits in `batch` before its events are applied (see
    /// [`ProcessTable::expect_exits`]).
    pub fn expect_exits(&mut self, batch: &[Event]) {
        self.table.expect_exits(batch);
    }

    /// Applies an event to the process table (see the module's doc).
    pub fn observe(&mut self, event: &Event) {
        let container = self.container(event.task.cgroup_id, event.task.pid);
        let id = container.map(|c| Arc::<str>::from(c.id.as_str()));
        self.table.observe(event, id);
    }

    /// Containers seen without their pod since the last call, each only once: the
    /// caller may ask the kubelet and wait briefly before reporting their events.
    pub fn take_unlisted(&mut self) -> Vec<Arc<str>> {
        if self.waited.len() + self.unlisted.len() > CONTAINERS_MAX {
            self.waited.clear();
        }
        let new: Vec<Arc<str>> = self.unlisted.drain().collect();
        self.waited.extend(new.iter().cloned());
        new
    }

    /// Everything known of the event's process, container and pod.
    pub fn who(&mut self, event: &Event) -> Who<'_> {
        let container = self.container(event.task.cgroup_id, event.task.pid);
        let pod_container = match (&self.pods, &container) {
            (Some(pods), Some(c)) => pods.container(&c.id),
            _ => None,
        };
        let pod = match (&self.pods, &container, &pod_container) {
            (Some(pods), Some(c), None) => c.pod_uid.as_deref().and_then(|uid| pods.pod(uid)),
            _ => None,
        };
        let process = self.table.get(event.task.pid);
        let start_ticks = self.table.ticks(event.task.start_ns);
        let exec_id = self
            .exec_ids
            .id(event.task.pid, start_ticks, event.task.exec_seq);
        let ancestors: Vec<&Process> = self.table.ancestors(event.task.pid).collect();
        let parent_exec_id = ancestors.first().and_then(|parent| {
            let seq = parent.exec_seq?;
            Some(self.exec_ids.id(parent.pid, parent.start_ticks, seq))
        });
        let container_id = container.as_ref().map(|c| c.id.as_str());
        // A short-lived process may be gone by now: its ancestors in the same
        // container share its root.
        let same_root = ancestors
            .iter()
            .filter(|p| p.container.as_deref() == container_id)
            .map(|p| p.pid);
        let ids = Ids {
            uid: event.task.uid,
            gid: event.task.gid,
            loginuid: process.and_then(|p| p.loginuid),
        };
        let names = self.users.names(
            container_id,
            std::iter::once(event.task.pid).chain(same_root),
            ids,
            Instant::now(),
        );
        let (user_name, user_homedir, user_shell) = match names.user {
            Some(a) => (Some(a.name), Some(a.home), Some(a.shell)),
            None => (None, None, None),
        };
        // Boot time to wall time now: the change time it is compared with is
        // wall time, stamped by the kernel when the file changed.
        let container_start_ns = container
            .as_ref()
            .and_then(|c| self.table.container_start_ns(&c.id))
            .map(|boot_ns| BootClock::now().epoch_ns(boot_ns));
        Who {
            session_leader: self.table.session_leader(event.task.pid),
            container_start_ns,
            process,
            ancestors,
            exec_id,
            parent_exec_id,
            container,
            pod_container,
            pod,
            user_name,
            user_homedir,
            user_shell,
            group_name: names.group,
            user_loginname: names.login,
        }
    }

    /// Removes an exit event's process, after it was reported.
    pub fn retire(&mut self, event: &Event) {
        self.table.retire(event);
    }

    /// Drops processes whose exits were lost (see [`ProcessTable::sweep`]).
    pub fn sweep(&mut self) -> usize {
        self.table.sweep()
    }

    /// How many processes the table holds.
    pub fn processes(&self) -> usize {
        self.table.len()
    }

    /// What the process table did so far.
    pub fn table_stats(&self) -> TableStats {
        self.table.stats()
    }

    /// What the user and group name cache did so far.
    pub fn user_stats(&self) -> UserStats {
        self.users.stats()
    }

    /// The pod cache, when a kubelet is configured.
    pub fn pods(&self) -> Option<&PodCache> {
        self.pods.as_ref()
    }
}
