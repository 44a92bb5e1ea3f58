//! Process lifecycle: a clone event for each new process (never for threads), a
//! procexit event with the exit code or signal, the kind filter applied in the
//! kernel and changed while running, and drops reported when the ring overflows.

use std::{process::Command, time::Duration};

use sensor::{
    event::{Body, Event, EventKind, Exit},
    kernel::{KernelConfig, WakeupPolicy},
};
use sensor_common::DropReason;
use sensor_tests::{
    can_load_ebpf, exec_of, read_until, start_with, test_config, workload::spawn_execs,
};

fn for_pid(events: &[Event], pid: u32) -> Vec<&Event> {
    events.iter().filter(|e| e.task.pid == pid).collect()
}

fn exit_of(events: &[Event], pid: u32) -> Option<Exit> {
    for_pid(events, pid).into_iter().find_map(|e| match e.body {
        Body::Exit(exit) => Some(exit),
        _ => None,
    })
}

#[tokio::test]
async fn clone_and_procexit_follow_a_process_but_not_threads() {
    if !can_load_ebpf("clone_procexit") {
        return;
    }
    let config = KernelConfig {
        kinds: vec![EventKind::Exec, EventKind::Fork, EventKind::Exit],
        ..test_config(WakeupPolicy::EveryEvent)
    };
    let (_sensor, mut reader) = start_with(&config);
    // Threads of this process must not show up as new processes or as exits.
    std::thread::spawn(|| std::thread::sleep(Duration::from_millis(10)))
        .join()
        .expect("a thread");
    let exited = Command::new("/bin/sh")
        .args(["-c", "exit 7"])
        .spawn()
        .expect("sh");
    let killed = Command::new("/bin/sh")
        .args(["-c", "kill -9 $$"])
        .spawn()
        .expect("sh");
    let (exited_pid, killed_pid) = (exited.id(), killed.id());
    for mut child in [exited, killed] {
        let _ = child.wait();
    }
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        exit_of(events, exited_pid).is_some() && exit_of(events, killed_pid).is_some()
    })
    .await;

    for pid in [exited_pid, killed_pid] {
        let kinds: Vec<EventKind> = for_pid(&events, pid).iter().map(|e| e.kind()).collect();
        assert_eq!(
            kinds,
            [EventKind::Fork, EventKind::Exec, EventKind::Exit],
            "one clone, one exec, one exit for {pid}, in order"
        );
        let clone = for_pid(&events, pid)[0];
        assert_eq!(clone.evt_type(), "clone");
        assert_eq!(
            clone.task.ppid,
            std::process::id(),
            "the test process forked it"
        );
        assert_eq!(clone.task.tid, pid);
    }
    let exit = exit_of(&events, exited_pid).expect("exit event");
    assert_eq!((exit.code(), exit.signal()), (Some(7), None));
    let kill = exit_of(&events, killed_pid).expect("exit event");
    assert_eq!((kill.code(), kill.signal()), (None, Some(9)));
    assert!(
        for_pid(&events, std::process::id()).is_empty(),
        "a thread of a running process is neither a new process nor an exit"
    );
}

#[tokio::test]
async fn kinds_are_filtered_in_the_kernel_and_can_change_while_running() {
    if !can_load_ebpf("kind_filter") {
        return;
    }
    let config = KernelConfig {
        kinds: vec![EventKind::Fork],
        ..test_config(WakeupPolicy::EveryEvent)
    };
    let (mut sensor, mut reader) = start_with(&config);
    let first = Command::new("/bin/true").status();
    assert!(first.is_ok_and(|s| s.success()));
    let events = read_until(&mut reader, Duration::from_secs(2), |_| false).await;
    assert!(
        events.iter().any(|e| e.kind() == EventKind::Fork),
        "clone events are on"
    );
    assert!(
        events.iter().all(|e| e.kind() == EventKind::Fork),
        "exec and exit are off: {:?}",
        events.iter().map(Event::evt_type).collect::<Vec<_>>()
    );

    sensor
        .set_kinds(&[EventKind::Exec])
        .expect("changing kinds");
    let second = Command::new("/bin/true").spawn().expect("true");
    let pid = second.id();
    let _ = second.wait_with_output();
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        events
            .iter()
            .any(|e| e.task.pid == pid && exec_of(e).is_some())
    })
    .await;
    assert!(
        events
            .iter()
            .any(|e| e.task.pid == pid && exec_of(e).is_some())
    );
    assert!(events.iter().all(|e| e.kind() == EventKind::Exec));
}

