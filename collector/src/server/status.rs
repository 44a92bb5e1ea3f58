//! How store failures reach clients as gRPC statuses, and store calls run off
//! the async workers: SQLite blocks, and a tokio worker held by a write would
//! stall every stream scheduled on it.

use tonic::Status;
use tracing::error;

use crate::store::StoreError;

/// The status a client gets for a store error: its own mistakes (a bad
/// filter, finding or page token) name what is wrong; the store's failures are
/// logged here and answered without their details.
pub(super) fn from_store(e: StoreError) -> Status {
    match e {
        StoreError::Filter(_) | StoreError::BadFinding { .. } | StoreError::BadCursor { .. } => {
            Status::invalid_argument(e.to_string())
        }
        // Busy, full or failing disk: the sensor keeps the batch and retries.
        StoreError::Db(_) | StoreError::Io(_) => {
            error!(error = %e, "store failed");
            Status::unavailable("the collector's store failed; retry later")
        }
        StoreError::Corrupt { .. } | StoreError::Poisoned | StoreError::Schema { .. } => {
            error!(error = %e, "store failed");
            Status::internal("the collector's store failed")
        }
    }
}

/// Runs a store call on tokio's blocking pool.
pub(super) async fn blocking<T, F>(f: F) -> Result<T, Status>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(from_store),
        Err(e) => {
            error!(error = %e, "a store call panicked");
            Err(Status::internal("the collector's store failed"))
        }
    }
}
