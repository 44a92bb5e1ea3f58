//! `sensor trace`: every kernel event as a JSON line on stdout.

use std::{
    io::{self, BufWriter, Write},
    time::Duration,
};

use anyhow::Context as _;
use clap::Args;
use tokio::signal::unix::{SignalKind, signal};

use super::context::ContextArgs;
use crate::{
    config::AgentConfig,
    context::{Enricher, kubelet::PodCache},
    event::{
        Event, EventKind,
        clock::{self, BootClock},
        kind_by_name, kind_name,
    },
    kernel::{
        AddrRange, BATCH_MAX, EventReader, KernelConfig, KernelSensor, OpenFilter, WakeupPolicy,
        counters::{self, DropTracker},
    },
    output::{context as who_json, json},
};

/// How often the process table drops processes whose exit events were lost.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// Options of `sensor trace`.
#[derive(Debug, Clone, Args)]
pub struct TraceArgs {
    /// Size of the kernel's event ring buffer in bytes (a power of two).
    #[arg(long, default_value_t = KernelConfig::default().ring_bytes)]
    pub ring_bytes: u32,
    /// Unread bytes in the ring buffer that wake the reader (default: an eighth of the ring).
    #[arg(long, conflicts_with = "wakeup_every_event")]
    pub wakeup_bytes: Option<u64>,
    /// Let the kernel wake the reader for every event (costs a wakeup per event;
    /// for comparison and debugging).
    #[arg(long)]
    pub wakeup_every_event: bool,
    /// How often to read the ring buffer without a wakeup, in milliseconds.
    #[arg(long, default_value_t = 100)]
    pub poll_ms: u64,
    /// Event kinds to report, comma-separated (exec, fork, exit); the others are
    /// dropped in the kernel. Default: all.
    #[arg(long, value_delimiter = ',', value_parser = parse_kind)]
    pub events: Vec<EventKind>,
    /// Report opens for reading only under this path prefix (repeatable; `/etc/`
    /// watches a directory). With no --watch-read or --watch-write, every open is
    /// reported.
    #[arg(long, value_name = "PREFIX")]
    pub watch_read: Vec<String>,
    /// Report opens for writing only under this path prefix (repeatable).
    #[arg(long, value_name = "PREFIX")]
    pub watch_write: Vec<String>,
    /// Report only processes in this cgroup subtree (repeatable), a path in the
    /// cgroup v2 hierarchy such as `/kubepods`: host processes outside it are left
    /// out. Default: every process.
    #[arg(long = "cgroup", value_name = "PATH")]
    pub cgroups: Vec<std::path::PathBuf>,
    /// Report network events only for this port (repeatable): the remote port of
    /// a connect, the local port of an accept or listen. Default: every port.
    #[arg(long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,
    /// Report network events only for this address range (repeatable), as
    /// `10.0.0.0/8`, `fd00::/8` or an address: the remote address of a connect or
    /// accept, the local one of a bind or listen. Default: every address.
    #[arg(long = "addr", value_name = "CIDR")]
    pub addrs: Vec<AddrRange>,
    /// The agent's config file (YAML); flags win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Where the process, container and pod context comes from.
    #[command(flatten)]
    pub context: ContextArgs,
}

fn parse_kind(name: &str) -> Result<EventKind, String> {
    kind_by_name(name).ok_or_else(|| {
        let known: Vec<_> = EventKind::ALL.into_iter().map(kind_name).collect();
        format!("unknown event kind {name:?}; known: {}", known.join(", "))
    })
}

