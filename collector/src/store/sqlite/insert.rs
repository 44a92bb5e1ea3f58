//! Writing findings: checking a batch, writing it inside a transaction, and
//! several batches in one transaction, so that one sync to disk covers them.

use prost::Message as _;
use rusqlite::{Transaction, params};
use sensor_proto::{
    json::fields_to_json,
    v1::{Finding, value::Kind},
};

use super::{SqliteStore, clamp, lock, now_ns};
use crate::store::{Batch, Inserted, Store as _, StoreError};

/// The fields are kept as JSONB, SQLite's binary JSON: `json_extract` reads it
/// without parsing text, which is what a filter on a catalogue field does for
/// every row it scans.
const INSERT: &str = "
INSERT INTO findings (id, time_ns, rule, priority, node, source, namespace, pod,
    container_id, proc_name, tags, fields, count, body, bytes, received_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, jsonb(?), ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING";

/// The longest finding id stored (a UUID has 36 characters).
const MAX_ID: usize = 128;

fn text_field<'a>(f: &'a Finding, name: &str) -> Option<&'a str> {
    match f.fields.get(name)?.kind.as_ref()? {
        Kind::StringValue(s) => Some(s),
        _ => None,
    }
}

/// Refuses a batch with a finding the store cannot keep as it is.
pub(super) fn check(findings: &[Finding]) -> Result<(), StoreError> {
    for f in findings {
        let reason = if f.id.is_empty() || f.id.len() > MAX_ID {
            Some("its id is empty or longer than 128 bytes")
        } else if i64::try_from(f.time_unix_nano).is_err() {
            Some("its time is after the year 2262")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(StoreError::BadFinding {
                id: f.id.chars().take(MAX_ID).collect(),
                reason,
            });
        }
    }
    Ok(())
}

/// Writes one checked batch inside the caller's transaction.
pub(super) fn write(
    tx: &Transaction<'_>,
    node: &str,
    instance_id: &str,
    sequence: u64,
    findings: &[Finding],
    received: i64,
) -> Result<Inserted, StoreError> {
    let mut inserted = Inserted::default();
    tx.execute(
        "INSERT OR IGNORE INTO batches (node, instance_id, sequence, received_ns) VALUES (?, ?, ?, ?)",
        params![node, instance_id, clamp(sequence), received],
    )?;
    let mut stmt = tx.prepare_cached(INSERT)?;
    for f in findings {
        // The node is the peer that sent it, not what the finding says.
        let mut f = f.clone();
        f.node = node.to_owned();
        let body = f.encode_to_vec();
        let fields = fields_to_json(&f).to_string();
        let tags = serde_json::Value::from(f.tags.clone()).to_string();
        let namespace = text_field(&f, "k8s.ns.name")
            .or(f.pod.as_ref().map(|p| p.namespace.as_str()))
            .map(str::to_owned);
        let pod = text_field(&f, "k8s.pod.name")
            .or(f.pod.as_ref().map(|p| p.name.as_str()))
            .map(str::to_owned);
        let container = text_field(&f, "container.id")
            .or(f
                .container
                .as_ref()
                .map(|c| c.id.get(..12).unwrap_or(&c.id)))
            .map(str::to_owned);
        let proc_name = text_field(&f, "proc.name")
            .or(f.ancestry.first().map(|p| p.name.as_str()))
            .map(str::to_owned);
        let bytes = i64::try_from(body.len() + fields.len()).unwrap_or(i64::MAX);
        let changed = stmt.execute(params![
            f.id,
            clamp(f.time_unix_nano),
            f.rule,
            f.priority,
            f.node,
            f.source,
            namespace,
            pod,
            container,
            proc_name,
            tags,
            fields,
            clamp(f.count),
            body,
            bytes,
            received,
        ])?;
        if changed == 1 {
            inserted.new += 1;
        } else {
            inserted.duplicates += 1;
        }
    }
    Ok(inserted)
}

/// Several batches in one transaction (see `Store::insert_batches`).
pub(super) fn batches(
    store: &SqliteStore,
    batches: &[Batch<'_>],
) -> Vec<Result<Inserted, StoreError>> {
    // One transaction, so one fsync, for every batch the ingest service had
    // queued: that, not the inserts, is what limits SQLite's write rate.
    let mut results: Vec<Result<Inserted, StoreError>> = batches
        .iter()
        .map(|b| check(b.findings).map(|()| Inserted::default()))
        .collect();
    let grouped = (|| {
        let received = now_ns();
        let mut conn = lock(&store.writer)?;
        let tx = conn.transaction()?;
        let mut done = Vec::with_capacity(batches.len());
        for (b, r) in batches.iter().zip(&results) {
            done.push(match r {
                Ok(_) => Some(write(
                    &tx,
                    b.node,
                    b.instance_id,
                    b.sequence,
                    b.findings,
                    received,
                )?),
                Err(_) => None,
            });
        }
        tx.commit()?;
        Ok::<_, StoreError>(done)
    })();
    match grouped {
        Ok(done) => {
            for (r, d) in results.iter_mut().zip(done) {
                if let Some(d) = d {
                    *r = Ok(d);
                }
            }
        }
        // The whole transaction was rolled back: each batch on its own, so
        // that whatever failed fails only the batch it came from.
        Err(_) => {
            for (r, b) in results.iter_mut().zip(batches) {
                if r.is_ok() {
                    *r = store.insert_batch(b.node, b.instance_id, b.sequence, b.findings);
                }
            }
        }
    }
    results
}
