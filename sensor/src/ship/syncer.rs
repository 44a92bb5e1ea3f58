//! The syncer: makes appended findings durable against a power loss, on the
//! ship thread's runtime and whatever the collector's state, while the sender
//! delivers them. The sync itself runs on a blocking thread without the
//! spool's lock, so neither the agent's appends nor the sender wait for it.

use std::{sync::Arc, time::Duration};

use super::Shared;

/// The longest a record stays unsynced if a wakeup is missed.
const EVERY: Duration = Duration::from_secs(1);

/// Runs until the runtime stops: one sync at a time, each covering every
/// record appended before it began.
pub(super) async fn run(shared: Arc<Shared>) {
    loop {
        // A wakeup while a sync ran is kept by the Notify, so what was
        // appended meanwhile is synced next.
        let _ = tokio::time::timeout(EVERY, shared.sync_wake.notified()).await;
        let pending = {
            let mut spool = shared.lock();
            if !spool.needs_flush() {
                continue;
            }
            spool.begin_flush()
        };
        let sync = match pending {
            Ok(sync) => sync,
            Err(e) => {
                tracing::error!(error = %e, "cannot sync the spool; retrying");
                continue;
            }
        };
        let job = shared.clone();
        let done = tokio::task::spawn_blocking(move || {
            if let Err(e) = sync.run() {
                // The records stay appended and waiting: the next round retries.
                tracing::error!(error = %e, "cannot sync the spool; retrying");
                job.lock().flush_failed(&sync);
            }
        })
        .await;
        if done.is_err() {
            tracing::error!("the spool's sync thread failed; retrying");
        }
    }
}
