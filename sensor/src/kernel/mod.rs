//! Loading the kernel programs and reading what they report.
//!
//! [`KernelSensor::start`] checks privileges and BTF, mounts tracefs when missing,
//! reads kernel struct offsets from BTF, loads the embedded eBPF object with them,
//! and attaches every probe of [`probes::PROBES`]. Dropping the [`KernelSensor`]
//! detaches and unloads everything.

pub mod btf;
pub mod cgroup;
pub mod counters;
pub mod filters;
pub mod preflight;
pub mod probes;
pub mod ring;
pub mod tracefs;

#[cfg(test)]
mod object_tests;

use std::{path::PathBuf, time::Duration};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, MapData, PerCpuArray, ProgramArray, RingBuf, lpm_trie::LpmTrie},
    programs::{CgroupAttachMode, CgroupSockAddr, RawTracePoint, TracePoint},
};
use probes::Hook;
use sensor_common::{EventKind, KernelOffsets, event::open_syscall, offsets::globals};

pub use counters::DropCounters;
pub use filters::{AddrRange, OpenFilter};
pub use ring::{BATCH_MAX, EventReader, ReaderStats, WakeupPolicy};

/// The eBPF object built by `build.rs` from `sensor-ebpf`. Public for benchmarks,
/// which load its empty `floor_*` programs on the sensor's hooks.
pub static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor"));

/// How to load the kernel side.
#[derive(Clone, Debug)]
pub struct KernelConfig {
    /// Size of the event ring buffer in bytes: a power of two, a multiple of the page size.
    pub ring_bytes: u32,
    /// When the kernel wakes the reader.
    pub wakeup: WakeupPolicy,
    /// How often the reader looks without a wakeup; bounds latency on a quiet machine.
    pub poll_interval: Duration,
    /// With a batched wakeup: a record into an empty ring wakes the reader when
    /// none did for this long, and after reading records the reader looks again
    /// within twice this long, for what came between (longer, up to 8 ms,
    /// while every look finds records). `None`: the threshold and the poll
    /// interval alone.
    pub quiet_wakeup: Option<Duration>,
    /// The event kinds to report; the others are dropped in the kernel.
    pub kinds: Vec<EventKind>,
    /// Which opens to report; `None` reports all.
    pub open_filter: Option<OpenFilter>,
    /// Cgroup subtrees whose processes are reported (paths in the cgroup v2
    /// hierarchy, such as `/kubepods`); `None` reports every process.
    pub cgroup_scope: Option<Vec<PathBuf>>,
    /// Ports whose network events are reported (the remote port of a connect, the
    /// local port of an accept or listen); `None` reports all.
    pub net_ports: Option<Vec<u16>>,
    /// Address ranges whose network events are reported (the remote address of a
    /// connect or accept, the local one of a bind or listen); `None` reports all.
    pub net_addrs: Option<Vec<AddrRange>>,
    /// Whether the open program may judge an open of a file it judged a moment
    /// ago with plain loads, where the kernel allows them (Linux 6.17 on). Off,
    /// every open takes the full path: for comparison and tests.
    pub open_fast_path: bool,
}

impl Default for KernelConfig {
    fn default() -> Self {
        let ring_bytes = 8 << 20;
        Self {
            ring_bytes,
            // An eighth of the ring: a burst wakes the reader long before the ring fills.
            wakeup: WakeupPolicy::Batched {
                bytes: u64::from(ring_bytes / 8),
            },
            poll_interval: Duration::from_millis(100),
            // A millisecond: at most a thousand wakeups a second from records
            // that found the reader idle, each read within about 2 ms.
            quiet_wakeup: Some(Duration::from_millis(1)),
            kinds: EventKind::ALL.to_vec(),
            open_filter: None,
            cgroup_scope: None,
            net_ports: None,
            net_addrs: None,
            open_fast_path: true,
        }
    }
}

