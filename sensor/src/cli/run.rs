//! `sensor run`: the agent. Events from the kernel, with their process, container
//! and pod, are tested against the rules; findings go out as JSON lines in
//! Falco's format (`--stdout`). The rules are re-read when their files change or
//! on SIGHUP: a bad file is refused with its error and the rules in force stay.

use std::{
    io::{self, BufWriter, Write},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::Args;
use sensor_proto::client::TlsFiles;
use serde_json::{Map, Value as Json, json};

use super::{
    context::ContextArgs,
    pipeline::{self, RingArgs, Sink},
};
use crate::{
    config::AgentConfig,
    context::Enricher,
    engine::{
        Engine, Subject,
        files::RuleFiles,
        finding::Finding,
        noise::{Admit, Noise, NoiseConfig},
    },
    event::{Event, EventKind, clock::BootClock, kind_name},
    kernel::{KernelConfig, KernelSensor, OpenFilter, counters::DropDelta},
    metrics::{DropLabels, KindLabel, Metrics, serve},
    rules::{KernelPlan, Priority, RuleSet},
    ship::{ShipConfig, Shipper},
    spool::SpoolConfig,
};

/// How often the rule files are checked for changes.
const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(2);

/// Options of `sensor run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A rule file, or a directory of them (`*.yaml`, `*.yml`, in name order);
    /// repeatable, loaded in order. Default: the rule set shipped with the sensor.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Write findings to stdout as JSON lines, in Falco's format.
    #[arg(long)]
    pub stdout: bool,
    /// Send findings to the collector at this URL (`https://HOST:PORT`), through
    /// the disk spool, with mutual TLS.
    #[arg(long, value_name = "URL", env = "SENSOR_COLLECTOR")]
    pub collector: Option<String>,
    /// This node's client certificate (PEM); its name must be the node's name.
    #[arg(long, value_name = "FILE", env = "SENSOR_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", env = "SENSOR_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The CA that signed the collector's certificate (PEM).
    #[arg(long, value_name = "FILE", env = "SENSOR_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Where findings wait for the collector's acknowledgement.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/sensor/spool",
        env = "SENSOR_SPOOL_DIR"
    )]
    pub spool_dir: PathBuf,
    /// The spool's size limit (`256MiB`, `1GiB`, or bytes); past it the oldest
    /// findings are dropped, counted and reported.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub spool_max_bytes: u64,
    /// Identical findings (same rule, container and output) within this many
    /// seconds are folded into one with a count; 0 folds nothing.
    #[arg(long, default_value_t = 30)]
    pub fold_window_secs: u64,
    /// Findings per second each rule may send on average; 0 for no limit. What
    /// the limit holds back is counted in the rule's next finding.
    #[arg(long, default_value_t = 20.0)]
    pub rule_rate: f64,
    /// Findings a rule may send at once above its rate.
    #[arg(long, default_value_t = 100.0)]
    pub rule_burst: f64,
    /// Serve Prometheus metrics (`/metrics`) and health (`/healthz`, `/readyz`)
    /// on this address, e.g. `0.0.0.0:9464`. Default: not served.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// How the ring buffer is read.
    #[command(flatten)]
    pub ring: RingArgs,
    /// The agent's config file (YAML); flags win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the process, container and pod context comes from.
    #[command(flatten)]
    pub context: ContextArgs,
}

pub(super) fn run(args: &RunArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(agent(args))
}

/// Reads and compiles the rules; the error names the file and place.
fn load(files: &mut RuleFiles) -> anyhow::Result<Engine> {
    let texts = files.read()?;
    let named: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let set = RuleSet::load(&named)?;
    for warning in set.warnings() {
        tracing::warn!("{warning}");
    }
    let engine = Engine::new(&set);
    for v in engine.verdicts().iter().filter(|v| !v.loaded) {
        tracing::warn!(rule = %v.rule, reason = v.reason.as_deref().unwrap_or(""), "rule skipped");
    }
    tracing::info!(
        rules = engine.rules().len(),
        skipped = engine.verdicts().len() - engine.rules().len(),
        default = files.is_default(),
        "rules loaded"
    );
    Ok(engine)
}

