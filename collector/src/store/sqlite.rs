//! The embedded store: one SQLite file in WAL mode. Each finding is one row:
//! the protobuf message as it arrived (what queries return, exactly), its fields
//! as JSON text (what filters on catalogue fields read with `json_extract`), and
//! the columns analysts filter and group by most, extracted and indexed.
//!
//! Concurrency: SQLite has one writer at a time. The store keeps one connection
//! for writes (batches and retention, serialised by a mutex, one transaction
//! each) and one for reads; WAL lets reads run while a batch is written, and a
//! reader sees only committed batches. Several collectors must not share a file.

use std::{
    path::Path,
    sync::{Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use prost::Message as _;
use rusqlite::{Connection, OptionalExtension as _, params, params_from_iter, types::Value as Sql};
use sensor_proto::v1::{Finding, Priority};

use super::{
    Batch, Bucket, Cursor, DEFAULT_LIMIT, Inserted, MAX_LIMIT, Order, Page, Query, Removed,
    StatsBy, Store, StoreError, TimeRange, sql,
};
use crate::filter::Expr;

mod insert;
mod seq;

/// The schema; `IF NOT EXISTS` makes opening an existing file a no-op.
/// `seq` is `AUTOINCREMENT` because tail subscribers read "every row after the
/// seq I saw last": a plain rowid would hand a deleted row's number (all rows gone
/// after retention) to a new finding, and a subscriber would skip it.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS findings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    time_ns INTEGER NOT NULL,
    rule TEXT NOT NULL,
    priority INTEGER NOT NULL,
    node TEXT NOT NULL,
    source TEXT NOT NULL,
    namespace TEXT,
    pod TEXT,
    container_id TEXT,
    proc_name TEXT,
    tags TEXT NOT NULL,
    fields TEXT NOT NULL,
    count INTEGER NOT NULL,
    body BLOB NOT NULL,
    bytes INTEGER NOT NULL,
    received_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_time ON findings (time_ns, id);
CREATE INDEX IF NOT EXISTS findings_namespace ON findings (namespace, time_ns);
CREATE INDEX IF NOT EXISTS findings_pod ON findings (pod, time_ns);
CREATE INDEX IF NOT EXISTS findings_rule ON findings (rule, time_ns);
CREATE INDEX IF NOT EXISTS findings_priority ON findings (priority, time_ns);
CREATE INDEX IF NOT EXISTS findings_node ON findings (node, time_ns);
CREATE INDEX IF NOT EXISTS findings_fd_name ON findings (json_extract(fields, '$.\"fd.name\"'), time_ns);
CREATE TABLE IF NOT EXISTS batches (
    node TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    received_ns INTEGER NOT NULL,
    PRIMARY KEY (node, instance_id, sequence)
) WITHOUT ROWID;
";

/// Findings in one SQLite file.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

fn lock(m: &Mutex<Connection>) -> Result<MutexGuard<'_, Connection>, StoreError> {
    m.lock().map_err(|_| StoreError::Poisoned)
}

fn now_ns() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

fn ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn clamp(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// A connection's memory: 64 MiB of page cache (each insert touches eight
/// B-trees; with SQLite's default 2 MiB most of their pages were read back from
/// the OS on every batch) and reads through a memory map rather than copies.
fn tune(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "mmap_size", 1_i64 << 30)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating when missing) the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let writer = Connection::open(path)?;
        // Before the first table: a new file frees pages on retention
        // (`incremental_vacuum`); an existing file keeps its setting.
        writer.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        // FULL: an acknowledged batch survives a power cut, since the sensor
        // drops it from its spool on the acknowledgement. Batches amortise the sync.
        writer.pragma_update(None, "synchronous", "FULL")?;
        tune(&writer)?;
        writer.busy_timeout(Duration::from_secs(5))?;
        writer.execute_batch(SCHEMA)?;
        let reader = Connection::open(path)?;
        reader.busy_timeout(Duration::from_secs(5))?;
        reader.pragma_update(None, "query_only", true)?;
        tune(&reader)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
        })
    }

    /// The bytes the stored findings take (what `retain`'s `max_bytes` limits):
    /// each one's message and fields, without SQLite's own overhead.
    pub fn stored_bytes(&self) -> Result<u64, StoreError> {
        let conn = lock(&self.reader)?;
        let n: i64 = conn.query_row("SELECT COALESCE(SUM(bytes), 0) FROM findings", [], |r| {
            r.get(0)
        })?;
        Ok(u64::try_from(n).unwrap_or_default())
    }
}

