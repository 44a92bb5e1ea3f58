//! Findings by insertion order, for live tails: every row after the `seq` a
//! subscriber saw last that its filter holds for. The filter is the same SQL
//! that queries use, so a tail and a query agree on what matches.

use std::sync::Mutex;

use prost::Message as _;
use rusqlite::{Connection, OptionalExtension as _, params_from_iter, types::Value as Sql};
use sensor_proto::v1::Finding;

use super::{lock, sql};
use crate::{
    filter::Expr,
    store::{MAX_LIMIT, StoreError},
};

/// The highest `seq` stored; 0 in an empty store.
pub(super) fn last(reader: &Mutex<Connection>) -> Result<i64, StoreError> {
    let conn = lock(reader)?;
    Ok(max_seq(&conn)?)
}

fn max_seq(conn: &Connection) -> rusqlite::Result<i64> {
    // The highest seq ever handed out is kept apart from the rows, so that a
    // subscriber's position never goes backwards when retention removed the
    // newest rows too.
    let kept: Option<i64> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'last_seq'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let stored: Option<i64> = conn
        .prepare_cached("SELECT MAX(seq) FROM findings")?
        .query_row([], |r| r.get(0))?;
    Ok(kept.unwrap_or(0).max(stored.unwrap_or(0)))
}

/// The seq the next finding stored gets. The writer numbers rows itself:
/// SQLite's `AUTOINCREMENT` does the same but updates its counter table once
/// per row, which cost a sixth of the insert rate.
pub(super) fn next(tx: &Connection) -> rusqlite::Result<i64> {
    Ok(max_seq(tx)? + 1)
}

/// Records `last`, the highest seq handed out, in the writer's transaction.
pub(super) fn keep(tx: &Connection, last: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('last_seq', ?)
         ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)",
    )?
    .execute([last])?;
    Ok(())
}

/// Up to `limit` findings after `after_seq` that `filter` holds for, in `seq`
/// order, and the position to continue from: the last one's seq when the page is
/// full, else the highest seq stored when the page was read (rows the filter
/// skipped need not be read again).
pub(super) fn since(
    reader: &Mutex<Connection>,
    filter: Option<&Expr>,
    after_seq: i64,
    limit: usize,
) -> Result<(Vec<Finding>, i64), StoreError> {
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut c = match filter {
        Some(expr) => sql::translate(expr)?,
        None => sql::Clause {
            sql: "1".into(),
            params: Vec::new(),
        },
    };
    let mut params = vec![Sql::Integer(after_seq)];
    params.append(&mut c.params);
    params.push(Sql::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
    let text = format!(
        "SELECT seq, body FROM findings WHERE seq > ? AND {} ORDER BY seq LIMIT ?",
        c.sql
    );
    let mut conn = lock(reader)?;
    // One read transaction: the highest seq and the page come from one snapshot,
    // so a batch committed in between is neither skipped nor read twice.
    let tx = conn.transaction()?;
    let high = max_seq(&tx)?;
    let mut findings = Vec::new();
    let mut last = after_seq;
    {
        let mut stmt = tx.prepare_cached(&text)?;
        let mut rows = stmt.query(params_from_iter(params.iter()))?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let body: Vec<u8> = row.get(1)?;
            findings.push(
                Finding::decode(body.as_slice())
                    .map_err(|source| StoreError::Corrupt { seq, source })?,
            );
            last = seq;
        }
    }
    tx.commit()?;
    let next = if findings.len() >= limit {
        last
    } else {
        high.max(after_seq)
    };
    Ok((findings, next))
}
