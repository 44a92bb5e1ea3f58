//! Container drift on the real kernel: a binary copied into a running runc
//! container and run (and a chmod of the image's own) is `proc.is_exe_changed`,
//! the image's untouched binary is not; the container's start is its first
//! process's; and processes running before the agent started get all their
//! exec facts (stdio, capabilities, session, drift) from /proc.

use std::{
    os::fd::OwnedFd,
    process::{Command, Stdio},
    time::Duration,
};

use sensor::event::{EventKind, FdType};
use sensor_tests::{
    can_load_ebpf,
    container::Container,
    exec_of,
    facts::{
        caps_of, config, enrich_until, enricher, exec_with, execs_with, ps_sid, status_caps, stdio,
        tcp_pair,
    },
    nonce, start_with,
};

#[tokio::test]
async fn a_binary_copied_into_a_running_container_is_drift_and_the_images_is_not() {
    if !can_load_ebpf("drift") {
        return;
    }
    let (_sensor, mut reader) = start_with(&config());
    let mut table = enricher();
    let marker = nonce("drift");
    let script = format!(
        "cp /bin/busybox /tmp/busybox-x; /tmp/busybox-x echo {marker}-copied; /bin/busybox echo {marker}-image; \
         /bin/busybox chmod 755 /bin/busybox; /bin/busybox echo {marker}-chmod"
    );
    let container = Container::create(&marker, &["/bin/sh", "-c", &script], 0, 0);
    let init_pid = container.init_pid();
    container.start();
    let seen = enrich_until(&mut reader, &mut table, Duration::from_secs(15), |seen| {
        !execs_with(seen, &format!("{marker}-chmod")).is_empty()
    })
    .await;
    let copied = exec_with(&seen, &format!("{marker}-copied"), "/tmp/busybox-x");
    let image = exec_with(&seen, &format!("{marker}-image"), "busybox");
    let chmod = exec_with(&seen, &format!("{marker}-chmod"), "busybox");
    for s in [copied, image, chmod] {
        assert_eq!(s.container.as_deref(), Some(container.id.as_str()), "{s:?}");
    }
    assert_eq!(copied.is_exe_changed, Some(true), "{copied:?}");
    assert_eq!(image.is_exe_changed, Some(false), "{image:?}");
    assert_eq!(
        chmod.is_exe_changed,
        Some(true),
        "a chmod changes the inode"
    );

    // The container started with its first process: runc's `runc init`, put in
    // the container's cgroup before it forks the container's pid 1, so a little
    // before that one started.
    let init = seen
        .iter()
        .find(|s| s.event.task.pid == init_pid)
        .expect("an event of the container's first process");
    let start = copied.container_start_ns.expect("a container start");
    let clock = sensor::event::clock::BootClock::now();
    let init_start = clock.epoch_ns(init.event.task.start_ns);
    assert!(
        start <= init_start + 1_000_000 && init_start.saturating_sub(start) < 2_000_000_000,
        "{start} vs {init_start}"
    );

    // On the host: no container, no drift.
    let host = seen
        .iter()
        .find(|s| s.container.is_none() && exec_of(&s.event).is_some());
    if let Some(host) = host {
        assert_eq!(
            (host.is_exe_changed, host.container_start_ns),
            (Some(false), None)
        );
    }
    container.wait(Duration::from_secs(10));
}

#[tokio::test]
async fn processes_running_before_the_agent_get_their_facts_from_proc() {
    if !can_load_ebpf("facts_from_proc") {
        return;
    }
    let marker = nonce("fromproc");
    // Started before the agent: a host process with a TCP socket for stdin,
    // and a container whose process is a binary it copied itself.
    let (client, _server) = tcp_pair("127.0.0.1:0");
    let mut host = Command::new("/bin/sh")
        .args(["-c", "exec /bin/sleep 30", &marker])
        .stdin(Stdio::from(OwnedFd::from(client)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sleep");
    let container = Container::create(
        &marker,
        &[
            "/bin/sh",
            "-c",
            "cp /bin/busybox /tmp/busybox-x; exec /tmp/busybox-x sleep 30",
        ],
        0,
        0,
    );
    let init_pid = container.init_pid();
    container.start();
    // Until the copy runs, not yet.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_link(format!("/proc/{init_pid}/exe"))
        .is_ok_and(|exe| exe.to_string_lossy().ends_with("/tmp/busybox-x"))
    {
        assert!(std::time::Instant::now() < deadline, "the copy never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let expect_caps = status_caps(host.id());
    let expect_sid = ps_sid(host.id());

    let (_sensor, mut reader) = start_with(&config());
    let mut table = enricher();
    // Their exits are their first events the agent sees.
    let _ = host.kill();
    let _ = host.wait();
    let _ = Command::new("kill")
        .args(["-9", &init_pid.to_string()])
        .status();
    let seen = enrich_until(&mut reader, &mut table, Duration::from_secs(10), |seen| {
        [host.id(), init_pid].iter().all(|pid| {
            seen.iter()
                .any(|s| s.event.task.pid == *pid && s.event.kind() == EventKind::Exit)
        })
    })
    .await;
    let exit_of = |pid: u32| {
        seen.iter()
            .find(|s| s.event.task.pid == pid && s.event.kind() == EventKind::Exit)
            .unwrap_or_else(|| panic!("no exit of {pid}"))
    };
    let sleep = exit_of(host.id());
    assert_eq!(
        stdio(sleep),
        [FdType::Ipv4, FdType::Char, FdType::Char],
        "{sleep:?}"
    );
    assert_eq!(caps_of(sleep), expect_caps);
    assert_eq!(sleep.facts.and_then(|f| f.sid), Some(expect_sid));
    assert!(sleep.facts.and_then(|f| f.exe_ctime_ns).is_some());
    let drifted = exit_of(init_pid);
    assert_eq!(drifted.container.as_deref(), Some(container.id.as_str()));
    assert!(drifted.container_start_ns.is_some(), "{drifted:?}");
    assert_eq!(drifted.is_exe_changed, Some(true), "{drifted:?}");
}
