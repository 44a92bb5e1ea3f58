//! Falco's stable rules: they load, plan without panicking, and the plan is
//! what their conditions allow (many use fields the sensor lacks; those bound
//! nothing, so the plan stays sound for them).

use super::*;

const FALCO_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../rules/compat/falco_rules.yaml"
);

fn falco() -> RuleSet {
    let text = std::fs::read_to_string(FALCO_PATH).unwrap_or_else(|e| panic!("{FALCO_PATH}: {e}"));
    RuleSet::load(&[("falco_rules.yaml", &text)]).unwrap_or_else(|e| panic!("{e}"))
}

/// The plan of one rule, by name.
fn plan_of_rule(set: &RuleSet, name: &str) -> KernelPlan {
    plan([set.rule(name).unwrap_or_else(|| panic!("no rule {name}"))])
}

const SENSITIVE: &[&str] = &[
    "/etc/pam.conf",
    "/etc/pam.d/",
    "/etc/security/pwquality.conf",
    "/etc/shadow",
    "/etc/sudoers",
];

#[test]
fn falco_stable_rules_plan() {
    let set = falco();
    for rule in set.rules() {
        println!("{}: {}", rule.name, plan([rule]));
    }
    let enabled: Vec<&Rule> = set.rules().iter().filter(|r| r.enabled).collect();
    let all = KernelPlan::for_agent(enabled.iter().copied());
    println!("all: {all:#}");
    // Opens for the file rules, connects for the network ones, execs for most,
    // link for the symlink and hardlink rules, module and ptrace; the rules on
    // dup and socket name no type the sensor reports.
    assert_eq!(
        kind_names(&all),
        [
            "exec", "fork", "exit", "open", "connect", "ptrace", "module", "link"
        ]
    );
    // `fd.name contains "id_rsa"` (directory traversal), `fd.filename in
    // (log_files)` (clear log activities) and `fd.name endswith release_agent`
    // bound no prefix.
    assert_eq!(all.open, None);
    // Contact K8S API Server: any connect, whatever its port.
    assert_eq!(all.net_ports, None);
    assert!(all.widened.is_empty());

    let read_sensitive = plan_of_rule(&set, "Read sensitive file untrusted");
    assert_eq!(kind_names(&read_sensitive), ["open"]);
    assert_eq!(read_sensitive.open, opens(SENSITIVE, &[]));
    let traversal = plan_of_rule(&set, "Directory traversal monitored file read");
    // open_file_failed tests fd.num=-1, which a failed open lacks: reads only.
    assert_eq!(traversal.open, opens(&["/"], &[]));
    let release_agent = plan_of_rule(&set, "Detect release_agent File Container Escapes");
    // Writes anywhere (the name is tested at its end), no reads.
    assert_eq!(release_agent.open, opens(&[], &["/"]));
    let ssh = plan_of_rule(&set, "Disallowed SSH Connection Non Standard Port");
    assert_eq!(kind_names(&ssh), ["connect"]);
    assert_eq!(ssh.net_ports, Some(vec![53, 80, 88, 443, 4444, 8080, 8443]));
    for none in [
        "Packet socket created in container",
        "Redirect STDOUT/STDIN to Network Connection in Container",
    ] {
        assert!(plan_of_rule(&set, none).kinds.is_empty(), "{none}");
    }

    // Without the three rules that bound no path, the opens narrow to the
    // sensitive files.
    let unbounded = [
        "Directory traversal monitored file read",
        "Clear Log Activities",
        "Detect release_agent File Container Escapes",
    ];
    let bounded = plan(
        enabled
            .iter()
            .copied()
            .filter(|r| !unbounded.contains(&r.name.as_str())),
    );
    assert_eq!(bounded.open, opens(SENSITIVE, &[]));
}