/// A WHERE clause for a filter and a time range.
fn where_clause(filter: Option<&Expr>, range: TimeRange) -> Result<sql::Clause, StoreError> {
    let mut c = match filter {
        Some(expr) => sql::translate(expr)?,
        None => sql::Clause {
            sql: "1".into(),
            params: Vec::new(),
        },
    };
    if let Some(since) = range.since_ns {
        c.sql.push_str(" AND time_ns >= ?");
        c.params.push(Sql::Integer(clamp(since)));
    }
    if let Some(until) = range.until_ns {
        c.sql.push_str(" AND time_ns < ?");
        c.params.push(Sql::Integer(clamp(until)));
    }
    Ok(c)
}

impl Store for SqliteStore {
    fn insert_batch(
        &self,
        node: &str,
        instance_id: &str,
        sequence: u64,
        findings: &[Finding],
    ) -> Result<Inserted, StoreError> {
        // Checked before anything is written: a bad finding refuses the batch,
        // which the ingest service reports to the sensor instead of acknowledging.
        insert::check(findings)?;
        let received = now_ns();
        let mut conn = lock(&self.writer)?;
        let tx = conn.transaction()?;
        let inserted = insert::write(&tx, node, instance_id, sequence, findings, received)?;
        tx.commit()?;
        Ok(inserted)
    }

