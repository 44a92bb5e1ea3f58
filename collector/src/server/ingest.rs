//! One sensor's ingest stream. Two stages run side by side: the reader checks
//! each batch (its node against the certificate, its size) and queues it with
//! the writer, and the acker waits for each batch's commit, in order, and only
//! then acknowledges it. A sensor may so keep several batches in flight
//! (bounded by [`WINDOW`]) while each acknowledgement still means "stored".
//!
//! Every failure ends this stream alone, with a status saying what to do:
//! PERMISSION_DENIED and INVALID_ARGUMENT (fix the sender), RESOURCE_EXHAUSTED
//! and UNAVAILABLE (back off and send the unacknowledged batches again).
//! Batches acknowledged before the failure stay acknowledged.

use std::sync::Arc;

use sensor_proto::v1::{IngestAck, IngestBatch};
use tokio::sync::{mpsc, oneshot};
use tonic::{Status, Streaming};
use tracing::{debug, info, warn};

use crate::store::Row;

use super::{
    State, status, stopped,
    writer::{Job, Outcome, Refused},
};

/// The most batches of one stream queued but not yet acknowledged: a stream
/// cannot take every writer permit for itself.
pub(super) const WINDOW: usize = 16;

type Pending = (u64, oneshot::Receiver<Outcome>);

/// Serves one stream until the client ends it or it fails, sending its
/// acknowledgements and its final status (if not OK) to `out`.
pub(super) async fn run(
    state: Arc<State>,
    node: String,
    inbound: Streaming<IngestBatch>,
    out: mpsc::Sender<Result<IngestAck, Status>>,
) {
    info!(%node, "ingest stream opened");
    let (pending_tx, pending_rx) = mpsc::channel(WINDOW);
    let reader = read(&state, &node, inbound, pending_tx);
    let acker = ack(pending_rx, &out);
    tokio::pin!(reader, acker);
    let end = tokio::select! {
        // An acknowledgement failed: earlier batches are acknowledged, and
        // reading on would only queue batches that will not be.
        failed = &mut acker => failed,
        ended = &mut reader => {
            // Acknowledge what was queued before the reader stopped, then say why.
            let failed = acker.await;
            failed.or(ended)
        }
    };
    match end {
        Some(status) => {
            warn!(%node, code = ?status.code(), reason = status.message(), "ingest stream ended");
            let _ = out.send(Err(status)).await;
        }
        None => info!(%node, "ingest stream closed"),
    }
}

/// Reads and queues batches; returns why it stopped, `None` when the client
/// closed its side (or the acker is gone, which reports its own reason).
async fn read(
    state: &State,
    node: &str,
    mut inbound: Streaming<IngestBatch>,
    pending: mpsc::Sender<Pending>,
) -> Option<Status> {
    let mut stop = state.stop.clone();
    loop {
        let message = tokio::select! {
            biased;
            () = stopped(&mut stop) => {
                return Some(Status::unavailable(
                    "the collector is shutting down; send unacknowledged batches again later",
                ));
            }
            m = inbound.message() => m,
        };
        let batch = match message {
            Ok(Some(b)) => b,
            Ok(None) => return None,
            // Among them: a message over the size limit (tonic refuses it
            // before decoding) and a client that went away.
            Err(status) => return Some(status),
        };
        if batch.node != node {
            return Some(Status::permission_denied(format!(
                "this client's certificate is for node `{node}`, but the batch says `{}`",
                truncate(&batch.node)
            )));
        }
        if batch.findings.len() > state.limits.max_batch {
            return Some(Status::invalid_argument(format!(
                "batch {} has {} findings; at most {} are accepted in one batch",
                batch.sequence,
                batch.findings.len(),
                state.limits.max_batch
            )));
        }
        let sequence = batch.sequence;
        // Prepared here, on the runtime's threads and for every stream side by
        // side, so that the one writer thread only writes.
        let rows = match Row::all(node, batch.findings) {
            Ok(rows) => rows,
            Err(e) => return Some(status::from_store(e)),
        };
        let job = Job {
            node: node.to_owned(),
            instance_id: batch.instance_id,
            sequence,
            rows,
        };
        let outcome = match state.writer.submit(job).await {
            Ok(o) => o,
            Err(Refused::Saturated) => {
                return Some(Status::resource_exhausted(
                    "the collector is saturated; retry with backoff",
                ));
            }
            Err(Refused::Closed) => {
                return Some(Status::unavailable("the collector is shutting down"));
            }
        };
        if pending.send((sequence, outcome)).await.is_err() {
            return None;
        }
    }
}

/// Acknowledges batches in order as they commit; returns the first failure,
/// or `None` when every queued batch was acknowledged (or the client left).
async fn ack(
    mut pending: mpsc::Receiver<Pending>,
    out: &mpsc::Sender<Result<IngestAck, Status>>,
) -> Option<Status> {
    while let Some((sequence, outcome)) = pending.recv().await {
        match outcome.await {
            Ok(Ok(inserted)) => {
                debug!(
                    sequence,
                    new = inserted.new,
                    duplicates = inserted.duplicates,
                    "batch stored"
                );
                if out.send(Ok(IngestAck { sequence })).await.is_err() {
                    return None;
                }
            }
            Ok(Err(e)) => return Some(status::from_store(e)),
            Err(_) => return Some(Status::unavailable("the collector's writer stopped")),
        }
    }
    None
}

/// A client's string, bounded before it goes into a status or a log line.
fn truncate(s: &str) -> String {
    const MAX: usize = 256;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
