//! A kubelet test server: `GET /pods` over HTTPS, with a CA and serving certificate
//! made for the test, bearer-token checks like the kubelet's (401 without a token,
//! 403 with a wrong one), and pods in the kubelet's JSON shape, built with
//! k8s-openapi's types. Tests point the real client at it, configured as in
//! production (URL, token file, CA file), set the pods it lists (the fixture, or
//! [`TestPod`]s whose container ids match real containers), make it answer garbage,
//! and stop and restart it on the same port to play a kubelet that goes away.
//!
//! It runs on its own thread with its own tokio runtime, so that sync and async
//! tests alike can use it, and it stops when dropped.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    task::{Context, Poll},
    thread,
    time::Duration,
};

use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{
    Request, Response, StatusCode,
    body::{Body, Bytes, Frame, Incoming},
    header::{AUTHORIZATION, CONTENT_TYPE},
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use k8s_openapi::{
    api::core::v1::{
        Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
        ContainerStatus, EphemeralContainer, Pod, PodSpec, PodStatus, SecurityContext,
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time},
    jiff::Timestamp,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::{
    ServerConfig,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
};
use sensor::context::kubelet::KubeletConfig;
use tokio::{
    net::{TcpSocket, TcpStream},
    sync::oneshot,
    task::JoinSet,
};
use tokio_rustls::TlsAcceptor;

/// The fixture: a node's `/pods` as the kubelet writes it.
pub const FIXTURE: &str = include_str!("../fixtures/kubelet-pods.json");
/// The node of the fixture and of [`TestPod`]s.
pub const NODE_NAME: &str = "node-1";

/// What the server answers to `GET /pods` (after the token check).
#[derive(Clone, Debug)]
pub enum Answer {
    /// The pods set, as a `PodList`.
    Pods,
    /// These bytes, as `application/json`.
    Raw(Bytes),
    /// An HTML error page with status 200, as a confused proxy would.
    NotJson,
    /// Valid JSON that is not a pod list: an API `Status` object.
    WrongShape,
    /// A body of `bytes` spaces; chunked (no Content-Length) or declared.
    Huge {
        /// The body's size.
        bytes: usize,
        /// Whether the length is left out, so the client learns it only by reading.
        chunked: bool,
    },
    /// This HTTP status with a short text body.
    Status(u16),
    /// Nothing: the request is read and never answered.
    Hang,
}

/// A kubelet test server on `127.0.0.1`.
pub struct KubeletServer {
    state: Arc<State>,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    dir: crate::TmpDir,
    ca_file: PathBuf,
    token_file: PathBuf,
    runtime: tokio::runtime::Handle,
    serving: Mutex<Option<Serving>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

/// What the handlers share with the test.
struct State {
    token: String,
    /// Whether tokens are checked: not on the plain-HTTP read-only port.
    check_token: bool,
    pods: Mutex<Vec<Pod>>,
    answer: Mutex<Answer>,
    requests: AtomicU64,
}

/// A running accept loop: how to stop it and learn that it stopped.
struct Serving {
    stop: oneshot::Sender<()>,
    stopped: mpsc::Receiver<()>,
}

impl KubeletServer {
    /// Starts an HTTPS server that checks the token, listing no pods.
    pub fn start() -> Self {
        Self::start_with(true)
    }

    /// Starts a plain-HTTP server that checks no token, like the kubelet's
    /// read-only port.
    pub fn start_plain_http() -> Self {
        Self::start_with(false)
    }

    fn start_with(https: bool) -> Self {
        let dir = crate::tmp_dir("kubelet");
        let (ca_pem, acceptor) = certificates();
        let ca_file = dir.join("ca.crt");
        let token_file = dir.join("token");
        let token = format!("test-token-{}", crate::nonce("kubelet"));
        std::fs::write(&ca_file, ca_pem).expect("writing the CA file");
        std::fs::write(&token_file, format!("{token}\n")).expect("writing the token file");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the kubelet test server");
        let handle = runtime.handle().clone();
        let (shutdown, until_shutdown) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("kubelet-test".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = until_shutdown.await;
                });
            })
            .expect("a thread for the kubelet test server");
        let mut server = Self {
            state: Arc::new(State {
                token,
                check_token: https,
                pods: Mutex::new(Vec::new()),
                answer: Mutex::new(Answer::Pods),
                requests: AtomicU64::new(0),
            }),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: https.then_some(acceptor),
            dir,
            ca_file,
            token_file,
            runtime: handle,
            serving: Mutex::new(None),
            shutdown: Some(shutdown),
            thread: Some(thread),
        };
        server.addr = server.listen(server.addr);
        server
    }

    /// `https://127.0.0.1:<port>` (or `http://` for the plain server).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The same server by the name `localhost`.
    pub fn localhost_url(&self) -> String {
        self.url().replace("127.0.0.1", "localhost")
    }

    /// The PEM file of the CA that signed the server's certificate.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The file holding the token the server accepts.
    pub fn token_file(&self) -> &Path {
        &self.token_file
    }

    /// The directory of the server's files, for a test's own files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The client settings of production, pointed at this server.
    pub fn config(&self) -> KubeletConfig {
        KubeletConfig {
            url: Some(self.url()),
            node_name: NODE_NAME.into(),
            token_file: Some(self.token_file.clone()),
            ca_file: Some(self.ca_file.clone()),
            ..KubeletConfig::default()
        }
    }

    /// Lists exactly `pods` from now on.
    pub fn set_pods(&self, pods: impl IntoIterator<Item = impl Into<Pod>>) {
        *lock(&self.state.pods) = pods.into_iter().map(Into::into).collect();
    }

    /// Lists `pod` too, in place of a pod with the same UID.
    pub fn add_pod(&self, pod: impl Into<Pod>) {
        let pod = pod.into();
        let mut pods = lock(&self.state.pods);
        pods.retain(|p| p.metadata.uid != pod.metadata.uid);
        pods.push(pod);
    }

    /// Stops listing the pod with `uid`; whether it was listed.
    pub fn remove_pod(&self, uid: &str) -> bool {
        let mut pods = lock(&self.state.pods);
        let before = pods.len();
        pods.retain(|p| p.metadata.uid.as_deref() != Some(uid));
        pods.len() != before
    }

    /// What `GET /pods` answers from now on.
    pub fn answer(&self, answer: Answer) {
        *lock(&self.state.answer) = answer;
    }

    /// Requests received, refused ones included.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Closes the port and every open connection, as a kubelet that went away.
    pub fn stop(&self) {
        let Some(serving) = lock(&self.serving).take() else {
            return;
        };
        let _ = serving.stop.send(());
        serving
            .stopped
            .recv_timeout(Duration::from_secs(10))
            .expect("the kubelet test server stops");
    }

    /// Listens again on the same port after [`stop`](Self::stop).
    pub fn restart(&self) {
        if lock(&self.serving).is_none() {
            self.listen(self.addr);
        }
    }

    /// Binds `addr` (address reuse on, so the same port works after a stop) and
    /// starts accepting on the server's runtime.
    fn listen(&self, addr: SocketAddr) -> SocketAddr {
        let _runtime = self.runtime.enter();
        let socket = TcpSocket::new_v4().expect("a socket");
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(addr)
            .unwrap_or_else(|err| panic!("binding {addr}: {err}"));
        let listener = socket.listen(128).expect("listening");
        let local = listener.local_addr().expect("the local address");
        let (stop, until_stop) = oneshot::channel();
        let (stopped_tx, stopped) = mpsc::channel();
        self.runtime.spawn(serve(
            listener,
            self.state.clone(),
            self.tls.clone(),
            until_stop,
            stopped_tx,
        ));
        *lock(&self.serving) = Some(Serving { stop, stopped });
        local
    }
}

