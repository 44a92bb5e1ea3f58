//! Writing prepared batches: several in one transaction, so that one commit
//! covers them, and each batch alone when that transaction fails.

use rusqlite::{Transaction, TransactionBehavior, params};

use super::{SqliteStore, checkpoint, clamp, lock, now_ns, seq};
use crate::store::{Batch, Inserted, StoreError};

/// `seq` is given, not generated (see [`seq::next`]). A finding stored
/// already (same time and id) is skipped.
const INSERT: &str = "
INSERT INTO findings (seq, id, time_ns, rule, priority, node, source, namespace, pod,
    container_id, proc_name, fd_name, tags, count, body, bytes, received_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING";

/// Writes one batch inside the caller's transaction, numbering its new
/// findings from `*next`.
fn write(
    tx: &Transaction<'_>,
    batch: &Batch<'_>,
    received: i64,
    next: &mut i64,
) -> Result<Inserted, StoreError> {
    let mut inserted = Inserted::default();
    tx.prepare_cached(
        "INSERT OR IGNORE INTO batches (node, instance_id, sequence, received_ns) VALUES (?, ?, ?, ?)",
    )?
    .execute(params![
        batch.node,
        batch.instance_id,
        clamp(batch.sequence),
        received
    ])?;
    let mut stmt = tx.prepare_cached(INSERT)?;
    for r in batch.rows {
        let changed = stmt.execute(params![
            *next,
            r.id,
            r.time_ns,
            r.rule,
            r.priority,
            r.node,
            r.source,
            r.namespace,
            r.pod,
            r.container_id,
            r.proc_name,
            r.fd_name,
            r.tags,
            r.count,
            r.body.as_ref(),
            r.bytes(),
            received,
        ])?;
        if changed == 1 {
            inserted.new += 1;
            *next += 1;
        } else {
            inserted.duplicates += 1;
        }
    }
    Ok(inserted)
}

/// `batches` in one transaction.
fn transaction(store: &SqliteStore, batches: &[Batch<'_>]) -> Result<Vec<Inserted>, StoreError> {
    let received = now_ns();
    let mut conn = lock(&store.writer)?;
    // IMMEDIATE: the write lock first (waiting for a checkpoint that holds it),
    // not a read that a checkpoint may make stale before the first write.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut next = seq::next(&tx)?;
    let mut done = Vec::with_capacity(batches.len());
    for b in batches {
        done.push(write(&tx, b, received, &mut next)?);
    }
    seq::keep(&tx, next - 1)?;
    tx.commit()?;
    // Between two transactions, the one moment the WAL can start over. A
    // failure here loses nothing (the batches are committed): the next
    // transaction tries again.
    if let Err(e) = checkpoint::restart_if_big(&conn, &store.wal) {
        tracing::warn!(error = %e, "restarting the WAL failed; retrying after the next batch");
    }
    Ok(done)
}

/// Several batches in one transaction (see `Store::insert_batches`).
pub(super) fn batches(
    store: &SqliteStore,
    batches: &[Batch<'_>],
) -> Vec<Result<Inserted, StoreError>> {
    match transaction(store, batches) {
        Ok(done) => done.into_iter().map(Ok).collect(),
        // The whole transaction was rolled back: each batch on its own, so
        // that whatever failed fails only the batch it came from.
        Err(_) if batches.len() > 1 => batches
            .iter()
            .map(|b| {
                transaction(store, std::slice::from_ref(b)).map(|mut d| d.pop().unwrap_or_default())
            })
            .collect(),
        Err(e) => vec![Err(e)],
    }
}
