//! Benchmark: what the agent costs an application: `redis-benchmark` against
//! Debian's `redis-server` on loopback, with no sensor and with the agent
//! (`sensor run`, default rules), interleaved, medians of requests per second
//! and of p50 latency.
//!
//! `cargo xtask bench redis [-- --runs N --requests N]`

use sensor_tests::{
    agent::Agent,
    bench_arg, can_load_ebpf,
    redis::{Redis, TESTS},
    report::Report,
    tmp_dir,
};

fn main() -> anyhow::Result<()> {
    if !can_load_ebpf("bench redis") {
        return Ok(());
    }
    let runs = bench_arg("--runs", 5);
    let requests = bench_arg("--requests", 200_000);
    println!("redis: {runs} runs of redis-benchmark -t set,get -n {requests}, 50 clients");
    let dir = tmp_dir("bench-redis");
    let redis = Redis::start()?;
    let mut report = Report::new("redis");
    for test in TESTS {
        report.workload(&format!("{test} rate"), "requests/s", "none");
        report.workload(&format!("{test} p50"), "ms", "none");
    }
    // A warm-up: the first run after start pays for the server's allocations.
    redis.benchmark(requests / 4)?;
    for run in 0..runs {
        for setup in ["none", "sensor"] {
            let agent = (setup == "sensor")
                .then(|| Agent::start(&["--stdout".into()], &dir.join("agent.log")))
                .transpose()?;
            let results = redis.benchmark(requests)?;
            if let Some(agent) = agent {
                agent.stop()?;
            }
            for (test, rps, p50) in &results {
                if TESTS.contains(&test.as_str()) {
                    report.add(&format!("{test} rate"), setup, *rps);
                    report.add(&format!("{test} p50"), setup, *p50);
                }
            }
            eprintln!("run {run} {setup:6} {results:?}");
        }
    }
    report.finish()?;
    Ok(())
}