/// What the kernel must report for the rules in force (and the process table).
fn plan(engine: &Engine) -> KernelPlan {
    let plan = KernelPlan::for_agent(engine.rules().iter().map(|c| &*c.rule));
    for widened in &plan.widened {
        tracing::warn!(widened = %widened, "kernel filter widened to fit the kernel's maps");
    }
    tracing::info!(plan = %plan, "kernel filters from the rules");
    plan
}

/// The kernel configuration for the rules in force.
fn kernel_config(args: &RunArgs, plan: &KernelPlan) -> KernelConfig {
    KernelConfig {
        kinds: plan.kinds.clone(),
        open_filter: plan.open.clone(),
        net_ports: plan.net_ports.clone(),
        ..args.ring.kernel_config()
    }
}

/// Programs the kernel's filters for a new plan. Widening first, then
/// narrowing, so no event a rule of either set needs falls in between.
fn apply(sensor: &mut KernelSensor, old: &KernelPlan, new: &KernelPlan) -> anyhow::Result<()> {
    let mut union = new.clone();
    union.add_kinds(&old.kinds);
    union.open = match (&old.open, &new.open) {
        (Some(a), Some(b)) => Some(OpenFilter {
            read: a.read.iter().chain(&b.read).cloned().collect(),
            write: a.write.iter().chain(&b.write).cloned().collect(),
            read_names: a.read_names.iter().chain(&b.read_names).cloned().collect(),
            write_names: a
                .write_names
                .iter()
                .chain(&b.write_names)
                .cloned()
                .collect(),
        }),
        _ => None,
    };
    union.net_ports = match (&old.net_ports, &new.net_ports) {
        (Some(a), Some(b)) => Some(a.iter().chain(b).copied().collect()),
        _ => None,
    };
    sensor.set_kinds(&union.kinds)?;
    // The union may not fit the maps; then every open and port for the moment.
    if sensor.set_open_filter(union.open.as_ref()).is_err() {
        sensor.set_open_filter(None)?;
    }
    if sensor.set_net_ports(union.net_ports.as_deref()).is_err() {
        sensor.set_net_ports(None)?;
    }
    sensor.set_open_filter(new.open.as_ref())?;
    sensor.set_net_ports(new.net_ports.as_deref())?;
    sensor.set_kinds(&new.kinds)?;
    Ok(())
}

