//! The HTTP client for the kubelet's `GET /pods`: one HTTP/1.1 connection per
//! fetch (a fetch every few seconds does not need a pool), over TLS unless the URL
//! is plain `http://`, with the bearer token re-read from its file every time,
//! bounded in time (connect, whole request) and in size (body), and parsed into
//! the typed `Pod` of k8s-openapi.

use std::{path::PathBuf, time::Duration};

use http_body_util::{BodyExt, Empty};
use hyper::{
    Request, StatusCode, Uri,
    body::{Bytes, Incoming},
    header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, HOST, HeaderValue, USER_AGENT},
};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use rustls::pki_types::ServerName;
use serde::Deserialize;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
    time::{Instant, timeout, timeout_at},
};
use tokio_rustls::TlsConnector;

use super::{KubeletConfig, KubeletError, error::shorten, tls};

/// How much of an error answer's body is kept for the error message.
const ERROR_BODY_BYTES: usize = 1024;
/// The most memory reserved up front from a declared Content-Length.
const PREALLOCATE_MAX: u64 = 4 << 20;

/// A client for one kubelet's `/pods`.
pub struct KubeletClient {
    /// The full `/pods` URL, for logs.
    url: String,
    /// Host for TCP and for the certificate check, without IPv6 brackets.
    host: String,
    port: u16,
    /// The `Host` header: the URL's authority.
    authority: String,
    /// Path and query of the request.
    path: String,
    /// TLS settings; `None` for plain HTTP.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// The token file; `None` for plain HTTP, which never carries the token.
    token_file: Option<PathBuf>,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_body: u64,
}

impl KubeletClient {
    /// A client for `config`; reads the CA file now, and the token at each fetch.
    pub fn new(config: &KubeletConfig) -> Result<Self, KubeletError> {
        config.validate()?;
        let url = config.base_url()?;
        let bad = |reason: &str| KubeletError::Url {
            url: url.clone(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|err: hyper::http::uri::InvalidUri| bad(&err.to_string()))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("the scheme must be https or http")),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| bad("no host"))?
            .as_str()
            .to_owned();
        // Credentials in the URL would end up in logs; the token file is the way.
        if authority.contains('@') {
            return Err(bad(
                "credentials in the URL are not accepted; use token_file",
            ));
        }
        let host = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let mut path = uri.path().trim_end_matches('/').to_owned();
        if !path.ends_with("/pods") {
            path.push_str("/pods");
        }
        if let Some(query) = uri.query() {
            path = format!("{path}?{query}");
        }
        let tls = if https {
            if config.insecure_skip_verify {
                tracing::warn!(
                    url,
                    "insecure_skip_verify is on: the kubelet's certificate is not checked, \
                     and whoever answers on its address gets the service account token"
                );
            }
            let name = tls::server_name(&host).map_err(|reason| bad(&reason))?;
            Some((
                tls::connector(&config.ca_path(), config.insecure_skip_verify)?,
                name,
            ))
        } else {
            None
        };
        let scheme = if https { "https" } else { "http" };
        Ok(Self {
            url: format!("{scheme}://{authority}{path}"),
            host,
            port,
            authority,
            path,
            token_file: https.then(|| config.token_path()),
            tls,
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
            max_body: config.max_body_bytes,
        })
    }

    /// The URL fetched, such as `https://node-1:10250/pods`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Fetches and parses the pods; parsing runs on the blocking pool so that a
    /// large answer does not stall the runtime's other tasks.
    pub async fn fetch(&self) -> Result<Vec<Pod>, KubeletError> {
        let body = self.fetch_body().await?;
        tokio::task::spawn_blocking(move || parse_pod_list(&body))
            .await
            .map_err(|source| KubeletError::Worker { source })?
    }

    /// Fetches the raw answer of `/pods`, within the request timeout and body limit.
    pub async fn fetch_body(&self) -> Result<Vec<u8>, KubeletError> {
        timeout(self.request_timeout, self.exchange())
            .await
            .map_err(|_| KubeletError::Timeout {
                timeout: self.request_timeout,
            })?
    }

    async fn exchange(&self) -> Result<Vec<u8>, KubeletError> {
        let authorization = self.authorization()?;
        let deadline = Instant::now() + self.connect_timeout;
        let addr = format!("{}:{}", self.host, self.port);
        let connect_timeout = |_| KubeletError::ConnectTimeout {
            addr: addr.clone(),
            timeout: self.connect_timeout,
        };
        let tcp = timeout_at(
            deadline,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(connect_timeout)?
        .map_err(|source| KubeletError::Connect {
            addr: addr.clone(),
            source,
        })?;
        // One small request: do not wait to fill a segment.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.request(tcp, authorization).await,
            Some((connector, name)) => {
                let stream = timeout_at(deadline, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(connect_timeout)?
                    .map_err(|source| KubeletError::Tls {
                        host: self.host.clone(),
                        source,
                    })?;
                self.request(stream, authorization).await
            }
        }
    }

    /// `Bearer <token>` from the token file, read now: projected service account
    /// tokens are rotated by the kubelet every hour or so.
    fn authorization(&self) -> Result<Option<HeaderValue>, KubeletError> {
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        // A small file on tmpfs: reading it inline costs less than a thread hop.
        let token = std::fs::read_to_string(path).map_err(|source| KubeletError::TokenRead {
            path: path.clone(),
            source,
        })?;
        let invalid = || KubeletError::TokenInvalid { path: path.clone() };
        let token = token.trim();
        if token.is_empty() {
            return Err(invalid());
        }
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| invalid())?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    async fn request<IO>(
        &self,
        io: IO,
        authorization: Option<HeaderValue>,
    ) -> Result<Vec<u8>, KubeletError>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|source| KubeletError::Http { source })?;
        // The connection is driven by its own task, ended with the request even
        // when a timeout drops the request midway.
        let driver = AbortOnDrop(tokio::spawn(async move {
            let _ = connection.await;
        }));
        let mut request = Request::get(self.path.as_str())
            .header(HOST, self.authority.as_str())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, concat!("sensor/", env!("CARGO_PKG_VERSION")));
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .map_err(|err| KubeletError::Url {
                url: self.url.clone(),
                reason: err.to_string(),
            })?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|source| KubeletError::Http { source })?;
        let status = response.status();
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut body = response.into_body();
        if !status.is_success() {
            return Err(status_error(status, &mut body).await);
        }
        if declared.is_some_and(|len| len > self.max_body) {
            return Err(KubeletError::BodyTooLarge {
                limit: self.max_body,
            });
        }
        let body = read_body(&mut body, self.max_body, declared).await;
        drop(driver);
        body
    }
}

