//! Benchmark: how long a finding takes from the kernel's timestamp of its event
//! to its being stored in the collector, p50 and p99, idle and under load.
//!
//! `cargo xtask bench latency [-- --samples N]`
//!
//! The whole path as deployed: the release `sensor run` (default rules plus one
//! probe rule, folding and rate limits off so every trigger is a finding)
//! ships through its spool to the release `collector`, and `sensorctl tail`
//! prints each finding once it is stored. The bench creates `probe-<i>` files
//! every 50 ms; a finding's latency is the wall time its line arrives from
//! `sensorctl` minus its `time` (the kernel's stamp of the open, in wall-clock
//! time). The time from just before the trigger's syscall is kept as a
//! cross-check. "Loaded" does the same while an exec storm and an open storm
//! of an unwatched file keep both cores busy. A finding that has not arrived
//! 10 s after the last trigger is counted lost, never left out.

use std::{
    collections::HashMap,
    ffi::CString,
    io::{BufRead as _, BufReader},
    os::unix::ffi::OsStrExt as _,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::{self, Receiver, RecvTimeoutError},
    },
    thread,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context as _, anyhow};
use sensor_tests::{
    agent::Agent,
    bench_arg, can_load_ebpf,
    collector::{Collector, free_addr, make_certs, node},
    kubelet::KubeletServer,
    nonce,
    report::{Report, median, quantile},
    tmp_dir,
    workload::{exec_storm, open_storm},
};
use serde_json::{Value, json};

/// Time between triggers: far apart enough that findings do not queue behind
/// each other, so each sample is one finding's own latency.
const PERIOD: Duration = Duration::from_millis(50);
/// How long after the last trigger a finding may still arrive.
const GRACE: Duration = Duration::from_secs(10);
const RULE: &str = "Latency probe";
/// The targets for p99, in ms.
const TARGET_IDLE_MS: f64 = 5.0;
const TARGET_LOADED_MS: f64 = 50.0;

/// `sensorctl tail`, killed on drop; its stdout lines with their arrival times.
struct Tail {
    child: Child,
    lines: Receiver<(SystemTime, String)>,
    /// By file name: when the line came, and the finding's (kernel) time.
    arrivals: HashMap<String, (SystemTime, SystemTime)>,
}

impl Tail {
    /// As the analyst, kept running.
    fn start(collector: &Collector) -> anyhow::Result<Self> {
        let mut child = collector
            .sensorctl_command(&[
                "tail",
                "-o",
                "json",
                "--where",
                &format!("rule = \"{RULE}\""),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .context("starting sensorctl tail")?;
        let stdout = child.stdout.take().context("sensorctl's stdout")?;
        let (tx, lines) = mpsc::channel();
        // A thread of its own, so a line's arrival is stamped when it is read,
        // not when the bench next looks. It ends at EOF, when the child is killed.
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let at = SystemTime::now();
                let Ok(line) = line else { break };
                if tx.send((at, line)).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            lines,
            arrivals: HashMap::new(),
        })
    }

    /// Takes lines until `until`, keyed by the finding's file name.
    fn take_until(&mut self, until: Instant) -> anyhow::Result<()> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let (at, line) = match self.lines.recv_timeout(left) {
                Ok(got) => got,
                Err(RecvTimeoutError::Timeout) => return Ok(()),
                Err(RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("sensorctl tail ended: {:?}", self.child.try_wait())
                }
            };
            let f: Value = serde_json::from_str(&line).with_context(|| line.clone())?;
            let name = f["output_fields"]["fd.name"]
                .as_str()
                .context("no fd.name")?;
            let time = f["time"]
                .as_str()
                .and_then(|t| humantime::parse_rfc3339(t).ok());
            let time = time.with_context(|| format!("a finding's time: {line}"))?;
            self.arrivals.insert(name.to_owned(), (at, time));
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `b - a` in ms, negative if `b` is earlier.
fn ms_between(a: SystemTime, b: SystemTime) -> f64 {
    match b.duration_since(a) {
        Ok(d) => d.as_secs_f64() * 1e3,
        Err(e) => -e.duration().as_secs_f64() * 1e3,
    }
}

/// What the phases share.
struct Bench<'a> {
    dir: &'a Path,
    agent: &'a Agent,
    tail: Tail,
    report: Report,
    samples: u64,
}

