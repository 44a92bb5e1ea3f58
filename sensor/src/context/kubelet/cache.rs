//! The pod cache the event loop asks: lookups read an immutable snapshot behind an
//! `Arc` (a pointer copy under a lock that writers hold only to swap it), and one
//! task, [`PodCache::run`], refreshes it from the kubelet on a timer and when a
//! miss asks, never faster than the rate limit, backing off while the kubelet
//! fails, and keeping the last good pods until it answers again.

use std::{
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{Notify, watch};

use super::{
    KubeletClient, KubeletConfig, KubeletError,
    client::parse_pod_list,
    pods::{ContainerInfo, PodInfo},
    refs::parse_container_id,
    snapshot::Snapshot,
    stats::{Counters, KubeletStats},
};

/// A container and the pod it belongs to; cheap to clone.
#[derive(Clone, Debug)]
pub struct PodContainer {
    pod: Arc<PodInfo>,
    /// Index into `pod.containers`, set only where the container was found.
    index: usize,
}

impl PodContainer {
    pub(super) fn new(pod: Arc<PodInfo>, index: usize) -> Self {
        debug_assert!(index < pod.containers.len());
        Self { pod, index }
    }

    /// The container with id `container_id` in `pod`, if the pod lists it.
    pub fn find(pod: Arc<PodInfo>, container_id: &str) -> Option<Self> {
        let index = pod
            .containers
            .iter()
            .position(|c| c.ids.iter().any(|id| id == container_id))?;
        Some(Self::new(pod, index))
    }

    /// The pod.
    pub fn pod(&self) -> &Arc<PodInfo> {
        &self.pod
    }

    /// The container.
    pub fn container(&self) -> &ContainerInfo {
        // In bounds: `index` comes from enumerating this pod's containers.
        &self.pod.containers[self.index]
    }
}

/// The kubelet's pods on this node, kept fresh by [`PodCache::run`].
#[derive(Clone, Debug)]
pub struct PodCache {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: KubeletClient,
    refresh_interval: Duration,
    min_fetch_interval: Duration,
    max_backoff: Duration,
    keep_deleted: Duration,
    snapshot: RwLock<Arc<Snapshot>>,
    counters: Counters,
    /// A miss asked for a fetch that has not started yet.
    requested: AtomicBool,
    /// Wakes [`PodCache::run`] for a request.
    wake: Notify,
    /// One fetch at a time, so that snapshots follow each other in order.
    fetching: tokio::sync::Mutex<()>,
    /// When the last fetch started, for the rate limit.
    last_start: Mutex<Option<Instant>>,
    /// Fetches started, numbering them.
    started: AtomicU64,
    /// The last fetch that ended.
    done: watch::Sender<Done>,
}

/// A fetch that ended: its number and whether it brought pods.
#[derive(Clone, Copy, Debug, Default)]
struct Done {
    seq: u64,
    ok: bool,
}

impl PodCache {
    /// An empty cache for the kubelet of `config`; nothing is fetched until
    /// [`run`](Self::run) or [`refresh_now`](Self::refresh_now).
    pub fn new(config: &KubeletConfig) -> Result<Self, KubeletError> {
        let client = KubeletClient::new(config)?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                refresh_interval: config.refresh_interval,
                min_fetch_interval: config.min_fetch_interval,
                max_backoff: config.max_backoff,
                keep_deleted: config.keep_deleted,
                snapshot: RwLock::default(),
                counters: Counters::default(),
                requested: AtomicBool::new(false),
                wake: Notify::new(),
                fetching: tokio::sync::Mutex::new(()),
                last_start: Mutex::new(None),
                started: AtomicU64::new(0),
                done: watch::Sender::new(Done::default()),
            }),
        })
    }

    /// The container that has (or recently had) `container_id`: 64 hex digits,
    /// with or without the runtime's `containerd://` prefix.
    pub fn container(&self, container_id: &str) -> Option<PodContainer> {
        let id = parse_container_id(container_id).map_or(container_id, |parsed| parsed.id);
        self.snapshot().container(id)
    }

    /// The pod with `pod_uid`, also for a while after the kubelet stopped listing it.
    pub fn pod(&self, pod_uid: &str) -> Option<Arc<PodInfo>> {
        self.snapshot().pod(pod_uid)
    }

    /// Every pod held, those gone but kept included.
    pub fn pods(&self) -> Vec<Arc<PodInfo>> {
        self.snapshot().pods().cloned().collect()
    }

    /// Asks for a fetch soon, after a miss; returns at once. Requests are merged,
    /// and the fetch they cause starts no sooner than `min_fetch_interval` after
    /// the last one (nor during a failure's back-off).
    pub fn request_refresh(&self) {
        self.inner.counters.refresh_requested();
        if !self.inner.requested.swap(true, Ordering::AcqRel) {
            self.inner.wake.notify_one();
        }
    }

    /// Fetches now (waiting for a fetch in progress first) and returns how many
    /// pods the kubelet listed. The cache keeps its pods when this fails.
    pub async fn refresh_now(&self) -> Result<usize, KubeletError> {
        let _one_at_a_time = self.inner.fetching.lock().await;
        // Requests made before this fetch starts are answered by it.
        self.inner.requested.store(false, Ordering::Release);
        let seq = self.inner.started.fetch_add(1, Ordering::AcqRel) + 1;
        *self
            .inner
            .last_start
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        self.inner.counters.fetch_started();
        let result = self.fetch_next().await;
        let url = self.inner.client.url();
        let ok = match result {
            Ok(next) => {
                let listed = next.view.listed();
                self.inner.counters.succeeded(
                    url,
                    next.view.pod_count(),
                    next.view.container_count(),
                    next.skipped,
                );
                tracing::debug!(url, pods = listed, "fetched pods from the kubelet");
                *self
                    .inner
                    .snapshot
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Arc::new(next.view);
                Ok(listed)
            }
            Err(err) => {
                self.inner.counters.failed(url, &err, Instant::now());
                Err(err)
            }
        };
        self.inner.done.send_replace(Done {
            seq,
            ok: ok.is_ok(),
        });
        ok
    }

    /// Waits until a fetch that starts after this call has ended, or `deadline`
    /// passes; `true` when that fetch brought pods. The fetch to wait for is fixed
    /// when this is called, not when the future is first polled, so that
    /// `let fresh = cache.wait_fresh(deadline); cache.request_refresh(); fresh.await`
    /// cannot miss the fetch it asked for (which [`refresh_and_wait`](Self::refresh_and_wait)
    /// does). It does not ask for a fetch by itself.
    pub fn wait_fresh(&self, deadline: Instant) -> impl Future<Output = bool> + Send + 'static {
        let target = self.inner.started.load(Ordering::Acquire) + 1;
        let mut done = self.inner.done.subscribe();
        async move {
            let ended = done.wait_for(|done| done.seq >= target);
            match tokio::time::timeout_at(deadline.into(), ended).await {
                Ok(Ok(done)) => done.ok,
                _ => false,
            }
        }
    }

    /// Asks for a fetch and waits until one that started after this call ended,
    /// or `deadline` passes; `true` when it brought pods. For a miss on a
    /// brand-new container, whose pod the kubelet may list by the next fetch.
    pub async fn refresh_and_wait(&self, deadline: Instant) -> bool {
        let fresh = self.wait_fresh(deadline);
        self.request_refresh();
        fresh.await
    }

    /// The counters, for metrics.
    pub fn stats(&self) -> KubeletStats {
        self.inner.counters.snapshot()
    }

    /// Keeps the cache fresh: fetches at once, then every `refresh_interval` and
    /// when asked, rate-limited; after `n` failures in a row waits
    /// `min_fetch_interval` × 2^n (up to `max_backoff`) before the next try.
    /// Runs until its task is dropped.
    pub async fn run(self) {
        loop {
            // Failures are counted and logged in `refresh_now`.
            let _ = self.refresh_now().await;
            let failures = self.inner.counters.consecutive_failures();
            if failures > 0 {
                let wait = backoff(
                    self.inner.min_fetch_interval,
                    self.inner.max_backoff,
                    failures,
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            let last = self.last_start().unwrap_or_else(Instant::now);
            let periodic = last + self.inner.refresh_interval;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(periodic.into()) => break,
                    () = self.inner.wake.notified() => {
                        // A request the last fetch already answered needs no other.
                        if !self.inner.requested.load(Ordering::Acquire) {
                            continue;
                        }
                        let earliest = last + self.inner.min_fetch_interval;
                        tokio::time::sleep_until(earliest.min(periodic).into()).await;
                        break;
                    }
                }
            }
        }
    }

    fn last_start(&self) -> Option<Instant> {
        *self
            .inner
            .last_start
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.inner
            .snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fetches and builds the next snapshot; the parsing and indexing run on the
    /// blocking pool, off the event loop's runtime thread.
    async fn fetch_next(&self) -> Result<Next, KubeletError> {
        let body = self.inner.client.fetch_body().await?;
        let previous = self.snapshot();
        let keep = self.inner.keep_deleted;
        tokio::task::spawn_blocking(move || {
            let pods = parse_pod_list(&body)?;
            let total = pods.len();
            let infos: Vec<PodInfo> = pods.into_iter().filter_map(PodInfo::from_pod).collect();
            let skipped = total - infos.len();
            Ok(Next {
                view: previous.next(infos, Instant::now(), keep),
                skipped,
            })
        })
        .await
        .map_err(|source| KubeletError::Worker { source })?
    }
}

/// A snapshot built from a fetch, and the pods left out of it for lacking a UID.
struct Next {
    view: Snapshot,
    skipped: usize,
}

/// The wait after `failures` failures in a row: `base` × 2^failures, at most `max`.
fn backoff(base: Duration, max: Duration, failures: u64) -> Duration {
    let factor = 1u32 << failures.min(20);
    base.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(30);
        let waits: Vec<_> = (1..=7).map(|n| backoff(base, max, n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff(base, max, u64::MAX), max);
        assert_eq!(
            backoff(Duration::MAX, Duration::from_secs(5), 3),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn lookups_on_an_empty_cache_miss_without_blocking() {
        let cache = PodCache::new(&KubeletConfig {
            url: Some("http://127.0.0.1:1".into()),
            ..KubeletConfig::default()
        })
        .unwrap();
        assert!(cache.container(&"a".repeat(64)).is_none());
        assert!(cache.container("containerd://junk").is_none());
        assert!(cache.pod("uid").is_none());
        cache.request_refresh();
        cache.request_refresh();
        assert_eq!(cache.stats().refresh_requests, 2);
        assert!(!cache.stats().last_fetch_ok);
    }
}