impl TraceArgs {
    fn kernel_config(&self) -> KernelConfig {
        let wakeup = if self.wakeup_every_event {
            WakeupPolicy::EveryEvent
        } else {
            WakeupPolicy::Batched {
                bytes: self.wakeup_bytes.unwrap_or(u64::from(self.ring_bytes / 8)),
            }
        };
        KernelConfig {
            ring_bytes: self.ring_bytes,
            wakeup,
            poll_interval: Duration::from_millis(self.poll_ms.max(1)),
            kinds: if self.events.is_empty() {
                EventKind::ALL.to_vec()
            } else {
                self.events.clone()
            },
            open_filter: (!self.watch_read.is_empty() || !self.watch_write.is_empty()).then(|| {
                OpenFilter {
                    read: self.watch_read.clone(),
                    write: self.watch_write.clone(),
                }
            }),
            cgroup_scope: (!self.cgroups.is_empty()).then(|| self.cgroups.clone()),
            net_ports: (!self.ports.is_empty()).then(|| self.ports.clone()),
            net_addrs: (!self.addrs.is_empty()).then(|| self.addrs.clone()),
        }
    }
}

pub(super) fn run(args: &TraceArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(trace(args))
}

/// Stdout closed by its reader (`sensor trace | head`): a normal way to stop.
fn is_closed(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
}

