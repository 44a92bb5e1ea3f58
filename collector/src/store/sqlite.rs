//! The embedded store: one SQLite file in WAL mode. Each finding is one row:
//! the protobuf message as it arrived (what queries return, exactly), its fields
//! as JSON text (what filters on catalogue fields read with `json_extract`), and
//! the columns analysts filter and group by most, extracted and indexed.
//!
//! Concurrency: SQLite has one writer at a time. The store keeps one connection
//! for writes (batches and retention, serialised by a mutex, one transaction
//! each), one for reads, and one for WAL checkpoints on a thread of their own
//! ([`checkpoint`]); WAL lets reads run while a batch is written, and a reader
//! sees only committed batches. Several collectors must not share a file.
//!
//! Durability: commits do not wait for the disk; [`Store::sync`] syncs the WAL
//! file, which makes every commit before it durable, so the ingest service
//! syncs once for many transactions while the next ones are written.

use std::{
    path::{Path, PathBuf},
    sync::{Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use prost::Message as _;
use rusqlite::{
    Connection, OptionalExtension as _, TransactionBehavior, params, params_from_iter,
    types::Value as Sql,
};
use sensor_proto::v1::{Finding, Priority};

use super::{
    Batch, Bucket, Cursor, DEFAULT_LIMIT, Inserted, MAX_LIMIT, Order, Page, Query, Removed,
    StatsBy, Store, StoreError, TimeRange, sql,
};
use crate::filter::Expr;

mod checkpoint;
pub(super) mod functions;
mod insert;
mod seq;

/// The schema's version, in the file's `user_version`. A file of another
/// version is refused at open rather than misread.
const SCHEMA_VERSION: i64 = 3;

/// The schema; `IF NOT EXISTS` makes opening an existing file a no-op.
/// Each finding is kept as the bytes the sensor sent (`body`); filters on
/// catalogue fields read them with `field()` (see [`functions`]), and the
/// columns analysts filter and group by most are extracted (by the ingest
/// streams, not the writer: see `Row`) and indexed.
/// Tail subscribers read "every row after the seq I saw last", so `seq` never
/// goes back: the writer numbers rows itself from the highest ever handed out,
/// kept in `meta` (a plain rowid would hand a deleted row's number to a new
/// finding). Duplicates are found by the time index, unique on (time, id): a
/// finding sent again has both, and a separate index on the id cost a ninth of
/// the insert rate.
///
/// Indexes: one per column analysts filter on, each ending in the time, so
/// that "the newest 100 of this namespace" reads 100 entries of it in order.
/// (Indexes shared by two columns, namespace with pod and priority with rule,
/// saved the writer 4 µs a finding, but a filter on the first column then
/// sorted every match: 60 ms, against 3 ms, for one namespace of a million.)
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS findings (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    rule TEXT NOT NULL,
    priority INTEGER NOT NULL,
    node TEXT NOT NULL,
    source TEXT NOT NULL,
    namespace TEXT,
    pod TEXT,
    container_id TEXT,
    proc_name TEXT,
    fd_name TEXT,
    tags TEXT NOT NULL,
    count INTEGER NOT NULL,
    body BLOB NOT NULL,
    bytes INTEGER NOT NULL,
    received_ns INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS findings_time ON findings (time_ns, id);
CREATE INDEX IF NOT EXISTS findings_namespace ON findings (namespace, time_ns);
CREATE INDEX IF NOT EXISTS findings_pod ON findings (pod, time_ns);
CREATE INDEX IF NOT EXISTS findings_rule ON findings (rule, time_ns);
CREATE INDEX IF NOT EXISTS findings_priority ON findings (priority, time_ns);
CREATE INDEX IF NOT EXISTS findings_node ON findings (node, time_ns);
CREATE INDEX IF NOT EXISTS findings_fd_name ON findings (fd_name, time_ns);
CREATE TABLE IF NOT EXISTS batches (
    node TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    received_ns INTEGER NOT NULL,
    PRIMARY KEY (node, instance_id, sequence)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
";

/// What the query planner is told of the findings, in `sqlite_stat1`: fixed
/// proportions of a cluster (50 namespaces, 2,000 pods, 200 rules, 8
/// priorities, 100 nodes, 10,000 files), not a measurement. Without them
/// SQLite takes every index to be as selective as the next, and a filter on
/// a rule and a priority may read the priority's eighth of the findings
/// rather than the rule's share. Fixed rather than measured: `ANALYZE` reads
/// every index (seconds at a million findings, holding the writer), and plans
/// do not change with what a small or young file holds.
const STATS: &[(Option<&str>, &str)] = &[
    (None, "1000000"),
    (Some("findings_time"), "1000000 1 1"),
    (Some("findings_namespace"), "1000000 20000 1"),
    (Some("findings_pod"), "1000000 500 1"),
    (Some("findings_rule"), "1000000 5000 1"),
    (Some("findings_priority"), "1000000 125000 1"),
    (Some("findings_node"), "1000000 10000 1"),
    (Some("findings_fd_name"), "1000000 100 1"),
];

/// Writes [`STATS`] (replacing any an `ANALYZE` made) and loads them.
fn planner_stats(conn: &Connection) -> Result<(), StoreError> {
    // Only `ANALYZE` makes `sqlite_stat1` (SQLite refuses to create it);
    // once there it is not run again, since on an existing file it reads
    // every index.
    let made: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'",
        [],
        |r| r.get(0),
    )?;
    if made == 0 {
        conn.execute_batch("ANALYZE")?;
    }
    conn.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'findings'", [])?;
    let mut put =
        conn.prepare("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES ('findings', ?, ?)")?;
    for (idx, stat) in STATS {
        put.execute(params![idx, stat])?;
    }
    // Loads what was written into this connection's planner; others load it
    // when they open.
    conn.execute_batch("ANALYZE sqlite_schema")?;
    Ok(())
}

/// Findings in one SQLite file.
pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    wal: PathBuf,
    // Declared last: dropped after the connections it shares the file with.
    _checkpointer: checkpoint::Checkpointer,
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
    functions::register(conn)?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "mmap_size", 1_i64 << 30)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

/// Makes the schema in a new file; checks the version of an existing one.
fn create(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let tables: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'findings'",
        [],
        |r| r.get(0),
    )?;
    if tables > 0 && version != SCHEMA_VERSION {
        return Err(StoreError::Schema {
            found: version,
            expected: SCHEMA_VERSION,
        });
    }
    conn.execute_batch(SCHEMA)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    planner_stats(conn)
}

impl SqliteStore {
    /// Opens (creating when missing) the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let mut writer = Connection::open(path)?;
        // Before the first table (an existing file keeps its own): 16 KiB
        // pages hold four times the index entries of the default 4 KiB, so an
        // insert splits pages a quarter as often and descends fewer levels
        // (the writer's cost per finding in process, 300,000 findings: 18.6 µs
        // at 8 KiB, 16.7 at 16 KiB; 32 and 64 KiB were no better at a
        // million). No auto_vacuum: keeping its pointer map cost a tenth of
        // the insert rate, and the pages retention frees are reused for new
        // findings, so the file stays at the size retention allows.
        writer.pragma_update(None, "page_size", 16384)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL: a commit does not wait for the disk; `sync` does, for every
        // commit before it, and the sensor drops a batch from its spool only
        // after that (an acknowledgement means stored on disk).
        writer.pragma_update(None, "synchronous", "NORMAL")?;
        // The checkpointer thread copies the WAL, not the commits.
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        writer.pragma_update(None, "journal_size_limit", checkpoint::RESTART_BYTES)?;
        tune(&writer)?;
        writer.busy_timeout(Duration::from_secs(5))?;
        create(&writer)?;
        let reader = Connection::open(path)?;
        reader.busy_timeout(Duration::from_secs(5))?;
        reader.pragma_update(None, "query_only", true)?;
        tune(&reader)?;
        let checkpointer = checkpoint::Checkpointer::start(path, &mut writer)?;
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            wal: checkpoint::wal_path(path),
            _checkpointer: checkpointer,
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

/// The `seq` of a page's rows, without their bodies: `query` reads the bodies
/// of these alone. In one step SQLite reads the body of every row that
/// matches before it sorts them, whenever the index it searches does not
/// give time order (a list of namespaces, a range of priorities); this step
/// is answered from the index alone when the filter is on its columns.
/// `?` at the end is the page size.
pub(super) fn page_rows(where_sql: &str, dir: &str) -> String {
    format!("SELECT seq FROM findings WHERE {where_sql} ORDER BY time_ns {dir}, seq {dir} LIMIT ?")
}

impl Store for SqliteStore {
    fn insert_batches(&self, batches: &[Batch<'_>]) -> Vec<Result<Inserted, StoreError>> {
        insert::batches(self, batches)
    }

    fn sync(&self) -> Result<(), StoreError> {
        // The WAL holds every commit not yet copied into the database file, and
        // a checkpoint syncs the database file before the WAL starts over; so a
        // sync of the WAL makes every commit before it durable. Opened each time:
        // a sync is rare (once per group of transactions) and this stays right
        // whatever SQLite does with the file in between.
        std::fs::File::open(&self.wal)?.sync_data()?;
        Ok(())
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
            c.sql.push_str(&format!(" AND (time_ns, seq) {cmp} (?, ?)"));
            c.params.push(Sql::Integer(clamp(after.time_ns)));
            c.params.push(Sql::Integer(after.seq));
        }
        let text = format!(
            "SELECT seq, body FROM findings WHERE seq IN ({}) ORDER BY time_ns {dir}, seq {dir}",
            page_rows(&c.sql, dir)
        );
        // One more than asked: whether there is a next page.
        c.params
            .push(Sql::Integer(i64::try_from(limit + 1).unwrap_or(i64::MAX)));
        let conn = lock(&self.reader)?;
        let mut stmt = conn.prepare(&text)?;
        let mut rows = stmt.query(params_from_iter(c.params.iter()))?;
        let mut page = Vec::new();
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let body: Vec<u8> = row.get(1)?;
            let finding = Finding::decode(body.as_slice())
                .map_err(|source| StoreError::Corrupt { seq, source })?;
            page.push((seq, finding));
        }
        let more = page.len() > limit;
        page.truncate(limit);
        let next = page.last().filter(|_| more).map(|(seq, f)| Cursor {
            time_ns: f.time_unix_nano,
            seq: *seq,
        });
        let findings = page.into_iter().map(|(_, f)| f).collect();
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
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
