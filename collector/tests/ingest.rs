//! Ingest, query and tail over real TLS on loopback, into SQLite in a tempdir.

mod common;

use std::time::Duration;

use common::{Ingest, Running, batch, finding, query};
use sensor_proto::v1::{StatsBy, StatsRequest, TailRequest};

#[tokio::test]
async fn an_acknowledged_batch_is_stored_and_answers_queries() {
    let server = Running::start(|_| {}).await;
    let mut client = server.client("node-a").await;
    let mut ingest = Ingest::open(&mut client).await.expect("opens");
    let findings = vec![
        finding("Shell in container", "bash"),
        finding("Read shadow", "cat"),
    ];
    let ids: Vec<String> = findings.iter().map(|f| f.id.clone()).collect();
    let ack = ingest
        .send(batch("node-a", 1, findings))
        .await
        .expect("acked");
    assert_eq!(ack.map(|a| a.sequence), Some(1));

    // The ack came after the commit: the findings are there now.
    let mut analyst = server.client("analyst").await;
    let page = analyst.query(query("")).await.expect("query").into_inner();
    let mut got: Vec<String> = page.findings.iter().map(|f| f.id.clone()).collect();
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want);
    // The node is the certificate's, whatever the finding said.
    assert!(page.findings.iter().all(|f| f.node == "node-a"));

    let bash = analyst
        .query(query("proc.name = bash and node = node-a"))
        .await
        .expect("query")
        .into_inner();
    assert_eq!(bash.findings.len(), 1);
    assert_eq!(bash.findings[0].rule, "Shell in container");

    let stats = analyst
        .stats(StatsRequest {
            by: StatsBy::Rule as i32,
            ..StatsRequest::default()
        })
        .await
        .expect("stats")
        .into_inner();
    assert_eq!(stats.buckets.len(), 2);
    assert!(stats.buckets.iter().all(|b| b.findings == 1));
    drop(ingest);
    server.stop().await;
}

#[tokio::test]
async fn a_batch_sent_twice_is_acknowledged_twice_and_stored_once() {
    let server = Running::start(|_| {}).await;
    let mut client = server.client("node-a").await;
    let mut ingest = Ingest::open(&mut client).await.expect("opens");
    let b = batch("node-a", 7, vec![finding("R", "sh"), finding("R", "sh")]);
    let first = ingest.send(b.clone()).await.expect("acked");
    // As a sensor does after a lost ack: the same batch on a new stream.
    let mut again = Ingest::open(&mut client).await.expect("opens");
    let second = again.send(b).await.expect("acked");
    assert_eq!(first.map(|a| a.sequence), Some(7));
    assert_eq!(second.map(|a| a.sequence), Some(7));
    assert_eq!(common::stored_ids(&server.db).len(), 2);
    drop((ingest, again));
    server.stop().await;
}

#[tokio::test]
async fn a_pipelined_stream_is_acknowledged_in_order() {
    let server = Running::start(|_| {}).await;
    let mut client = server.client("node-b").await;
    let mut ingest = Ingest::open(&mut client).await.expect("opens");
    for seq in 1..=50 {
        let findings = (0..20).map(|_| finding("R", "sh")).collect();
        ingest
            .tx
            .send(batch("node-b", seq, findings))
            .await
            .expect("sends");
    }
    for seq in 1..=50 {
        let ack = ingest.acks.message().await.expect("ack").expect("open");
        assert_eq!(ack.sequence, seq);
    }
    assert_eq!(common::stored_ids(&server.db).len(), 50 * 20);
    drop(ingest);
    server.stop().await;
}

#[tokio::test]
async fn a_tail_shows_matching_findings_stored_after_it_subscribed() {
    let server = Running::start(|_| {}).await;
    let mut client = server.client("node-a").await;
    let mut ingest = Ingest::open(&mut client).await.expect("opens");
    // Stored before the tail: not shown.
    let before = finding("R", "bash");
    ingest
        .send(batch("node-a", 1, vec![before]))
        .await
        .expect("acked");

    let mut analyst = server.client("analyst").await;
    let mut tail = analyst
        .tail(TailRequest {
            filter: "proc.name = bash".into(),
        })
        .await
        .expect("tail")
        .into_inner();
    let other = finding("R", "cat");
    let wanted = finding("R", "bash");
    let wanted_id = wanted.id.clone();
    ingest
        .send(batch("node-a", 2, vec![other, wanted]))
        .await
        .expect("acked");
    let got = tokio::time::timeout(Duration::from_secs(10), tail.message())
        .await
        .expect("a finding within 10 s")
        .expect("tail ok")
        .expect("tail open");
    assert_eq!(got.id, wanted_id);
    assert_eq!(got.node, "node-a");
    // Nothing else: the `cat` finding does not match, the first came before.
    let more = tokio::time::timeout(Duration::from_millis(500), tail.message()).await;
    assert!(more.is_err(), "unexpected: {more:?}");
    drop((ingest, tail));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_ends_tails_and_streams_with_unavailable() {
    let server = Running::start(|_| {}).await;
    let mut analyst = server.client("analyst").await;
    let mut tail = analyst
        .tail(TailRequest::default())
        .await
        .expect("tail")
        .into_inner();
    let mut client = server.client("node-a").await;
    let mut ingest = Ingest::open(&mut client).await.expect("opens");
    let ack = ingest
        .send(batch("node-a", 1, vec![finding("R", "sh")]))
        .await;
    assert_eq!(ack.expect("acked").map(|a| a.sequence), Some(1));
    let shown = tail.message().await.expect("ok").expect("open");
    assert_eq!(shown.rule, "R");
    // `stop` returns only once every stream has ended.
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("stops well before the drain timeout");
    let status = tail.message().await.expect_err("ended with a status");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let status = ingest
        .acks
        .message()
        .await
        .expect_err("ended with a status");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
}