impl Bench<'_> {
    /// Creates `samples` files `probe-<label>-<i>`, one every [`PERIOD`],
    /// waits for their findings, and reports their latencies.
    fn phase(&mut self, label: &str, target: f64) -> anyhow::Result<()> {
        let drops = ring_full(self.agent)?;
        let mut sent = Vec::new();
        for i in 0..self.samples {
            let path = self.dir.join(format!("probe-{label}-{i}"));
            let before = SystemTime::now();
            // The creating openat is the trigger: one syscall, one finding.
            std::fs::File::create(&path)?;
            sent.push((path.display().to_string(), before));
            self.tail.take_until(Instant::now() + PERIOD)?;
        }
        let deadline = Instant::now() + GRACE;
        let arrived = |tail: &Tail| sent.iter().all(|(p, _)| tail.arrivals.contains_key(p));
        while Instant::now() < deadline && !arrived(&self.tail) {
            let step = Instant::now() + Duration::from_millis(100);
            self.tail.take_until(step.min(deadline))?;
        }
        let drops = ring_full(self.agent)? - drops;
        // Kernel time to stored, and (the cross-check) just before the trigger to stored.
        let (mut latencies, mut from_trigger, mut lost) = (Vec::new(), Vec::new(), 0);
        for (path, before) in &sent {
            match self.tail.arrivals.get(path) {
                Some(&(at, time)) => {
                    latencies.push(ms_between(time, at));
                    from_trigger.push(ms_between(*before, at));
                }
                None => lost += 1,
            }
        }
        // The median as the report's table computes it, so the two agree.
        let (p50, p99) = (median(&latencies), quantile(&latencies, 0.99));
        let max = quantile(&latencies, 1.0);
        let (t50, t99) = (median(&from_trigger), quantile(&from_trigger, 0.99));
        println!(
            "{label}: kernel time to stored p50 {p50:.2} ms, p99 {p99:.2} ms (target < {target} ms), \
             max {max:.2} ms; from before the syscall p50 {t50:.2} ms, p99 {t99:.2} ms; \
             {} samples, {lost} lost, {drops} ring_full drops",
            latencies.len(),
        );
        for &l in &latencies {
            self.report.add(label, "sensor", l);
        }
        let summary = json!({
            "p50_ms": p50, "p99_ms": p99, "max_ms": max, "target_p99_ms": target,
            "trigger_p50_ms": t50, "trigger_p99_ms": t99,
            "samples": latencies.len(), "lost": lost, "ring_full_drops": drops,
        });
        self.report.note(label, summary);
        Ok(())
    }
}

