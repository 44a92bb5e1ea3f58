//! Benchmark: what storing a finding costs the collector's one writer, without
//! the network, TLS and the runtime around it.
//!
//! `cargo xtask bench store [-- --findings 1000000]`
//!
//! The SQLite store, in a temp dir, takes the findings of 50 nodes (see
//! `sensor_tests::cluster`) in batches of 500, 40 batches a transaction (the
//! collector's writer groups up to 20,000 findings), prepared before the
//! clock starts as the ingest streams prepare them. It prints the writer
//! thread's CPU time per finding for each tenth of the run and in all, and the
//! checkpoint thread's: the writer is what bounds the collector's ingest
//! rate, and at a million findings each index costs it a few µs. CPU time,
//! not wall time: it moves far less when other work shares this machine.

use std::{thread, time::Duration};

use collector::store::{Batch, Row, SqliteStore, Store};
use prost::Message as _;
use sensor_tests::{bench_arg, cluster::finding, threadcpu::ThreadCpu, tmp_dir};

const NODES: u64 = 50;
const BATCH: u64 = 500;
const BATCHES_PER_TRANSACTION: usize = 40;

/// One batch as the writer gets it: its node, its sequence, its rows.
struct Prepared {
    node: String,
    sequence: u64,
    rows: Vec<Row>,
}

/// The nodes' batches, round robin, as they arrive at the collector together.
fn prepare(total: u64, base_ns: u64) -> anyhow::Result<Vec<Prepared>> {
    let per_node = total / NODES;
    let mut out = Vec::new();
    for b in 0..per_node.div_ceil(BATCH) {
        for k in 0..NODES {
            let node = format!("node-{k:02}");
            let rows = (b * BATCH..((b + 1) * BATCH).min(per_node))
                .map(|n| {
                    let f = finding(k, &node, n, base_ns + n * 1_000_000);
                    Row::new(&node, f.encode_to_vec().into())
                })
                .collect::<Result<_, _>>()?;
            out.push(Prepared {
                node,
                sequence: b + 1,
                rows,
            });
        }
    }
    Ok(out)
}

fn per_finding(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

fn main() -> anyhow::Result<()> {
    let total = bench_arg("--findings", 1_000_000);
    let dir = tmp_dir("bench-store");
    let store = SqliteStore::open(dir.join("findings.db"))?;
    let base_ns = 1_700_000_000_000_000_000;
    let work = prepare(total, base_ns)?;
    let stored: usize = work.iter().map(|p| p.rows.len()).sum();
    let pid = std::process::id();
    let before = ThreadCpu::sample(pid)?;
    let writer = thread::Builder::new()
        .name("store-writer".into())
        // The totals are read before the thread ends (and the store with it,
        // and its checkpoint thread): /proc forgets an ended thread's time.
        .spawn(move || -> anyhow::Result<ThreadCpu> {
            let tenth = (stored / 10).max(1);
            let (mut done, mut lap_at, mut lap_cpu) = (0, 0, ThreadCpu::sample(pid)?);
            for group in work.chunks(BATCHES_PER_TRANSACTION) {
                let batches: Vec<Batch<'_>> = group
                    .iter()
                    .map(|p| Batch {
                        node: &p.node,
                        instance_id: "bench",
                        sequence: p.sequence,
                        rows: &p.rows,
                    })
                    .collect();
                for outcome in store.insert_batches(&batches) {
                    outcome?;
                }
                done += group.iter().map(|p| p.rows.len()).sum::<usize>();
                if done - lap_at >= tenth {
                    let now = ThreadCpu::sample(pid)?;
                    let spent = now.since(&lap_cpu).0.get("store-writer").copied();
                    println!(
                        "  findings {lap_at:>8} to {done:>8}: writer {:5.1} us/finding",
                        per_finding(spent.unwrap_or_default(), done - lap_at)
                    );
                    (lap_at, lap_cpu) = (done, now);
                }
            }
            Ok(ThreadCpu::sample(pid)?)
        })?;
    let spent = writer
        .join()
        .map_err(|_| anyhow::anyhow!("the writer panicked"))??
        .since(&before);
    for name in ["store-writer", "sqlite-checkpoi"] {
        let d = spent.0.get(name).copied().unwrap_or_default();
        println!(
            "{name:<16} {:5.1} us/finding CPU over {stored} findings",
            per_finding(d, stored)
        );
    }
    Ok(())
}
