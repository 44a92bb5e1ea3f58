//! The one writer: a dedicated thread that stores batches for every ingest
//! stream. SQLite has one writer at a time, so the thread takes whatever
//! batches are queued when it is free and commits them in one transaction.
//! A second thread, the syncer, makes committed transactions durable (one
//! sync to disk for all committed since the last) while the writer goes on
//! with the next ones; each batch's sender gets its result only after that
//! sync, so an acknowledgement still means "on disk".
//!
//! Backpressure: a batch may be queued only with a permit of a bounded
//! semaphore, held until its transaction is done. A stream that cannot get one
//! within a short wait is told the collector is saturated instead of queueing
//! without bound.

use std::{sync::Arc, thread, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tracing::{debug, warn};

use crate::store::{Batch, Inserted, Row, Store, StoreError};

/// The most batches one transaction takes.
const GROUP_BATCHES: usize = 256;
/// The most findings one transaction takes (beyond one batch), so a commit
/// stays short and the first batches' acknowledgements are not held back.
const GROUP_FINDINGS: usize = 20_000;

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
    /// Its findings, prepared by the stream.
    pub(super) rows: Vec<Row>,
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
            .spawn(move || run(&store, rx, &stored))?;
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

/// A committed group waiting for its sync.
type Committed = Vec<(Queued, Outcome)>;

/// The thread: ends when every handle is dropped and the queue is empty, so
/// every batch queued before shutdown is committed, synced and answered.
fn run(store: &Arc<dyn Store>, mut rx: mpsc::Receiver<Queued>, stored: &watch::Sender<u64>) {
    let (synced_tx, synced_rx) = std::sync::mpsc::channel::<Committed>();
    let syncer = {
        let store = Arc::clone(store);
        thread::Builder::new()
            .name("collector-sync".into())
            .spawn(move || sync(store.as_ref(), &synced_rx))
    };
    let syncer = match syncer {
        Ok(t) => t,
        Err(e) => {
            // Nothing can be acknowledged without it: every batch is refused
            // (the sensors keep them) and the writer's end shows in the log.
            warn!(error = %e, "cannot start the sync thread");
            return;
        }
    };
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        let mut findings = group[0].job.rows.len();
        while group.len() < GROUP_BATCHES && findings < GROUP_FINDINGS {
            match rx.try_recv() {
                Ok(q) => {
                    findings += q.job.rows.len();
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
                rows: &q.job.rows,
            })
            .collect();
        let outcomes = store.insert_batches(&batches);
        drop(batches);
        debug!(batches = group.len(), findings, "committed");
        let new: u64 = outcomes.iter().flatten().map(|i| i.new).sum();
        if new > 0 {
            // Tails may show them before the sync: they are committed.
            stored.send_modify(|n| *n = n.wrapping_add(1));
        }
        if synced_tx
            .send(group.into_iter().zip(outcomes).collect())
            .is_err()
        {
            break;
        }
    }
    drop(synced_tx);
    let _ = syncer.join();
}

/// The syncer: one sync for every group committed since the last, then the
/// answers.
fn sync(store: &dyn Store, committed: &std::sync::mpsc::Receiver<Committed>) {
    while let Ok(first) = committed.recv() {
        let mut groups = vec![first];
        groups.extend(committed.try_iter());
        let synced = store.sync();
        if let Err(e) = &synced {
            warn!(error = %e, "syncing committed batches failed; they are not acknowledged");
        }
        for (q, outcome) in groups.into_iter().flatten() {
            let outcome = match (&synced, outcome) {
                (Ok(()), o) => o,
                // Committed but perhaps not on disk: the sensor keeps the
                // batch and sends it again, and the copy is skipped.
                (Err(e), Ok(_)) => Err(StoreError::Io(std::io::Error::other(e.to_string()))),
                (Err(_), Err(e)) => Err(e),
            };
            if let Err(e) = &outcome {
                warn!(
                    node = %q.job.node,
                    sequence = q.job.sequence,
                    error = %e,
                    "batch refused"
                );
            }
            // The stream may be gone (client away); its batch is stored anyway
            // and will be acknowledged when the sensor sends it again.
            let _ = q.reply.send(outcome);
        }
    }
}
