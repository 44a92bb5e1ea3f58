//! Privilege changes and tampering: set*id with the ids asked for, capset with the
//! capability sets, ptrace with request and target, bpf with its command,
//! memfd_create with its name, io_uring_setup. Each trigger runs in a forked child
//! that makes the syscall and exits, so the test process keeps its own privileges.

use std::time::Duration;

use sensor::{
    event::{Event, EventKind, PrivCall, PrivSyscall},
    kernel::{KernelConfig, WakeupPolicy},
};
use sensor_tests::{can_load_ebpf, priv_of, read_until, start_with, test_config};

fn privilege_only() -> KernelConfig {
    KernelConfig {
        kinds: vec![
            EventKind::SetId,
            EventKind::Capset,
            EventKind::Ptrace,
            EventKind::Bpf,
            EventKind::Memfd,
            EventKind::IoUring,
        ],
        ..test_config(WakeupPolicy::EveryEvent)
    }
}

/// Runs `body` in a forked child that then exits; returns the child's pid.
fn in_child(body: impl FnOnce()) -> u32 {
    // SAFETY: the child runs only raw syscalls through libc and then _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        body();
        // SAFETY: leaving the child without running the test harness's destructors.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    pid as u32
}

fn call_of(events: &[Event], pid: u32, syscall: PrivSyscall) -> Option<(&Event, &PrivCall)> {
    events
        .iter()
        .filter(|e| e.task.pid == pid)
        .find_map(|e| priv_of(e).filter(|c| c.syscall == syscall).map(|c| (e, c)))
}

fn field(call: &PrivCall, name: &str) -> serde_json::Value {
    call.arg_fields()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("{name} missing from {call:?}"))
}

#[tokio::test]
async fn privilege_and_tampering_syscalls_are_reported_with_their_arguments() {
    if !can_load_ebpf("privilege") {
        return;
    }
    let (sensor, mut reader) = start_with(&privilege_only());
    // The agent itself calls bpf(2) to read its counters: that must not report.
    sensor.counters().read().expect("reading the counters");

    // SAFETY (all closures): plain syscalls in a forked child.
    let setid = in_child(|| unsafe {
        libc::setresgid(4343, 4343, 4343);
        libc::setresuid(4242, u32::MAX, 4242);
    });
    let capset = in_child(|| unsafe {
        // _LINUX_CAPABILITY_VERSION_3; keep only CAP_NET_RAW (13) everywhere.
        let header: [u32; 2] = [0x2008_0522, 0];
        let data: [u32; 6] = [1 << 13, 1 << 13, 0, 0, 0, 0];
        libc::syscall(libc::SYS_capset, header.as_ptr(), data.as_ptr());
    });
    let tracee = in_child(|| unsafe {
        libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0);
    });
    let bpf = in_child(|| unsafe {
        // BPF_PROG_LOAD with no attributes: refused, but the attempt is the event.
        libc::syscall(libc::SYS_bpf, 5, 0, 0);
    });
    let memfd = in_child(|| unsafe {
        libc::memfd_create(c"sensor-test-memfd".as_ptr(), libc::MFD_CLOEXEC);
    });
    let uring = in_child(|| unsafe {
        let mut params = [0u8; 120];
        libc::syscall(libc::SYS_io_uring_setup, 4, params.as_mut_ptr());
    });

    let wanted = [
        (setid, PrivSyscall::Setresuid),
        (setid, PrivSyscall::Setresgid),
        (capset, PrivSyscall::Capset),
        (tracee, PrivSyscall::Ptrace),
        (bpf, PrivSyscall::Bpf),
        (memfd, PrivSyscall::MemfdCreate),
        (uring, PrivSyscall::IoUringSetup),
    ];
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        wanted
            .iter()
            .all(|&(pid, s)| call_of(events, pid, s).is_some())
    })
    .await;
    for (pid, syscall) in wanted {
        assert!(
            call_of(&events, pid, syscall).is_some(),
            "no {syscall:?} event from {pid}"
        );
    }

    let (event, setresuid) = call_of(&events, setid, PrivSyscall::Setresuid).expect("setresuid");
    assert_eq!(event.evt_type(), "setresuid");
    assert_eq!(setresuid.result, 0);
    assert_eq!(field(setresuid, "evt.arg.ruid"), 4242);
    assert_eq!(
        field(setresuid, "evt.arg.euid"),
        -1,
        "u32::MAX means unchanged"
    );
    assert_eq!(
        event.task.uid, 4242,
        "the header holds the credentials after the call"
    );
    let (_, setresgid) = call_of(&events, setid, PrivSyscall::Setresgid).expect("setresgid");
    assert_eq!(field(setresgid, "evt.arg.sgid"), 4343);

    let (_, capset) = call_of(&events, capset, PrivSyscall::Capset).expect("capset");
    assert_eq!(capset.result, 0);
    assert_eq!(field(capset, "evt.arg.cap_effective"), "CAP_NET_RAW");
    assert_eq!(field(capset, "evt.arg.cap_inheritable"), "");

    let (_, ptrace) = call_of(&events, tracee, PrivSyscall::Ptrace).expect("ptrace");
    assert_eq!(field(ptrace, "evt.arg.request"), "PTRACE_TRACEME");

    let (_, bpf) = call_of(&events, bpf, PrivSyscall::Bpf).expect("bpf");
    assert_eq!(field(bpf, "evt.arg.cmd"), "BPF_PROG_LOAD");
    assert!(bpf.result < 0, "a load without attributes is refused");

    let (_, memfd) = call_of(&events, memfd, PrivSyscall::MemfdCreate).expect("memfd_create");
    assert_eq!(memfd.name, "sensor-test-memfd");
    assert_eq!(field(memfd, "evt.arg.flags"), "MFD_CLOEXEC");
    assert!(memfd.result >= 0);

    let (_, uring) = call_of(&events, uring, PrivSyscall::IoUringSetup).expect("io_uring_setup");
    assert_eq!(field(uring, "evt.arg.entries"), 4);

    assert!(
        !events
            .iter()
            .any(|e| e.task.pid == std::process::id() && e.kind() == EventKind::Bpf),
        "the agent's own bpf(2) calls (its counter reads) are left out"
    );
}