/// Why the kernel side could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Privileges or BTF are missing.
    #[error(transparent)]
    Preflight(#[from] preflight::PreflightError),
    /// tracefs is missing or a tracepoint's layout is not the expected one.
    #[error(transparent)]
    Tracefs(#[from] tracefs::TracefsError),
    /// Kernel struct offsets could not be read from BTF.
    #[error(transparent)]
    Btf(#[from] btf::BtfError),
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The eBPF object could not be loaded.
    #[error("loading the eBPF object failed")]
    Load(#[source] Box<aya::EbpfError>),
    /// A program could not be loaded or attached.
    #[error("program {program} could not be loaded and attached")]
    Program {
        /// The program.
        program: &'static str,
        /// The cause.
        #[source]
        source: Box<aya::programs::ProgramError>,
    },
    /// A map of the object is missing or of the wrong type.
    #[error("map {map} is missing from the eBPF object or has the wrong type")]
    Map {
        /// The map.
        map: &'static str,
    },
    /// No cgroup v2 hierarchy is mounted, so the network hooks have nowhere to attach.
    #[error(
        "no cgroup v2 hierarchy is mounted (see /proc/self/mountinfo); the network hooks need one"
    )]
    NoCgroup2,
    /// A map could not be written.
    #[error("cannot write map {map}")]
    MapWrite {
        /// The map.
        map: &'static str,
        /// The cause.
        #[source]
        source: Box<aya::maps::MapError>,
    },
    /// A program of the probe set is missing from the eBPF object.
    #[error("program {program} is missing from the eBPF object")]
    NoProgram {
        /// The program.
        program: &'static str,
    },
    /// The ring buffer could not be registered with the async runtime.
    #[error("cannot watch the ring buffer: {0}")]
    Io(#[from] std::io::Error),
}

/// The loaded and attached kernel programs.
pub struct KernelSensor {
    // Held for its programs and maps: dropping it unloads them, after the Drop
    // impl has detached every link.
    _ebpf: Ebpf,
    links: Vec<OwnedLink>,
    offsets: KernelOffsets,
    open_fast_path: bool,
    attached: Vec<&'static str>,
    counters: DropCounters,
    kinds: Array<MapData, u32>,
    settings: Array<MapData, u32>,
    open_maps: filters::OpenMaps,
    scope: HashMap<MapData, u64, u8>,
    net_ports: HashMap<MapData, u16, u8>,
    net_addrs: LpmTrie<MapData, [u8; 16], u8>,
}

/// Takes map `name` from the object as a `T`.
fn take_map<T: TryFrom<aya::maps::Map>>(
    ebpf: &mut Ebpf,
    name: &'static str,
) -> Result<T, LoadError> {
    ebpf.take_map(name)
        .and_then(|map| T::try_from(map).ok())
        .ok_or(LoadError::Map { map: name })
}

impl KernelSensor {
    /// Loads and attaches the programs; returns the sensor and the reader of its events.
    /// Must run inside a tokio runtime with I/O enabled.
    pub fn start(config: &KernelConfig) -> Result<(Self, EventReader), LoadError> {
        let ring_bytes = config.ring_bytes;
        if !ring_bytes.is_power_of_two() || ring_bytes < 4096 {
            return Err(LoadError::Config(format!(
                "ring buffer size {ring_bytes} is not a power of two of at least 4096 bytes"
            )));
        }
        preflight::check()?;
        if tracefs::ensure_mounted()? {
            tracing::info!(path = tracefs::TRACEFS, "mounted tracefs");
        }
        let facts = btf::kernel_facts()?;
        let offsets = facts.offsets;
        tracing::debug!(?offsets, "kernel struct offsets from BTF");
        let missing = btf::missing_exec_facts(&offsets);
        if !missing.is_empty() {
            tracing::warn!(
                fields = missing.join(", "),
                "this kernel's BTF lacks members these fields are read from: exec events go without them"
            );
        }
        let wakeup = config.wakeup.threshold();
        let quiet_ns = config
            .quiet_wakeup
            .map_or(0, |d| d.as_nanos().max(1) as u64);
        let mut ebpf = EbpfLoader::new()
            .override_global(globals::OFFSETS, &offsets, true)
            .override_global(globals::WAKEUP_BYTES, &wakeup, true)
            .override_global(globals::QUIET_WAKEUP_NS, &quiet_ns, true)
            .override_global(globals::SELF_TGID, &std::process::id(), true)
            .override_global(globals::OPEN_NRS, &open_syscall_numbers(), true)
            .map_max_entries("EVENTS", ring_bytes)
            .load(EBPF_OBJECT)
            .map_err(|e| LoadError::Load(Box::new(e)))?;
        let open_fast_path =
            config.open_fast_path && facts.untrusted_mem && load_open_fast_path(&mut ebpf)?;
        tracing::debug!(open_fast_path, "open program loaded");
        start_kernel_logger(&mut ebpf);
        let mut kinds: Array<MapData, u32> = take_map(&mut ebpf, "KINDS")?;
        let mut settings: Array<MapData, u32> = take_map(&mut ebpf, "SETTINGS")?;
        let mut open_maps = filters::OpenMaps {
            prefixes: take_map(&mut ebpf, "OPEN_PREFIXES")?,
            names: take_map(&mut ebpf, "OPEN_NAMES")?,
            generation: take_map(&mut ebpf, "OPEN_VERDICT_GENERATION")?,
        };
        let mut scope: HashMap<MapData, u64, u8> = take_map(&mut ebpf, "SCOPE_CGROUPS")?;
        let mut net_ports: HashMap<MapData, u16, u8> = take_map(&mut ebpf, "NET_PORTS")?;
        let mut net_addrs: LpmTrie<MapData, [u8; 16], u8> = take_map(&mut ebpf, "NET_ADDRS")?;
        // Set before attaching, so nothing the configuration excludes ever goes out.
        set_kinds(&mut kinds, &config.kinds)?;
        filters::apply(&mut settings, &mut open_maps, config.open_filter.as_ref())?;
        let scope_ids = config
            .cgroup_scope
            .as_deref()
            .map(filters::cgroup_ids)
            .transpose()?;
        filters::apply_scope(&mut settings, &mut scope, scope_ids.as_deref())?;
        filters::apply_ports(&mut settings, &mut net_ports, config.net_ports.as_deref())?;
        filters::apply_addrs(&mut settings, &mut net_addrs, config.net_addrs.as_deref())?;
        let (attached, links) = attach_probes(&mut ebpf, open_fast_path)?;

        let ring: RingBuf<MapData> = take_map(&mut ebpf, "EVENTS")?;
        let counters: PerCpuArray<MapData, u64> = take_map(&mut ebpf, "COUNTERS")?;
        // The second look after records only where records can wake the reader
        // early; with a wakeup per record there is nothing between to catch.
        let recheck = match config.wakeup {
            WakeupPolicy::Batched { .. } => config.quiet_wakeup.map(|gap| gap * 2),
            WakeupPolicy::EveryEvent => None,
        };
        let quiet_until = recheck
            .map(|_| take_map(&mut ebpf, "QUIET_UNTIL"))
            .transpose()?;
        let reader = EventReader::new(ring, config.poll_interval, recheck, quiet_until)?;
        let sensor = Self {
            _ebpf: ebpf,
            links,
            offsets,
            open_fast_path,
            attached,
            counters: DropCounters::new(counters),
            kinds,
            settings,
            open_maps,
            scope,
            net_ports,
            net_addrs,
        };
        Ok((sensor, reader))
    }

    /// Whether the open program judges opens of recently judged files with
    /// plain loads (see [`KernelConfig::open_fast_path`]).
    pub fn open_fast_path(&self) -> bool {
        self.open_fast_path
    }

    /// The kernel struct offsets the programs were loaded with.
    pub fn offsets(&self) -> KernelOffsets {
        self.offsets
    }

    /// The programs that are attached.
    pub fn attached(&self) -> &[&'static str] {
        &self.attached
    }

    /// The kernel's drop counters.
    pub fn counters(&self) -> &DropCounters {
        &self.counters
    }

    /// Turns event kinds on or off while running: `kinds` are on, all others off.
    pub fn set_kinds(&mut self, kinds: &[EventKind]) -> Result<(), LoadError> {
        set_kinds(&mut self.kinds, kinds)
    }

    /// Replaces the cgroup scope while running; `None` reports every process.
    pub fn set_cgroup_scope(&mut self, subtrees: Option<&[PathBuf]>) -> Result<(), LoadError> {
        let ids = subtrees.map(filters::cgroup_ids).transpose()?;
        filters::apply_scope(&mut self.settings, &mut self.scope, ids.as_deref())
    }

    /// Replaces the ports of interest while running; `None` reports every port.
    pub fn set_net_ports(&mut self, ports: Option<&[u16]>) -> Result<(), LoadError> {
        filters::apply_ports(&mut self.settings, &mut self.net_ports, ports)
    }

    /// Replaces the address ranges of interest while running; `None` reports all.
    pub fn set_net_addrs(&mut self, ranges: Option<&[AddrRange]>) -> Result<(), LoadError> {
        filters::apply_addrs(&mut self.settings, &mut self.net_addrs, ranges)
    }

    /// Replaces the open filter while running; `None` reports every open.
    pub fn set_open_filter(&mut self, filter: Option<&OpenFilter>) -> Result<(), LoadError> {
        filters::apply(&mut self.settings, &mut self.open_maps, filter)
    }
}

/// A program's attachment, owned so that it can be detached on any thread.
enum OwnedLink {
    // The links detach when dropped; they are held only for that.
    TracePoint(
        #[expect(dead_code, reason = "held to detach on drop")]
        aya::programs::trace_point::TracePointLink,
    ),
    RawTracePoint(
        #[expect(dead_code, reason = "held to detach on drop")]
        aya::programs::raw_trace_point::RawTracePointLink,
    ),
    CgroupSockAddr(
        #[expect(dead_code, reason = "held to detach on drop")]
        aya::programs::cgroup_sock_addr::CgroupSockAddrLink,
    ),
}

impl Drop for KernelSensor {
    /// Detaches every program, many at once. Each tracepoint detach waits for an
    /// RCU grace period: one after another, some 80 of them take seconds, while
    /// concurrent waiters share grace periods. The Ebpf then unloads the programs.
    fn drop(&mut self) {
        let links = std::mem::take(&mut self.links);
        let per_thread = links.len().div_ceil(16).max(1);
        let mut links = links.into_iter();
        std::thread::scope(|scope| {
            loop {
                let chunk: Vec<OwnedLink> = links.by_ref().take(per_thread).collect();
                if chunk.is_empty() {
                    break;
                }
                scope.spawn(move || drop(chunk));
            }
        });
    }
}

/// This architecture's open-family syscall numbers, indexed by
/// `event::open_syscall`, for the open exit program to tell its four syscalls
/// apart; -1 for one the architecture lacks (arm64 has no open(2) or creat(2)).
fn open_syscall_numbers() -> [i32; 4] {
    let mut nrs = [-1i32; 4];
    nrs[open_syscall::OPENAT as usize] = libc::SYS_openat as i32;
    nrs[open_syscall::OPENAT2 as usize] = libc::SYS_openat2 as i32;
    #[cfg(target_arch = "x86_64")]
    {
        nrs[open_syscall::OPEN as usize] = libc::SYS_open as i32;
        nrs[open_syscall::CREAT as usize] = libc::SYS_creat as i32;
    }
    nrs
}

fn set_kinds(map: &mut Array<MapData, u32>, kinds: &[EventKind]) -> Result<(), LoadError> {
    for kind in EventKind::ALL {
        let on = u32::from(kinds.contains(&kind));
        map.set(kind as u32, on, 0)
            .map_err(|source| LoadError::MapWrite {
                map: "KINDS",
                source: Box::new(source),
            })?;
    }
    Ok(())
}

/// The last lines of the verifier's log in `error`: where it says why it
/// refused a program (the whole log runs to thousands of lines).
fn verifier_tail(error: &LoadError) -> String {
    let LoadError::Program { source, .. } = error else {
        return String::new();
    };
    let text = source.to_string();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(4)..].join(" | ")
}

/// Loads the open fast path: the fast program, and the full one it hands the
/// rest to. `false` when the verifier refuses the fast program (BTF only hints
/// at the kernel feature it needs): the full program is then attached alone.
fn load_open_fast_path(ebpf: &mut Ebpf) -> Result<bool, LoadError> {
    if let Err(e) = load_program(ebpf, probes::OPEN_FAST_PROGRAM) {
        tracing::warn!(
            error = %e,
            verifier = verifier_tail(&e),
            "the open program's fast path was refused; going without (opens cost more)"
        );
        return Ok(false);
    }
    let program = probes::OPEN_PROGRAM;
    let error = |source| LoadError::Program {
        program,
        source: Box::new(source),
    };
    load_program(ebpf, program)?;
    // A copy of the fd: the program array below borrows the object mutably.
    let full = ebpf
        .program(program)
        .ok_or(LoadError::NoProgram { program })?
        .fd()
        .map_err(error)?
        .try_clone()
        .map_err(|e| error(e.into()))?;
    // Borrowed, not taken: the object keeps the map's fd open for as long as
    // the programs run. The kernel empties a program array once no process
    // holds it, and the fast program would then hand every open to nothing.
    let mut full_slot: ProgramArray<&mut MapData> = ebpf
        .map_mut("OPEN_FULL")
        .and_then(|map| ProgramArray::try_from(map).ok())
        .ok_or(LoadError::Map { map: "OPEN_FULL" })?;
    full_slot
        .set(0, &full, 0)
        .map_err(|source| LoadError::MapWrite {
            map: "OPEN_FULL",
            source: Box::new(source),
        })?;
    Ok(true)
}

/// Loads tracepoint program `name` into the kernel.
fn load_program(ebpf: &mut Ebpf, name: &'static str) -> Result<(), LoadError> {
    let error = |source| LoadError::Program {
        program: name,
        source: Box::new(source),
    };
    let program: &mut TracePoint = ebpf
        .program_mut(name)
        .ok_or(LoadError::NoProgram { program: name })?
        .try_into()
        .map_err(error)?;
    program.load().map_err(error)
}

/// Attaches every probe; with `open_fast_path`, the open exits get the fast
/// program in place of the full one.
fn attach_probes(
    ebpf: &mut Ebpf,
    open_fast_path: bool,
) -> Result<(Vec<&'static str>, Vec<OwnedLink>), LoadError> {
    let mut attached: Vec<&'static str> = Vec::new();
    let mut links = Vec::new();
    // Optional tracepoints this kernel lacks, and what that costs, said once
    // after the loop: a kernel without modules lacks four at every start.
    let mut missing: Vec<String> = Vec::new();
    let mut consequences: Vec<&'static str> = Vec::new();
    for mut probe in probes::all() {
        if open_fast_path && probe.program == probes::OPEN_PROGRAM {
            probe.program = probes::OPEN_FAST_PROGRAM;
        }
        let error = |source| LoadError::Program {
            program: probe.program,
            source: Box::new(source),
        };
        let program = ebpf
            .program_mut(probe.program)
            .ok_or(LoadError::NoProgram {
                program: probe.program,
            })?;
        match probe.hook {
            Hook::TracePoint {
                category,
                name,
                fields,
            } => {
                if !tracefs::exists(category, name) {
                    if probe.required {
                        return Err(LoadError::Tracefs(tracefs::TracefsError::Missing {
                            category: category.into(),
                            name: name.into(),
                        }));
                    }
                    missing.push(format!("{category}:{name}"));
                    if !consequences.contains(&probe.without) {
                        consequences.push(probe.without);
                    }
                    continue;
                }
                tracefs::check_layout(category, name, fields)?;
                let program: &mut TracePoint = program.try_into().map_err(error)?;
                // One program may serve several tracepoints, and the open
                // programs are loaded before the others: load each once.
                if program.fd().is_err() {
                    program.load().map_err(error)?;
                }
                let id = program.attach(category, name).map_err(error)?;
                links.push(OwnedLink::TracePoint(program.take_link(id).map_err(error)?));
            }
            Hook::RawTracePoint { name } => {
                let program: &mut RawTracePoint = program.try_into().map_err(error)?;
                program.load().map_err(error)?;
                let id = program.attach(name).map_err(error)?;
                links.push(OwnedLink::RawTracePoint(
                    program.take_link(id).map_err(error)?,
                ));
            }
            Hook::CgroupSockAddr => {
                let root = cgroup::v2_mount().ok_or(LoadError::NoCgroup2)?;
                let dir = std::fs::File::open(&root).map_err(LoadError::Io)?;
                let program: &mut CgroupSockAddr = program.try_into().map_err(error)?;
                program.load().map_err(error)?;
                // aya attaches with a bpf_link where the kernel has them; a link
                // takes no flags (links always coexist with other programs), so
                // `Single` is the mode that means "no flags" here.
                let id = program
                    .attach(&dir, CgroupAttachMode::Single)
                    .map_err(error)?;
                links.push(OwnedLink::CgroupSockAddr(
                    program.take_link(id).map_err(error)?,
                ));
            }
        }
        if !attached.contains(&probe.program) {
            attached.push(probe.program);
        }
    }
    if !missing.is_empty() {
        tracing::warn!(
            tracepoints = %missing.join(", "),
            consequence = %consequences.join("; "),
            "this kernel lacks optional tracepoints; skipping their probes"
        );
    }
    Ok((attached, links))
}

/// Forwards the programs' aya-log diagnostics to `tracing`. Without it the sensor
/// still works; it only loses those diagnostics, so a failure is a warning.
fn start_kernel_logger(ebpf: &mut Ebpf) {
    let logger = match aya_log::EbpfLogger::init(ebpf) {
        Ok(logger) => logger,
        Err(err) => {
            tracing::warn!(error = %err, "kernel-side diagnostics are unavailable");
            return;
        }
    };
    // SAFETY: the logger owns its ring buffer fd and keeps it open while the
    // AsyncFd holds it.
    let registered = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(logger, tokio::io::Interest::READABLE)
    };
    let mut logger = match registered {
        Ok(logger) => logger,
        Err(err) => {
            tracing::warn!(error = %err, "kernel-side diagnostics are unavailable");
            return;
        }
    };
    tokio::spawn(async move {
        while let Ok(mut guard) = logger.readable_mut().await {
            guard.get_inner_mut().flush();
            guard.clear_ready();
        }
    });
}
