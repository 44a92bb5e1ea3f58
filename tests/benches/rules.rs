//! Benchmark: throughput of the rules engine on a recorded event stream.
//!
//! `cargo xtask bench rules`
//!
//! First records a real stream on this kernel: a busybox container runs a mix of
//! execs, file opens (some of them credential files the default rules watch) and
//! refused connects while the sensor reads every event and the process table
//! enriches it; each event is kept with a copy of its context. Then criterion
//! measures the default rule set's evaluation of that stream (`matches` for every
//! event, as `sensor run` calls it), and the engine with Falco's stable rules as
//! far as they load. Throughput is reported in events per second on one core
//! (the loop is single-threaded); the target is 1,000,000.

// criterion's macros define undocumented public functions.
#![allow(missing_docs)]

use std::{sync::Arc, time::Duration};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sensor::{
    context::{
        EnrichConfig, Enricher, Who,
        container::ContainerRef,
        kubelet::{PodContainer, PodInfo},
        process::Process,
    },
    engine::{Engine, Subject, files::RuleFiles},
    event::{Event, clock::BootClock},
    rules::RuleSet,
};
use sensor_tests::{can_load_ebpf, container::Container, nonce, start};

/// One recorded event with an owned copy of its context.
struct Record {
    event: Event,
    process: Option<Process>,
    ancestors: Vec<Process>,
    exec_id: String,
    parent_exec_id: Option<String>,
    container: Option<Arc<ContainerRef>>,
    pod_container: Option<PodContainer>,
    pod: Option<Arc<PodInfo>>,
}

impl Record {
    fn who(&self) -> Who<'_> {
        Who {
            process: self.process.as_ref(),
            ancestors: self.ancestors.iter().collect(),
            exec_id: self.exec_id.clone(),
            parent_exec_id: self.parent_exec_id.clone(),
            container: self.container.clone(),
            pod_container: self.pod_container.clone(),
            pod: self.pod.clone(),
            ..Default::default()
        }
    }
}

/// The container's work: a loop of what a busy, slightly suspicious app does.
const WORKLOAD: &str = "i=0; while [ $i -lt 300 ]; do \
     cat /etc/hostname /etc/passwd >/dev/null; ls / >/dev/null; \
     cat /etc/shadow >/dev/null 2>&1; echo x > /tmp/out.$i; \
     nc -w 1 127.0.0.1 3333 </dev/null 2>/dev/null; i=$((i+1)); done";

fn record() -> Vec<Record> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (_sensor, mut reader) = start();
        let mut enricher = Enricher::start(&EnrichConfig::default(), None).expect("enricher");
        let tag = nonce("rulesbench");
        let container = Container::create(&tag, &["sh", "-c", WORKLOAD], 0, 0);
        let init = container.init_pid();
        container.start();
        let mut init_exited = false;
        let mut records = Vec::new();
        let mut batch = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        let mut idle = 0;
        while std::time::Instant::now() < deadline && idle < 20 {
            batch.clear();
            reader
                .read_batch(&mut batch)
                .await
                .expect("reading the ring");
            idle = if batch.is_empty() { idle + 1 } else { 0 };
            for event in &batch {
                init_exited |=
                    event.task.pid == init && matches!(event.body, sensor::event::Body::Exit(_));
                enricher.note(event);
                enricher.observe(event);
                let who = enricher.who(event);
                records.push(Record {
                    event: event.clone(),
                    process: who.process.cloned(),
                    ancestors: who.ancestors.iter().map(|p| (*p).clone()).collect(),
                    exec_id: who.exec_id.clone(),
                    parent_exec_id: who.parent_exec_id.clone(),
                    container: who.container.clone(),
                    pod_container: who.pod_container.clone(),
                    pod: who.pod.clone(),
                });
                enricher.retire(event);
            }
            if init_exited && idle > 5 {
                break;
            }
        }
        records
    })
}

fn engine_of(files: &[(String, String)]) -> Engine {
    let named: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    Engine::new(&RuleSet::load(&named).expect("the rules load"))
}

fn bench(c: &mut Criterion) {
    if !can_load_ebpf("bench rules") {
        return;
    }
    let records = record();
    let in_containers = records.iter().filter(|r| r.container.is_some()).count();
    eprintln!(
        "recorded {} events ({in_containers} in containers)",
        records.len()
    );
    let default = engine_of(&RuleFiles::new(vec![]).read().expect("the default rules"));
    let falco_file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rules/compat/falco_rules.yaml"
    );
    let falco = engine_of(
        &RuleFiles::new(vec![falco_file.into()])
            .read()
            .expect("Falco's rules"),
    );
    let clock = BootClock::now();
    let whos: Vec<Who<'_>> = records.iter().map(Record::who).collect();
    let mut group = c.benchmark_group("rules");
    group.throughput(Throughput::Elements(records.len() as u64));
    for (name, mut engine) in [("default", default), ("falco_stable", falco)] {
        let mut found = 0usize;
        let mut out = Vec::with_capacity(64);
        for (r, who) in records.iter().zip(&whos) {
            out.clear();
            engine.matches(&subject(r, who, &clock), &mut out);
            found += out.len();
        }
        eprintln!(
            "{name}: {} rules, {found} matches in the stream",
            engine.rules().len()
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0;
                for (r, who) in records.iter().zip(&whos) {
                    out.clear();
                    engine.matches(&subject(r, who, &clock), &mut out);
                    n += out.len();
                }
                n
            })
        });
    }
    group.finish();
}

fn subject<'a>(r: &'a Record, who: &'a Who<'a>, clock: &'a BootClock) -> Subject<'a> {
    Subject {
        event: &r.event,
        who,
        num: 1,
        clock,
        ticks_per_second: 100,
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
