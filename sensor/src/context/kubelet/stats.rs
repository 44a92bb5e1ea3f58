//! Counters of the pod cache's fetches, by outcome and failure reason (the future
//! Prometheus metrics), and the log policy for failures: one line when fetches
//! start failing or the cause changes, a reminder while they keep failing, and one
//! line on recovery, so a kubelet that is away for an hour does not write a line
//! per retry.

use std::{
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use super::KubeletError;

/// Why a fetch failed; the label of the failure counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    /// No TCP connection (refused, unreachable, name not resolved, connect timeout).
    Connect,
    /// The TLS handshake failed (untrusted or mismatched certificate).
    Tls,
    /// The whole request took longer than the request timeout.
    Timeout,
    /// The answer was not well-formed HTTP, or the connection broke.
    Protocol,
    /// An HTTP status other than 2xx, 401 and 403.
    HttpStatus,
    /// HTTP 401 or 403: the token or its permissions.
    Auth,
    /// The answer was larger than the body size limit.
    BodyTooLarge,
    /// The answer was not a v1 `PodList`.
    Parse,
    /// The token file could not be read or held no token.
    Token,
    /// A setting made the client unusable.
    Config,
}

impl FailureReason {
    /// Every reason, in counter order.
    pub const ALL: [Self; 10] = [
        Self::Connect,
        Self::Tls,
        Self::Timeout,
        Self::Protocol,
        Self::HttpStatus,
        Self::Auth,
        Self::BodyTooLarge,
        Self::Parse,
        Self::Token,
        Self::Config,
    ];

    /// The reason as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Timeout => "timeout",
            Self::Protocol => "protocol",
            Self::HttpStatus => "http_status",
            Self::Auth => "auth",
            Self::BodyTooLarge => "body_too_large",
            Self::Parse => "parse",
            Self::Token => "token",
            Self::Config => "config",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A snapshot of the pod cache's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KubeletStats {
    /// Fetches started.
    pub fetches: u64,
    /// Fetches that ended with a pod list.
    pub successes: u64,
    /// Failed fetches by reason, in [`FailureReason::ALL`] order.
    pub failures: [u64; FailureReason::ALL.len()],
    /// Refreshes asked for by misses (before the rate limit).
    pub refresh_requests: u64,
    /// Pods in the cache, those gone from the kubelet but kept included.
    pub pods_cached: u64,
    /// Container ids in the cache.
    pub containers_cached: u64,
    /// Pods of the last pod list that had no UID and were left out.
    pub pods_skipped: u64,
    /// Failures since the last success.
    pub consecutive_failures: u64,
    /// Whether the last fetch succeeded; `false` before the first one.
    pub last_fetch_ok: bool,
    /// The last failure, with its causes.
    pub last_error: Option<String>,
}

impl KubeletStats {
    /// Failed fetches with `reason`.
    pub fn failures(&self, reason: FailureReason) -> u64 {
        self.failures[reason.index()]
    }

    /// Failed fetches of every reason.
    pub fn total_failures(&self) -> u64 {
        self.failures.iter().sum()
    }
}

/// How often a reminder is logged while fetches keep failing for the same reason.
const REMINDER_EVERY: Duration = Duration::from_secs(5 * 60);

/// The live counters behind [`KubeletStats`].
#[derive(Debug, Default)]
pub(super) struct Counters {
    fetches: AtomicU64,
    successes: AtomicU64,
    failures: [AtomicU64; FailureReason::ALL.len()],
    refresh_requests: AtomicU64,
    pods_cached: AtomicU64,
    containers_cached: AtomicU64,
    pods_skipped: AtomicU64,
    state: Mutex<FailureState>,
}

/// What the failure log remembers between fetches.
#[derive(Debug, Default)]
struct FailureState {
    consecutive: u64,
    last_ok: bool,
    last_error: Option<String>,
    /// The reason and time of the last logged failure line.
    logged: Option<(FailureReason, Instant)>,
}