impl Drop for KubeletServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes the PEM of a CA that signed nothing this server uses.
pub fn write_unrelated_ca(path: &Path) {
    let (pem, _) = certificates();
    std::fs::write(path, pem).expect("writing a CA file");
}

/// The fixture's pods, read through k8s-openapi's types.
pub fn fixture_pods() -> Vec<Pod> {
    let list: k8s_openapi::List<Pod> =
        serde_json::from_str(FIXTURE).expect("the fixture is a PodList");
    list.items
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A CA and a serving certificate for `127.0.0.1` and `localhost` signed by it;
/// the CA's PEM and an acceptor presenting the serving certificate.
fn certificates() -> (String, TlsAcceptor) {
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "kubelet-test-ca");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, ca_key).expect("a CA certificate");
    let key = KeyPair::generate().expect("a serving key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("serving parameters");
    // The kubelet's own serving certificates are named `<node>@<timestamp>`.
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{NODE_NAME}@1714641164"));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &ca).expect("a serving certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .expect("the serving certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    (ca.pem(), TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until told to stop, then closes the port and every
/// connection before saying it stopped.
async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    tls: Option<TlsAcceptor>,
    mut stop: oneshot::Receiver<()>,
    stopped: mpsc::Sender<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    connections.spawn(connection(tcp, state.clone(), tls.clone()));
                }
                // Out of descriptors, say: try again soon rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
    let _ = stopped.send(());
}