/// The node's name for findings: the flag or `NODE_NAME`, the config file's, else
/// the host name.
fn hostname(args: &RunArgs, file: &AgentConfig) -> Arc<str> {
    if let Some(name) = &args.context.node_name {
        return name.as_str().into();
    }
    if let Some(kubelet) = &file.context.kubelet
        && !kubelet.node_name.is_empty()
    {
        return kubelet.node_name.as_str().into();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
        .into()
}

/// A size with an optional binary unit: `4096`, `64KiB`, `256MiB`, `1GiB`.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 256MiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err(format!("unknown unit in `{s}`: use KiB, MiB or GiB")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// The shipper, when findings go to a collector.
fn shipper(args: &RunArgs, node: &str, metrics: &Arc<Metrics>) -> anyhow::Result<Option<Shipper>> {
    let Some(url) = &args.collector else {
        return Ok(None);
    };
    let spool = SpoolConfig {
        max_bytes: args.spool_max_bytes,
        ..SpoolConfig::default()
    };
    let spool = SpoolConfig {
        // A small spool gets segments small enough that dropping one loses little.
        segment_bytes: spool.segment_bytes.min((spool.max_bytes / 8).max(64 << 10)),
        ..spool
    };
    let config = ShipConfig {
        url: url.clone(),
        tls: TlsFiles {
            cert: args.tls_cert.clone(),
            key: args.tls_key.clone(),
            ca: args.tls_ca.clone(),
        },
        node: node.to_owned(),
        spool_dir: args.spool_dir.clone(),
        spool,
    };
    let shipper = Shipper::start(&config, metrics.clone()).context("cannot ship findings")?;
    tracing::info!(collector = %url, node, spool = %args.spool_dir.display(), "findings go to the collector");
    Ok(Some(shipper))
}

/// How long the agent waits at exit for the collector to acknowledge what is spooled.
const DRAIN_AT_EXIT: Duration = Duration::from_secs(5);

async fn agent(args: &RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.stdout || args.collector.is_some(),
        "nowhere to send findings: give --stdout (JSON lines in Falco's format) or --collector URL"
    );
    // Bad rules or a bad config file are refused before anything is loaded into
    // the kernel.
    let file = match &args.config {
        Some(path) => AgentConfig::load(path)?,
        None => AgentConfig::default(),
    };
    let mut files = RuleFiles::new(args.rules.clone());
    let engine = load(&mut files)?;
    let plan = plan(&engine);
    let kernel = kernel_config(args, &plan);
    let metrics = Arc::new(Metrics::new());
    metrics.set_rules(
        engine.rules().len(),
        engine.verdicts().len() - engine.rules().len(),
    );
    if let Some(addr) = args.metrics_addr {
        serve::start(addr, metrics.clone())
            .await
            .with_context(|| format!("cannot serve metrics on {addr}"))?;
    }
    let hostname = hostname(args, &file);
    let ship = shipper(args, &hostname, &metrics)?;
    let mut runner = Runner {
        engine,
        plan,
        metrics,
        kinds: [0; EventKind::ALL.len()],
        kubelet_failures: 0,
        files,
        noise: Noise::new(NoiseConfig {
            fold_window: Duration::from_secs(args.fold_window_secs),
            rate_per_sec: args.rule_rate,
            burst: args.rule_burst,
        }),
        out: args.stdout.then(|| BufWriter::new(io::stdout().lock())),
        ship,
        lost: 0,
        hostname,
        ticks_per_second: crate::context::procfs::clock_ticks_per_second(),
        num: 0,
        matches: Vec::new(),
        last_check: Instant::now(),
        stats: RunStats::default(),
    };
    let result = pipeline::run(&kernel, &args.context, &file, &mut runner).await;
    let s = runner.stats;
    tracing::info!(
        events = s.events,
        findings = s.findings,
        reloads = s.reloads,
        reload_failures = s.reload_failures,
        noise = ?runner.noise.stats(),
        held_by_rate_limits = ?runner.noise.held(),
        "rules engine"
    );
    if let Some(ship) = &runner.ship {
        let left = ship.drain(DRAIN_AT_EXIT).await;
        if left > 0 {
            tracing::warn!(
                findings = left,
                "findings stay in the spool for the next run"
            );
        }
    }
    result
}

/// Counts of what the runner did.
#[derive(Clone, Copy, Debug, Default)]
struct RunStats {
    events: u64,
    findings: u64,
    reloads: u64,
    reload_failures: u64,
}

/// Tests each event against the rules and writes the findings.
struct Runner<W> {
    engine: Engine,
    /// What the agent reports to Prometheus.
    metrics: Arc<Metrics>,
    /// Events read since the last tick, by kind (added to the metrics then, so
    /// the hot path touches no shared counter).
    kinds: [u64; EventKind::ALL.len()],
    /// Kubelet failures already counted.
    kubelet_failures: u64,
    /// The kernel filters in force, for the rules in force.
    plan: KernelPlan,
    files: RuleFiles,
    noise: Noise,
    /// Standard output, with `--stdout`.
    out: Option<W>,
    /// The collector's spool, with `--collector`.
    ship: Option<Shipper>,
    /// Findings lost on the way to the collector, not yet reported.
    lost: u64,
    hostname: Arc<str>,
    ticks_per_second: u64,
    num: u64,
    matches: Vec<u32>,
    last_check: Instant,
    stats: RunStats,
}

