//! The ring buffer's wakeup policy: batched wakeups deliver every event with far
//! fewer user-space wakeups than the kernel's default of one per event.

use std::time::Duration;

use sensor::kernel::{ReaderStats, WakeupPolicy};
use sensor_tests::{
    can_load_ebpf, nonce, read_until, start_with, test_config,
    workload::{is_marked, spawn_execs},
};

const EXECS: usize = 200;

/// Runs the workload under `policy`; returns the reader's stats and the events seen.
async fn run(policy: WakeupPolicy) -> (ReaderStats, usize) {
    run_with(&sensor::kernel::KernelConfig {
        kinds: vec![sensor::event::EventKind::Exec],
        ..test_config(policy)
    })
    .await
}

/// Runs the workload under `config`; returns the reader's stats and the events seen.
async fn run_with(config: &sensor::kernel::KernelConfig) -> (ReaderStats, usize) {
    let (_sensor, mut reader) = start_with(config);
    let marker = nonce("wakeup");
    let mut workload = spawn_execs(EXECS, &marker);
    let events = read_until(&mut reader, Duration::from_secs(60), |events| {
        events.iter().filter(|e| is_marked(e, &marker)).count() >= EXECS
    })
    .await;
    assert!(workload.wait().expect("waiting for the workload").success());
    let seen = events.iter().filter(|e| is_marked(e, &marker)).count();
    (reader.stats(), seen)
}

/// Quiet wakeups on (1 ms), a timer that never fires by itself and a threshold
/// no test reaches: only quiet wakeups and the reader's re-looks deliver.
fn quiet_config(kinds: Vec<sensor::event::EventKind>) -> sensor::kernel::KernelConfig {
    sensor::kernel::KernelConfig {
        poll_interval: Duration::from_secs(3600),
        quiet_wakeup: Some(Duration::from_millis(1)),
        kinds,
        ..test_config(WakeupPolicy::Batched { bytes: 1 << 20 })
    }
}

#[tokio::test]
async fn batched_wakeups_deliver_every_event_with_few_wakeups() {
    if !can_load_ebpf("wakeup") {
        return;
    }
    // 1 MiB: more than the whole workload writes, so only the timer reads it.
    let (batched, batched_seen) = run(WakeupPolicy::Batched { bytes: 1 << 20 }).await;
    let (every, every_seen) = run(WakeupPolicy::EveryEvent).await;
    eprintln!("batched: {batched:?}\nevery event: {every:?}");
    assert_eq!(batched_seen, EXECS, "batched policy lost events");
    assert_eq!(every_seen, EXECS, "per-event policy lost events");
    assert!(
        batched.wakeups * 10 <= EXECS as u64,
        "batched policy woke the reader {} times for {EXECS} events",
        batched.wakeups
    );
    // The default wakes the reader whenever it has caught up: about once per event
    // on a quiet machine, fewer when the reader lags and wakeups coalesce. Compare
    // the policies rather than pin a count a loaded CI machine could miss.
    assert!(
        every.wakeups >= 20 && every.wakeups >= 10 * batched.wakeups.max(1),
        "the kernel's default should wake the reader far more often: {} vs {}",
        every.wakeups,
        batched.wakeups
    );
}

#[tokio::test]
async fn threshold_wakes_the_reader_before_the_timer() {
    if !can_load_ebpf("wakeup_threshold") {
        return;
    }
    // A timer that never fires within the test: only threshold wakeups can deliver.
    let config = sensor::kernel::KernelConfig {
        poll_interval: Duration::from_secs(3600),
        kinds: vec![sensor::event::EventKind::Exec],
        ..test_config(WakeupPolicy::Batched { bytes: 16 * 1024 })
    };
    let (_sensor, mut reader) = start_with(&config);
    let marker = nonce("threshold");
    let mut workload = spawn_execs(EXECS, &marker);
    let mut events = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while events.iter().filter(|e| is_marked(e, &marker)).count() < EXECS - 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "events stalled below the threshold"
        );
        // Bounded by the test's own timeout, not the reader's timer.
        tokio::time::timeout(Duration::from_secs(30), reader.read_batch(&mut events))
            .await
            .expect("a threshold wakeup within 30 s")
            .expect("reading the ring buffer");
    }
    assert!(workload.wait().expect("waiting for the workload").success());
    let stats = reader.stats();
    assert_eq!(stats.timer_polls, 0);
    assert!(
        stats.wakeups >= 1 && stats.wakeups < EXECS as u64 / 2,
        "{stats:?}"
    );
}

#[tokio::test]
async fn a_lone_event_on_a_quiet_machine_wakes_the_reader() {
    if !can_load_ebpf("wakeup_quiet") {
        return;
    }
    // A lone event reaches no threshold: only the quiet wakeup can deliver it.
    let (_sensor, mut reader) = start_with(&quiet_config(vec![sensor::event::EventKind::Exec]));
    for i in 0..5 {
        // Let the reader go quiet: its short re-look after the last records
        // finds none, it tells the kernel so, and then waits for a wakeup. A
        // read that waits 50 ms without records is past that point; one that
        // returns saw other execs on the machine, so go round again.
        let mut scratch = Vec::new();
        while tokio::time::timeout(Duration::from_millis(50), reader.read_batch(&mut scratch))
            .await
            .is_ok()
        {
            scratch.clear();
        }
        let before = reader.stats().wakeups;
        let marker = nonce(&format!("quiet-{i}"));
        let mut workload = spawn_execs(1, &marker);
        let mut events = Vec::new();
        while !events.iter().any(|e| is_marked(e, &marker)) {
            tokio::time::timeout(Duration::from_secs(30), reader.read_batch(&mut events))
                .await
                .expect("a quiet wakeup within 30 s")
                .expect("reading the ring buffer");
        }
        assert!(workload.wait().expect("waiting for the workload").success());
        assert!(
            reader.stats().wakeups > before,
            "round {i}: no wakeup delivered it: {:?}",
            reader.stats()
        );
    }
}

#[tokio::test]
async fn a_busy_reader_looks_on_its_timer_and_is_not_woken() {
    if !can_load_ebpf("wakeup_busy") {
        return;
    }
    // While records keep coming, the reader's short re-looks read them, and it
    // tells the kernel so, which then leaves it asleep. Before, a record into
    // the ring the reader had just emptied woke it about once a millisecond.
    let (stats, seen) = run_with(&quiet_config(vec![
        sensor::event::EventKind::Exec,
        sensor::event::EventKind::Fork,
        sensor::event::EventKind::Exit,
    ]))
    .await;
    assert_eq!(seen, EXECS, "events were lost");
    eprintln!("{stats:?}");
    // A machine slow enough to leave gaps of more than 2 ms between records
    // sends the reader quiet, and the next record wakes it: allow some of that.
    assert!(
        stats.wakeups * 4 < stats.wakeups + stats.timer_polls,
        "the kernel woke the reader for most looks: {stats:?}"
    );
}