impl std::fmt::Debug for KubeletClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The TLS connector has no `Debug`; whether there is one is what matters.
        f.debug_struct("KubeletClient")
            .field("url", &self.url)
            .field("tls", &self.tls.is_some())
            .field("token_file", &self.token_file)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The error for a non-2xx answer, with the start of its body: the kubelet's 403
/// names the permission the service account lacks.
async fn status_error(status: StatusCode, body: &mut Incoming) -> KubeletError {
    let mut text = Vec::new();
    while text.len() < ERROR_BODY_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    text.extend_from_slice(data);
                }
            }
            _ => break,
        }
    }
    text.truncate(ERROR_BODY_BYTES);
    let body = shorten(String::from_utf8_lossy(&text).trim(), 512);
    let status = status.as_u16();
    match status {
        401 | 403 => KubeletError::Auth { status, body },
        _ => KubeletError::Status { status, body },
    }
}

/// The whole body, refused as soon as it passes `max` bytes (a chunked answer
/// declares no length up front).
async fn read_body(
    body: &mut Incoming,
    max: u64,
    declared: Option<u64>,
) -> Result<Vec<u8>, KubeletError> {
    let capacity = declared.unwrap_or(0).min(PREALLOCATE_MAX);
    let mut bytes = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|source| KubeletError::Body { source })?;
        if let Some(data) = frame.data_ref() {
            if (bytes.len() + data.len()) as u64 > max {
                return Err(KubeletError::BodyTooLarge { limit: max });
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(bytes)
}

/// The envelope of the kubelet's answer. Not k8s-openapi's `List<Pod>`: that one
/// takes `{}` (or any object without `kind`) as an empty list, and garbage must not
/// look like a node whose pods are all gone.
#[derive(Deserialize)]
struct PodListBody {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    /// The kubelet writes `null` for a node without pods (a nil Go slice).
    #[serde(default)]
    items: Option<Vec<Pod>>,
}

/// Parses the kubelet's answer: a v1 `PodList` and nothing else.
pub fn parse_pod_list(body: &[u8]) -> Result<Vec<Pod>, KubeletError> {
    let list: PodListBody =
        serde_json::from_slice(body).map_err(|source| KubeletError::Parse { source })?;
    if list.kind != "PodList" || list.api_version != "v1" {
        return Err(KubeletError::WrongKind {
            kind: shorten(&list.kind, 64),
            api_version: shorten(&list.api_version, 64),
        });
    }
    Ok(list.items.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> KubeletConfig {
        KubeletConfig {
            url: Some(url.into()),
            insecure_skip_verify: true,
            ..KubeletConfig::default()
        }
    }

    #[test]
    fn urls_get_pods_appended_once() {
        for (url, want) in [
            ("https://node-1:10250", "https://node-1:10250/pods"),
            ("https://node-1:10250/", "https://node-1:10250/pods"),
            ("https://node-1:10250/pods", "https://node-1:10250/pods"),
            ("http://127.0.0.1:10255", "http://127.0.0.1:10255/pods"),
            ("https://[::1]:10250", "https://[::1]:10250/pods"),
            (
                "https://proxy/api/v1/nodes/n1/proxy",
                "https://proxy/api/v1/nodes/n1/proxy/pods",
            ),
        ] {
            let client = KubeletClient::new(&config(url)).unwrap();
            assert_eq!(client.url(), want);
        }
        let client = KubeletClient::new(&config("https://[::1]:10250")).unwrap();
        assert_eq!((client.host.as_str(), client.port), ("::1", 10250));
        let client = KubeletClient::new(&config("http://node")).unwrap();
        assert_eq!(client.port, 80);
        // Plain HTTP never carries the token.
        assert!(client.token_file.is_none() && client.tls.is_none());
    }

    #[test]
    fn unusable_urls_are_refused() {
        for url in [
            "",
            "node-1:10250",
            "ftp://node-1/",
            "https://",
            "https://user:secret@node-1:10250",
            "https://no spaces",
        ] {
            let err = KubeletClient::new(&config(url)).unwrap_err();
            assert!(matches!(err, KubeletError::Url { .. }), "{url}: {err:?}");
        }
    }

    #[test]
    fn the_default_url_names_the_node() {
        let config = KubeletConfig {
            node_name: "worker-3".into(),
            insecure_skip_verify: true,
            ..KubeletConfig::default()
        };
        let client = KubeletClient::new(&config).unwrap();
        assert_eq!(client.url(), "https://worker-3:10250/pods");
    }

    #[test]
    fn only_a_v1_pod_list_parses() {
        let empty: &[&[u8]] = &[
            br#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}"#,
            br#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":null}"#,
            br#"{"kind":"PodList","apiVersion":"v1"}"#,
        ];
        for body in empty {
            assert!(parse_pod_list(body).unwrap().is_empty());
        }
        let pods = parse_pod_list(
            br#"{"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"uid":"u","name":"p"}}]}"#,
        )
        .unwrap();
        assert_eq!(pods[0].metadata.name.as_deref(), Some("p"));
        for body in [
            &b"{}"[..],
            b"[]",
            b"",
            b"<html>502 Bad Gateway</html>",
            br#"{"kind":"Status","apiVersion":"v1","status":"Failure"}"#,
            br#"{"kind":"PodList","apiVersion":"v2","items":[]}"#,
            br#"{"kind":"PodList","apiVersion":"v1","items":{}}"#,
            br#"{"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"uid":7}}]}"#,
            br#"{"kind":"PodList","apiVersion":"v1","items":[{"kind":"Service"}]}"#,
        ] {
            let err = parse_pod_list(body).unwrap_err();
            assert_eq!(
                err.reason(),
                crate::context::kubelet::FailureReason::Parse,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn hostile_kinds_are_shortened_in_the_error() {
        let body = format!(r#"{{"kind":"{}","apiVersion":"v1"}}"#, "k".repeat(100_000));
        let err = parse_pod_list(body.as_bytes()).unwrap_err();
        assert!(err.to_string().len() < 300, "{}", err.to_string().len());
    }
}
