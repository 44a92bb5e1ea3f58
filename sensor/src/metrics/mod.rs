//! The agent's Prometheus metrics: what it read, lost, found and folded, so an
//! operator sees a sensor going blind or noisy without reading its logs. Served
//! on `/metrics` (see [`serve`]). The hot path never touches these directly:
//! per-event counts are kept in plain integers and added here once a second.

pub mod serve;

use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

/// `kind`: an event kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The kind's name (`exec`, `open`, ...).
    pub kind: String,
}

/// `kind` and `reason` of lost or cut records.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// The kind's name.
    pub kind: String,
    /// `ring_full`, `read_failed`, `truncated`, `decode_error`.
    pub reason: String,
}

/// `rule` and `priority` of findings.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    /// The rule's name.
    pub rule: String,
    /// Its priority, as Falco names it.
    pub priority: String,
}

/// `rule`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    /// The rule's name.
    pub rule: String,
}

/// `result` of a reload: `ok` or `failed`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok` or `failed`.
    pub result: String,
}

/// `reason` a finding was lost: `spool_full`, `refused`, `spool_error`, ...
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Why.
    pub reason: String,
}

/// `state` of rules: `loaded` or `skipped`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// `loaded` or `skipped`.
    pub state: String,
}

/// Every metric of the agent.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    ready: AtomicBool,
    /// Events read from the kernel, by kind.
    pub events: Family<KindLabel, Counter>,
    /// Records lost or cut in the kernel or refused by the decoder.
    pub drops: Family<DropLabels, Counter>,
    /// Findings sent, by rule and priority.
    pub findings: Family<FindingLabels, Counter>,
    /// Findings folded into an identical earlier one, by rule.
    pub folded: Family<RuleLabel, Counter>,
    /// Findings held back by their rule's rate limit, by rule.
    pub rate_limited: Family<RuleLabel, Counter>,
    /// Rule reloads, by result.
    pub reloads: Family<ResultLabel, Counter>,
    /// Rules in force and skipped.
    pub rules: Family<StateLabel, Gauge>,
    /// Processes in the process table.
    pub processes: Gauge,
    /// Kubelet fetches that failed.
    pub kubelet_failures: Counter,
    /// Bytes in the spool's segment files.
    pub spool_bytes: Gauge,
    /// Findings in the spool not yet acknowledged.
    pub spool_findings: Gauge,
    /// Findings sent to the collector (resends included).
    pub shipped: Counter,
    /// Findings the collector acknowledged as stored.
    pub acked: Counter,
    /// Findings lost on the way to the collector, by reason.
    pub lost: Family<ReasonLabel, Counter>,
    /// Connections to the collector, by result.
    pub connects: Family<ResultLabel, Counter>,
    /// 1 while an ingest stream to the collector is open.
    pub collector_up: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// The metrics, registered under the `sensor` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sensor");
        let m = Self {
            registry: Registry::default(),
            ready: AtomicBool::new(false),
            events: Family::default(),
            drops: Family::default(),
            findings: Family::default(),
            folded: Family::default(),
            rate_limited: Family::default(),
            reloads: Family::default(),
            rules: Family::default(),
            processes: Gauge::default(),
            kubelet_failures: Counter::default(),
            spool_bytes: Gauge::default(),
            spool_findings: Gauge::default(),
            shipped: Counter::default(),
            acked: Counter::default(),
            lost: Family::default(),
            connects: Family::default(),
            collector_up: Gauge::default(),
        };
        registry.register("events", "Events read from the kernel", m.events.clone());
        registry.register(
            "kernel_drops",
            "Records lost (ring_full, decode_error) or cut (truncated, read_failed)",
            m.drops.clone(),
        );
        registry.register("findings", "Findings sent", m.findings.clone());
        registry.register(
            "findings_folded",
            "Findings folded into an identical earlier one",
            m.folded.clone(),
        );
        registry.register(
            "findings_rate_limited",
            "Findings held back by their rule's rate limit",
            m.rate_limited.clone(),
        );
        registry.register("rule_reloads", "Rule reloads", m.reloads.clone());
        registry.register("rules", "Rules in force and skipped", m.rules.clone());
        registry.register(
            "processes",
            "Processes in the process table",
            m.processes.clone(),
        );
        registry.register(
            "kubelet_fetch_failures",
            "Kubelet pod list fetches that failed",
            m.kubelet_failures.clone(),
        );
        registry.register(
            "spool_bytes",
            "Bytes in the spool's segment files",
            m.spool_bytes.clone(),
        );
        registry.register(
            "spool_findings",
            "Findings in the spool not yet acknowledged by the collector",
            m.spool_findings.clone(),
        );
        registry.register(
            "findings_shipped",
            "Findings sent to the collector, resends included",
            m.shipped.clone(),
        );
        registry.register(
            "findings_acknowledged",
            "Findings the collector acknowledged as stored",
            m.acked.clone(),
        );
        registry.register(
            "findings_lost",
            "Findings lost on the way to the collector (spool_full, refused, ...)",
            m.lost.clone(),
        );
        registry.register(
            "collector_connects",
            "Connections to the collector, by result",
            m.connects.clone(),
        );
        registry.register(
            "collector_up",
            "1 while an ingest stream to the collector is open",
            m.collector_up.clone(),
        );
        Self { registry, ..m }
    }

    /// The metrics in Prometheus's text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Marks the agent ready (its process table is loaded and events flow).
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// Whether the agent is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Counts a finding sent.
    pub fn finding(&self, rule: &str, priority: &str) {
        self.findings
            .get_or_create(&FindingLabels {
                rule: rule.to_owned(),
                priority: priority.to_owned(),
            })
            .inc();
    }

    /// Counts a finding folded (`folded`) or held back by its rate limit.
    pub fn held(&self, rule: &str, folded: bool) {
        let family = if folded {
            &self.folded
        } else {
            &self.rate_limited
        };
        family
            .get_or_create(&RuleLabel {
                rule: rule.to_owned(),
            })
            .inc();
    }

    /// Counts `n` findings lost on the way to the collector.
    pub fn lost(&self, reason: &str, n: u64) {
        self.lost
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc_by(n);
    }

    /// Counts a connection attempt to the collector.
    pub fn collector_connects(&self, ok: bool) {
        self.connects
            .get_or_create(&ResultLabel {
                result: if ok { "ok" } else { "failed" }.to_owned(),
            })
            .inc();
    }

    /// Counts a reload.
    pub fn reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&ResultLabel {
                result: if ok { "ok" } else { "failed" }.to_owned(),
            })
            .inc();
    }

    /// Sets the numbers of rules in force and skipped.
    pub fn set_rules(&self, loaded: usize, skipped: usize) {
        for (state, n) in [("loaded", loaded), ("skipped", skipped)] {
            self.rules
                .get_or_create(&StateLabel {
                    state: state.to_owned(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_encode_in_prometheus_text() {
        let m = Metrics::new();
        m.finding("Read of shadow file", "Warning");
        m.finding("Read of shadow file", "Warning");
        m.held("Read of shadow file", true);
        m.held("Noisy \"rule\"\n", false);
        m.reload(false);
        m.set_rules(3, 1);
        m.events
            .get_or_create(&KindLabel {
                kind: "exec".into(),
            })
            .inc_by(5);
        let text = m.encode();
        for line in [
            "sensor_findings_total{rule=\"Read of shadow file\",priority=\"Warning\"} 2",
            "sensor_findings_folded_total{rule=\"Read of shadow file\"} 1",
            "sensor_rule_reloads_total{result=\"failed\"} 1",
            "sensor_rules{state=\"loaded\"} 3",
            "sensor_events_total{kind=\"exec\"} 5",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        // A hostile rule name stays one escaped line.
        assert!(
            text.contains("sensor_findings_rate_limited_total{rule=\"Noisy \\\"rule\\\"\\n\"} 1"),
            "{text}"
        );
        assert!(!m.is_ready());
        m.set_ready();
        assert!(m.is_ready());
    }
}
