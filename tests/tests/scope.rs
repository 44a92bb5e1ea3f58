//! Filters set in the kernel: a cgroup scope that leaves host processes out and
//! takes in a pod's containers, and ports of interest for network events. Both can
//! change while the sensor runs.

use std::{
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::Command,
    time::Duration,
};

use sensor::{
    event::{EventKind, NetOp},
    kernel::{KernelConfig, WakeupPolicy},
};
use sensor_tests::{
    argv, can_load_ebpf, container::Container, net_of, nonce, read_until, start_with, test_config,
};

#[tokio::test]
async fn a_cgroup_scope_reports_the_pod_and_leaves_the_host_out() {
    if !can_load_ebpf("cgroup_scope") {
        return;
    }
    let marker = nonce("scope");
    let script = format!("/bin/echo {marker}-pod");
    let container = Container::create(&marker, &["/bin/sh", "-c", &script], 0, 0);
    // Scope to the pod: its containers' cgroups are below it.
    let config = KernelConfig {
        kinds: vec![EventKind::Exec],
        cgroup_scope: Some(vec![PathBuf::from(container.pod_cgroup())]),
        ..test_config(WakeupPolicy::EveryEvent)
    };
    let (mut sensor, mut reader) = start_with(&config);
    let host_marker = format!("{marker}-host");
    let out = Command::new("/bin/echo")
        .arg(&host_marker)
        .output()
        .expect("echo");
    assert!(out.status.success());
    container.start();
    container.wait(Duration::from_secs(20));
    let pod_marker = format!("{marker}-pod");
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        events.iter().any(|e| argv(e).get(1) == Some(&pod_marker))
    })
    .await;
    assert!(
        events.iter().any(|e| argv(e).get(1) == Some(&pod_marker)),
        "the pod's exec is in scope"
    );
    let cgroup = container.cgroup_id();
    assert!(
        events.iter().all(|e| e.task.cgroup_id == cgroup),
        "nothing from outside the pod: {:?}",
        events
            .iter()
            .map(|e| (e.task.comm.clone(), e.task.cgroup_id))
            .collect::<Vec<_>>()
    );

    sensor.set_cgroup_scope(None).expect("dropping the scope");
    let again = format!("{marker}-again");
    let out = Command::new("/bin/echo")
        .arg(&again)
        .output()
        .expect("echo");
    assert!(out.status.success());
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        events.iter().any(|e| argv(e).get(1) == Some(&again))
    })
    .await;
    assert!(
        events.iter().any(|e| argv(e).get(1) == Some(&again)),
        "with no scope the host is reported"
    );
}

#[tokio::test]
async fn a_missing_cgroup_is_a_clear_error() {
    if !can_load_ebpf("cgroup_scope_missing") {
        return;
    }
    let config = KernelConfig {
        cgroup_scope: Some(vec![PathBuf::from("/no/such/cgroup")]),
        ..test_config(WakeupPolicy::EveryEvent)
    };
    let err = sensor::kernel::KernelSensor::start(&config)
        .err()
        .expect("a scope naming a missing cgroup is refused");
    assert!(err.to_string().contains("/no/such/cgroup"), "{err}");
}

#[tokio::test]
async fn ports_of_interest_filter_network_events() {
    if !can_load_ebpf("net_ports") {
        return;
    }
    let watched = TcpListener::bind("127.0.0.1:0").expect("binding");
    let other = TcpListener::bind("127.0.0.1:0").expect("binding");
    let (wp, op) = (
        watched.local_addr().expect("addr"),
        other.local_addr().expect("addr"),
    );
    let config = KernelConfig {
        kinds: vec![EventKind::Connect, EventKind::Accept],
        net_ports: Some(vec![wp.port()]),
        ..test_config(WakeupPolicy::EveryEvent)
    };
    let (_sensor, mut reader) = start_with(&config);
    let _a = TcpStream::connect(wp).expect("connect");
    let _b = TcpStream::connect(op).expect("connect");
    drop(watched.accept().expect("accept"));
    drop(other.accept().expect("accept"));
    let events = read_until(&mut reader, Duration::from_secs(3), |_| false).await;
    let nets: Vec<_> = events.iter().filter_map(net_of).collect();
    assert!(
        nets.iter()
            .any(|n| n.op == NetOp::Connect && n.remote == wp)
    );
    assert!(nets.iter().any(|n| n.op == NetOp::Accept && n.local == wp));
    assert!(
        !nets.iter().any(|n| n.remote == op || n.local == op),
        "nothing on the other port: {nets:?}"
    );
}

#[tokio::test]
async fn address_ranges_filter_network_events_and_change_while_running() {
    if !can_load_ebpf("net_addrs") {
        return;
    }
    let v4 = TcpListener::bind("127.0.0.1:0").expect("binding");
    let v6 = TcpListener::bind("[::1]:0").expect("binding");
    let (a4, a6) = (
        v4.local_addr().expect("addr"),
        v6.local_addr().expect("addr"),
    );
    let range = |text: &str| text.parse::<sensor::kernel::AddrRange>().expect("a range");
    let config = KernelConfig {
        kinds: vec![EventKind::Connect],
        net_addrs: Some(vec![range("127.0.0.0/8")]),
        ..test_config(WakeupPolicy::EveryEvent)
    };
    let (mut sensor, mut reader) = start_with(&config);
    let _c4 = TcpStream::connect(a4).expect("connect");
    let _c6 = TcpStream::connect(a6).expect("connect");
    let events = read_until(&mut reader, Duration::from_secs(3), |_| false).await;
    let remotes: Vec<_> = events.iter().filter_map(net_of).map(|n| n.remote).collect();
    assert!(
        remotes.contains(&a4),
        "127.0.0.0/8 takes in the IPv4 connect: {remotes:?}"
    );
    assert!(!remotes.contains(&a6), "::1 is outside it: {remotes:?}");

    sensor
        .set_net_addrs(Some(&[range("::1")]))
        .expect("changing the ranges");
    let _d4 = TcpStream::connect(a4).expect("connect");
    let _d6 = TcpStream::connect(a6).expect("connect");
    let events = read_until(&mut reader, Duration::from_secs(3), |_| false).await;
    let remotes: Vec<_> = events.iter().filter_map(net_of).map(|n| n.remote).collect();
    assert!(
        remotes.contains(&a6) && !remotes.contains(&a4),
        "{remotes:?}"
    );
}
