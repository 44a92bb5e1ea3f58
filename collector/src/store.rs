//! Storage of findings behind one trait, so that the gRPC services do not care
//! whether SQLite (the embedded default, [`SqliteStore`]) or a distributed engine
//! keeps them.
//!
//! The trait is synchronous. SQLite's API is blocking and has one writer at a
//! time, and `async fn` in a trait is not object-safe without boxing every
//! future; the gRPC server calls a `dyn Store` from `tokio::task::spawn_blocking`
//! (or a writer thread fed by a bounded channel), which is what an async wrapper
//! would do inside anyway. A networked engine can implement it with a blocking
//! client or its own runtime handle.

mod row;
mod sql;
mod sqlite;

use std::time::Duration;

use sensor_proto::v1::Finding;

pub use self::{
    row::{MAX_ID, Row},
    sql::field_names,
    sqlite::SqliteStore,
};
use crate::filter::{Expr, FilterError};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The filter cannot be answered.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// A finding cannot be stored as it is.
    #[error("finding `{id}` refused: {reason}")]
    BadFinding {
        /// The finding's id.
        id: String,
        /// Why.
        reason: &'static str,
    },
    /// A page token that this store did not hand out.
    #[error("bad page token: {reason}")]
    BadCursor {
        /// Why it cannot be read.
        reason: &'static str,
    },
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A stored finding does not decode (the file was damaged or written by
    /// something else).
    #[error("stored finding {seq} does not decode: {source}")]
    Corrupt {
        /// Its row.
        seq: i64,
        /// What prost said.
        #[source]
        source: prost::DecodeError,
    },
    /// The store's files or threads failed (a sync to disk, among others).
    #[error("store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The file was made by a collector with another schema.
    #[error(
        "the database has schema version {found}, this collector reads version {expected}: \
         move the file away (or keep it for the collector that made it) and start again"
    )]
    Schema {
        /// The file's.
        found: i64,
        /// This collector's.
        expected: i64,
    },
    /// A thread panicked while holding the connection.
    #[error("the store's connection was poisoned by a panic")]
    Poisoned,
}

/// What one batch added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Findings stored now.
    pub new: u64,
    /// Findings already stored (the batch was sent again), skipped.
    pub duplicates: u64,
}

/// A time range `[since, until)` in ns since the Unix epoch; `None` is open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// The first instant included.
    pub since_ns: Option<u64>,
    /// The first instant excluded.
    pub until_ns: Option<u64>,
}

/// The order of a query's findings; ties in time are broken by id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Most recent first (what an analyst looks at first).
    #[default]
    NewestFirst,
    /// Oldest first (export, replay).
    OldestFirst,
}

/// Where a page ended: the last finding returned. Opaque to clients as a page
/// token ([`Cursor::to_token`]). Findings of the same time are in the order
/// they were stored, so the store's sequence number breaks ties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Its time.
    pub time_ns: u64,
    /// Its sequence number in the store.
    pub seq: i64,
}

impl Cursor {
    /// The page token: `time.seq`.
    pub fn to_token(&self) -> String {
        format!("{}.{}", self.time_ns, self.seq)
    }

    /// Reads a page token; anything this store did not write is an error.
    pub fn from_token(token: &str) -> Result<Self, StoreError> {
        let bad = |reason| StoreError::BadCursor { reason };
        let (time, seq) = token.split_once('.').ok_or(bad("no `.`"))?;
        let time_ns = time.parse().map_err(|_| bad("the time is not a number"))?;
        let seq = seq
            .parse::<i64>()
            .ok()
            .filter(|s| *s >= 0)
            .ok_or(bad("the sequence is not a number"))?;
        Ok(Self { time_ns, seq })
    }
}

/// A query's default page size.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest page a query returns, whatever the client asks.
pub const MAX_LIMIT: usize = 1000;

/// Which findings, in which order, how many.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Only findings this holds for; `None`: all.
    pub filter: Option<Expr>,
    /// Only findings in this range.
    pub range: TimeRange,
    /// Their order.
    pub order: Order,
    /// At most this many (0: [`DEFAULT_LIMIT`]; capped at [`MAX_LIMIT`]).
    pub limit: usize,
    /// Only findings after this one in `order` (the previous page's
    /// [`Page::next`]).
    pub after: Option<Cursor>,
}

