//! Benchmark: what the reader pays per event under each wakeup policy.
//!
//! `cargo xtask bench wakeup [-- --execs N --rounds R]`
//!
//! A shell in another process execs `/bin/true` N times while the sensor's reader
//! runs on its own thread. For each policy the benchmark reports the wakeups, and
//! the reader thread's CPU time and voluntary context switches per event
//! (getrusage(RUSAGE_THREAD)). The policies alternate within each round, so both
//! see the same machine load; compare the ratio, not the absolute numbers.

use std::time::{Duration, Instant};

use sensor::kernel::{KernelConfig, WakeupPolicy};
use sensor_tests::{
    bench_arg, can_load_ebpf, nonce,
    workload::{is_marked, spawn_execs},
};

struct Sample {
    events: usize,
    wakeups: u64,
    timer_polls: u64,
    cpu: Duration,
    switches: i64,
    wall: Duration,
}

fn thread_usage() -> (Duration, i64) {
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer; RUSAGE_THREAD is supported on Linux since 2.6.26.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(usage.ru_utime) + tv(usage.ru_stime), usage.ru_nvcsw)
}

fn measure(policy: WakeupPolicy, execs: usize) -> Sample {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let config = KernelConfig {
                wakeup: policy,
                kinds: vec![sensor::event::EventKind::Exec],
                ..KernelConfig::default()
            };
            let (_sensor, mut reader) =
                sensor::kernel::KernelSensor::start(&config).expect("starting the sensor");
            let marker = nonce("bench");
            let (cpu0, switches0) = thread_usage();
            let start = Instant::now();
            let mut workload = spawn_execs(execs, &marker);
            let mut batch = Vec::new();
            let mut seen = 0;
            while seen < execs {
                assert!(
                    start.elapsed() < Duration::from_secs(300),
                    "workload stalled"
                );
                reader.read_batch(&mut batch).await.expect("reading");
                seen += batch.iter().filter(|e| is_marked(e, &marker)).count();
                batch.clear();
            }
            let wall = start.elapsed();
            let (cpu1, switches1) = thread_usage();
            workload.wait().expect("waiting for the workload");
            let stats = reader.stats();
            Sample {
                events: seen,
                wakeups: stats.wakeups,
                timer_polls: stats.timer_polls,
                cpu: cpu1 - cpu0,
                switches: switches1 - switches0,
                wall,
            }
        })
    })
    .join()
    .expect("the measuring thread")
}

fn main() {
    if !can_load_ebpf("bench wakeup") {
        return;
    }
    let execs = bench_arg("--execs", 2000) as usize;
    let rounds = bench_arg("--rounds", 3) as usize;
    let policies = [
        ("every-event", WakeupPolicy::EveryEvent),
        ("batched", KernelConfig::default().wakeup),
    ];
    println!("wakeup benchmark: {execs} execs per run, {rounds} rounds, policies alternate");
    println!(
        "{:12} {:>6} {:>8} {:>7} {:>12} {:>14} {:>8}",
        "policy", "events", "wakeups", "polls", "cpu µs/event", "switches/event", "wall s"
    );
    let mut per_event = [Vec::new(), Vec::new()];
    for _ in 0..rounds {
        for (i, (name, policy)) in policies.iter().enumerate() {
            let s = measure(*policy, execs);
            let cpu_per_event = s.cpu.as_secs_f64() * 1e6 / s.events as f64;
            per_event[i].push(cpu_per_event);
            println!(
                "{name:12} {:>6} {:>8} {:>7} {:>12.2} {:>14.3} {:>8.2}",
                s.events,
                s.wakeups,
                s.timer_polls,
                cpu_per_event,
                s.switches as f64 / s.events as f64,
                s.wall.as_secs_f64()
            );
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let every = median(&mut per_event[0]);
    let batched = median(&mut per_event[1]);
    println!(
        "median reader CPU per event: every-event {every:.2} µs, batched {batched:.2} µs, ratio {:.2}x",
        every / batched
    );
}
