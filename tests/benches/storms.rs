//! Benchmark: what the whole agent costs the syscalls it watches, side by side
//! with its peers on this kernel.
//!
//! `cargo xtask bench storms [-- --runs N --opens N --watched-opens N --execs N --connects N]`
//!
//! Five storms: open/close of a file outside every watched prefix, open/close
//! of a file the default rules watch (every open reaches the rules), exec of
//! /bin/true by posix_spawn, loopback TCP connects accepted by the same thread,
//! and the same connects answered by another thread (round trips, which also
//! measure how fast an idle core wakes). Each runs with no observer, with the
//! floor (an empty program on every hook the sensor uses, held by a child
//! process: see `sensor_tests::holder`), with the agent (`sensor run`, default
//! rules, findings discarded), and with each peer: libbpf-tools' `opensnoop`
//! and `execsnoop` printing every event to a file, and a bpftrace one-liner
//! that only counts. Setups are interleaved within every run, so they share the
//! machine's load. The agent's kernel drops are read from its `/metrics` after
//! each run: a fast sensor that loses events would not be a result.

use std::{ffi::CString, time::Duration};

use sensor_tests::{
    agent::Agent,
    bench_arg, can_load_ebpf,
    floor::Floor,
    holder::{self, Holder},
    nonce,
    peers::{Peer, Running},
    report::Report,
    tmp_dir,
    workload::{connect_round_trips, connect_storm, exec_storm, open_storm},
};
use serde_json::json;

/// A file no default rule watches.
const UNWATCHED: &str = "/etc/hostname";
/// A file the default rules watch for reads (password hashes).
const WATCHED: &str = "/etc/shadow";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Setup {
    None,
    Floor,
    Sensor,
    Peer(Peer),
}

impl Setup {
    fn name(self) -> &'static str {
        match self {
            Setup::None => "none",
            Setup::Floor => "floor",
            Setup::Sensor => "sensor",
            Setup::Peer(peer) => peer.name(),
        }
    }
}

/// What a setup started.
enum Attached {
    Nothing,
    Floor(Holder),
    Sensor(Agent),
    Peer(Running),
}

const STORMS: [(&str, &str); 5] = [
    ("open/close unwatched", "opens/s"),
    ("open/close watched", "opens/s"),
    ("exec", "execs/s"),
    ("connect", "connects/s"),
    ("connect round trip", "connects/s"),
];

fn main() -> anyhow::Result<()> {
    if holder::role().is_some() {
        return Floor::hold();
    }
    if !can_load_ebpf("bench storms") {
        return Ok(());
    }
    let runs = bench_arg("--runs", 5);
    let opens = bench_arg("--opens", 1_000_000);
    let watched_opens = bench_arg("--watched-opens", 200_000);
    let execs = bench_arg("--execs", 2_000);
    let connects = bench_arg("--connects", 10_000);
    println!(
        "storms: {runs} runs; per run {opens} unwatched opens, {watched_opens} watched opens, {execs} execs, {connects} connects"
    );
    // The peers attach through tracefs too; the agent mounts it, they do not.
    sensor::kernel::tracefs::ensure_mounted()?;
    let dir = tmp_dir("bench-storms");
    let unwatched = CString::new(UNWATCHED)?;
    let watched = CString::new(WATCHED)?;
    let setups: Vec<Setup> = [Setup::None, Setup::Floor, Setup::Sensor]
        .into_iter()
        .chain(Peer::ALL.map(Setup::Peer))
        .collect();
    let mut report = Report::new("storms");
    for (storm, unit) in STORMS {
        report.workload(storm, unit, "none");
    }
    let (mut ring_full, mut events, mut agent_cpu) = (0.0, 0.0, Duration::ZERO);
    for run in 0..runs {
        for &setup in &setups {
            let out = dir.join(format!("{}.out", setup.name()));
            let attached = match setup {
                Setup::None => Attached::Nothing,
                Setup::Floor => Attached::Floor(Holder::start("floor", &[])),
                Setup::Sensor => {
                    Attached::Sensor(Agent::start(&["--stdout".into()], &dir.join("agent.log"))?)
                }
                Setup::Peer(peer) => Attached::Peer(peer.start(&out)?),
            };
            let before = match &attached {
                Attached::Sensor(agent) => Some((agent.scrape()?, agent.cpu())),
                _ => None,
            };
            let marker = nonce("storm");
            let measured = [
                open_storm(&unwatched, opens),
                open_storm(&watched, watched_opens),
                exec_storm(execs, &marker),
                connect_storm(connects),
                connect_round_trips(connects),
            ];
            match attached {
                Attached::Sensor(agent) => {
                    // The agent adds its per-event counts and drops to the
                    // metrics once a second.
                    std::thread::sleep(Duration::from_millis(1500));
                    let (first, cpu0) = before.expect("scraped at start");
                    let last = agent.scrape()?;
                    ring_full += last.sum("sensor_kernel_drops_total", &["reason=\"ring_full\""])
                        - first.sum("sensor_kernel_drops_total", &["reason=\"ring_full\""]);
                    events += last.sum("sensor_events_total", &[])
                        - first.sum("sensor_events_total", &[]);
                    agent_cpu += agent.cpu().saturating_sub(cpu0);
                    agent.stop()?;
                }
                Attached::Peer(peer) => peer.stop(),
                Attached::Floor(floor) => {
                    floor.stop();
                }
                Attached::Nothing => {}
            }
            let _ = std::fs::remove_file(&out);
            for ((storm, _), rate) in STORMS.iter().zip(measured) {
                report.add(storm, setup.name(), rate);
            }
            eprintln!(
                "run {run} {:15} unwatched {:>9.0}/s watched {:>9.0}/s exec {:>6.0}/s connect {:>6.0}/s round trip {:>6.0}/s",
                setup.name(),
                measured[0],
                measured[1],
                measured[2],
                measured[3],
                measured[4]
            );
        }
    }
    for (storm, _) in STORMS {
        if let (Some(sensor), Some(floor)) = (
            report.median_of(storm, "sensor"),
            report.median_of(storm, "floor"),
        ) {
            report.note(&format!("sensor/floor {storm}"), json!(sensor / floor));
        }
    }
    report.note("agent ring-full drops", json!(ring_full));
    report.note("agent events read", json!(events));
    report.note(
        "agent CPU seconds over its storms",
        json!(agent_cpu.as_secs_f64()),
    );
    report.finish()?;
    Ok(())
}
