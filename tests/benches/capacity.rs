//! Benchmark: the pipeline's capacity. One rule matches every open of a
//! directory; opens of it are offered at a rising rate, in steps, until the
//! kernel reports its first drop (or the machine cannot offer more). Prints,
//! per step, the rate offered, the events the agent read, its drops and its CPU
//! per million events, and the highest rate delivered to the rules engine with
//! zero drops.
//!
//! `cargo xtask bench capacity [-- --start N --step N --max N --seconds N --threads N]`

use std::{
    ffi::CString,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sensor_tests::{agent::Agent, bench_arg, can_load_ebpf, report::Report, tmp_dir};
use serde_json::json;

/// Opens and closes `path` at `rate` per second for `seconds`, paced in slots of
/// a millisecond so the rate holds through the step instead of arriving in
/// bursts; returns the opens done.
fn paced_opens(path: &CString, rate: u64, seconds: u64) -> u64 {
    const SLOT: Duration = Duration::from_millis(1);
    let slots = seconds * 1000;
    let start = Instant::now();
    let mut done = 0u64;
    for slot in 0..slots {
        let due = (slot + 1) * rate / 1000;
        while done < due {
            // SAFETY: a valid C string; the fd is closed at once.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
            if fd >= 0 {
                // SAFETY: our fd.
                unsafe { libc::close(fd) };
            }
            done += 1;
        }
        let next = SLOT * (slot as u32 + 1);
        if let Some(wait) = next.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    done
}

/// One step's measurements.
struct Step {
    offered: f64,
    read: f64,
    drops: f64,
    cpu_per_million: f64,
}

fn main() -> anyhow::Result<()> {
    if !can_load_ebpf("bench capacity") {
        return Ok(());
    }
    let start = bench_arg("--start", 50_000);
    let step = bench_arg("--step", 50_000);
    let max = bench_arg("--max", 600_000);
    let seconds = bench_arg("--seconds", 4);
    let threads = bench_arg("--threads", 2).max(1);
    let dir = tmp_dir("bench-capacity");
    let target = dir.join("opened");
    std::fs::write(&target, b"x")?;
    let rules = dir.join("every-open.yaml");
    std::fs::write(
        &rules,
        format!(
            "- rule: Every open\n  desc: the capacity benchmark's rule\n  \
             condition: evt.type in (open, openat, openat2) and fd.name startswith {}/\n  \
             output: \"open (file=%fd.name process=%proc.name)\"\n  priority: NOTICE\n",
            dir.display()
        ),
    )?;
    let agent = Agent::start(
        &[
            "--stdout".into(),
            "--rules".into(),
            rules.display().to_string(),
        ],
        &dir.join("agent.log"),
    )?;
    let path = CString::new(target.display().to_string())?;
    println!(
        "capacity: one rule matching every open of {}; steps of {seconds} s from {start}/s by {step}/s, {threads} threads offering",
        dir.display()
    );
    println!(
        "{:>12} {:>12} {:>12} {:>10} {:>16}",
        "target /s", "offered /s", "read /s", "drops", "agent CPU s/M"
    );
    let mut steps = Vec::new();
    let mut rate = start;
    while rate <= max {
        let before = (agent.scrape()?, agent.cpu());
        let offered = Arc::new(AtomicU64::new(0));
        let began = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let (path, offered) = (&path, offered.clone());
                scope.spawn(move || {
                    let n = paced_opens(path, rate / threads, seconds);
                    offered.fetch_add(n, Ordering::Relaxed);
                });
            }
        });
        let elapsed = began.elapsed().as_secs_f64();
        // The agent adds its per-event counts to the metrics once a second.
        std::thread::sleep(Duration::from_millis(1500));
        let (after, cpu) = (agent.scrape()?, agent.cpu());
        let delta =
            |name: &str, labels: &[&str]| after.sum(name, labels) - before.0.sum(name, labels);
        let read = delta("sensor_events_total", &["kind=\"open\""]);
        let drops = delta("sensor_kernel_drops_total", &["reason=\"ring_full\""]);
        let s = Step {
            offered: offered.load(Ordering::Relaxed) as f64 / elapsed,
            read: read / elapsed,
            drops,
            cpu_per_million: cpu.saturating_sub(before.1).as_secs_f64() * 1e6 / read.max(1.0),
        };
        println!(
            "{rate:>12} {:>12.0} {:>12.0} {:>10.0} {:>16.2}",
            s.offered, s.read, s.drops, s.cpu_per_million
        );
        let short = s.offered < 0.95 * rate as f64;
        let dropped = s.drops > 0.0;
        steps.push((rate, s));
        if dropped {
            println!("first kernel drops at {rate}/s offered");
            break;
        }
        if short {
            println!("the machine offers no more than this: the generator fell short of {rate}/s");
            break;
        }
        rate += step;
    }
    agent.stop()?;
    let best = steps
        .iter()
        .filter(|(_, s)| s.drops == 0.0)
        .max_by(|a, b| a.1.read.total_cmp(&b.1.read));
    let mut report = Report::new("capacity");
    report.note(
        "steps",
        json!(
            steps
                .iter()
                .map(|(rate, s)| json!({
                    "target_per_s": rate,
                    "offered_per_s": s.offered,
                    "read_per_s": s.read,
                    "ring_full_drops": s.drops,
                    "agent_cpu_s_per_million": s.cpu_per_million,
                }))
                .collect::<Vec<_>>()
        ),
    );
    if let Some((_, s)) = best {
        println!(
            "highest rate delivered with zero drops: {:.0} events/s (target 300,000), agent CPU {:.2} s per million events",
            s.read, s.cpu_per_million
        );
        report.note("zero-drop events/s", json!(s.read));
        report.note("agent CPU s per million events", json!(s.cpu_per_million));
    }
    report.finish()?;
    Ok(())
}
