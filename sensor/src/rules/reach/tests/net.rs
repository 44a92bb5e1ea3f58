//! Network events: kinds, and the one port set the kernel tests for all of them.

use super::*;

/// One case: what it shows, the conditions, the kinds expected, the ports
/// expected (`None`: all).
type Case = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    Option<&'static [u16]>,
);

const CASES: &[Case] = &[
    (
        "connects to two server ports",
        &["evt.type=connect and fd.sport in (22, 2222)"],
        &["connect"],
        Some(&[22, 2222]),
    ),
    (
        "fd.sport is the tested port of connect and accept",
        &["evt.type in (connect, accept) and fd.sport = 443"],
        &["connect", "accept"],
        Some(&[443]),
    ),
    (
        "rport of a connect, lport of an accept",
        &[
            "evt.type=connect and fd.rport=53",
            "evt.type=accept and fd.lport=80",
        ],
        &["connect", "accept"],
        Some(&[53, 80]),
    ),
    (
        "listen: the local port",
        &["evt.type=listen and fd.lport=8080"],
        &["listen"],
        Some(&[8080]),
    ),
    (
        // A bind to port 0 is tested as 0 and reported with the port picked.
        "bind: the local port, and 0",
        &["evt.type=bind and fd.lport in (8080, 9090)"],
        &["bind"],
        Some(&[0, 8080, 9090]),
    ),
    (
        "a listener has no server port",
        &["evt.type=listen and fd.sport=80"],
        &["listen"],
        None,
    ),
    (
        "an accept's remote port is not tested",
        &["evt.type=accept and fd.rport=22"],
        &["accept"],
        None,
    ),
    (
        "the client port is never tested",
        &["evt.type=connect and fd.cport=5000"],
        &["connect"],
        None,
    ),
    (
        "one network rule without ports turns the filter off",
        &["evt.type=connect and fd.sport=22", "evt.type=listen"],
        &["connect", "listen"],
        None,
    ),
    (
        "a port rule spanning types where its field differs",
        &["evt.type in (connect, listen) and fd.rport = 22"],
        &["connect", "listen"],
        None,
    ),
    (
        "negation narrows nothing",
        &["evt.type=connect and (fd.sport=22 or fd.sport=23) and not fd.sport=23"],
        &["connect"],
        Some(&[22, 23]),
    ),
    (
        "contradiction: no event",
        &["evt.type=connect and fd.sport=22 and fd.sport=23"],
        &[],
        Some(&[]),
    ),
    (
        "an empty list: no port",
        &["evt.type in (connect, bind) and fd.lport in ()"],
        &["connect"],
        None,
    ),
    (
        "an empty list of tested ports",
        &["evt.type in (connect, bind) and fd.rport in () and fd.lport in ()"],
        &[],
        Some(&[]),
    ),
    (
        "ranges are not tracked",
        &["evt.type=connect and fd.sport > 1024"],
        &["connect"],
        None,
    ),
    (
        "a port rule with an open branch",
        &["(evt.type=connect and fd.sport=22) or (evt.type=openat and fd.name=/x)"],
        &["open", "connect"],
        Some(&[22]),
    ),
    (
        "open rules need no ports",
        &["evt.type=openat and fd.name=/x"],
        &["open"],
        Some(&[]),
    ),
    (
        "a rule on every type needs every port",
        &["evt.type=connect and fd.sport=22", "proc.name=nc"],
        &[
            "exec", "fork", "exit", "open", "connect", "accept", "listen", "setid", "capset",
            "ptrace", "module", "bpf", "memfd", "io_uring", "unlink", "rename", "chmod", "link",
            "bind", "mount",
        ],
        None,
    ),
];

#[test]
fn net_cases() {
    for (what, rules, kinds, ports) in CASES {
        let plan = plan_of(rules);
        assert_eq!(kind_names(&plan), *kinds, "{what}: kinds");
        assert_eq!(plan.net_ports.as_deref(), *ports, "{what}: ports");
    }
}

#[test]
fn falco_outbound_ssh_ports() {
    let text = r#"
- list: ssh_non_standard_ports
  items: [80, 8080, 88, 443, 8443, 53, 4444]
- list: rfc_1918_addresses
  items: ['"10.0.0.0/8"', '"172.16.0.0/12"', '"192.168.0.0/16"']
- macro: outbound
  condition: >
    ((evt.type = connect or
      (evt.type in (sendto,sendmsg) and
       fd.l4proto != tcp and fd.connected=false and fd.name_changed=true)) and
     (fd.typechar = 4 or fd.typechar = 6) and
     (fd.ip != "0.0.0.0" and fd.net != "127.0.0.0/8" and not fd.snet in (rfc_1918_addresses)) and
     (evt.rawres >= 0 or evt.res = EINPROGRESS))
- rule: Disallowed SSH Connection Non Standard Port
  desc: d
  condition: outbound and proc.exe endswith ssh and fd.l4proto=tcp and fd.sport in (ssh_non_standard_ports)
  output: o
  priority: NOTICE
"#;
    let plan = plan(load(text).rules());
    assert_eq!(kind_names(&plan), ["connect"]);
    assert_eq!(
        plan.net_ports,
        Some(vec![53, 80, 88, 443, 4444, 8080, 8443])
    );
}