async fn connection(tcp: TcpStream, state: Arc<State>, tls: Option<TlsAcceptor>) {
    let service = service_fn(move |request| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(respond(&state, request).await) }
    });
    let http = hyper::server::conn::http1::Builder::new();
    match tls {
        None => {
            let _ = http.serve_connection(TokioIo::new(tcp), service).await;
        }
        Some(acceptor) => {
            // A client that refuses the certificate ends here.
            if let Ok(stream) = acceptor.accept(tcp).await {
                let _ = http.serve_connection(TokioIo::new(stream), service).await;
            }
        }
    }
}

type ResponseBody = BoxBody<Bytes, Infallible>;

async fn respond(state: &State, request: Request<Incoming>) -> Response<ResponseBody> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    if state.check_token {
        let given = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        match given.and_then(|value| value.strip_prefix("Bearer ")) {
            None => return text(StatusCode::UNAUTHORIZED, "Unauthorized"),
            Some(token) if token != state.token => {
                return text(
                    StatusCode::FORBIDDEN,
                    "Forbidden (user=system:anonymous, verb=get, resource=nodes, subresource=proxy)",
                );
            }
            Some(_) => {}
        }
    }
    if request.method() != hyper::Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    if request.uri().path() != "/pods" {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    }
    let answer = lock(&state.answer).clone();
    match answer {
        Answer::Pods => json(pod_list_json(&lock(&state.pods))),
        Answer::Raw(bytes) => json(bytes),
        Answer::NotJson => {
            let mut response = text(StatusCode::OK, "<html><body>502 Bad Gateway</body></html>");
            response
                .headers_mut()
                .insert(CONTENT_TYPE, "text/html".parse().expect("a header value"));
            response
        }
        Answer::WrongShape => json(Bytes::from_static(
            br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden","reason":"Forbidden","code":403}"#,
        )),
        Answer::Huge { bytes, chunked } => {
            let body = if chunked {
                Filler { left: bytes }.boxed()
            } else {
                Full::new(Bytes::from(vec![b' '; bytes])).boxed()
            };
            Response::new(body)
        }
        Answer::Status(code) => text(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "internal error",
        ),
        Answer::Hang => std::future::pending().await,
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        "text/plain; charset=utf-8".parse().expect("a header value"),
    );
    response
}

fn json(body: impl Into<Bytes>) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    response.headers_mut().insert(
        CONTENT_TYPE,
        "application/json".parse().expect("a header value"),
    );
    response
}

/// The pods as the kubelet writes its `PodList`: items without their own `kind`
/// and `apiVersion` (Go leaves a list item's TypeMeta empty), `null` for none.
fn pod_list_json(pods: &[Pod]) -> Bytes {
    let items: Vec<serde_json::Value> = pods
        .iter()
        .map(|pod| {
            let mut value = serde_json::to_value(pod).expect("a pod serializes");
            if let Some(object) = value.as_object_mut() {
                object.remove("kind");
                object.remove("apiVersion");
            }
            value
        })
        .collect();
    let items = if items.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::Value::Array(items)
    };
    let list = serde_json::json!({
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {},
        "items": items,
    });
    Bytes::from(serde_json::to_vec(&list).expect("a pod list serializes"))
}

/// A body of spaces of unknown length, sent in chunks.
struct Filler {
    left: usize,
}

impl Body for Filler {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let chunk = self.left.min(64 << 10);
        self.left -= chunk;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; chunk])))))
    }
}