/// One page of findings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    /// The findings, in the query's order.
    pub findings: Vec<Finding>,
    /// Where the next page starts; `None`: this was the last.
    pub next: Option<Cursor>,
}

/// What stats group findings by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsBy {
    /// The rule's name.
    Rule,
    /// The priority's name (`Warning`).
    Priority,
    /// The pod's namespace; empty outside pods.
    Namespace,
    /// The node.
    Node,
}

/// One group of findings in one time bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// The rule, priority, namespace or node.
    pub key: String,
    /// The bucket's start, ns since the epoch (a multiple of the bucket's
    /// length); 0 when there is one bucket for the whole range.
    pub start_ns: u64,
    /// Findings stored.
    pub findings: u64,
    /// The sum of their counts: events, folded duplicates included.
    pub events: u64,
}

/// What retention removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Findings older than the maximum age.
    pub by_age: u64,
    /// The oldest findings beyond the maximum size.
    pub by_size: u64,
}

/// One batch of [`Store::insert_batches`].
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// The authenticated peer that sent it.
    pub node: &'a str,
    /// The sensor run that sent it.
    pub instance_id: &'a str,
    /// Its sequence in that run.
    pub sequence: u64,
    /// Its findings, prepared.
    pub rows: &'a [Row],
}

/// Where findings are kept. Implementations are shared between threads; see
/// the module's documentation for why it is synchronous.
pub trait Store: Send + Sync {
    /// Stores one batch from `node` (the authenticated peer, which is what the
    /// stored findings' `node` becomes) atomically and durably. Findings
    /// stored already are skipped, so a batch sent again after a lost
    /// acknowledgement is stored once.
    fn insert_batch(
        &self,
        node: &str,
        instance_id: &str,
        sequence: u64,
        findings: &[Finding],
    ) -> Result<Inserted, StoreError> {
        let rows = findings
            .iter()
            .map(|f| Row::from_finding(node, f))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = Batch {
            node,
            instance_id,
            sequence,
            rows: &rows,
        };
        let inserted = self
            .insert_batches(&[batch])
            .pop()
            .unwrap_or(Ok(Inserted::default()))?;
        self.sync()?;
        Ok(inserted)
    }

    /// Stores several prepared batches, each atomically, with one result per
    /// batch in order; one batch's failure must not fail the others. A store
    /// that can should write them in one transaction. They are visible once
    /// this returns, but durable only after [`Store::sync`].
    fn insert_batches(&self, batches: &[Batch<'_>]) -> Vec<Result<Inserted, StoreError>>;

    /// Makes every batch that [`Store::insert_batches`] has stored so far
    /// durable. Split from the insert so that a writer can go on with the next
    /// batches while the disk syncs these; a store whose commits are durable
    /// already does nothing.
    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Up to `limit` findings stored after the insertion position `after_seq`
    /// that `filter` holds for, in the order they were stored, and the position
    /// to continue from (live tails: nothing is skipped or returned twice).
    fn since_seq(
        &self,
        filter: Option<&Expr>,
        after_seq: i64,
        limit: usize,
    ) -> Result<(Vec<Finding>, i64), StoreError>;

    /// The insertion position of the newest finding stored (0: none yet), where
    /// a tail that shows only what comes next starts.
    fn last_seq(&self) -> Result<i64, StoreError>;

    /// One page of findings.
    fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Findings counted by `by` (and by time bucket of length `bucket`, when
    /// given), ordered by bucket, then key (priorities most severe first).
    fn stats(
        &self,
        by: StatsBy,
        filter: Option<&Expr>,
        range: TimeRange,
        bucket: Option<Duration>,
    ) -> Result<Vec<Bucket>, StoreError>;

    /// Removes findings older than `max_age` (by the time of their event), then
    /// the oldest ones until the stored findings take at most `max_bytes`.
    fn retain(
        &self,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<Removed, StoreError>;
}

#[cfg(test)]
mod seq_tests;
#[cfg(test)]
mod sqlite_tests;
#[cfg(test)]
mod tests;
