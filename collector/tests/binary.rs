//! The real `collector` binary: killed with SIGKILL in the middle of ingest,
//! every batch it had acknowledged is in the database when it starts again;
//! stopped with SIGTERM, it commits and acknowledges what is in flight and
//! exits 0.

mod common;

use std::{
    collections::HashMap,
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use common::{Pki, batch, connect, finding};
use sensor_proto::v1::{Order, QueryRequest, collector_client::CollectorClient};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Starts the binary on a free port and reads the address it prints.
fn start(pki: &Pki, db: &Path, log: &str) -> (Child, SocketAddr) {
    let stderr = std::fs::File::create(pki.path(log)).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_collector"))
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .arg("--tls-cert")
        .arg(pki.path("server.pem"))
        .arg("--tls-key")
        .arg(pki.path("server-key.pem"))
        .arg("--client-ca")
        .arg(pki.path("ca.pem"))
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("starts the collector");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("reads stdout");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("an address");
    (child, addr)
}

/// Streams batches of 50 findings as fast as acks allow, until `stop_after`
/// acks (then `interrupt` runs) and on until the stream ends. Returns the ids
/// of every acknowledged batch.
async fn ingest_until(
    addr: SocketAddr,
    pki: &Pki,
    stop_after: usize,
    interrupt: impl FnOnce(),
) -> Vec<String> {
    let channel = connect(addr, pki.client_tls(Some("node-a")))
        .await
        .expect("connects");
    let mut client = CollectorClient::new(channel);
    let (tx, rx) = mpsc::channel(8);
    let mut acks = client
        .ingest(ReceiverStream::new(rx))
        .await
        .expect("opens")
        .into_inner();
    let sent: Arc<Mutex<HashMap<u64, Vec<String>>>> = Arc::default();
    let sender = {
        let sent = sent.clone();
        tokio::spawn(async move {
            for seq in 1.. {
                let findings: Vec<_> = (0..50).map(|_| finding("R", "sh")).collect();
                let ids = findings.iter().map(|f| f.id.clone()).collect();
                sent.lock().expect("lock").insert(seq, ids);
                if tx.send(batch("node-a", seq, findings)).await.is_err() {
                    return;
                }
            }
        })
    };
    let mut acked = Vec::new();
    let mut interrupt = Some(interrupt);
    loop {
        match tokio::time::timeout(Duration::from_secs(30), acks.message()).await {
            Ok(Ok(Some(ack))) => {
                let ids = sent
                    .lock()
                    .expect("lock")
                    .remove(&ack.sequence)
                    .expect("sent");
                acked.extend(ids);
                if acked.len() >= stop_after * 50
                    && let Some(f) = interrupt.take()
                {
                    f();
                }
            }
            Ok(Ok(None) | Err(_)) => break,
            Err(_) => panic!("no answer within 30 s"),
        }
    }
    sender.abort();
    assert!(
        interrupt.is_none(),
        "the stream ended before {stop_after} acks"
    );
    acked
}

/// Every finding id stored, through the gRPC query.
async fn queried_ids(addr: SocketAddr, pki: &Pki) -> Vec<String> {
    let channel = connect(addr, pki.client_tls(Some("analyst")))
        .await
        .expect("connects");
    let mut client = CollectorClient::new(channel);
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .query(QueryRequest {
                order: Order::OldestFirst as i32,
                page_size: 1000,
                page_token: token,
                ..QueryRequest::default()
            })
            .await
            .expect("query")
            .into_inner();
        ids.extend(page.findings.into_iter().map(|f| f.id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        token = page.next_page_token;
    }
}

fn missing(acked: &[String], stored: &[String]) -> usize {
    let stored: std::collections::HashSet<&String> = stored.iter().collect();
    acked.iter().filter(|id| !stored.contains(id)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_batch_acknowledged_before_a_sigkill_is_stored() {
    let pki = Pki::new();
    let db = pki.path("findings.db");
    let (child, addr) = start(&pki, &db, "first.log");
    let child = Arc::new(Mutex::new(child));
    let killer = child.clone();
    let acked = ingest_until(addr, &pki, 40, move || {
        killer.lock().expect("lock").kill().expect("SIGKILL");
    })
    .await;
    let _ = child.lock().expect("lock").wait();

    let (mut again, addr) = start(&pki, &db, "second.log");
    let stored = queried_ids(addr, &pki).await;
    again.kill().expect("kill");
    let _ = again.wait();
    assert!(acked.len() >= 40 * 50);
    assert_eq!(missing(&acked, &stored), 0, "acknowledged findings lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_commits_what_is_in_flight_and_exits_zero() {
    let pki = Pki::new();
    let db = pki.path("findings.db");
    let (mut child, addr) = start(&pki, &db, "collector.log");
    let pid = i32::try_from(child.id()).expect("pid");
    let acked = ingest_until(addr, &pki, 20, move || {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let r = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(r, 0, "kill: {}", std::io::Error::last_os_error());
    })
    .await;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joins")
        .expect("waits");
    let log = std::fs::read_to_string(pki.path("collector.log")).unwrap_or_default();
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status:?}; log:\n{log}"
    );
    let stored = common::stored_ids(&db);
    assert_eq!(missing(&acked, &stored), 0, "acknowledged findings lost");
}
