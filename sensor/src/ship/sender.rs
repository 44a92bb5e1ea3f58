//! The task that moves findings from the spool to the collector: one ingest
//! stream at a time, a window of batches in flight, records acknowledged in the
//! spool only when the collector says their batch is stored. On any failure the
//! stream is dropped and, after a jittered backoff, a new one resends everything
//! not yet acknowledged (the collector stores a finding once, by its id).

use std::{
    collections::VecDeque,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use sensor_proto::v1::{IngestBatch, collector_client::CollectorClient};
use tokio::{sync::mpsc, time::Instant};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, transport::Endpoint};

use super::{Shared, backoff::Backoff, record};

/// Batches sent and not yet acknowledged, at most.
const WINDOW: usize = 8;
/// Findings in one batch, at most (the collector's default cap is 5,000).
const BATCH_FINDINGS: usize = 500;
/// Payload bytes of one batch, at most (the collector refuses messages over 4 MiB).
const BATCH_BYTES: usize = 2 << 20;
/// A stream whose batches stay unacknowledged this long is given up.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the spool is looked at when nothing wakes the task.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// Who this sensor is to the collector.
pub(super) struct Identity {
    /// The node name; it must be the client certificate's.
    pub node: String,
    /// This run of the agent.
    pub instance_id: String,
}

/// Runs until the agent closes the shipper ([`Shared::closing`]).
pub(super) async fn run(shared: Arc<Shared>, endpoint: Endpoint, me: Identity) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    let mut sequence = 0u64;
    while !shared.closing.load(Ordering::Relaxed) {
        let outcome = match endpoint.connect().await {
            Ok(channel) => {
                shared.metrics.collector_connects(true);
                shared.metrics.collector_up.set(1);
                tracing::info!(collector = %endpoint.uri(), "connected to the collector");
                let client = CollectorClient::new(channel)
                    .max_decoding_message_size(1 << 20)
                    .max_encoding_message_size(BATCH_BYTES * 2);
                let r = session(&shared, client, &me, &mut sequence, &mut backoff).await;
                shared.metrics.collector_up.set(0);
                r
            }
            Err(e) => {
                shared.metrics.collector_connects(false);
                Err(format!("cannot connect: {}", chain(&e)))
            }
        };
        if shared.closing.load(Ordering::Relaxed) {
            return;
        }
        let delay = backoff.next_delay();
        if let Err(why) = outcome {
            tracing::warn!(collector = %endpoint.uri(), retry_in = ?delay, "collector: {why}");
        }
        // A close during the backoff is not waited for: the agent gives the
        // thread `CLOSE_WAIT` and exits, and with no stream there is nothing
        // to end cleanly.
        tokio::time::sleep(delay).await;
    }
}

/// The error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// One batch in flight.
struct Sent {
    sequence: u64,
    /// The spool sequence number of its last record.
    last_record: u64,
    findings: u64,
}

