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
use serde_json::{Map, json};

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
        noise::{Noise, NoiseConfig},
    },
    event::{Event, clock::BootClock, kind_name},
    kernel::{KernelConfig, KernelSensor, OpenFilter, counters::DropDelta},
    rules::{KernelPlan, Priority, RuleSet},
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

async fn agent(args: &RunArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.stdout,
        "nowhere to send findings: give --stdout (JSON lines in Falco's format)"
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
    let mut runner = Runner {
        engine,
        plan,
        files,
        noise: Noise::new(NoiseConfig {
            fold_window: Duration::from_secs(args.fold_window_secs),
            rate_per_sec: args.rule_rate,
            burst: args.rule_burst,
        }),
        out: BufWriter::new(io::stdout().lock()),
        hostname: hostname(args, &file),
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
    /// The kernel filters in force, for the rules in force.
    plan: KernelPlan,
    files: RuleFiles,
    noise: Noise,
    out: W,
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
        serde_json::to_writer(&mut self.out, &finding.to_falco_json())?;
        self.out.write_all(b"\n")
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
                self.engine = engine;
                self.plan = plan;
                tracing::info!(why, "rules reloaded");
            }
            Err(err) => {
                self.stats.reload_failures += 1;
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
            enricher.observe(event);
            // Only events some rule can match need their context.
            if !self.engine.candidates(event.evt_type()).is_empty() {
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
                    let Some(found) = self.engine.finding(index, &s, &self.hostname) else {
                        continue;
                    };
                    if let Some(out) = self.noise.admit(found, now) {
                        self.write(&out)?;
                    }
                }
            }
            enricher.retire(event);
        }
        self.out.flush()
    }

    fn drops(&mut self, deltas: &[DropDelta]) -> io::Result<()> {
        for d in deltas {
            // Cut strings and unreadable fields are logged; lost records are
            // findings: an analyst must know the sensor went blind.
            if !matches!(d.reason, "ring_full" | "decode_error") {
                continue;
            }
            let finding = lost_events(d, &self.hostname);
            self.write(&finding)?;
        }
        self.out.flush()
    }

    fn tick(&mut self, sensor: &mut KernelSensor) -> io::Result<()> {
        if self.last_check.elapsed() >= RELOAD_CHECK_EVERY {
            self.last_check = Instant::now();
            if self.files.changed() {
                self.reload(sensor, "rule files changed");
            }
        }
        for summary in self.noise.flush(Instant::now(), false) {
            self.write(&summary)?;
        }
        self.out.flush()
    }

    fn hangup(&mut self, sensor: &mut KernelSensor) {
        self.reload(sensor, "SIGHUP");
    }

    fn finish(&mut self) -> io::Result<()> {
        for summary in self.noise.flush(Instant::now(), true) {
            self.write(&summary)?;
        }
        self.out.flush()
    }
}

/// The finding that says the kernel lost records.
fn lost_events(d: &DropDelta, hostname: &Arc<str>) -> Finding {
    let clock = BootClock::now();
    let boot_now = crate::event::clock::boot_ns_now();
    let kind = d.kind.map_or("unknown", kind_name);
    let mut fields = Map::new();
    fields.insert(crate::fields::DROP_KIND.into(), kind.into());
    fields.insert(crate::fields::DROP_REASON.into(), d.reason.into());
    fields.insert(crate::fields::DROP_COUNT.into(), json!(d.count));
    fields.insert(crate::fields::DROP_TOTAL.into(), json!(d.total));
    Finding {
        id: uuid::Uuid::now_v7().to_string(),
        time_ns: clock.epoch_ns(boot_now),
        time: humantime::format_rfc3339_nanos(clock.wall(boot_now)).to_string(),
        rule: "Sensor lost events".into(),
        priority: Priority::Critical,
        output: format!(
            "The sensor lost {} {kind} events ({}; {} since it started): rules could not see them",
            d.count, d.reason, d.total
        ),
        tags: Arc::from(vec!["sensor".to_owned()]),
        source: "internal".into(),
        hostname: hostname.clone(),
        fields,
        count: 1,
        suppressed: 0,
        container_id: "host".into(),
    }
}