impl<W: Write> Runner<W> {
    fn write(&mut self, finding: &Finding) -> io::Result<()> {
        self.stats.findings += 1;
        self.metrics
            .finding(&finding.rule, finding.priority.falco_name());
        if let Some(ship) = &self.ship {
            ship.push(finding);
        }
        if let Some(out) = &mut self.out {
            serde_json::to_writer(&mut *out, &finding.to_falco_json())?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Makes what was written visible: stdout flushed, the spool synced. A loss
    /// the spool reports becomes a finding of its own.
    fn flush(&mut self) -> io::Result<()> {
        self.lost += self.ship.as_ref().map_or(0, Shipper::commit);
        if self.lost > 0 {
            let finding = lost_findings(std::mem::take(&mut self.lost), &self.hostname);
            self.write(&finding)?;
            // Spooling the report may itself push out older findings: those
            // are counted here and reported at the next flush.
            self.lost += self.ship.as_ref().map_or(0, Shipper::commit);
        }
        match &mut self.out {
            Some(out) => out.flush(),
            None => Ok(()),
        }
    }

    fn reload(&mut self, sensor: &mut KernelSensor, why: &str) {
        let loaded = load(&mut self.files).and_then(|engine| {
            let plan = plan(&engine);
            apply(sensor, &self.plan, &plan).context("cannot program the kernel's filters")?;
            Ok((engine, plan))
        });
        match loaded {
            Ok((engine, plan)) => {
                self.stats.reloads += 1;
                self.metrics.reload(true);
                self.metrics.set_rules(
                    engine.rules().len(),
                    engine.verdicts().len() - engine.rules().len(),
                );
                self.engine = engine;
                self.plan = plan;
                tracing::info!(why, "rules reloaded");
            }
            Err(err) => {
                self.stats.reload_failures += 1;
                self.metrics.reload(false);
                tracing::error!(
                    why,
                    error = format!("{err:#}"),
                    "new rules refused; the rules in force stay"
                );
            }
        }
    }
}

impl<W: Write> Sink for Runner<W> {
    fn batch(&mut self, batch: &[Event], enricher: &mut Enricher) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let clock = BootClock::now();
        let now = Instant::now();
        for event in batch {
            self.num += 1;
            self.stats.events += 1;
            // Kinds are numbered from 1 in `EventKind::ALL`'s order.
            if let Some(n) = (event.kind() as usize)
                .checked_sub(1)
                .and_then(|i| self.kinds.get_mut(i))
            {
                *n += 1;
            }
            enricher.observe(event);
            // Only events some rule can match need their context.
            if self.engine.any_candidate(event) {
                let who = enricher.who(event);
                let s = Subject {
                    event,
                    who: &who,
                    num: self.num,
                    clock: &clock,
                    ticks_per_second: self.ticks_per_second,
                };
                self.matches.clear();
                self.engine.matches(&s, &mut self.matches);
                for i in 0..self.matches.len() {
                    let index = self.matches[i];
                    // A duplicate of a finding folded a moment ago is counted
                    // without being built: a flood costs its output alone.
                    let Some(output) = self.engine.output(index, &s) else {
                        continue;
                    };
                    let container = crate::engine::finding::container_key(&who);
                    let Some(compiled) = self.engine.rule(index) else {
                        continue;
                    };
                    if self
                        .noise
                        .fold_unbuilt(&compiled.rule.name, container, &output, now)
                    {
                        self.metrics.held(&compiled.rule.name, true);
                        continue;
                    }
                    let Some(found) =
                        self.engine
                            .finding_with_output(index, &s, &self.hostname, output)
                    else {
                        continue;
                    };
                    let rule = found.rule.clone();
                    match self.noise.admit(found, now) {
                        Admit::Send(out) => self.write(&out)?,
                        Admit::Folded => self.metrics.held(&rule, true),
                        Admit::Limited => self.metrics.held(&rule, false),
                    }
                }
            }
            enricher.retire(event);
        }
        self.flush()
    }

    fn drops(&mut self, deltas: &[DropDelta]) -> io::Result<()> {
        for d in deltas {
            self.metrics
                .drops
                .get_or_create(&DropLabels {
                    kind: d.kind.map_or("unknown", kind_name).to_owned(),
                    reason: d.reason.to_owned(),
                })
                .inc_by(d.count);
            // Cut strings and unreadable fields are logged; lost records are
            // findings: an analyst must know the sensor went blind.
            if !matches!(d.reason, "ring_full" | "decode_error") {
                continue;
            }
            let finding = lost_events(d, &self.hostname);
            self.write(&finding)?;
        }
        self.flush()
    }

    fn ready(&mut self) {
        self.metrics.set_ready();
    }

    fn tick(&mut self, sensor: &mut KernelSensor, enricher: &Enricher) -> io::Result<()> {
        for (kind, n) in EventKind::ALL.into_iter().zip(&mut self.kinds) {
            if *n > 0 {
                self.metrics
                    .events
                    .get_or_create(&KindLabel {
                        kind: kind_name(kind).to_owned(),
                    })
                    .inc_by(std::mem::take(n));
            }
        }
        self.metrics
            .processes
            .set(i64::try_from(enricher.processes()).unwrap_or(i64::MAX));
        if let Some(pods) = enricher.pods() {
            let failures = pods.stats().total_failures();
            self.metrics
                .kubelet_failures
                .inc_by(failures.saturating_sub(self.kubelet_failures));
            self.kubelet_failures = failures;
        }
        if self.last_check.elapsed() >= RELOAD_CHECK_EVERY {
            self.last_check = Instant::now();
            if self.files.changed() {
                self.reload(sensor, "rule files changed");
            }
        }
        for summary in self.noise.flush(Instant::now(), false) {
            self.write(&summary)?;
        }
        self.flush()
    }

    fn hangup(&mut self, sensor: &mut KernelSensor) {
        self.reload(sensor, "SIGHUP");
    }

    fn finish(&mut self) -> io::Result<()> {
        for summary in self.noise.flush(Instant::now(), true) {
            self.write(&summary)?;
        }
        self.flush()
    }
}

/// A finding of the sensor about itself (it went blind or lost findings):
/// Critical, on the host, with `fields` as its output fields.
fn internal_finding(
    rule: &str,
    output: String,
    fields: Map<String, Json>,
    hostname: &Arc<str>,
) -> Finding {
    let clock = BootClock::now();
    let boot_now = crate::event::clock::boot_ns_now();
    Finding {
        id: uuid::Uuid::now_v7().to_string(),
        time_ns: clock.epoch_ns(boot_now),
        time: humantime::format_rfc3339_nanos(clock.wall(boot_now)).to_string(),
        rule: rule.into(),
        priority: Priority::Critical,
        output,
        tags: Arc::from(vec!["sensor".to_owned()]),
        source: "internal".into(),
        hostname: hostname.clone(),
        fields,
        count: 1,
        suppressed: 0,
        container_id: "host".into(),
    }
}

/// The finding that says findings were lost on the way to the collector.
fn lost_findings(n: u64, hostname: &Arc<str>) -> Finding {
    let mut fields = Map::new();
    fields.insert(crate::fields::DROP_KIND.into(), "finding".into());
    fields.insert(crate::fields::DROP_REASON.into(), "spool".into());
    fields.insert(crate::fields::DROP_COUNT.into(), json!(n));
    let output = format!(
        "The sensor lost {n} findings on the way to the collector (spool full or batch refused; see sensor_findings_lost)"
    );
    internal_finding("Sensor lost findings", output, fields, hostname)
}

/// The finding that says the kernel lost records.
fn lost_events(d: &DropDelta, hostname: &Arc<str>) -> Finding {
    let kind = d.kind.map_or("unknown", kind_name);
    let mut fields = Map::new();
    fields.insert(crate::fields::DROP_KIND.into(), kind.into());
    fields.insert(crate::fields::DROP_REASON.into(), d.reason.into());
    fields.insert(crate::fields::DROP_COUNT.into(), json!(d.count));
    fields.insert(crate::fields::DROP_TOTAL.into(), json!(d.total));
    let output = format!(
        "The sensor lost {} {kind} events ({}; {} since it started): rules could not see them",
        d.count, d.reason, d.total
    );
    internal_finding("Sensor lost events", output, fields, hostname)
}
