//! Benchmark results side by side: per workload, the runs of every setup (no
//! sensor, this sensor, each peer), their medians, and ratios to a baseline
//! setup, printed as a table and written as JSON under `bench/results/`.
//!
//! Two ratios for each setup: the ratio of the medians, and the median of each
//! run's own ratio. Setups of one run ran seconds apart, so a slow spell of this
//! shared machine weighs on both sides of a run's ratio; medians of setups can
//! come from different spells.

use std::{collections::BTreeMap, path::PathBuf};

use serde_json::{Value, json};

/// One workload's measurements.
#[derive(Debug)]
struct Workload {
    name: String,
    unit: String,
    /// The setup the ratios are taken against.
    baseline: String,
    /// Runs of each setup, in the order setups were first measured.
    runs: Vec<(String, Vec<f64>)>,
}

/// A benchmark's results.
#[derive(Debug)]
pub struct Report {
    bench: String,
    workloads: Vec<Workload>,
    /// Other measurements (counts, footprints), printed and kept as they are.
    extra: BTreeMap<String, Value>,
}

/// The median of `values` (the upper one of an even count); 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// The `q` quantile (0..=1) of `values`, nearest rank; 0 for none.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl Report {
    /// An empty report of benchmark `bench`.
    pub fn new(bench: &str) -> Self {
        Self {
            bench: bench.to_owned(),
            workloads: Vec::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Declares a workload measured in `unit`, whose ratios are to `baseline`.
    pub fn workload(&mut self, name: &str, unit: &str, baseline: &str) {
        self.workloads.push(Workload {
            name: name.to_owned(),
            unit: unit.to_owned(),
            baseline: baseline.to_owned(),
            runs: Vec::new(),
        });
    }

    /// Adds one run's `value` of `setup` on `workload` (declared before).
    pub fn add(&mut self, workload: &str, setup: &str, value: f64) {
        let w = self
            .workloads
            .iter_mut()
            .find(|w| w.name == workload)
            .unwrap_or_else(|| panic!("workload {workload} was not declared"));
        match w.runs.iter_mut().find(|(s, _)| s == setup) {
            Some((_, runs)) => runs.push(value),
            None => w.runs.push((setup.to_owned(), vec![value])),
        }
    }

    /// Keeps another measurement under `key`.
    pub fn note(&mut self, key: &str, value: Value) {
        self.extra.insert(key.to_owned(), value);
    }

    /// The median of `setup` on `workload`, if measured.
    pub fn median_of(&self, workload: &str, setup: &str) -> Option<f64> {
        let w = self.workloads.iter().find(|w| w.name == workload)?;
        let (_, runs) = w.runs.iter().find(|(s, _)| s == setup)?;
        Some(median(runs))
    }

    /// Prints the table and writes `bench/results/<bench>.json`; returns its path.
    pub fn finish(&self) -> anyhow::Result<PathBuf> {
        let json = self.to_json();
        for w in &self.workloads {
            println!("\n{} ({}; ratios to {}):", w.name, w.unit, w.baseline);
            println!(
                "  {:18} {:>14} {:>10} {:>10} {:>8}",
                "setup", "median", "ratio", "paired", "runs"
            );
            for (setup, runs) in &w.runs {
                let (ratio, paired) = ratios(w, runs);
                // Rates in the thousands need no decimals; latencies in ms do.
                let m = median(runs);
                let digits = if m.abs() < 100.0 { 3 } else { 1 };
                println!(
                    "  {setup:18} {m:>14.digits$} {ratio:>10.3} {paired:>10.3} {:>8}",
                    runs.len()
                );
            }
        }
        for (key, value) in &self.extra {
            println!("{key}: {value}");
        }
        let dir = results_dir();
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.json", self.bench));
        std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")?;
        println!("\nwritten to {}", path.display());
        Ok(path)
    }

    fn to_json(&self) -> Value {
        let workloads: Vec<Value> = self
            .workloads
            .iter()
            .map(|w| {
                let setups: serde_json::Map<String, Value> = w
                    .runs
                    .iter()
                    .map(|(setup, runs)| {
                        let (ratio, paired) = ratios(w, runs);
                        (
                            setup.clone(),
                            json!({
                                "runs": runs,
                                "median": median(runs),
                                "ratio_of_medians": ratio,
                                "median_of_paired_ratios": paired,
                            }),
                        )
                    })
                    .collect();
                json!({
                    "name": w.name,
                    "unit": w.unit,
                    "baseline": w.baseline,
                    "setups": setups,
                })
            })
            .collect();
        json!({
            "bench": self.bench,
            "unix_time": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default(),
            "machine": machine(),
            "workloads": workloads,
            "extra": self.extra,
        })
    }
}

/// `runs`' ratio to the workload's baseline: of the medians, and the median
/// of the per-run ratios.
fn ratios(w: &Workload, runs: &[f64]) -> (f64, f64) {
    let Some((_, base)) = w.runs.iter().find(|(s, _)| *s == w.baseline) else {
        return (f64::NAN, f64::NAN);
    };
    let paired: Vec<f64> = runs.iter().zip(base).map(|(r, b)| r / b).collect();
    (median(runs) / median(base), median(&paired))
}

/// Where results go: `bench/results/` at the workspace root.
pub fn results_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("bench")
        .join("results")
}

/// What the numbers were measured on: kernel, cores, memory, commit.
fn machine() -> Value {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or_default();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    json!({
        "kernel": kernel.trim(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_kib": memory_kib,
        "commit": commit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_of_medians_and_paired() {
        let mut r = Report::new("t");
        r.workload("w", "ops/s", "none");
        for (none, sensor) in [(100.0, 90.0), (200.0, 190.0), (300.0, 150.0)] {
            r.add("w", "none", none);
            r.add("w", "sensor", sensor);
        }
        let w = &r.workloads[0];
        let (ratio, paired) = ratios(w, &w.runs[1].1);
        assert!((ratio - 150.0 / 200.0).abs() < 1e-9);
        // per run: 0.9, 0.95, 0.5 -> median 0.9
        assert!((paired - 0.9).abs() < 1e-9);
        assert_eq!(quantile(&[5.0, 1.0, 3.0, 2.0, 4.0], 0.99), 5.0);
        assert_eq!(quantile(&[5.0, 1.0, 3.0, 2.0, 4.0], 0.5), 3.0);
    }
}
