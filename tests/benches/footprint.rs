//! Benchmark: the agent's footprint. Resident memory and CPU idle, under load,
//! and after a million short-lived processes, which must leave nothing behind:
//! the process table and the memory return to where they started (within 5 MB).
//!
//! `cargo xtask bench footprint [-- --idle-seconds N --load-seconds N --execs N]`
//!
//! The agent runs as deployed: `sensor run` with the default rules. "Idle" is
//! this machine with nothing started by the benchmark; the agent still sees the
//! machine's own processes.

use std::{
    ffi::CString,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use sensor_tests::{
    agent::{Agent, peak_rss_kib},
    bench_arg, can_load_ebpf, nonce,
    report::Report,
    tmp_dir,
    workload::{exec_storm, open_storm},
};
use serde_json::json;

/// Memory may grow by this much over a million execs and still count as returned.
const RETURN_KIB: u64 = 5 * 1024;

/// The agent's resident memory, CPU time and process table now.
fn sample(agent: &Agent) -> anyhow::Result<(u64, Duration, f64)> {
    Ok((
        agent.rss_kib(),
        agent.cpu(),
        agent.scrape()?.sum("sensor_processes", &[]),
    ))
}

fn main() -> anyhow::Result<()> {
    if !can_load_ebpf("bench footprint") {
        return Ok(());
    }
    let idle_seconds = bench_arg("--idle-seconds", 30);
    let load_seconds = bench_arg("--load-seconds", 20);
    let execs = bench_arg("--execs", 1_000_000);
    let dir = tmp_dir("bench-footprint");
    let agent = Agent::start(&["--stdout".into()], &dir.join("agent.log"))?;
    let mut report = Report::new("footprint");
    // Let start-up settle (the process table from /proc, the first ticks).
    std::thread::sleep(Duration::from_secs(5));

    let (rss_start, cpu0, table_start) = sample(&agent)?;
    let idle = Instant::now();
    std::thread::sleep(Duration::from_secs(idle_seconds));
    let (rss_idle, cpu1, _) = sample(&agent)?;
    let idle_cpu = cpu1.saturating_sub(cpu0).as_secs_f64() / idle.elapsed().as_secs_f64();
    println!(
        "idle: {:.1} MiB resident, {:.2}% of a core over {idle_seconds} s (targets: < 50 MB, < 0.5%)",
        rss_idle as f64 / 1024.0,
        idle_cpu * 100.0
    );
    report.note(
        "idle",
        json!({ "rss_kib": rss_idle, "cpu_share_of_core": idle_cpu, "seconds": idle_seconds }),
    );

    // Load: execs and opens of a watched file, each on a thread of its own.
    let stop = AtomicBool::new(false);
    let loaded = Instant::now();
    let marker = nonce("footprint");
    let (execs_done, opens_done) = std::thread::scope(|scope| {
        let execs = scope.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                exec_storm(100, &marker);
                n += 100;
            }
            n
        });
        let opens = scope.spawn(|| {
            let shadow = CString::new("/etc/shadow").expect("a path");
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                open_storm(&shadow, 10_000);
                n += 10_000;
            }
            n
        });
        std::thread::sleep(Duration::from_secs(load_seconds));
        stop.store(true, Ordering::Relaxed);
        (
            execs.join().expect("the exec thread"),
            opens.join().expect("the open thread"),
        )
    });
    let seconds = loaded.elapsed().as_secs_f64();
    let (rss_load, cpu2, _) = sample(&agent)?;
    let peak = peak_rss_kib(agent.pid());
    let load_cpu = cpu2.saturating_sub(cpu1).as_secs_f64() / seconds;
    println!(
        "load ({:.0} execs/s, {:.0} watched opens/s): {:.1} MiB resident, {:.1} MiB peak, {:.1}% of a core",
        execs_done as f64 / seconds,
        opens_done as f64 / seconds,
        rss_load as f64 / 1024.0,
        peak as f64 / 1024.0,
        load_cpu * 100.0
    );
    report.note(
        "load",
        json!({
            "execs_per_s": execs_done as f64 / seconds,
            "watched_opens_per_s": opens_done as f64 / seconds,
            "rss_kib": rss_load,
            "peak_rss_kib": peak,
            "cpu_share_of_core": load_cpu,
        }),
    );

    // A million short-lived processes, in chunks, with progress.
    let marker = nonce("footprint-churn");
    let churn = Instant::now();
    let mut done = 0;
    while done < execs {
        let chunk = (execs - done).min(50_000);
        exec_storm(chunk, &marker);
        done += chunk;
        eprintln!(
            "{done} execs, {:.0}/s, agent {:.1} MiB",
            done as f64 / churn.elapsed().as_secs_f64(),
            agent.rss_kib() as f64 / 1024.0
        );
    }
    // The table forgets exited processes after their grace period.
    std::thread::sleep(Duration::from_secs(10));
    let (rss_after, _, table_after) = sample(&agent)?;
    let scrape = agent.scrape()?;
    let drops = scrape.sum("sensor_kernel_drops_total", &["reason=\"ring_full\""]);
    let grown = rss_after.saturating_sub(rss_start);
    println!(
        "after {execs} execs: {:.1} MiB resident (started at {:.1} MiB: {} by {:.1} MiB; limit 5 MB), process table {table_start} -> {table_after}, ring-full drops {drops}",
        rss_after as f64 / 1024.0,
        rss_start as f64 / 1024.0,
        if grown <= RETURN_KIB {
            "returned"
        } else {
            "GREW"
        },
        grown as f64 / 1024.0,
    );
    report.note(
        "after execs",
        json!({
            "execs": execs,
            "execs_per_s": execs as f64 / churn.elapsed().as_secs_f64(),
            "rss_start_kib": rss_start,
            "rss_after_kib": rss_after,
            "returned_within_5_mb": grown <= RETURN_KIB,
            "process_table_start": table_start,
            "process_table_after": table_after,
            "ring_full_drops": drops,
        }),
    );
    agent.stop()?;
    report.finish()?;
    Ok(())
}