#[tokio::test]
async fn an_overrun_ring_counts_its_drops() {
    if !can_load_ebpf("ring_overrun") {
        return;
    }
    // One page of ring holds one exec record; nobody reads until the test does.
    let config = KernelConfig {
        ring_bytes: 4096,
        wakeup: WakeupPolicy::Batched { bytes: 1 << 30 },
        poll_interval: Duration::from_secs(3600),
        kinds: vec![EventKind::Exec],
        ..KernelConfig::default()
    };
    let (sensor, mut reader) = start_with(&config);
    let mut workload = spawn_execs(50, "overrun");
    assert!(workload.wait().expect("the workload").success());
    let counts = sensor.counters().read().expect("the counters");
    let ring_full = counts
        .iter()
        .find(|((kind, reason), _)| *kind == EventKind::Exec && *reason == DropReason::RingFull)
        .map(|(_, n)| *n)
        .expect("an exec ring_full slot");
    let mut events = Vec::new();
    let delivered = reader.drain(&mut events) as u64;
    assert!(
        delivered <= 2,
        "a one-page ring holds one exec record: {delivered}"
    );
    assert!(
        ring_full + delivered >= 50,
        "{ring_full} drops counted, {delivered} delivered"
    );
}

/// Fields of `/proc/<pid>/stat` after the command name, from field 3 (`state`) on.
fn stat_fields(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the child's stat");
    let after_comm = &stat[stat.rfind(')').expect("a comm in stat") + 2..];
    after_comm.split(' ').map(str::to_owned).collect()
}

#[tokio::test]
async fn events_name_the_process_by_start_time_and_count_its_execs() {
    if !can_load_ebpf("start_and_exec_seq") {
        return;
    }
    let config = KernelConfig {
        kinds: vec![EventKind::Exec, EventKind::Fork],
        ..test_config(WakeupPolicy::EveryEvent)
    };
    let (_sensor, mut reader) = start_with(&config);
    // One process, three programs: setsid, which makes a new pty its controlling
    // terminal, a shell that sets its login uid, then sleep in its place.
    let (mut master, mut slave) = (0, 0);
    // SAFETY: out-pointers to two ints; no name, termios or window size.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two open descriptors that nothing else owns.
    let (_master, slave) = unsafe {
        use std::os::fd::FromRawFd as _;
        (
            std::fs::File::from_raw_fd(master),
            std::fs::File::from_raw_fd(slave),
        )
    };
    let mut child = Command::new("/usr/bin/setsid")
        .args([
            "--ctty",
            "/bin/sh",
            "-c",
            "echo 4242 > /proc/self/loginuid; exec /bin/sleep 2",
        ])
        .stdin(slave)
        .spawn()
        .expect("setsid");
    let pid = child.id();
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        events
            .iter()
            .filter(|e| e.task.pid == pid && exec_of(e).is_some())
            .count()
            == 3
    })
    .await;
    let stat = stat_fields(pid);
    let loginuid = std::fs::read_to_string(format!("/proc/{pid}/loginuid")).ok();
    let _ = child.wait();

    let mine = for_pid(&events, pid);
    let kinds: Vec<EventKind> = mine.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Fork,
            EventKind::Exec,
            EventKind::Exec,
            EventKind::Exec
        ]
    );
    // stat's field 22 is the start time in clock ticks, computed from the same
    // `start_boottime` the kernel programs report in ns.
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    let start_ticks: u64 = stat[19].parse().expect("a start time");
    for event in &mine {
        assert_eq!(
            event.task.start_ns / (1_000_000_000 / ticks_per_second),
            start_ticks,
            "{} event: start {} ns",
            event.evt_type(),
            event.task.start_ns
        );
    }
    let seqs: Vec<u32> = mine.iter().map(|e| e.task.exec_seq).collect();
    let first = seqs[0];
    assert_eq!(
        seqs,
        [first, first + 1, first + 2, first + 3],
        "each exec counts"
    );
    let exec = exec_of(mine[3]).expect("an exec");
    assert_eq!(exec.vpid, pid, "the host's pid namespace");
    let tty_nr: u32 = stat[4].parse().expect("a tty_nr");
    assert_ne!(tty_nr, 0, "setsid --ctty gave sleep a terminal");
    assert_eq!(
        exec.tty, tty_nr,
        "the controlling terminal as stat shows it"
    );
    let expected = loginuid
        .and_then(|text| text.trim().parse::<u32>().ok())
        .filter(|&uid| uid != u32::MAX);
    assert_eq!(exec.loginuid, expected, "the login uid as /proc shows it");
}