/// Which list of the spec a [`TestPod`] container went to last.
#[derive(Clone, Copy, Debug)]
enum Last {
    Regular,
    Init,
    Ephemeral,
}

/// A pod in the shape the kubelet lists, built step by step.
///
/// ```ignore
/// TestPod::new("shop", "web-5d4f8b7c9-x2x7k", "uid-1")
///     .owner_replicaset("web-5d4f8b7c9", "5d4f8b7c9")
///     .label("app", "web")
///     .container("app", "nginx:1.25", "containerd://<64 hex>")
///     .privileged(true)
/// ```
#[derive(Clone, Debug)]
pub struct TestPod {
    pod: Pod,
    /// The list and index of the last container added, for the modifiers.
    last: Option<(Last, usize)>,
}

impl TestPod {
    /// A running pod on [`NODE_NAME`], created now, with no owner and no container.
    pub fn new(namespace: &str, name: &str, uid: &str) -> Self {
        let now = now();
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(namespace.into()),
                uid: Some(uid.into()),
                resource_version: Some("1".into()),
                creation_timestamp: Some(now.clone()),
                labels: Some(BTreeMap::new()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some(NODE_NAME.into()),
                service_account_name: Some("default".into()),
                service_account: Some("default".into()),
                restart_policy: Some("Always".into()),
                dns_policy: Some("ClusterFirst".into()),
                scheduler_name: Some("default-scheduler".into()),
                termination_grace_period_seconds: Some(30),
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                host_ip: Some("127.0.0.1".into()),
                start_time: Some(now),
                ..PodStatus::default()
            }),
        };
        Self { pod, last: None }
    }

    /// Its controller: any owner kind.
    pub fn owner(mut self, api_version: &str, kind: &str, name: &str) -> Self {
        let owner = OwnerReference {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            uid: format!("{kind}-{name}-uid").to_lowercase(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        self.pod.metadata.owner_references = Some(vec![owner]);
        self
    }

    /// Owned by ReplicaSet `name`, with the `pod-template-hash` label a
    /// Deployment's ReplicaSet gives its pods.
    pub fn owner_replicaset(self, name: &str, pod_template_hash: &str) -> Self {
        self.owner("apps/v1", "ReplicaSet", name)
            .label("pod-template-hash", pod_template_hash)
    }

    /// Owned by StatefulSet `name`.
    pub fn owner_statefulset(self, name: &str) -> Self {
        self.owner("apps/v1", "StatefulSet", name)
    }

    /// Owned by DaemonSet `name`.
    pub fn owner_daemonset(self, name: &str) -> Self {
        self.owner("apps/v1", "DaemonSet", name)
    }

    /// Owned by Job `name` (a CronJob's Job is named `<cronjob>-<minutes>`).
    pub fn owner_job(self, name: &str) -> Self {
        self.owner("batch/v1", "Job", name)
    }

    /// A static pod: read from a manifest, its mirror owned by the node.
    pub fn static_pod(self) -> Self {
        self.owner("v1", "Node", NODE_NAME)
            .annotation("kubernetes.io/config.source", "file")
            .annotation("kubernetes.io/config.mirror", "0123456789abcdef")
    }

    /// A label.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.pod
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// An annotation.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.pod
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    /// The service account it runs as.
    pub fn service_account(mut self, name: &str) -> Self {
        let spec = self.spec();
        spec.service_account_name = Some(name.into());
        spec.service_account = Some(name.into());
        self
    }

    /// A running container; `container_id` as the kubelet writes it
    /// (`containerd://<64 hex>`), or empty for one not started yet.
    pub fn container(mut self, name: &str, image: &str, container_id: &str) -> Self {
        self.spec().containers.push(spec_container(name, image));
        let statuses = self
            .status()
            .container_statuses
            .get_or_insert_with(Vec::new);
        statuses.push(running(name, image, container_id));
        self.last = Some((Last::Regular, statuses.len() - 1));
        self
    }

    /// An init container that ran to completion.
    pub fn init_container(mut self, name: &str, image: &str, container_id: &str) -> Self {
        self.spec()
            .init_containers
            .get_or_insert_with(Vec::new)
            .push(spec_container(name, image));
        let mut status = running(name, image, container_id);
        status.ready = false;
        status.started = Some(false);
        status.state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                container_id: status.container_id.clone(),
                exit_code: 0,
                reason: Some("Completed".into()),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        });
        let statuses = self
            .status()
            .init_container_statuses
            .get_or_insert_with(Vec::new);
        statuses.push(status);
        self.last = Some((Last::Init, statuses.len() - 1));
        self
    }

    /// An ephemeral (debug) container.
    pub fn ephemeral_container(mut self, name: &str, image: &str, container_id: &str) -> Self {
        self.spec()
            .ephemeral_containers
            .get_or_insert_with(Vec::new)
            .push(EphemeralContainer {
                name: name.into(),
                image: Some(image.into()),
                ..EphemeralContainer::default()
            });
        let statuses = self
            .status()
            .ephemeral_container_statuses
            .get_or_insert_with(Vec::new);
        statuses.push(running(name, image, container_id));
        self.last = Some((Last::Ephemeral, statuses.len() - 1));
        self
    }

    /// Whether the last container added asks to be privileged.
    pub fn privileged(mut self, privileged: bool) -> Self {
        let context = SecurityContext {
            privileged: Some(privileged),
            ..SecurityContext::default()
        };
        let Some((kind, index)) = self.last else {
            panic!("privileged() needs a container first");
        };
        let spec = self.spec();
        match kind {
            Last::Regular => spec.containers[index].security_context = Some(context),
            Last::Init => {
                spec.init_containers.as_mut().expect("init containers")[index].security_context =
                    Some(context)
            }
            Last::Ephemeral => {
                spec.ephemeral_containers
                    .as_mut()
                    .expect("ephemeral containers")[index]
                    .security_context = Some(context)
            }
        }
        self
    }

    /// The last container added was restarted: its previous instance had
    /// `previous_id` (as the kubelet writes it).
    pub fn restarted(mut self, previous_id: &str) -> Self {
        let status = self.last_status();
        status.restart_count += 1;
        status.last_state = Some(ContainerState {
            terminated: Some(ContainerStateTerminated {
                container_id: Some(previous_id.into()),
                exit_code: 137,
                reason: Some("Error".into()),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        });
        self
    }

    /// The runtime's image id of the last container added
    /// (`docker.io/library/nginx@sha256:...`).
    pub fn image_id(mut self, image_id: &str) -> Self {
        self.last_status().image_id = image_id.into();
        self
    }

    /// The pod.
    pub fn build(self) -> Pod {
        self.pod
    }

    fn spec(&mut self) -> &mut PodSpec {
        self.pod.spec.get_or_insert_with(PodSpec::default)
    }

    fn status(&mut self) -> &mut PodStatus {
        self.pod.status.get_or_insert_with(PodStatus::default)
    }

    fn last_status(&mut self) -> &mut ContainerStatus {
        let Some((kind, index)) = self.last else {
            panic!("this needs a container first");
        };
        let status = self.status();
        let list = match kind {
            Last::Regular => &mut status.container_statuses,
            Last::Init => &mut status.init_container_statuses,
            Last::Ephemeral => &mut status.ephemeral_container_statuses,
        };
        &mut list.as_mut().expect("container statuses")[index]
    }
}

impl From<TestPod> for Pod {
    fn from(pod: TestPod) -> Self {
        pod.build()
    }
}

/// Now, to the second as the API server writes times (jiff's clock needs its
/// `std` feature, which k8s-openapi leaves off).
fn now() -> Time {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Time(Timestamp::from_second(i64::try_from(secs).unwrap_or(0)).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn spec_container(name: &str, image: &str) -> Container {
    Container {
        name: name.into(),
        image: Some(image.into()),
        image_pull_policy: Some("IfNotPresent".into()),
        termination_message_path: Some("/dev/termination-log".into()),
        termination_message_policy: Some("File".into()),
        ..Container::default()
    }
}

fn running(name: &str, image: &str, container_id: &str) -> ContainerStatus {
    ContainerStatus {
        name: name.into(),
        image: image.into(),
        container_id: Some(container_id.to_owned()).filter(|id| !id.is_empty()),
        ready: true,
        started: Some(true),
        state: Some(ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(now()),
            }),
            ..ContainerState::default()
        }),
        last_state: Some(ContainerState::default()),
        ..ContainerStatus::default()
    }
}
