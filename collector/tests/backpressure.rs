//! Under load: batches from several streams share one commit, a saturated
//! writer answers RESOURCE_EXHAUSTED instead of queueing without bound, and one
//! client's failure leaves the others' batches stored and acknowledged.

mod common;

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use collector::{
    filter::Expr,
    store::{
        Batch, Bucket, Inserted, Page, Query, Removed, SqliteStore, StatsBy, Store, StoreError,
        TimeRange,
    },
};
use common::{Ingest, Running, batch, finding};
use sensor_proto::v1::Finding;
use tonic::Code;

/// SQLite behind a slow disk: each commit takes `delay`; records how many
/// batches each commit held.
struct Slow {
    inner: SqliteStore,
    delay: Duration,
    commits: Arc<Mutex<Vec<usize>>>,
}

impl Store for Slow {
    fn insert_batch(
        &self,
        node: &str,
        instance_id: &str,
        sequence: u64,
        findings: &[Finding],
    ) -> Result<Inserted, StoreError> {
        self.inner
            .insert_batch(node, instance_id, sequence, findings)
    }
    fn insert_batches(&self, batches: &[Batch<'_>]) -> Vec<Result<Inserted, StoreError>> {
        std::thread::sleep(self.delay);
        self.commits.lock().expect("lock").push(batches.len());
        self.inner.insert_batches(batches)
    }
    fn since_seq(
        &self,
        filter: Option<&Expr>,
        after_seq: i64,
        limit: usize,
    ) -> Result<(Vec<Finding>, i64), StoreError> {
        self.inner.since_seq(filter, after_seq, limit)
    }
    fn last_seq(&self) -> Result<i64, StoreError> {
        self.inner.last_seq()
    }
    fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query)
    }
    fn stats(
        &self,
        by: StatsBy,
        filter: Option<&Expr>,
        range: TimeRange,
        bucket: Option<Duration>,
    ) -> Result<Vec<Bucket>, StoreError> {
        self.inner.stats(by, filter, range, bucket)
    }
    fn retain(
        &self,
        max_age: Option<Duration>,
        max_bytes: Option<u64>,
    ) -> Result<Removed, StoreError> {
        self.inner.retain(max_age, max_bytes)
    }
}

fn slow(delay: Duration, commits: Arc<Mutex<Vec<usize>>>) -> impl FnOnce(&Path) -> Arc<dyn Store> {
    move |db| {
        Arc::new(Slow {
            inner: SqliteStore::open(db).expect("opens"),
            delay,
            commits,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_writer_answers_resource_exhausted() {
    let commits = Arc::default();
    let server = Running::start_with(
        |c| {
            c.max_in_flight = 1;
            c.saturation_wait = Duration::from_millis(100);
        },
        slow(Duration::from_secs(1), commits),
    )
    .await;
    let mut a = server.client("node-a").await;
    let mut b = server.client("node-b").await;
    let mut first = Ingest::open(&mut a).await.expect("opens");
    let mut second = Ingest::open(&mut b).await.expect("opens");
    first
        .tx
        .send(batch("node-a", 1, vec![finding("R", "sh")]))
        .await
        .expect("sends");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let status = second
        .send(batch("node-b", 1, vec![finding("R", "sh")]))
        .await
        .expect_err("saturated");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "answered without queueing"
    );
    // The first stream is not affected.
    let ack = first.acks.message().await.expect("ack");
    assert_eq!(ack.map(|a| a.sequence), Some(1));
    assert_eq!(common::stored_ids(&server.db).len(), 1);
    drop((first, second));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_share_commits_and_a_bad_batch_fails_only_its_stream() {
    let commits: Arc<Mutex<Vec<usize>>> = Arc::default();
    let server =
        Running::start_with(|_| {}, slow(Duration::from_millis(300), commits.clone())).await;
    let mut a = server.client("node-a").await;
    let b = server.client("node-b").await;
    let mut busy = Ingest::open(&mut a).await.expect("opens");
    busy.tx
        .send(batch("node-a", 1, vec![finding("R", "sh")]))
        .await
        .expect("sends");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // While the first commit runs, three streams queue a batch each; one of
    // them holds a finding the store refuses.
    let mut streams = Vec::new();
    for (i, mut client) in [a.clone(), b.clone(), b].into_iter().enumerate() {
        let node = if i == 0 { "node-a" } else { "node-b" };
        let s = Ingest::open(&mut client).await.expect("opens");
        let mut f = finding("R", "sh");
        if i == 2 {
            f.id = String::new();
        }
        s.tx.send(batch(node, 10 + i as u64, vec![f]))
            .await
            .expect("sends");
        streams.push(s);
    }
    for (i, s) in streams.iter_mut().enumerate() {
        let answer = tokio::time::timeout(Duration::from_secs(10), s.acks.message())
            .await
            .expect("an answer");
        if i == 2 {
            let status = answer.expect_err("refused");
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        } else {
            assert_eq!(
                answer.expect("ack").map(|a| a.sequence),
                Some(10 + i as u64)
            );
        }
    }
    assert_eq!(
        busy.acks.message().await.expect("ack").map(|a| a.sequence),
        Some(1)
    );
    let commits = commits.lock().expect("lock").clone();
    assert!(
        commits.iter().any(|&n| n >= 2),
        "no shared commit: {commits:?}"
    );
    assert_eq!(common::stored_ids(&server.db).len(), 3);
    drop((busy, streams));
    server.stop().await;
}