/// Runs `run(batch)` until `stop`; returns operations per second.
fn storm(stop: &AtomicBool, batch: u64, run: impl Fn(u64) -> f64) -> f64 {
    let start = Instant::now();
    let mut ops = 0;
    while !stop.load(Ordering::Relaxed) {
        run(batch);
        ops += batch;
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

fn ring_full(agent: &Agent) -> anyhow::Result<f64> {
    let scrape = agent.scrape()?;
    Ok(scrape.sum("sensor_kernel_drops_total", &["reason=\"ring_full\""]))
}

fn main() -> anyhow::Result<()> {
    if !can_load_ebpf("bench latency") {
        return Ok(());
    }
    let samples = bench_arg("--samples", 200);
    // Removed however the benchmark ends.
    let tmp = tmp_dir("latency");
    let dir: &Path = &tmp;

    make_certs(dir, &[node()]);
    let collector = Collector::start(dir, free_addr());
    // A node name is what the collector checks against the sensor's certificate,
    // and it turns the kubelet on: give it the test kubelet, as delivery.rs does.
    let kubelet = KubeletServer::start();
    let rules = dir.join("latency.yaml");
    let prefix = dir.join("probe-").display().to_string();
    std::fs::write(
        &rules,
        format!(
            "- rule: {RULE}\n  desc: the latency benchmark's trigger\n  \
             condition: evt.type in (open, openat, openat2) and fd.name startswith \"{prefix}\"\n  \
             output: \"latency probe (file=%fd.name)\"\n  priority: NOTICE\n"
        ),
    )?;
    let defaults = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules/default");
    // The default rules too, so the agent does its usual work. No folding and
    // no rate limit: every trigger must make its own finding, at once.
    let flags = [
        ("--rules", defaults.display().to_string()),
        ("--rules", rules.display().to_string()),
        ("--fold-window-secs", "0".into()),
        ("--rule-rate", "0".into()),
        ("--node-name", node().into()),
        ("--kubelet-url", kubelet.url()),
        ("--kubelet-ca-file", kubelet.ca_file().display().to_string()),
        (
            "--kubelet-token-file",
            kubelet.token_file().display().to_string(),
        ),
    ];
    let mut args: Vec<String> = flags.into_iter().flat_map(|(f, v)| [f.into(), v]).collect();
    args.extend(collector.sensor_args(node(), &dir.join("spool")));
    let agent = Agent::start(&args, &dir.join("sensor.log"))?;
    let mut tail = Tail::start(&collector)?;

    // Until a first finding comes through, the shipper may still be connecting
    // and the tail subscribing: neither belongs in a sample.
    let warm = Instant::now();
    for i in 0.. {
        let path = dir.join(format!("probe-warmup-{i}"));
        std::fs::File::create(&path)?;
        tail.take_until(Instant::now() + Duration::from_millis(200))?;
        if tail.arrivals.contains_key(&path.display().to_string()) {
            break;
        }
        anyhow::ensure!(warm.elapsed().as_secs() < 60, "no finding in 60 s");
    }
    tail.take_until(Instant::now() + Duration::from_millis(500))?;
    println!("latency: {samples} samples per phase, one every {PERIOD:?}");

    let mut report = Report::new("latency");
    report.workload("idle", "ms", "sensor");
    report.workload("loaded", "ms", "sensor");
    let mut bench = Bench {
        dir,
        agent: &agent,
        tail,
        report,
        samples,
    };
    bench.phase("idle", TARGET_IDLE_MS)?;

    // The background: execs (every one reaches the agent's process table and
    // rules) and opens of a file no rule watches (dropped in the kernel).
    let busy = dir.join("busy");
    std::fs::File::create(&busy)?;
    let busy = CString::new(busy.as_os_str().as_bytes())?;
    let marker = nonce("latency-load");
    let stop = AtomicBool::new(false);
    let (exec_rate, open_rate) = thread::scope(|s| {
        let execs = s.spawn(|| storm(&stop, 20, |n| exec_storm(n, &marker)));
        let opens = s.spawn(|| storm(&stop, 5_000, |n| open_storm(&busy, n)));
        thread::sleep(Duration::from_secs(1));
        let loaded = bench.phase("loaded", TARGET_LOADED_MS);
        stop.store(true, Ordering::Relaxed);
        let join = |h: thread::ScopedJoinHandle<'_, f64>| {
            h.join().map_err(|_| anyhow!("a background storm panicked"))
        };
        loaded.and(Ok((join(execs)?, join(opens)?)))
    })?;
    println!("loaded: background {exec_rate:.0} execs/s and {open_rate:.0} unwatched opens/s");
    let rates = json!({"exec_per_s": exec_rate, "open_per_s": open_rate});
    bench.report.note("loaded_background", rates);

    // The rest (the tail, the kubelet, the collector, the tmp dir) goes on drop.
    let Bench { report, .. } = bench;
    let status = agent.stop()?;
    anyhow::ensure!(status.success(), "sensor run exited with {status}");
    report.finish()?;
    Ok(())
}