async fn trace(args: &TraceArgs) -> anyhow::Result<()> {
    // A bad config file is refused before anything is loaded into the kernel.
    let file = match &args.config {
        Some(path) => AgentConfig::load(path)?,
        None => AgentConfig::default(),
    };
    let pods = match args.context.kubelet(&file.context) {
        Some(config) => {
            let pods = PodCache::new(&config).context("bad kubelet configuration")?;
            tokio::spawn(pods.clone().run());
            Some(pods)
        }
        None => None,
    };
    let (sensor, mut reader) =
        KernelSensor::start(&args.kernel_config()).context("cannot start the kernel sensor")?;
    // After the programs are attached, so no process falls between the scan of
    // /proc and the first events.
    let mut enricher = Enricher::start(&args.context.enrich(&file.context), pods)
        .context("cannot start the process table")?;
    // Ready once the table is loaded: events from here on have their context.
    tracing::info!(programs = ?sensor.attached(), "tracing; stop with Ctrl-C");
    let pod_wait = args.context.pod_wait(&file.context);
    let mut writer = Writer {
        ticks_per_second: crate::context::procfs::clock_ticks_per_second(),
    };
    let mut last_sweep = std::time::Instant::now();

    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut out = BufWriter::new(io::stdout().lock());
    let mut drops = DropTracker::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut batch = Vec::new();

    let result = loop {
        tokio::select! {
            biased;
            _ = sigint.recv() => break Ok(()),
            _ = sigterm.recv() => break Ok(()),
            read = reader.read_batch(&mut batch) => {
                read.context("reading the event ring buffer failed")?;
                hold_for_pods(&mut reader, &mut batch, &mut enricher, pod_wait)
                    .await
                    .context("reading the event ring buffer failed")?;
                if let Err(err) = writer.write(&mut out, &batch, &mut enricher) {
                    break Err(err);
                }
                batch.clear();
                // A held batch must not keep its memory: the agent's footprint
                // should not remember its largest burst.
                batch.shrink_to(BATCH_MAX);
            }
            _ = tick.tick() => {
                if last_sweep.elapsed() >= SWEEP_EVERY {
                    last_sweep = std::time::Instant::now();
                    let swept = enricher.sweep();
                    if swept > 0 {
                        tracing::info!(swept, "processes whose exit was lost left the table");
                    }
                }
                if let Err(err) = report_drops(&mut out, &sensor, &reader, &mut drops) {
                    break Err(err);
                }
            }
        }
    };
    // Whatever the kernel wrote before we stopped still goes out.
    reader.drain(&mut batch);
    let result = match result {
        Ok(()) => writer.write(&mut out, &batch, &mut enricher),
        err => err,
    };
    let result = result.and_then(|()| report_drops(&mut out, &sensor, &reader, &mut drops));
    let stats = reader.stats();
    let filtered = sensor
        .counters()
        .read()
        .map(|counts| counters::total(&counts, sensor_common::DropReason::Filtered))
        .unwrap_or(0);
    tracing::info!(
        records = stats.records,
        filtered_in_kernel = filtered,
        wakeups = stats.wakeups,
        timer_polls = stats.timer_polls,
        decode_errors = stats.decode_errors,
        processes = enricher.processes(),
        table = ?enricher.table_stats(),
        "stopped; programs detached"
    );
    if let Some(pods) = enricher.pods() {
        let stats = pods.stats();
        tracing::info!(
            fetches = stats.fetches,
            failures = stats.total_failures(),
            pods = stats.pods_cached,
            last_error = stats.last_error.as_deref().unwrap_or(""),
            "kubelet"
        );
    }
    drop(sensor);
    match result {
        Err(err) if is_closed(&err) => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// Events a wait for pods may hold in memory (exec records are the largest, a
/// few kilobytes decoded); past it they go out as they are, and the ring buffers
/// the rest.
const HOLD_MAX: usize = 4 * BATCH_MAX;

/// Holds `batch` once, briefly, for each container the kubelet has not listed yet,
/// while the kubelet is asked again: a pod's first events are the ones an analyst
/// needs most, and the kubelet lists a container only once its runtime reports it
/// started, which may be after those events. The ring is read on during the wait
/// (into `batch`), so the wait cannot make it overflow.
async fn hold_for_pods(
    reader: &mut EventReader,
    batch: &mut Vec<Event>,
    enricher: &mut Enricher,
    pod_wait: Duration,
) -> io::Result<()> {
    for event in batch.iter() {
        enricher.note(event);
    }
    let mut unlisted = enricher.take_unlisted();
    let Some(pods) = enricher.pods().cloned() else {
        return Ok(());
    };
    // No wait while the kubelet is failing: its events would only be late.
    if unlisted.is_empty() || pods.stats().consecutive_failures != 0 {
        return Ok(());
    }
    let deadline = std::time::Instant::now() + pod_wait;
    while std::time::Instant::now() < deadline
        && batch.len() < HOLD_MAX
        && unlisted.iter().any(|id| pods.container(id).is_none())
    {
        let seen = batch.len();
        tokio::select! {
            // The cache spaces the fetches this asks for.
            _ = pods.refresh_and_wait(deadline) => {}
            read = reader.read_batch(batch) => {
                read?;
                for event in &batch[seen..] {
                    enricher.note(event);
                }
                unlisted.extend(enricher.take_unlisted());
            }
        }
    }
    Ok(())
}

/// Writes events with their context.
struct Writer {
    ticks_per_second: u64,
}

impl Writer {
    /// Writes a batch, each event with its process, container and pod.
    fn write(
        &mut self,
        out: &mut impl Write,
        batch: &[Event],
        enricher: &mut Enricher,
    ) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let clock = BootClock::now();
        for event in batch {
            enricher.observe(event);
            let mut value = json::event(event, &clock);
            if let Some(obj) = value.as_object_mut() {
                who_json::add(obj, &enricher.who(event), &clock, self.ticks_per_second);
            }
            enricher.retire(event);
            serde_json::to_writer(&mut *out, &value)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

fn report_drops(
    out: &mut impl Write,
    sensor: &KernelSensor,
    reader: &crate::kernel::EventReader,
    tracker: &mut DropTracker,
) -> io::Result<()> {
    let kernel = match sensor.counters().read() {
        Ok(kernel) => kernel,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the kernel's drop counters");
            return Ok(());
        }
    };
    let deltas = tracker.update(&kernel, reader.stats().decode_errors);
    if deltas.is_empty() {
        return Ok(());
    }
    let clock = BootClock::now();
    let boot_now = clock::boot_ns_now();
    for d in deltas {
        tracing::warn!(kind = ?d.kind, reason = d.reason, count = d.count, total = d.total, "records lost or cut");
        let line = json::drop_report(&clock, boot_now, d.kind, d.reason, d.count, d.total);
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
