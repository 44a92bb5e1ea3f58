//! What a client cannot do: connect without a certificate from the collector's
//! CA (not even to the health service), send for another node, send more than
//! the limits, or pass a filter that is not one. And a refused client leaves
//! the others served.

mod common;

use common::{Ingest, Pki, Running, batch, connect, finding, query};
use sensor_proto::v1::{StatsRequest, TailRequest};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

async fn health(channel: tonic::transport::Channel) -> Result<i32, tonic::Status> {
    let r = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "sensor.v1.Collector".into(),
        })
        .await?;
    Ok(r.into_inner().status)
}

/// With TLS 1.3 the client's side of the handshake completes before the
/// server has checked its certificate; the server's alert then fails the first
/// call, as a transport error.
fn refused_by_tls(status: &tonic::Status) {
    assert!(
        matches!(status.code(), Code::Unknown | Code::Unavailable),
        "{status:?}"
    );
    let text = format!("{status:?}");
    assert!(text.contains("alert"), "not refused by TLS: {text}");
}

#[tokio::test]
async fn a_client_with_a_certificate_is_served_health() {
    let server = Running::start(|_| {}).await;
    let channel = connect(server.addr, server.pki.client_tls(Some("node-a")))
        .await
        .expect("connects");
    assert_eq!(
        health(channel).await.expect("health"),
        ServingStatus::Serving as i32
    );
    server.stop().await;
}

#[tokio::test]
async fn a_client_without_a_certificate_gets_nothing() {
    let server = Running::start(|_| {}).await;
    // The handshake fails; should a channel come up lazily, no call succeeds.
    if let Ok(channel) = connect(server.addr, server.pki.client_tls(None)).await {
        let status = health(channel)
            .await
            .expect_err("no health without a certificate");
        refused_by_tls(&status);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_client_with_a_certificate_from_another_ca_gets_nothing() {
    let server = Running::start(|_| {}).await;
    let other = Pki::new();
    // Trusts the server (same root as the server's), but presents a node
    // certificate that another CA signed.
    let ca = std::fs::read(server.pki.path("ca.pem")).expect("ca");
    let (cert, key) = collector::certs::client_files(other.dir.path(), "node-a");
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca))
        .domain_name("localhost")
        .identity(tonic::transport::Identity::from_pem(
            std::fs::read(cert).expect("cert"),
            std::fs::read(key).expect("key"),
        ));
    if let Ok(channel) = connect(server.addr, tls).await {
        let status = health(channel.clone())
            .await
            .expect_err("no health for another CA");
        refused_by_tls(&status);
        let mut client = sensor_proto::v1::collector_client::CollectorClient::new(channel);
        assert!(client.query(query("")).await.is_err());
    }
    server.stop().await;
}

#[tokio::test]
async fn a_node_cannot_send_for_another_node() {
    let server = Running::start(|_| {}).await;
    let mut client = server.client("node-a").await;
    let mut ingest = Ingest::open(&mut client).await.expect("opens");
    let status = ingest
        .send(batch("node-b", 1, vec![finding("R", "sh")]))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(common::stored_ids(&server.db).is_empty());
    drop(ingest);
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_message_is_refused_and_others_are_still_served() {
    let server = Running::start(|c| c.max_message_bytes = 64 * 1024).await;
    let mut client = server.client("node-a").await;
    let mut ingest = Ingest::open(&mut client).await.expect("opens");
    let mut big = finding("R", "sh");
    big.output = "x".repeat(128 * 1024);
    let status = ingest
        .send(batch("node-a", 1, vec![big]))
        .await
        .expect_err("refused");
    assert!(
        matches!(status.code(), Code::ResourceExhausted | Code::OutOfRange),
        "{status:?}"
    );
    assert!(common::stored_ids(&server.db).is_empty());

    let mut other = server.client("node-b").await;
    let mut ingest_b = Ingest::open(&mut other).await.expect("opens");
    let ack = ingest_b
        .send(batch("node-b", 1, vec![finding("R", "sh")]))
        .await
        .expect("acked");
    assert_eq!(ack.map(|a| a.sequence), Some(1));
    drop((ingest, ingest_b));
    server.stop().await;
}

#[tokio::test]
async fn a_batch_over_the_limit_is_refused() {
    let server = Running::start(|c| c.max_batch = 10).await;
    let mut client = server.client("node-a").await;
    let mut ingest = Ingest::open(&mut client).await.expect("opens");
    let findings = (0..11).map(|_| finding("R", "sh")).collect();
    let status = ingest
        .send(batch("node-a", 1, findings))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(common::stored_ids(&server.db).is_empty());
    drop(ingest);
    server.stop().await;
}

#[tokio::test]
async fn a_finding_the_store_refuses_names_its_id() {
    let server = Running::start(|_| {}).await;
    let mut client = server.client("node-a").await;
    let mut ingest = Ingest::open(&mut client).await.expect("opens");
    let mut bad = finding("R", "sh");
    bad.time_unix_nano = u64::MAX;
    let id = bad.id.clone();
    let status = ingest
        .send(batch("node-a", 1, vec![finding("R", "sh"), bad]))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains(&id), "{status:?}");
    assert!(common::stored_ids(&server.db).is_empty());
    drop(ingest);
    server.stop().await;
}

#[tokio::test]
async fn a_garbage_filter_is_an_invalid_argument() {
    let server = Running::start(|_| {}).await;
    let mut analyst = server.client("analyst").await;
    for filter in ["proc.name = = (", "no.such.family = 1", "(((("] {
        let status = analyst.query(query(filter)).await.expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{filter}: {status:?}");
        assert!(status.message().starts_with("filter:"), "{status:?}");
    }
    let status = analyst
        .stats(StatsRequest {
            filter: "and and".into(),
            ..StatsRequest::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    for filter in [")", "no.such.family = 1"] {
        let status = analyst
            .tail(TailRequest {
                filter: filter.into(),
            })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{filter}: {status:?}");
    }
    let mut q = query("");
    q.page_token = "not a token".into();
    let status = analyst.query(q).await.expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    server.stop().await;
}