    fn insert_batches(&self, batches: &[Batch<'_>]) -> Vec<Result<Inserted, StoreError>> {
        insert::batches(self, batches)
    }

    fn since_seq(
        &self,
        filter: Option<&Expr>,
        after_seq: i64,
        limit: usize,
    ) -> Result<(Vec<Finding>, i64), StoreError> {
        seq::since(&self.reader, filter, after_seq, limit)
    }

    fn last_seq(&self) -> Result<i64, StoreError> {
        seq::last(&self.reader)
    }

    fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let limit = match query.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        };
        let mut c = where_clause(query.filter.as_ref(), query.range)?;
        let (cmp, dir) = match query.order {
            Order::NewestFirst => ("<", "DESC"),
            Order::OldestFirst => (">", "ASC"),
        };
        if let Some(after) = &query.after {
            c.sql.push_str(&format!(" AND (time_ns, id) {cmp} (?, ?)"));
            c.params.push(Sql::Integer(clamp(after.time_ns)));
            c.params.push(Sql::Text(after.id.clone()));
        }
        let text = format!(
            "SELECT seq, body FROM findings WHERE {} ORDER BY time_ns {dir}, id {dir} LIMIT ?",
            c.sql
        );
        // One more than asked: whether there is a next page.
        c.params
            .push(Sql::Integer(i64::try_from(limit + 1).unwrap_or(i64::MAX)));
        let conn = lock(&self.reader)?;
        let mut stmt = conn.prepare(&text)?;
        let mut rows = stmt.query(params_from_iter(c.params.iter()))?;
        let mut findings = Vec::new();
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let body: Vec<u8> = row.get(1)?;
            findings.push(
                Finding::decode(body.as_slice())
                    .map_err(|source| StoreError::Corrupt { seq, source })?,
            );
        }
        let next = if findings.len() > limit {
            findings.truncate(limit);
            findings.last().map(|f| Cursor {
                time_ns: f.time_unix_nano,
                id: f.id.clone(),
            })
        } else {
            None
        };
        Ok(Page { findings, next })
    }

    fn stats(
        &self,
        by: StatsBy,
        filter: Option<&Expr>,
        range: TimeRange,
        bucket: Option<Duration>,
    ) -> Result<Vec<Bucket>, StoreError> {
        let key = match by {
            StatsBy::Rule => "rule",
            StatsBy::Priority => "priority",
            StatsBy::Namespace => "COALESCE(namespace, '')",
            StatsBy::Node => "node",
        };
        let c = where_clause(filter, range)?;
        let mut params = Vec::new();
        let start = match bucket {
            Some(b) => {
                let b = Sql::Integer(ns(b).max(1));
                params.extend([b.clone(), b]);
                "(time_ns / ?) * ?"
            }
            None => "0",
        };
        params.extend(c.params);
        let text = format!(
            "SELECT {key} AS k, {start} AS s, COUNT(*), SUM(count) FROM findings WHERE {} \
             GROUP BY k, s ORDER BY s, k",
            c.sql
        );
        let conn = lock(&self.reader)?;
        let mut stmt = conn.prepare(&text)?;
        let mut rows = stmt.query(params_from_iter(params.iter()))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let key = match row.get::<_, Sql>(0)? {
                Sql::Text(t) => t,
                Sql::Integer(p) => i32::try_from(p)
                    .ok()
                    .and_then(|p| Priority::try_from(p).ok())
                    .map_or_else(|| p.to_string(), |p| p.falco_name().to_owned()),
                _ => String::new(),
            };
            let start: i64 = row.get(1)?;
            let findings: i64 = row.get(2)?;
            let events: i64 = row.get(3)?;
            out.push(Bucket {
                key,
                start_ns: u64::try_from(start).unwrap_or_default(),
                findings: u64::try_from(findings).unwrap_or_default(),
                events: u64::try_from(events).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    fn retain(
        &self,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<Removed, StoreError> {
        let mut removed = Removed::default();
        let mut conn = lock(&self.writer)?;
        let tx = conn.transaction()?;
        if let Some(age) = max_age {
            let cutoff = now_ns().saturating_sub(ns(age));
            let n = tx.execute("DELETE FROM findings WHERE time_ns < ?", [cutoff])?;
            removed.by_age = n as u64;
            tx.execute("DELETE FROM batches WHERE received_ns < ?", [cutoff])?;
        }
        if let Some(max) = max_bytes {
            let total: i64 =
                tx.query_row("SELECT COALESCE(SUM(bytes), 0) FROM findings", [], |r| {
                    r.get(0)
                })?;
            let excess = total.saturating_sub(clamp(max));
            if excess > 0 {
                // The oldest rows whose removal brings the total under the limit:
                // those whose running total, before them, is still short of the excess.
                let n = tx.execute(
                    "DELETE FROM findings WHERE seq IN (
                         SELECT seq FROM (
                             SELECT seq, bytes, SUM(bytes) OVER (
                                 ORDER BY time_ns, id ROWS UNBOUNDED PRECEDING) AS run
                             FROM findings)
                         WHERE run - bytes < ?)",
                    [excess],
                )?;
                removed.by_size = n as u64;
            }
        }
        tx.commit()?;
        if removed.by_age + removed.by_size > 0 {
            // Gives the freed pages back to the file system.
            conn.execute_batch("PRAGMA incremental_vacuum")?;
        }
        Ok(removed)
    }
}

impl SqliteStore {
    /// The highest batch sequence stored from one sensor instance, for an ingest
    /// stream that resumes.
    pub fn last_sequence(&self, node: &str, instance_id: &str) -> Result<Option<u64>, StoreError> {
        let conn = lock(&self.reader)?;
        let seq: Option<i64> = conn
            .query_row(
                "SELECT MAX(sequence) FROM batches WHERE node = ? AND instance_id = ?",
                params![node, instance_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(seq.and_then(|s| u64::try_from(s).ok()))
    }
}
