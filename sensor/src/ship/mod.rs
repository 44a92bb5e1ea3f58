//! Delivery of findings to the collector. A finding is appended to the disk
//! spool ([`crate::spool`]) where the rules engine produced it; a thread of
//! its own ("sensor-ship") sends what the spool holds over one gRPC ingest
//! stream ([`sender`]) and removes records only when the collector
//! acknowledges their batch as stored. A collector outage or an agent crash
//! loses nothing that fits in the spool; what does not fit (the oldest
//! findings, dropped by the spool) is counted, logged, and reported as a
//! finding of its own.
//!
//! Nothing on the agent's event loop waits for the disk or the network: the
//! loop only appends (a write into the page cache, which survives the agent
//! crashing) and wakes the ship thread. There the sender sends at once while
//! the syncer ([`syncer`]) makes the records durable against a power loss,
//! side by side: an idle finding's delivery used to wait for an `fdatasync`
//! on the event loop first (0.8 ms of the 3 ms from the kernel to the
//! collector, more on a busy disk), and the acknowledgements' writes to the
//! spool's state file held the loop too.

mod backoff;
mod record;
mod sender;
mod syncer;

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context as _;
use sensor_proto::client::{TlsFiles, endpoint};
use tokio::sync::Notify;

use crate::{
    engine::finding::Finding,
    metrics::Metrics,
    spool::{Spool, SpoolConfig},
};

/// How long the agent waits at exit for its stream to end cleanly once
/// everything is delivered (or the drain's time is up).
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Where findings go and how they are kept until then.
#[derive(Clone, Debug)]
pub struct ShipConfig {
    /// `https://HOST:PORT`.
    pub url: String,
    /// The client certificate, its key, and the collector's CA.
    pub tls: TlsFiles,
    /// The node's name, as the client certificate names it.
    pub node: String,
    /// The spool's directory (one agent per directory).
    pub spool_dir: PathBuf,
    /// The spool's bounds.
    pub spool: SpoolConfig,
}

/// What the agent's loop, the sender and the syncer share.
struct Shared {
    spool: Mutex<Spool>,
    /// Bumped when records are appended: wakes the sender.
    wake: Notify,
    /// Bumped with `wake`: wakes the syncer.
    sync_wake: Notify,
    metrics: Arc<Metrics>,
    /// Findings lost on the way (refused by the collector, undecodable) and not
    /// yet reported in a finding.
    lost_unreported: AtomicU64,
    /// The agent is stopping: the sender ends its stream once nothing is in
    /// flight, so the collector sees a clean end, not a broken connection.
    closing: AtomicBool,
}

impl Shared {
    /// The spool. A panic while holding it cannot leave it inconsistent (every
    /// method keeps its invariants on error), so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, Spool> {
        self.spool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the spool's gauges (after appends and acknowledgements).
    fn update_gauges(&self) {
        let stats = self.lock().stats();
        let m = &self.metrics;
        m.spool_bytes
            .set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
        m.spool_findings
            .set(i64::try_from(stats.records).unwrap_or(i64::MAX));
    }

    /// Counts `n` findings lost for `reason`, to be reported.
    fn lose(&self, reason: &str, n: u64) {
        self.metrics.lost(reason, n);
        self.lost_unreported.fetch_add(n, Ordering::Relaxed);
    }
}

/// The agent's side: append findings, make them durable, learn of losses.
pub struct Shipper {
    shared: Arc<Shared>,
    /// Findings were pushed since the last commit: the loop commits after every
    /// ring batch, and most batches bring none.
    pushed: std::cell::Cell<bool>,
    /// The ship thread: it ends after [`Shipper::drain`] closes the stream.
    thread: std::thread::JoinHandle<()>,
}

impl Shipper {
    /// Opens the spool (recovering what an earlier run left) and starts the
    /// ship thread with the sender and the syncer.
    pub fn start(config: &ShipConfig, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let endpoint = endpoint(&config.url, &config.tls)?;
        std::fs::create_dir_all(&config.spool_dir).with_context(|| {
            format!(
                "cannot create the spool directory {}",
                config.spool_dir.display()
            )
        })?;
        let spool = Spool::open(&config.spool_dir, config.spool.clone())?;
        let stats = spool.stats();
        if stats.records > 0 {
            tracing::info!(
                findings = stats.records,
                bytes = stats.bytes,
                "findings spooled by an earlier run will be delivered"
            );
        }
        let shared = Arc::new(Shared {
            spool: Mutex::new(spool),
            wake: Notify::new(),
            sync_wake: Notify::new(),
            metrics,
            lost_unreported: AtomicU64::new(0),
            closing: AtomicBool::new(false),
        });
        let me = sender::Identity {
            node: config.node.clone(),
            instance_id: uuid::Uuid::now_v7().to_string(),
        };
        // Its own runtime on its own thread: TLS, acknowledgements and syncs
        // never hold up the agent's event loop.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the ship thread's runtime")?;
        let ship = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sensor-ship".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(syncer::run(ship.clone()));
                    sender::run(ship, endpoint, me).await;
                });
            })
            .context("cannot start the ship thread")?;
        shared.update_gauges();
        Ok(Self {
            shared,
            pushed: std::cell::Cell::new(false),
            thread,
        })
    }

    /// Appends a finding to the spool; [`Shipper::commit`] hands it to the
    /// ship thread. A finding that cannot be spooled is counted and logged.
    pub fn push(&self, finding: &Finding) {
        self.pushed.set(true);
        let record = match record::encode(finding) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(rule = %finding.rule, error = %e, "finding cannot be encoded; dropped");
                self.shared.lose("unencodable", 1);
                return;
            }
        };
        if let Err(e) = self.shared.lock().append(&record) {
            tracing::error!(rule = %finding.rule, error = %e, "finding cannot be spooled; dropped");
            self.shared.lose("spool_error", 1);
        }
    }

    /// Wakes the sender and the syncer for what was pushed (see the module's
    /// documentation: this does not wait for the disk). Returns how many
    /// findings were lost since the last call (the spool was full, or a batch
    /// was refused), for the caller to report.
    pub fn commit(&self) -> u64 {
        // Only an append can make the spool drop; the sender's losses are an atomic.
        if !self.pushed.replace(false) {
            return self.shared.lost_unreported.swap(0, Ordering::Relaxed);
        }
        let dropped = self.shared.lock().take_dropped();
        if dropped > 0 {
            tracing::error!(
                findings = dropped,
                "the spool was full: the oldest findings were dropped"
            );
            self.shared.metrics.lost("spool_full", dropped);
        }
        self.shared.wake.notify_one();
        self.shared.sync_wake.notify_one();
        self.shared.update_gauges();
        dropped + self.shared.lost_unreported.swap(0, Ordering::Relaxed)
    }

    /// Findings spooled and not yet acknowledged.
    pub fn pending(&self) -> u64 {
        self.shared.lock().stats().records
    }

    /// Gives the sender up to `timeout` to deliver what is spooled (at exit),
    /// then to end its stream cleanly. What is left stays in the spool for the
    /// next run.
    pub async fn drain(&self, timeout: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.pending() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.wake.notify_one();
        let deadline = deadline.max(tokio::time::Instant::now() + CLOSE_WAIT);
        while !self.thread.is_finished() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // What stays is left durable for the next run.
        if let Err(e) = self.shared.lock().flush() {
            tracing::error!(error = %e, "cannot sync the spool at exit");
        }
        self.shared.update_gauges();
        self.pending()
    }
}
