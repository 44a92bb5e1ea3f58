//! Noise control. A rule that fires on every line of a loop would bury the one
//! finding that matters, so identical findings (same rule, container and rendered
//! output) within a window are folded into one that says how many it stands for,
//! and each rule is held to a rate: what the limit holds back is counted and the
//! next finding of the rule says how many. Nothing is dropped without a count.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
    time::{Duration, Instant},
};

use super::finding::Finding;

/// How noise is controlled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoiseConfig {
    /// Identical findings within this window are folded (zero: never).
    pub fold_window: Duration,
    /// Findings per second each rule may send on average (zero: no limit).
    pub rate_per_sec: f64,
    /// How many a rule may send at once above its rate.
    pub burst: f64,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        Self {
            fold_window: Duration::from_secs(30),
            rate_per_sec: 20.0,
            burst: 100.0,
        }
    }
}

/// Counts of what noise control did, for logs and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoiseStats {
    /// Findings let through as they came.
    pub passed: u64,
    /// Findings folded into an earlier identical one.
    pub folded: u64,
    /// Findings held back by a rule's rate limit.
    pub rate_limited: u64,
    /// Folded findings sent when their window ended.
    pub summaries: u64,
}

/// What noise control did with a finding.
#[derive(Debug)]
pub enum Admit {
    /// Send it now (boxed: the other answers carry nothing).
    Send(Box<Finding>),
    /// Folded into an identical earlier one (counted in the window's summary).
    Folded,
    /// Held back by its rule's rate limit (counted in the rule's next finding).
    Limited,
}

impl Admit {
    /// The finding to send, if any.
    pub fn into_sent(self) -> Option<Finding> {
        match self {
            Self::Send(f) => Some(*f),
            Self::Folded | Self::Limited => None,
        }
    }
}

/// A window of identical findings: the first went out; the rest are counted.
#[derive(Debug)]
struct Fold {
    opened: Instant,
    /// The latest of the folded ones kept, sent with the count when the window
    /// ends. Kept at most once per [`LATEST_EVERY`]: a duplicate in between is
    /// only counted, so a flood is not built a finding at a time.
    latest: Option<Finding>,
    /// When `latest` was kept.
    latest_at: Option<Instant>,
    folded: u64,
}

/// How often a window keeps a newer copy of its folded finding.
const LATEST_EVERY: Duration = Duration::from_secs(1);

/// A token bucket per rule.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    /// Held back since the rule's last finding went out.
    held: u64,
}

/// Folds duplicates and limits rates (see the module's doc).
#[derive(Debug)]
pub struct Noise {
    config: NoiseConfig,
    folds: HashMap<u64, Fold>,
    buckets: HashMap<Arc<str>, Bucket>,
    stats: NoiseStats,
}

/// Open windows kept at most; past it the oldest are closed early (their counts
/// are sent, not lost).
const FOLDS_MAX: usize = 16_384;

fn key(f: &Finding) -> u64 {
    key_of(&f.rule, &f.container_id, &f.output)
}

fn key_of(rule: &str, container_id: &str, output: &str) -> u64 {
    let mut h = DefaultHasher::new();
    (rule, container_id, output).hash(&mut h);
    h.finish()
}

impl Noise {
    /// Noise control with `config`.
    pub fn new(config: NoiseConfig) -> Self {
        Self {
            config,
            folds: HashMap::new(),
            buckets: HashMap::new(),
            stats: NoiseStats::default(),
        }
    }

    /// What noise control did so far.
    pub fn stats(&self) -> NoiseStats {
        self.stats
    }

    /// Counts a finding of `rule` in `container_id` with `output` as folded,
    /// without its being built, when an open window folds it and kept a copy
    /// less than [`LATEST_EVERY`] ago; `false`: build it and [`Noise::admit`] it.
    pub fn fold_unbuilt(
        &mut self,
        rule: &str,
        container_id: &str,
        output: &str,
        now: Instant,
    ) -> bool {
        let window = self.config.fold_window;
        if window.is_zero() {
            return false;
        }
        match self.folds.get_mut(&key_of(rule, container_id, output)) {
            Some(fold)
                if now.duration_since(fold.opened) < window
                    && fold
                        .latest_at
                        .is_some_and(|at| now.duration_since(at) < LATEST_EVERY) =>
            {
                fold.folded += 1;
                self.stats.folded += 1;
                true
            }
            _ => false,
        }
    }