/// One ingest stream, until it fails.
async fn session(
    shared: &Shared,
    mut client: CollectorClient<tonic::transport::Channel>,
    me: &Identity,
    sequence: &mut u64,
    backoff: &mut Backoff,
) -> Result<(), String> {
    let (tx, rx) = mpsc::channel::<IngestBatch>(WINDOW);
    let mut acks = client
        .ingest(ReceiverStream::new(rx))
        .await
        .map_err(|s| status_text(&s))?
        .into_inner();
    let mut cursor = shared.lock().stats().acked_seq + 1;
    let mut inflight = VecDeque::<Sent>::new();
    let mut last_progress = Instant::now();
    loop {
        while inflight.len() < WINDOW {
            let Some(batch) = next_batch(shared, me, &mut cursor, sequence)? else {
                break;
            };
            inflight.push_back(Sent {
                sequence: batch.sequence,
                last_record: cursor - 1,
                findings: batch.findings.len() as u64,
            });
            shared.metrics.shipped.inc_by(batch.findings.len() as u64);
            tx.send(batch)
                .await
                .map_err(|_| "the stream closed".to_owned())?;
        }
        if shared.closing.load(Ordering::Relaxed) && inflight.is_empty() {
            // Ends this side; the collector answers with the end of its own.
            drop(tx);
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while let Ok(Some(_)) = acks.message().await {}
            })
            .await;
            return Ok(());
        }
        let deadline = if inflight.is_empty() {
            Instant::now() + IDLE_POLL
        } else {
            last_progress + ACK_TIMEOUT
        };
        tokio::select! {
            ack = acks.message() => match ack {
                Ok(Some(ack)) => {
                    acknowledged(shared, &mut inflight, ack.sequence)?;
                    last_progress = Instant::now();
                    backoff.reset();
                }
                Ok(None) => return Err("the collector ended the stream".into()),
                Err(status) if status.code() == Code::InvalidArgument => {
                    // The collector processes a stream's batches in order, so
                    // the one it refused is the oldest unacknowledged one.
                    // Sent again it would be refused again: give it up, say so.
                    refused(shared, &mut inflight, &status)?;
                    return Err(status_text(&status));
                }
                Err(status) => return Err(status_text(&status)),
            },
            () = shared.wake.notified(), if inflight.len() < WINDOW => {}
            () = tokio::time::sleep_until(deadline) => {
                if !inflight.is_empty() && last_progress.elapsed() >= ACK_TIMEOUT {
                    return Err(format!("no acknowledgement for {ACK_TIMEOUT:?}"));
                }
            }
        }
    }
}

fn status_text(s: &tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

/// The next batch from the spool, from `cursor` on, or `None` when all is sent.
fn next_batch(
    shared: &Shared,
    me: &Identity,
    cursor: &mut u64,
    sequence: &mut u64,
) -> Result<Option<IngestBatch>, String> {
    let records = shared
        .lock()
        .peek(*cursor, BATCH_FINDINGS, BATCH_BYTES)
        .map_err(|e| format!("cannot read the spool: {e}"))?;
    let Some(&(last, _)) = records.last() else {
        return Ok(None);
    };
    let mut findings = Vec::with_capacity(records.len());
    for (seq, bytes) in records {
        // Checked, then sent as they are: a record is an encoded finding.
        match record::decode(&bytes) {
            Ok(_) => findings.push(bytes.into()),
            Err(e) => {
                // The spool's checksums passed, so this is a record an older
                // sensor wrote in another format.
                tracing::error!(record = seq, error = %e, "spooled finding does not decode; dropped");
                shared.lose("undecodable", 1);
            }
        }
    }
    *cursor = last + 1;
    *sequence += 1;
    Ok(Some(IngestBatch {
        node: me.node.clone(),
        instance_id: me.instance_id.clone(),
        sequence: *sequence,
        findings,
    }))
}

/// Batches up to `sequence` are stored: their records leave the spool.
fn acknowledged(
    shared: &Shared,
    inflight: &mut VecDeque<Sent>,
    sequence: u64,
) -> Result<(), String> {
    let mut up_to = None;
    let mut findings = 0;
    while inflight.front().is_some_and(|s| s.sequence <= sequence) {
        if let Some(s) = inflight.pop_front() {
            up_to = Some(s.last_record);
            findings += s.findings;
        }
    }
    if let Some(up_to) = up_to {
        shared
            .lock()
            .ack(up_to)
            .map_err(|e| format!("cannot record an acknowledgement in the spool: {e}"))?;
        shared.metrics.acked.inc_by(findings);
        shared.update_gauges();
    }
    Ok(())
}

/// The oldest batch in flight was refused: its findings are lost.
fn refused(
    shared: &Shared,
    inflight: &mut VecDeque<Sent>,
    status: &tonic::Status,
) -> Result<(), String> {
    let Some(head) = inflight.pop_front() else {
        return Ok(());
    };
    tracing::error!(
        findings = head.findings,
        reason = status.message(),
        "the collector refused a batch; its findings are dropped"
    );
    shared.lose("refused", head.findings);
    shared
        .lock()
        .ack(head.last_record)
        .map_err(|e| format!("cannot record a refused batch in the spool: {e}"))
}