impl Counters {
    pub(super) fn fetch_started(&self) {
        self.fetches.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn refresh_requested(&self) {
        self.refresh_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a pod list and the cache's new size; logs the first success and
    /// each recovery, once.
    pub(super) fn succeeded(&self, url: &str, pods: usize, containers: usize, skipped: usize) {
        let first = self.successes.fetch_add(1, Ordering::Relaxed) == 0;
        self.set_sizes(pods, containers);
        self.pods_skipped.store(skipped as u64, Ordering::Relaxed);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.consecutive > 0 {
            tracing::info!(
                url,
                failures = state.consecutive,
                pods,
                "kubelet answers again"
            );
        } else if first {
            // Once, so that an operator sees the pod source work at start-up.
            tracing::info!(url, pods, "listing pods from the kubelet");
        }
        state.consecutive = 0;
        state.last_ok = true;
        state.logged = None;
    }

    /// The cache's size after an eviction or a fetch.
    pub(super) fn set_sizes(&self, pods: usize, containers: usize) {
        self.pods_cached.store(pods as u64, Ordering::Relaxed);
        self.containers_cached
            .store(containers as u64, Ordering::Relaxed);
    }

    /// Counts a failure and logs it when fetches start failing, when the reason
    /// changes, and every [`REMINDER_EVERY`] while it goes on.
    pub(super) fn failed(&self, url: &str, err: &KubeletError, now: Instant) {
        let reason = err.reason();
        self.failures[reason.index()].fetch_add(1, Ordering::Relaxed);
        let text = err.chain();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.consecutive += 1;
        state.last_ok = false;
        if log_due(state.logged, reason, now) {
            tracing::warn!(
                url,
                reason = reason.as_str(),
                failures = state.consecutive,
                error = %text,
                "cannot fetch pods from the kubelet; keeping the last pods known"
            );
            state.logged = Some((reason, now));
        }
        state.last_error = Some(text);
    }

    /// Failures since the last success.
    pub(super) fn consecutive_failures(&self) -> u64 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .consecutive
    }

    pub(super) fn snapshot(&self) -> KubeletStats {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        KubeletStats {
            fetches: self.fetches.load(Ordering::Relaxed),
            successes: self.successes.load(Ordering::Relaxed),
            failures: std::array::from_fn(|i| self.failures[i].load(Ordering::Relaxed)),
            refresh_requests: self.refresh_requests.load(Ordering::Relaxed),
            pods_cached: self.pods_cached.load(Ordering::Relaxed),
            containers_cached: self.containers_cached.load(Ordering::Relaxed),
            pods_skipped: self.pods_skipped.load(Ordering::Relaxed),
            consecutive_failures: state.consecutive,
            last_fetch_ok: state.last_ok,
            last_error: state.last_error.clone(),
        }
    }

    /// Whether the next failure of `reason` at `now` would be logged; for tests.
    #[cfg(test)]
    fn would_log(&self, reason: FailureReason, now: Instant) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        log_due(state.logged, reason, now)
    }
}

/// Whether a failure of `reason` at `now` gets a log line, given the last one logged.
fn log_due(logged: Option<(FailureReason, Instant)>, reason: FailureReason, now: Instant) -> bool {
    match logged {
        None => true,
        Some((logged, at)) => logged != reason || now.duration_since(at) >= REMINDER_EVERY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout() -> KubeletError {
        KubeletError::Timeout {
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn reasons_index_their_counters_in_order() {
        for (i, reason) in FailureReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
    }

    #[test]
    fn repeated_failures_are_logged_on_change_and_periodically() {
        let counters = Counters::default();
        let start = Instant::now();
        assert!(counters.would_log(FailureReason::Timeout, start));
        counters.failed("u", &timeout(), start);
        // The same failure again soon after: counted, not logged.
        assert!(!counters.would_log(FailureReason::Timeout, start + Duration::from_secs(1)));
        counters.failed("u", &timeout(), start + Duration::from_secs(1));
        // Another reason: logged.
        assert!(counters.would_log(FailureReason::Auth, start + Duration::from_secs(2)));
        // The same one much later: a reminder.
        assert!(counters.would_log(FailureReason::Timeout, start + REMINDER_EVERY));
        let stats = counters.snapshot();
        assert_eq!(stats.failures(FailureReason::Timeout), 2);
        assert_eq!(stats.total_failures(), 2);
        assert_eq!(stats.consecutive_failures, 2);
        assert!(!stats.last_fetch_ok);
        assert!(stats.last_error.unwrap().contains("did not answer"));
        // Recovery resets the log state: the next failure is logged at once.
        counters.succeeded("u", 3, 4, 0);
        assert!(counters.would_log(FailureReason::Timeout, start + Duration::from_secs(3)));
        let stats = counters.snapshot();
        assert_eq!((stats.consecutive_failures, stats.last_fetch_ok), (0, true));
        assert_eq!((stats.pods_cached, stats.containers_cached), (3, 4));
    }
}