    /// What to do with `finding`: send it now, or count it as folded into an
    /// earlier one or held back by its rule's rate.
    pub fn admit(&mut self, mut finding: Finding, now: Instant) -> Admit {
        let window = self.config.fold_window;
        let k = key(&finding);
        if !window.is_zero()
            && let Some(fold) = self.folds.get_mut(&k)
            && now.duration_since(fold.opened) < window
        {
            fold.folded += 1;
            fold.latest = Some(finding);
            fold.latest_at = Some(now);
            self.stats.folded += 1;
            return Admit::Folded;
        }
        if !self.take_token(&finding.rule, now) {
            self.stats.rate_limited += 1;
            return Admit::Limited;
        }
        if let Some(bucket) = self.buckets.get_mut(&finding.rule) {
            finding.suppressed = std::mem::take(&mut bucket.held);
        }
        if !window.is_zero() {
            self.folds.insert(
                k,
                Fold {
                    opened: now,
                    latest: None,
                    latest_at: None,
                    folded: 0,
                },
            );
        }
        self.stats.passed += 1;
        Admit::Send(Box::new(finding))
    }

    fn take_token(&mut self, rule: &Arc<str>, now: Instant) -> bool {
        let NoiseConfig {
            rate_per_sec,
            burst,
            ..
        } = self.config;
        if rate_per_sec <= 0.0 {
            return true;
        }
        let bucket = self.buckets.entry(rule.clone()).or_insert(Bucket {
            tokens: burst.max(1.0),
            at: now,
            held: 0,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * rate_per_sec;
        bucket.tokens = (bucket.tokens + refill).min(burst.max(1.0));
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            bucket.held += 1;
            false
        }
    }

    /// The summaries of windows that ended by `now` (each the latest folded
    /// finding, with `count` the number it stands for); all of them when `all`.
    pub fn flush(&mut self, now: Instant, all: bool) -> Vec<Finding> {
        let window = self.config.fold_window;
        let overfull = self.folds.len().saturating_sub(FOLDS_MAX);
        let mut ended: Vec<u64> = self
            .folds
            .iter()
            .filter(|(_, f)| all || now.duration_since(f.opened) >= window)
            .map(|(k, _)| *k)
            .collect();
        if overfull > 0 && !all {
            let mut open: Vec<(Instant, u64)> =
                self.folds.iter().map(|(k, f)| (f.opened, *k)).collect();
            open.sort_unstable();
            ended.extend(open.into_iter().take(overfull).map(|(_, k)| k));
        }
        let mut out = Vec::new();
        for k in ended {
            if let Some(fold) = self.folds.remove(&k)
                && let Some(mut latest) = fold.latest
            {
                latest.count = fold.folded;
                self.stats.summaries += 1;
                out.push(latest);
            }
        }
        // Rules whose limit held nothing back and that are full again need no
        // bucket: the map stays as small as the set of busy rules.
        let burst = self.config.burst.max(1.0);
        let rate = self.config.rate_per_sec;
        self.buckets.retain(|_, b| {
            b.held > 0 || b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst
        });
        out
    }

    /// Counts the rate limits hold back now, by rule (for the log at exit: the
    /// next finding of a rule would have carried them).
    pub fn held(&self) -> Vec<(Arc<str>, u64)> {
        self.buckets
            .iter()
            .filter(|(_, b)| b.held > 0)
            .map(|(r, b)| (r.clone(), b.held))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::rules::Priority;

    fn finding(rule: &str, output: &str) -> Finding {
        Finding {
            id: String::new(),
            time_ns: 0,
            time: String::new(),
            rule: rule.into(),
            priority: Priority::Warning,
            output: output.into(),
            tags: Arc::from(Vec::new()),
            source: "syscall".into(),
            hostname: "n".into(),
            fields: Map::new(),
            count: 1,
            suppressed: 0,
            container_id: "c".into(),
        }
    }

    #[test]
    fn a_flood_of_duplicates_is_counted_without_being_built() {
        let mut noise = Noise::new(NoiseConfig {
            fold_window: Duration::from_secs(10),
            rate_per_sec: 0.0,
            burst: 0.0,
        });
        let t = Instant::now();
        // Nothing to fold into yet: build it.
        assert!(!noise.fold_unbuilt("r", "c", "o", t));
        assert!(noise.admit(finding("r", "o"), t).into_sent().is_some());
        // The window has no copy yet: the first duplicate is built and kept.
        assert!(!noise.fold_unbuilt("r", "c", "o", t));
        assert!(matches!(noise.admit(finding("r", "o"), t), Admit::Folded));
        // Within a second of the copy, duplicates are only counted.
        for ms in [1, 500, 999] {
            assert!(noise.fold_unbuilt("r", "c", "o", t + Duration::from_millis(ms)));
        }
        assert!(
            !noise.fold_unbuilt("r", "other", "o", t),
            "another container"
        );
        assert!(!noise.fold_unbuilt("r", "c", "o2", t), "another output");
        // A second on, a newer copy is built and kept again.
        let later = t + Duration::from_millis(1000);
        assert!(!noise.fold_unbuilt("r", "c", "o", later));
        assert!(matches!(
            noise.admit(finding("r", "o"), later),
            Admit::Folded
        ));
        let summary = noise.flush(t + Duration::from_secs(11), false);
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].count, 5, "every duplicate counted, built or not");
        assert_eq!(noise.stats().folded, 5);
    }

