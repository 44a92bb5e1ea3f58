//! Live tails: each subscriber follows the store by insertion position. The
//! writer bumps a watch after every commit; the subscriber wakes, reads what
//! its filter matches after the position it reached, sends it and sleeps
//! again. The store is the buffer: a slow client only falls behind and
//! catches up from the database, and ingest never waits for it. Reading
//! through the store's own filter SQL means a tail shows exactly what a query
//! with the same filter would.

use std::{sync::Arc, time::Duration};

use sensor_proto::v1::Finding;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tonic::Status;
use tracing::{debug, warn};

use super::{State, status, stopped};
use crate::filter::Expr;

/// Findings read from the store at a time.
const PAGE: usize = 500;
/// Findings buffered towards one client.
const BUFFER: usize = 256;

/// The stream a subscriber gets.
pub(super) type Stream = tokio_stream::wrappers::ReceiverStream<Result<Finding, Status>>;

/// Starts a tail that shows findings stored from now on.
pub(super) async fn start(state: Arc<State>, filter: Option<Expr>) -> Result<Stream, Status> {
    let permit = state.tails.clone().try_acquire_owned().map_err(|_| {
        Status::resource_exhausted("too many live tails on this collector; retry later")
    })?;
    // Subscribed before the position is read: a commit in between wakes the
    // tail, which then finds nothing new, rather than being missed.
    let changes = state.stored.subscribe();
    let store = state.store.clone();
    let filter = Arc::new(filter);
    let f = filter.clone();
    let after = status::blocking(move || {
        let after = store.last_seq()?;
        // A filter that parses may still name a field the store cannot answer:
        // refuse it now, not at the first finding. What this reads is read
        // again by `follow`, which starts from `after` too.
        store.since_seq(f.as_ref().as_ref(), after, 1)?;
        Ok(after)
    })
    .await?;
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(follow(state, filter, after, changes, tx, permit));
    Ok(Stream::new(rx))
}

async fn follow(
    state: Arc<State>,
    filter: Arc<Option<Expr>>,
    mut after: i64,
    mut changes: watch::Receiver<u64>,
    tx: mpsc::Sender<Result<Finding, Status>>,
    _permit: OwnedSemaphorePermit,
) {
    let mut stop = state.stop.clone();
    loop {
        // Marks the current commit as seen before reading: one that lands
        // while we read wakes us again.
        changes.borrow_and_update();
        loop {
            let store = state.store.clone();
            let f = filter.clone();
            let read = status::blocking(move || store.since_seq(f.as_ref().as_ref(), after, PAGE));
            let (found, next) = match read.await {
                Ok(r) => r,
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            };
            after = next;
            let full = found.len() >= PAGE;
            for finding in found {
                tokio::select! {
                    biased;
                    () = stopped(&mut stop) => return end(&tx).await,
                    sent = tx.send(Ok(finding)) => if sent.is_err() {
                        debug!("tail client left");
                        return;
                    },
                }
            }
            if !full {
                break;
            }
        }
        tokio::select! {
            biased;
            () = stopped(&mut stop) => return end(&tx).await,
            () = tx.closed() => {
                debug!("tail client left");
                return;
            }
            changed = changes.changed() => if changed.is_err() {
                warn!("the writer stopped; ending the tail");
                return end(&tx).await;
            },
        }
    }
}

/// Ends a tail at shutdown with a status saying so, not a silent OK.
async fn end(tx: &mpsc::Sender<Result<Finding, Status>>) {
    // Bounded: a client that reads nothing must not hold up the shutdown.
    let status = Status::unavailable("the collector is shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(Err(status))).await;
}
