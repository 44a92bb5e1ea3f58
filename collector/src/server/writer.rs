//! The one writer: a dedicated thread that stores batches for every ingest
//! stream. SQLite has one writer at a time and each commit costs a sync to
//! disk, so the thread takes whatever batches are queued when it is free and
//! commits them in one transaction; under load that is what makes tens of
//! thousands of findings a second possible. Each batch's sender gets its own
//! result only once the transaction has committed.
//!
//! Backpressure: a batch may be queued only with a permit of a bounded
//! semaphore, held until its transaction is done. A stream that cannot get one
//! within a short wait is told the collector is saturated instead of queueing
//! without bound.

use std::{sync::Arc, thread, time::Duration};

use sensor_proto::v1::Finding;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tracing::{debug, warn};

use crate::store::{Batch, Inserted, Store, StoreError};

/// The most batches one transaction takes.
const GROUP_BATCHES: usize = 256;
/// The most findings one transaction takes (beyond one batch), so a commit
/// stays short and the first batches' acknowledgements are not held back.
const GROUP_FINDINGS: usize = 50_000;

/// What a sender is told about its batch.
pub(super) type Outcome = Result<Inserted, StoreError>;

/// One batch waiting to be stored.
pub(super) struct Job {
    /// The authenticated node.
    pub(super) node: String,
    /// The sensor's run.
    pub(super) instance_id: String,
    /// The batch's sequence.
    pub(super) sequence: u64,
    /// Its findings.
    pub(super) findings: Vec<Finding>,
}

struct Queued {
    job: Job,
    reply: oneshot::Sender<Outcome>,
    // Released when the batch is done: the bound is on batches queued or being
    // written, not merely queued.
    _permit: OwnedSemaphorePermit,
}

/// Why a batch was not queued.
#[derive(Debug)]
pub(super) enum Refused {
    /// No permit within the wait: the writer is behind.
    Saturated,
    /// The writer has stopped (shutdown, or its thread died).
    Closed,
}

/// The handle ingest streams queue batches with.
#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Queued>,
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl Writer {
    /// Starts the writer thread. At most `in_flight` batches are queued or
    /// being written; `stored` is bumped after each commit that stored
    /// something new, which wakes the live tails.
    pub(super) fn start(
        store: Arc<dyn Store>,
        in_flight: usize,
        wait: Duration,
        stored: Arc<watch::Sender<u64>>,
    ) -> std::io::Result<(Self, thread::JoinHandle<()>)> {
        let in_flight = in_flight.max(1);
        // As many slots as permits: a holder of a permit never waits to queue.
        let (queue, rx) = mpsc::channel(in_flight);
        let thread = thread::Builder::new()
            .name("collector-writer".into())
            .spawn(move || run(store.as_ref(), rx, &stored))?;
        let writer = Self {
            queue,
            permits: Arc::new(Semaphore::new(in_flight)),
            wait,
        };
        Ok((writer, thread))
    }

    /// Queues a batch; the receiver gets its outcome after the commit.
    pub(super) async fn submit(&self, job: Job) -> Result<oneshot::Receiver<Outcome>, Refused> {
        let permit =
            match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return Err(Refused::Closed),
                Err(_) => return Err(Refused::Saturated),
            };
        let (reply, outcome) = oneshot::channel();
        let queued = Queued {
            job,
            reply,
            _permit: permit,
        };
        self.queue.try_send(queued).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Refused::Saturated,
            mpsc::error::TrySendError::Closed(_) => Refused::Closed,
        })?;
        Ok(outcome)
    }
}

/// The thread: ends when every handle is dropped and the queue is empty, so
/// every batch queued before shutdown is committed and answered.
fn run(store: &dyn Store, mut rx: mpsc::Receiver<Queued>, stored: &watch::Sender<u64>) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        let mut findings = group[0].job.findings.len();
        while group.len() < GROUP_BATCHES && findings < GROUP_FINDINGS {
            match rx.try_recv() {
                Ok(q) => {
                    findings += q.job.findings.len();
                    group.push(q);
                }
                Err(_) => break,
            }
        }
        let batches: Vec<Batch<'_>> = group
            .iter()
            .map(|q| Batch {
                node: &q.job.node,
                instance_id: &q.job.instance_id,
                sequence: q.job.sequence,
                findings: &q.job.findings,
            })
            .collect();
        let outcomes = store.insert_batches(&batches);
        drop(batches);
        debug!(batches = group.len(), findings, "committed");
        let mut new = 0;
        for (q, outcome) in group.into_iter().zip(outcomes) {
            match &outcome {
                Ok(i) => new += i.new,
                Err(e) => warn!(
                    node = %q.job.node,
                    sequence = q.job.sequence,
                    error = %e,
                    "batch refused"
                ),
            }
            // The stream may be gone (client away); its batch is stored anyway
            // and will be acknowledged when the sensor sends it again.
            let _ = q.reply.send(outcome);
        }
        if new > 0 {
            stored.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}