    #[test]
    fn identical_findings_fold_into_one_with_a_count() {
        let mut noise = Noise::new(NoiseConfig {
            fold_window: Duration::from_secs(10),
            rate_per_sec: 0.0,
            burst: 0.0,
        });
        let t0 = Instant::now();
        assert!(noise.admit(finding("r", "a"), t0).into_sent().is_some());
        for i in 1..=5 {
            assert!(
                noise
                    .admit(finding("r", "a"), t0 + Duration::from_secs(i))
                    .into_sent()
                    .is_none()
            );
        }
        // Another output or rule is not a duplicate.
        assert!(noise.admit(finding("r", "b"), t0).into_sent().is_some());
        assert!(noise.admit(finding("s", "a"), t0).into_sent().is_some());
        assert!(noise.flush(t0 + Duration::from_secs(9), false).is_empty());
        let summaries = noise.flush(t0 + Duration::from_secs(10), false);
        assert_eq!(
            summaries.len(),
            1,
            "only the window with duplicates sends one"
        );
        assert_eq!((summaries[0].count, &*summaries[0].output), (5, "a"));
        // A new window opens after the old one ended.
        assert!(
            noise
                .admit(finding("r", "a"), t0 + Duration::from_secs(11))
                .into_sent()
                .is_some()
        );
        let s = noise.stats();
        assert_eq!((s.passed, s.folded, s.summaries), (4, 5, 1));
    }

    #[test]
    fn a_rule_over_its_rate_is_held_back_and_counted() {
        let mut noise = Noise::new(NoiseConfig {
            fold_window: Duration::ZERO,
            rate_per_sec: 1.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        let sent = (0..10)
            .filter(|i| {
                noise
                    .admit(finding("r", &i.to_string()), t0)
                    .into_sent()
                    .is_some()
            })
            .count();
        assert_eq!(sent, 3, "the burst");
        assert_eq!(noise.held(), [(Arc::from("r"), 7)]);
        // Another rule has its own budget.
        assert!(noise.admit(finding("other", "x"), t0).into_sent().is_some());
        let later = noise
            .admit(finding("r", "late"), t0 + Duration::from_secs(1))
            .into_sent()
            .expect("a token came back");
        assert_eq!(
            later.suppressed, 7,
            "the next finding says how many were held"
        );
        assert_eq!(noise.stats().rate_limited, 7);
    }
}
