//! Analysts' requests as store calls: filters in the rule language, time
//! ranges with 0 for "open", enums checked. Everything here comes from a
//! client, so every failure is INVALID_ARGUMENT with the reason.

use std::time::Duration;

use sensor_proto::v1::{
    Order as ProtoOrder, QueryRequest, QueryResponse, StatsBucket, StatsBy as ProtoBy,
    StatsRequest, StatsResponse,
};
use tonic::Status;

use crate::{
    filter::{self, Expr},
    store::{Bucket, Cursor, Order, Page, Query, StatsBy, TimeRange},
};

/// An empty filter is every finding; anything else must parse.
pub(super) fn parse_filter(text: &str) -> Result<Option<Expr>, Status> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    filter::parse(text)
        .map(Some)
        .map_err(|e| Status::invalid_argument(e.to_string()))
}

fn range(since: u64, until: u64) -> Result<TimeRange, Status> {
    if since != 0 && until != 0 && until < since {
        return Err(Status::invalid_argument(
            "until_unix_nano is before since_unix_nano",
        ));
    }
    Ok(TimeRange {
        since_ns: (since != 0).then_some(since),
        until_ns: (until != 0).then_some(until),
    })
}

/// The store's query for a request.
pub(super) fn query(req: &QueryRequest) -> Result<Query, Status> {
    let order = match ProtoOrder::try_from(req.order) {
        Ok(ProtoOrder::Unspecified | ProtoOrder::NewestFirst) => Order::NewestFirst,
        Ok(ProtoOrder::OldestFirst) => Order::OldestFirst,
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "unknown order {}",
                req.order
            )));
        }
    };
    let after = if req.page_token.is_empty() {
        None
    } else {
        Some(
            Cursor::from_token(&req.page_token)
                .map_err(|e| Status::invalid_argument(e.to_string()))?,
        )
    };
    Ok(Query {
        filter: parse_filter(&req.filter)?,
        range: range(req.since_unix_nano, req.until_unix_nano)?,
        order,
        // The store caps it.
        limit: usize::try_from(req.page_size).unwrap_or(usize::MAX),
        after,
    })
}

/// A page as the response.
pub(super) fn page(page: Page) -> QueryResponse {
    QueryResponse {
        findings: page.findings,
        next_page_token: page.next.map(|c| c.to_token()).unwrap_or_default(),
    }
}

/// A stats request, read.
pub(super) struct Stats {
    /// Grouped by.
    pub(super) by: StatsBy,
    /// Which findings.
    pub(super) filter: Option<Expr>,
    /// When.
    pub(super) range: TimeRange,
    /// Bucket length; `None`: one bucket.
    pub(super) bucket: Option<Duration>,
}

/// The store's arguments for a stats request.
pub(super) fn stats(req: &StatsRequest) -> Result<Stats, Status> {
    let by = match ProtoBy::try_from(req.by) {
        Ok(ProtoBy::Unspecified | ProtoBy::Rule) => StatsBy::Rule,
        Ok(ProtoBy::Priority) => StatsBy::Priority,
        Ok(ProtoBy::Namespace) => StatsBy::Namespace,
        Ok(ProtoBy::Node) => StatsBy::Node,
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "unknown stats_by {}",
                req.by
            )));
        }
    };
    Ok(Stats {
        by,
        filter: parse_filter(&req.filter)?,
        range: range(req.since_unix_nano, req.until_unix_nano)?,
        bucket: (req.bucket_seconds > 0).then(|| Duration::from_secs(req.bucket_seconds)),
    })
}

/// Buckets as the response.
pub(super) fn buckets(buckets: Vec<Bucket>) -> StatsResponse {
    StatsResponse {
        buckets: buckets
            .into_iter()
            .map(|b| StatsBucket {
                key: b.key,
                start_unix_nano: b.start_ns,
                findings: b.findings,
                events: b.events,
            })
            .collect(),
    }
}
