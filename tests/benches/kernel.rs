//! Benchmark: what the kernel side costs the workloads it watches.
//!
//! `cargo xtask bench kernel [-- --runs N --opens N --execs N --connects N]`
//!
//! Four storms run in this process (opens and connects) or its children (execs):
//! open/close of a file outside the watched prefixes, exec of /bin/true, TCP
//! connects over loopback accepted by the same thread, and the same connects
//! answered by another thread (round trips, which also measure how fast an idle
//! core wakes). Each runs with no sensor, with the floor (empty programs
//! on the same hooks), and with the sensor (all programs, the open filter on, the
//! reader draining the ring), the three interleaved within every run so they share
//! the machine's load. Medians of throughput and the ratios are printed.
//!
//! The floor and the sensor are held by a child process (this benchmark run
//! again, see `sensor_tests::holder`), as the agent is in deployment.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use sensor::kernel::{KernelConfig, KernelSensor, OpenFilter, counters};
use sensor_common::DropReason;
use sensor_tests::{
    bench_arg, can_load_ebpf, exec_of,
    floor::Floor,
    holder::{self, Holder},
    nonce,
    progtime::{Recording, Snapshot},
    workload::{connect_round_trips, connect_storm, exec_storm, open_storm},
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Setup {
    None,
    Floor,
    Sensor,
}

const SETUPS: [Setup; 3] = [Setup::None, Setup::Floor, Setup::Sensor];
const STORMS: [&str; 4] = ["open/close", "exec", "connect", "round trip"];

/// A file outside every watched prefix.
const UNWATCHED: &std::ffi::CStr = c"/etc/hostname";

/// The sensor with its reader on a thread of its own, counting the marked execs.
struct Running {
    stop: Arc<AtomicBool>,
    execs: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<u64>,
}

fn start_sensor(marker: String) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let execs = Arc::new(AtomicU64::new(0));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop2, execs2) = (stop.clone(), execs.clone());
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let config = KernelConfig {
                open_filter: Some(OpenFilter {
                    read: vec!["/nothing-is-watched-here/".into()],
                    write: vec!["/nothing-is-watched-here/".into()],
                    ..OpenFilter::default()
                }),
                ..KernelConfig::default()
            };
            let (sensor, mut reader) = KernelSensor::start(&config).expect("starting the sensor");
            ready_tx.send(()).expect("signalling readiness");
            let mut batch = Vec::new();
            let tally = |batch: &mut Vec<sensor::event::Event>| {
                let marked = batch
                    .iter()
                    .filter_map(exec_of)
                    .filter(|e| e.argv.get(1) == Some(&marker))
                    .count();
                execs2.fetch_add(marked as u64, Ordering::Relaxed);
                batch.clear();
            };
            while !stop2.load(Ordering::Relaxed) {
                reader.read_batch(&mut batch).await.expect("reading");
                tally(&mut batch);
            }
            reader.drain(&mut batch);
            tally(&mut batch);
            let counts = sensor.counters().read().expect("the counters");
            counters::total(&counts, DropReason::RingFull)
        })
    });
    ready_rx.recv().expect("the sensor started");
    Running {
        stop,
        execs,
        thread,
    }
}

/// The marker of the execs a holding sensor counts.
const MARKER_ENV: &str = "SENSOR_BENCH_KERNEL_MARKER";

/// The holder's side (see [`holder`]): attaches what `role` names, holds it
/// until released, then detaches and, for the sensor, prints its ring-full
/// drops and the marked execs it saw.
fn hold(role: &str) {
    if role == "floor" {
        Floor::hold().expect("holding the floor");
        return;
    }
    assert_eq!(role, "sensor", "no such holder");
    let running =
        start_sensor(std::env::var(MARKER_ENV).expect("the marker of the execs to count"));
    holder::hold_until_released();
    // Let the reader's timer pick up the tail before stopping it.
    std::thread::sleep(Duration::from_millis(300));
    running.stop.store(true, Ordering::Relaxed);
    let ring_full = running.thread.join().expect("the reader thread");
    let execs = running.execs.load(Ordering::Relaxed);
    println!("{ring_full} {execs}");
}

