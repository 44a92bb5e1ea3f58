//! The agent's event loop, shared by `sensor trace` and `sensor run`: the kernel
//! programs and the process table started in the right order, the ring buffer
//! read in batches, each batch held briefly for pods the kubelet has not listed
//! yet, handed to a [`Sink`], and the kernel's drop counters reported, until
//! SIGINT or SIGTERM. SIGHUP is handed to the sink (`sensor run` reloads its
//! rules).

use std::{io, time::Duration};

use anyhow::Context as _;
use clap::Args;
use tokio::signal::unix::{SignalKind, signal};

use super::context::ContextArgs;
use crate::{
    config::AgentConfig,
    context::{Enricher, kubelet::PodCache},
    event::Event,
    kernel::{
        BATCH_MAX, EventReader, KernelConfig, KernelSensor, WakeupPolicy,
        counters::{self, DropDelta, DropTracker},
    },
};

/// How often the process table drops processes whose exit events were lost.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// How the agent reads the kernel's ring buffer.
#[derive(Debug, Clone, Args)]
pub struct RingArgs {
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
    /// An event into an empty ring buffer wakes the reader when none did for
    /// this many microseconds, so events on a quiet machine are read at once;
    /// 0: only the wakeup threshold and the poll interval.
    #[arg(long, default_value_t = 1000)]
    pub quiet_wakeup_us: u64,
}

impl RingArgs {
    /// The kernel configuration these flags ask for, every event kind on and no
    /// filters (the caller sets those).
    pub fn kernel_config(&self) -> KernelConfig {
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
            quiet_wakeup: (self.quiet_wakeup_us > 0)
                .then(|| Duration::from_micros(self.quiet_wakeup_us)),
            ..KernelConfig::default()
        }
    }
}

/// What the loop hands its events to.
pub trait Sink {
    /// A batch of events, in ring order, for the sink to enrich and report.
    fn batch(&mut self, batch: &[Event], enricher: &mut Enricher) -> io::Result<()>;
    /// Records the kernel lost or cut since the last call.
    fn drops(&mut self, deltas: &[DropDelta]) -> io::Result<()>;
    /// The process table is loaded and events flow.
    fn ready(&mut self) {}
    /// Once a second.
    fn tick(&mut self, _sensor: &mut KernelSensor, _enricher: &Enricher) -> io::Result<()> {
        Ok(())
    }
    /// SIGHUP.
    fn hangup(&mut self, _sensor: &mut KernelSensor) {}
    /// The loop stops: flush what is held.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Starts the kernel side with `kernel`, then the process table, and runs
/// `sink` until a signal stops the agent.
pub async fn run(
    kernel: &KernelConfig,
    context: &ContextArgs,
    file: &AgentConfig,
    sink: &mut impl Sink,
) -> anyhow::Result<()> {
    let pods = match context.kubelet(&file.context) {
        Some(config) => {
            let pods = PodCache::new(&config).context("bad kubelet configuration")?;
            tokio::spawn(pods.clone().run());
            Some(pods)
        }
        None => None,
    };
    let (mut sensor, mut reader) =
        KernelSensor::start(kernel).context("cannot start the kernel sensor")?;
    // After the programs are attached, so no process falls between the scan of
    // /proc and the first events.
    let mut enricher = Enricher::start(&context.enrich(&file.context), pods)
        .context("cannot start the process table")?;
    // Ready once the table is loaded: events from here on have their context.
    tracing::info!(programs = ?sensor.attached(), "tracing; stop with Ctrl-C");
    sink.ready();
    let pod_wait = context.pod_wait(&file.context);
    let mut last_sweep = std::time::Instant::now();

    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut sighup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let mut drops = DropTracker::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut batch = Vec::new();
    // The longest a branch below kept the loop from reading the ring: the
    // ring fills only while the loop is away, so this tells a stalled agent
    // from a ring too small for a burst.
    let mut longest_away = Duration::ZERO;

    let result = loop {
        tokio::select! {
            biased;
            _ = sigint.recv() => break Ok(()),
            _ = sigterm.recv() => break Ok(()),
            _ = sighup.recv() => {
                let away = std::time::Instant::now();
                sink.hangup(&mut sensor);
                longest_away = longest_away.max(away.elapsed());
            }
            read = reader.read_batch(&mut batch) => {
                let away = std::time::Instant::now();
                read.context("reading the event ring buffer failed")?;
                hold_for_pods(&mut reader, &mut batch, &mut enricher, pod_wait)
                    .await
                    .context("reading the event ring buffer failed")?;
                enricher.expect_exits(&batch);
                if let Err(err) = sink.batch(&batch, &mut enricher) {
                    break Err(err);
                }
                batch.clear();
                // A held batch must not keep its memory: the agent's footprint
                // should not remember its largest burst.
                batch.shrink_to(BATCH_MAX);
                longest_away = longest_away.max(away.elapsed());
            }
            _ = tick.tick() => {
                let away = std::time::Instant::now();
                if last_sweep.elapsed() >= SWEEP_EVERY {
                    last_sweep = std::time::Instant::now();
                    let swept = enricher.sweep();
                    if swept > 0 {
                        tracing::info!(swept, "processes whose exit was lost left the table");
                    }
                }
                let result = report_drops(sink, &sensor, &reader, &mut drops)
                    .and_then(|()| sink.tick(&mut sensor, &enricher));
                if let Err(err) = result {
                    break Err(err);
                }
                longest_away = longest_away.max(away.elapsed());
            }
        }
    };
    // Whatever the kernel wrote before we stopped still goes out.
    reader.drain(&mut batch);
    enricher.expect_exits(&batch);
    let result = match result {
        Ok(()) => sink.batch(&batch, &mut enricher),
        err => err,
    };
    let result = result
        .and_then(|()| report_drops(sink, &sensor, &reader, &mut drops))
        .and_then(|()| sink.finish());
    log_stats(&sensor, &reader, &enricher, longest_away);
    let detaching = std::time::Instant::now();
    drop(sensor);
    tracing::info!(took = ?detaching.elapsed(), "programs detached");
    match result {
        // Stdout closed by its reader (`sensor trace | head`): a normal way to stop.
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

fn log_stats(
    sensor: &KernelSensor,
    reader: &EventReader,
    enricher: &Enricher,
    longest_away: Duration,
) {
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
        longest_away_ms = longest_away.as_millis(),
        processes = enricher.processes(),
        table = ?enricher.table_stats(),
        users = ?enricher.user_stats(),
        "stopped tracing"
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

fn report_drops(
    sink: &mut impl Sink,
    sensor: &KernelSensor,
    reader: &EventReader,
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
    for d in &deltas {
        // A cut string or an unreadable field still leaves a record, flagged:
        // a long command line does this every time, and is no alarm.
        if matches!(d.reason, "ring_full" | "decode_error") {
            tracing::warn!(kind = ?d.kind, reason = d.reason, count = d.count, total = d.total, "records lost");
        } else {
            tracing::info!(kind = ?d.kind, reason = d.reason, count = d.count, total = d.total, "records delivered incomplete");
        }
    }
    sink.drops(&deltas)
}
