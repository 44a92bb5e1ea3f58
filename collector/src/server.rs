//! The collector's gRPC server: sensors stream findings in over mutual TLS
//! (ingest, acknowledged once stored), analysts query, tail and count them,
//! and the standard health service says whether it serves. [`serve`] runs it
//! on a listener until a shutdown future completes, then drains: no new
//! connections or batches, every batch already queued is committed and
//! acknowledged, and only then does it return.

mod identity;
mod ingest;
mod query;
mod retention;
mod service;
mod status;
mod tail;
mod tls;
mod writer;

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use sensor_proto::v1::collector_server::CollectorServer;
use tokio::{
    net::TcpListener,
    sync::{Semaphore, watch},
};
use tonic::transport::{Server, server::TcpIncoming};
use tracing::{info, warn};

pub use self::{identity::name_of as node_name_of_cert, tls::TlsPem};
use crate::store::Store;

/// What `serve` needs besides a store and a listener; [`Config::new`] has the
/// defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// Certificates and the client CA.
    pub tls: TlsPem,
    /// The largest message a client may send (tonic refuses larger ones).
    pub max_message_bytes: usize,
    /// The most findings one batch may hold.
    pub max_batch: usize,
    /// The most batches queued or being written, over all streams.
    pub max_in_flight: usize,
    /// How long a batch may wait for room before the stream is told
    /// RESOURCE_EXHAUSTED.
    pub saturation_wait: Duration,
    /// The most live tails at once.
    pub max_tails: usize,
    /// What retention keeps.
    pub retention: Retention,
    /// How long shutdown waits for streams to finish before giving up on them.
    pub drain_timeout: Duration,
    /// How long a client may take to finish the TLS handshake.
    pub handshake_timeout: Duration,
}

/// Retention: how much is kept and how often that is enforced.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// Findings older than this (by event time) are removed.
    pub max_age: Option<Duration>,
    /// The oldest findings beyond this many bytes are removed.
    pub max_bytes: Option<u64>,
    /// How often.
    pub every: Duration,
}

impl Config {
    /// The defaults: 4 MiB messages, 5000 findings a batch, 30 days kept.
    pub fn new(tls: TlsPem) -> Self {
        Self {
            tls,
            max_message_bytes: 4 << 20,
            max_batch: 5000,
            max_in_flight: 128,
            // Waiting is the backpressure (the stream is not read meanwhile,
            // so HTTP/2 flow control holds the client); only a writer that
            // frees no room for this long is reported as saturated. 50 nodes
            // with eight batches in flight each wait seconds here at full load.
            saturation_wait: Duration::from_secs(10),
            max_tails: 256,
            retention: Retention {
                max_age: Some(Duration::from_secs(30 * 24 * 3600)),
                max_bytes: None,
                every: Duration::from_secs(60),
            },
            drain_timeout: Duration::from_secs(20),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A TLS file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadTls {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The certificates or the key are not usable.
    #[error("TLS set-up: {0}")]
    Tls(#[source] tonic::transport::Error),
    /// The writer thread cannot start.
    #[error("cannot start the writer thread: {0}")]
    Writer(#[source] std::io::Error),
    /// The server failed.
    #[error("server: {0}")]
    Transport(#[source] tonic::transport::Error),
}

/// The limits ingest enforces.
#[derive(Clone, Copy, Debug)]
struct Limits {
    max_batch: usize,
}

/// What every RPC shares.
struct State {
    store: Arc<dyn Store>,
    writer: writer::Writer,
    limits: Limits,
    /// Turns true when shutdown starts.
    stop: watch::Receiver<bool>,
    /// Bumped after each commit that stored something.
    stored: Arc<watch::Sender<u64>>,
    tails: Arc<Semaphore>,
}

/// Completes once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves on `listener` until `shutdown` completes, then drains and returns.
pub async fn serve(
    config: Config,
    store: Arc<dyn Store>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let tls = config.tls.server_config(config.handshake_timeout);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stored = Arc::new(watch::channel(0u64).0);
    let (writer, writer_thread) = writer::Writer::start(
        store.clone(),
        config.max_in_flight,
        config.saturation_wait,
        stored.clone(),
    )
    .map_err(ServeError::Writer)?;
    let state = Arc::new(State {
        store: store.clone(),
        writer,
        limits: Limits {
            max_batch: config.max_batch,
        },
        stop: stop_rx.clone(),
        stored,
        tails: Arc::new(Semaphore::new(config.max_tails)),
    });
    let collector = CollectorServer::new(service::Service { state })
        .max_decoding_message_size(config.max_message_bytes);
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<CollectorServer<service::Service>>()
        .await;
    tokio::spawn(retention::run(store, config.retention, stop_rx.clone()));

    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut signal_rx = stop_rx.clone();
    let server = Server::builder()
        .tls_config(tls)
        .map_err(ServeError::Tls)?
        // A sensor that vanished (power cut, partition) must not keep its
        // stream, and so its place in the window, open forever.
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(health_service)
        .add_service(collector)
        .serve_with_incoming_shutdown(incoming, async move { stopped(&mut signal_rx).await });
    // Boxed rather than pinned on the stack so that it can be dropped below.
    let mut server = Box::pin(server);

    tokio::select! {
        done = &mut server => {
            // Stopped without being asked: a transport error.
            let _ = stop_tx.send(true);
            return done.map_err(ServeError::Transport);
        }
        () = shutdown => {}
    }
    info!("shutting down: no new connections or batches; committing those in flight");
    health
        .set_not_serving::<CollectorServer<service::Service>>()
        .await;
    health
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    let _ = stop_tx.send(true);
    let result = match tokio::time::timeout(config.drain_timeout, &mut server).await {
        Ok(r) => r.map_err(ServeError::Transport),
        Err(_) => {
            warn!(
                timeout = ?config.drain_timeout,
                "streams still open after the drain timeout; closing them"
            );
            Ok(())
        }
    };
    // Dropping the server drops the last writer handles (unless a stream is
    // stuck past the timeout); the thread then commits what is queued and ends.
    drop(server);
    let joined = tokio::task::spawn_blocking(move || writer_thread.join());
    if tokio::time::timeout(Duration::from_secs(5), joined)
        .await
        .is_err()
    {
        warn!("the writer did not finish in time");
    }
    info!("stopped");
    result
}