/// What a setup attached: nothing, or the holder of its programs.
struct Attached {
    holder: Option<Holder>,
}

impl Setup {
    /// Attaches this setup's programs; the sensor counts execs marked `marker`.
    fn attach(self, marker: &str) -> Attached {
        Attached {
            holder: match self {
                Setup::None => None,
                Setup::Floor => Some(Holder::start("floor", &[])),
                Setup::Sensor => Some(Holder::start("sensor", &[(MARKER_ENV, marker)])),
            },
        }
    }
}

impl Attached {
    /// Detaches; for the sensor, its ring-full drops and the marked execs it saw.
    fn detach(self) -> Option<(u64, u64)> {
        let printed = self.holder?.stop();
        // The floor prints nothing; the sensor its two counts.
        if printed.trim().is_empty() {
            return None;
        }
        let mut words = printed.split_whitespace().map(str::parse::<u64>);
        match (words.next(), words.next()) {
            (Some(Ok(full)), Some(Ok(seen))) => Some((full, seen)),
            _ => panic!("the sensor's holder printed {printed:?}, not its counts"),
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    if let Some(role) = holder::role() {
        hold(&role);
        return;
    }
    if !can_load_ebpf("bench kernel") {
        return;
    }
    let runs = bench_arg("--runs", 5) as usize;
    let opens = bench_arg("--opens", 1_000_000);
    let execs = bench_arg("--execs", 2_000);
    let connects = bench_arg("--connects", 10_000);
    println!(
        "kernel benchmark: {runs} runs; per run {opens} opens, {execs} execs, {connects} connects"
    );
    // rates[storm][setup] = per-run throughputs
    let mut rates = vec![vec![Vec::new(); SETUPS.len()]; STORMS.len()];
    let mut lost_execs = 0u64;
    let mut ring_full = 0u64;
    for run in 0..runs {
        // Each run starts one setup further on, so none always runs first or
        // always follows the sensor's detach (position effects cancel out).
        for k in 0..SETUPS.len() {
            let s = (run + k) % SETUPS.len();
            let setup = SETUPS[s];
            let marker = nonce("bench-exec");
            let attached = setup.attach(&marker);
            let measured = [
                open_storm(UNWATCHED, opens),
                exec_storm(execs, &marker),
                connect_storm(connects),
                connect_round_trips(connects),
            ];
            if let Some((full, seen)) = attached.detach() {
                ring_full += full;
                lost_execs += execs - seen.min(execs);
            }
            for (w, rate) in measured.into_iter().enumerate() {
                rates[w][s].push(rate);
            }
            eprintln!(
                "run {run} {setup:?}: open {:.0}/s exec {:.0}/s connect {:.0}/s round trip {:.0}/s",
                measured[0], measured[1], measured[2], measured[3]
            );
        }
    }
    // Two views of the same runs: the ratio of the medians, and the median of
    // each run's own ratio (setups that ran seconds apart, so a slow spell of
    // the shared machine weighs on both sides of it).
    println!(
        "{:12} {:>10} {:>10} {:>10} {:>12} {:>12} {:>14} {:>14}",
        "storm",
        "none /s",
        "floor /s",
        "sensor /s",
        "sensor/none",
        "sensor/floor",
        "paired s/none",
        "paired s/floor"
    );
    for (w, storm) in STORMS.iter().enumerate() {
        let paired = |other: usize| {
            let mut ratios: Vec<f64> = rates[w][2]
                .iter()
                .zip(&rates[w][other])
                .map(|(sensor, base)| sensor / base)
                .collect();
            median(&mut ratios)
        };
        let (paired_none, paired_floor) = (paired(0), paired(1));
        let none = median(&mut rates[w][0]);
        let floor = median(&mut rates[w][1]);
        let sensor = median(&mut rates[w][2]);
        println!(
            "{storm:12} {none:>10.0} {floor:>10.0} {sensor:>10.0} {:>12.3} {:>12.3} {paired_none:>14.3} {paired_floor:>14.3}",
            sensor / none,
            sensor / floor
        );
    }
    println!("execs lost by the sensor: {lost_execs}; ring-full drops: {ring_full}");
    program_time(opens / 4, execs / 4, connects / 4);
}

/// The programs the program-time snapshots themselves run (their bpf(2) calls'
/// entry and exit), left out of what the storms cost.
const MEASUREMENT_PROGRAMS: [&str; 2] = ["sys_enter_bpf", "sys_exit_priv"];

/// Rounds of the program-time measurement; the median is printed.
const PROGRAM_TIME_ROUNDS: usize = 3;

/// What each storm costs inside the programs, per operation, for the sensor and
/// for the floor's empty programs, from the kernel's run-time statistics. The
/// statistics add two clock reads to every run, on both sides alike. The floor
/// and the sensor are attached at once (the floor first, so its empty programs
/// run before the sensor's and warm nothing for them): every operation runs
/// both, so the two are timed in the same moments of this shared machine.
fn program_time(opens: u64, execs: u64, connects: u64) {
    let _recording = Recording::start().expect("turning on BPF run-time statistics");
    let machine = Snapshot::take();
    let marker = nonce("bench-exec");
    let floor = Setup::Floor.attach(&marker);
    let sensor = Setup::Sensor.attach(&marker);
    let storms: [(u64, &dyn Fn() -> f64); 4] = [
        (opens, &|| open_storm(UNWATCHED, opens)),
        (execs, &|| exec_storm(execs, &marker)),
        (connects, &|| connect_storm(connects)),
        (connects, &|| connect_round_trips(connects)),
    ];
    // cost[storm][floor, sensor] = ns per operation, one per round
    let mut cost = vec![[Vec::new(), Vec::new()]; STORMS.len()];
    let mut profile = Vec::new();
    for round in 0..PROGRAM_TIME_ROUNDS {
        for (w, (ops, storm)) in storms.iter().enumerate() {
            let before = Snapshot::take();
            let _rate = storm();
            let after = Snapshot::take();
            // The snapshots' own bpf(2) calls come from this process, not the
            // holder's, so the sensor reports them: its bpf programs run for the
            // measurement, not the storms (which make no such call).
            let programs: Vec<_> = after
                .by_program(&before, &machine)
                .into_iter()
                .filter(|(name, ..)| !MEASUREMENT_PROGRAMS.contains(&name.as_str()))
                .collect();
            let (floor_ns, sensor_ns) =
                programs.iter().fold((0f64, 0f64), |(f, s), (name, t, _)| {
                    let ns = t.as_nanos() as f64 / *ops as f64;
                    if name.starts_with("floor_") {
                        (f + ns, s)
                    } else {
                        (f, s + ns)
                    }
                });
            cost[w][0].push(floor_ns);
            cost[w][1].push(sensor_ns);
            if round == PROGRAM_TIME_ROUNDS - 1 {
                let own = programs
                    .into_iter()
                    .filter(|(name, ..)| !name.starts_with("floor_"));
                profile.push((w, *ops, own.collect::<Vec<_>>()));
            }
        }
    }
    let _ = sensor.detach();
    let _ = floor.detach();
    println!(
        "time inside the programs per operation (BPF run-time statistics; floor and sensor \
         attached together, median of {PROGRAM_TIME_ROUNDS} rounds):"
    );
    println!(
        "{:12} {:>12} {:>12} {:>12}",
        "storm", "floor ns", "sensor ns", "difference"
    );
    for (w, storm) in STORMS.iter().enumerate() {
        let floor = median(&mut cost[w][0]);
        let sensor = median(&mut cost[w][1]);
        println!(
            "{storm:12} {floor:>12.0} {sensor:>12.0} {:>12.0}",
            sensor - floor
        );
    }
    println!("where the sensor's time goes, per operation of each storm (last round):");
    for (w, ops, programs) in profile {
        for (name, time, runs) in programs.iter().take(5) {
            println!(
                "{:12} {name:16} {:>8.2} runs {:>10.0} ns/run {:>10.0} ns/op",
                STORMS[w],
                *runs as f64 / ops as f64,
                time.as_nanos() as f64 / (*runs).max(1) as f64,
                time.as_nanos() as f64 / ops as f64
            );
        }
    }
}
