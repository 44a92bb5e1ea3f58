//! What the collector's tests share: certificates from `collector::certs`, a
//! real server on loopback (in-process or the binary), TLS clients, findings.
#![allow(dead_code)] // each test file uses a part

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use collector::{
    certs,
    server::{self, Config, TlsPem},
    store::{SqliteStore, Store},
};
use sensor_proto::v1::{
    Finding, IngestAck, IngestBatch, Priority, QueryRequest, collector_client::CollectorClient,
};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{
    Streaming,
    transport::{Certificate, Channel, ClientTlsConfig, Identity},
};

/// The nodes and clients every test directory has certificates for.
pub const NAMES: [&str; 3] = ["node-a", "node-b", "analyst"];

/// Certificates in a temporary directory.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let names: Vec<String> = NAMES.iter().map(|s| (*s).to_owned()).collect();
        certs::write_dev_certs(dir.path(), &[], &names).expect("dev certs");
        Self { dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn tls(&self) -> TlsPem {
        TlsPem::from_files(
            &self.path("server.pem"),
            &self.path("server-key.pem"),
            &self.path("ca.pem"),
        )
        .expect("reads TLS files")
    }

    /// TLS for a client: this CA as the root, `name`'s certificate, if any.
    pub fn client_tls(&self, name: Option<&str>) -> ClientTlsConfig {
        let ca = std::fs::read(self.path("ca.pem")).expect("ca");
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name("localhost");
        if let Some(name) = name {
            let (cert, key) = certs::client_files(self.dir.path(), name);
            tls = tls.identity(Identity::from_pem(
                std::fs::read(cert).expect("cert"),
                std::fs::read(key).expect("key"),
            ));
        }
        tls
    }
}

/// A collector running in this process.
pub struct Running {
    pub pki: Pki,
    pub db: PathBuf,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), server::ServeError>>>,
}

impl Running {
    /// Starts one with the default configuration changed by `tweak`.
    pub async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_with(tweak, |db| {
            Arc::new(SqliteStore::open(db).expect("opens the store"))
        })
        .await
    }

    /// Starts one on the store `make` opens at the given path.
    pub async fn start_with(
        tweak: impl FnOnce(&mut Config),
        make: impl FnOnce(&Path) -> Arc<dyn Store>,
    ) -> Self {
        let pki = Pki::new();
        let mut config = Config::new(pki.tls());
        tweak(&mut config);
        let db = pki.path("findings.db");
        let store = make(&db);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(config, store, listener, async {
            let _ = stopped.await;
        }));
        Self {
            pki,
            db,
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn client(&self, name: &str) -> CollectorClient<Channel> {
        CollectorClient::new(
            connect(self.addr, self.pki.client_tls(Some(name)))
                .await
                .expect("connects"),
        )
    }

    /// Shuts it down and waits for `serve` to return.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("joins").expect("serve returns Ok");
        }
    }
}

/// A TLS channel to `addr`.
pub async fn connect(
    addr: SocketAddr,
    tls: ClientTlsConfig,
) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(format!("https://localhost:{}", addr.port()))
        .expect("uri")
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
}

/// An open ingest stream.
pub struct Ingest {
    pub tx: mpsc::Sender<IngestBatch>,
    pub acks: Streaming<IngestAck>,
}

impl Ingest {
    pub async fn open(client: &mut CollectorClient<Channel>) -> Result<Self, tonic::Status> {
        let (tx, rx) = mpsc::channel(64);
        let acks = client.ingest(ReceiverStream::new(rx)).await?.into_inner();
        Ok(Self { tx, acks })
    }

    /// Sends one batch and waits for what comes back.
    pub async fn send(&mut self, batch: IngestBatch) -> Result<Option<IngestAck>, tonic::Status> {
        self.tx.send(batch).await.expect("the stream is open");
        tokio::time::timeout(Duration::from_secs(10), self.acks.message())
            .await
            .expect("an answer within 10 s")
    }
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64
}

/// A finding of `rule` by process `proc`, just now.
pub fn finding(rule: &str, proc: &str) -> Finding {
    let mut fields = std::collections::BTreeMap::new();
    fields.insert(
        "proc.name".to_owned(),
        sensor_proto::v1::Value {
            kind: Some(sensor_proto::v1::value::Kind::StringValue(proc.to_owned())),
        },
    );
    Finding {
        id: uuid::Uuid::now_v7().to_string(),
        time_unix_nano: now_ns(),
        rule: rule.to_owned(),
        priority: Priority::Warning as i32,
        output: format!("{rule} by {proc}"),
        source: "syscall".to_owned(),
        node: "whatever the sensor says".to_owned(),
        count: 1,
        fields,
        ..Finding::default()
    }
}

pub fn batch(node: &str, sequence: u64, findings: Vec<Finding>) -> IngestBatch {
    IngestBatch {
        node: node.to_owned(),
        instance_id: "run-1".to_owned(),
        sequence,
        findings: findings
            .iter()
            .map(|f| prost::Message::encode_to_vec(f).into())
            .collect(),
    }
}

/// Every stored finding's id, oldest first, through the store directly.
pub fn stored_ids(db: &Path) -> Vec<String> {
    use collector::store::{Order, Query, Store as _};
    let store = SqliteStore::open(db).expect("opens");
    let mut ids = Vec::new();
    let mut q = Query {
        order: Order::OldestFirst,
        limit: 1000,
        ..Query::default()
    };
    loop {
        let page = store.query(&q).expect("query");
        ids.extend(page.findings.into_iter().map(|f| f.id));
        match page.next {
            Some(next) => q.after = Some(next),
            None => return ids,
        }
    }
}

/// A query for every finding matching `filter`.
pub fn query(filter: &str) -> QueryRequest {
    QueryRequest {
        filter: filter.to_owned(),
        page_size: 1000,
        ..QueryRequest::default()
    }
}
