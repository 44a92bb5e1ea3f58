//! Retention: at start and then every period, findings older than the maximum
//! age and the oldest beyond the maximum size are removed, and what was removed
//! is logged, so that a disk never fills silently and nothing goes silently.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;
use tracing::{error, info};

use super::{Retention, stopped};
use crate::store::Store;

/// Runs until `stop` turns true.
pub(super) async fn run(store: Arc<dyn Store>, policy: Retention, mut stop: watch::Receiver<bool>) {
    if policy.max_age.is_none() && policy.max_bytes.is_none() {
        return;
    }
    let period = policy.every.max(Duration::from_secs(1));
    loop {
        let s = store.clone();
        let (age, bytes) = (policy.max_age, policy.max_bytes);
        match tokio::task::spawn_blocking(move || s.retain(age, bytes)).await {
            Ok(Ok(removed)) if removed.by_age + removed.by_size > 0 => info!(
                by_age = removed.by_age,
                by_size = removed.by_size,
                "retention removed findings"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => error!(error = %e, "retention failed"),
            Err(e) => error!(error = %e, "retention panicked"),
        }
        tokio::select! {
            () = stopped(&mut stop) => return,
            () = tokio::time::sleep(period) => {}
        }
    }
}
