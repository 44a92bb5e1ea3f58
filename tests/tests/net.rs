//! Network events: listen, connect and accept over TCP and UDP, IPv4 and IPv6,
//! failed connects with their errno, and a connect from inside a container.

use std::{
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    time::Duration,
};

use sensor::{
    event::{Event, EventKind, Net, NetOp},
    kernel::{KernelConfig, WakeupPolicy},
};
use sensor_tests::{
    can_load_ebpf, container::Container, net_of, nonce, read_until, start_with, test_config,
};

fn net_only() -> KernelConfig {
    KernelConfig {
        kinds: vec![EventKind::Connect, EventKind::Accept, EventKind::Listen],
        ..test_config(WakeupPolicy::EveryEvent)
    }
}

fn find(events: &[Event], op: NetOp, pred: impl Fn(&Net) -> bool) -> Option<(&Event, &Net)> {
    events
        .iter()
        .find_map(|e| net_of(e).filter(|n| n.op == op && pred(n)).map(|n| (e, n)))
}

#[tokio::test]
async fn tcp_listen_connect_and_accept_over_ipv4() {
    if !can_load_ebpf("tcp4") {
        return;
    }
    let (_sensor, mut reader) = start_with(&net_only());
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let server = listener.local_addr().expect("an address");
    let client = TcpStream::connect(server).expect("connecting");
    let (_conn, peer) = listener.accept().expect("accepting");
    assert_eq!(peer, client.local_addr().expect("an address"));

    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        find(events, NetOp::Accept, |n| n.remote == peer).is_some()
    })
    .await;
    let (event, listen) =
        find(&events, NetOp::Listen, |n| n.local == server).expect("a listen event");
    assert_eq!(
        (event.evt_type(), listen.l4proto(), listen.result),
        ("listen", "tcp", 0)
    );
    let (event, connect) =
        find(&events, NetOp::Connect, |n| n.remote == server).expect("a connect event");
    assert_eq!(event.task.pid, std::process::id());
    assert_eq!((connect.local, connect.result), (peer, 0));
    assert_eq!(connect.fd_name(), format!("{peer}->{server}"));
    let (_, accept) = find(&events, NetOp::Accept, |n| n.remote == peer).expect("an accept");
    assert_eq!(accept.local, server);
    assert!(accept.result >= 0, "accept returns the new fd");
}

#[tokio::test]
async fn udp_over_ipv6_and_refused_connects_are_reported() {
    if !can_load_ebpf("udp6") {
        return;
    }
    let (_sensor, mut reader) = start_with(&net_only());
    let udp = UdpSocket::bind("[::1]:0").expect("binding ::1");
    let target: SocketAddr = "[::1]:5353".parse().expect("an address");
    udp.connect(target).expect("a UDP connect");
    // Port 1 on loopback has no listener: the kernel refuses at once.
    let refused: SocketAddr = "127.0.0.1:1".parse().expect("an address");
    let err = TcpStream::connect(refused).expect_err("nothing listens on port 1");
    assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));

    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        find(events, NetOp::Connect, |n| n.remote == refused).is_some()
            && find(events, NetOp::Connect, |n| n.remote == target).is_some()
    })
    .await;
    let (_, udp_connect) =
        find(&events, NetOp::Connect, |n| n.remote == target).expect("the UDP connect");
    assert_eq!(
        (udp_connect.fd_type(), udp_connect.l4proto()),
        ("ipv6", "udp")
    );
    assert_eq!(udp_connect.local, udp.local_addr().expect("an address"));
    let (_, failed) =
        find(&events, NetOp::Connect, |n| n.remote == refused).expect("the refused connect");
    assert_eq!(failed.result, -i64::from(libc::ECONNREFUSED));
    assert_eq!(failed.l4proto(), "tcp");
}

#[tokio::test]
async fn a_connect_from_a_container_carries_its_cgroup() {
    if !can_load_ebpf("container_connect") {
        return;
    }
    let (_sensor, mut reader) = start_with(&net_only());
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let server = listener.local_addr().expect("an address");
    let port = server.port().to_string();
    let marker = nonce("cnet");
    let container = Container::create_host_network(
        &marker,
        &[
            "/bin/sh",
            "-c",
            &format!("echo hi | /bin/nc 127.0.0.1 {port}; true"),
        ],
    );
    let cgroup_id = container.cgroup_id();
    container.start();
    // Closing the accepted connection at once lets nc see EOF and exit.
    drop(listener.accept().expect("the container connects"));
    container.wait(Duration::from_secs(20));
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        find(events, NetOp::Connect, |n| n.remote == server).is_some()
    })
    .await;
    let (event, connect) =
        find(&events, NetOp::Connect, |n| n.remote == server).expect("the container's connect");
    assert_eq!(event.task.cgroup_id, cgroup_id);
    assert_eq!(event.task.comm, "nc");
    assert_eq!(connect.result, 0);
}

#[tokio::test]
async fn binds_report_the_port_the_kernel_bound() {
    if !can_load_ebpf("bind") {
        return;
    }
    let config = KernelConfig {
        kinds: vec![EventKind::Bind],
        ..test_config(WakeupPolicy::EveryEvent)
    };
    let (_sensor, mut reader) = start_with(&config);
    // Port 0: the kernel picks one, and the event must say which.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("binding");
    let tcp = TcpListener::bind("[::1]:0").expect("binding");
    let (udp_addr, tcp_addr) = (
        udp.local_addr().expect("addr"),
        tcp.local_addr().expect("addr"),
    );
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        find(events, NetOp::Bind, |n| n.local == udp_addr).is_some()
            && find(events, NetOp::Bind, |n| n.local == tcp_addr).is_some()
    })
    .await;
    let (event, udp_bind) =
        find(&events, NetOp::Bind, |n| n.local == udp_addr).expect("the UDP bind");
    assert_eq!(event.evt_type(), "bind");
    assert_eq!((udp_bind.l4proto(), udp_bind.result), ("udp", 0));
    assert_eq!(udp_bind.fd_name(), udp_addr.to_string());
    let (_, tcp_bind) = find(&events, NetOp::Bind, |n| n.local == tcp_addr).expect("the TCP bind");
    assert_eq!((tcp_bind.fd_type(), tcp_bind.l4proto()), ("ipv6", "tcp"));
}
