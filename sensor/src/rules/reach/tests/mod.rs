//! Tests of the kernel plan, one file per concern: opens (`open`), network
//! ports (`net`), the kernel's limits (`limits`), Falco's stable rules
//! (`falco`), and random conditions against a reference evaluator (`random`,
//! `reference`).
//! Rules are real rule text loaded through `RuleSet::load`.

mod falco;
mod limits;
mod net;
mod open;
mod random;
mod reference;

use super::*;
use crate::rules::RuleSet;

/// Falco's own macros for opens, as its stable rules define them.
pub(super) const FALCO_OPEN_MACROS: &str = r#"
- macro: open_write
  condition: (evt.type in (open,openat,openat2) and evt.is_open_write=true and fd.typechar='f' and fd.num>=0)
- macro: open_read
  condition: (evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0)
- list: sensitive_file_names
  items: [/etc/shadow, /etc/sudoers, /etc/pam.conf, /etc/security/pwquality.conf]
- macro: sensitive_files
  condition: >
    (fd.name in (sensitive_file_names) or
      fd.directory in (/etc/sudoers.d, /etc/pam.d))
"#;

/// A rule file: `before` (macros, lists), then one rule per condition.
pub(super) fn rules_file(before: &str, conditions: &[&str]) -> String {
    let mut text = format!("{before}\n");
    for (i, condition) in conditions.iter().enumerate() {
        // A single-quoted YAML scalar holds any condition.
        let quoted = condition.replace('\'', "''");
        text.push_str(&format!(
            "- rule: r{i}\n  desc: d\n  condition: '{quoted}'\n  output: o\n  priority: INFO\n"
        ));
    }
    text
}

pub(super) fn load(text: &str) -> RuleSet {
    RuleSet::load(&[("test.yaml", text)]).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The plan for these conditions, with Falco's open macros defined.
pub(super) fn plan_of(conditions: &[&str]) -> KernelPlan {
    plan(load(&rules_file(FALCO_OPEN_MACROS, conditions)).rules())
}

pub(super) fn kind_names(plan: &KernelPlan) -> Vec<&'static str> {
    plan.kinds.iter().map(|&k| kind_name(k)).collect()
}

/// An expected open filter: `None` for every open.
pub(super) fn opens(read: &[&str], write: &[&str]) -> Option<OpenFilter> {
    let list = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
    Some(OpenFilter {
        read: list(read),
        write: list(write),
        ..OpenFilter::default()
    })
}

#[test]
fn the_agent_always_gets_its_process_events() {
    let plan = KernelPlan::for_agent(load(&rules_file("", &["evt.type=connect"])).rules());
    assert_eq!(kind_names(&plan), ["exec", "fork", "exit", "connect"]);
    let none = KernelPlan::for_agent([]);
    assert_eq!(kind_names(&none), ["exec", "fork", "exit"]);
    assert_eq!(none.open, opens(&[], &[]));
    assert_eq!(none.net_ports, Some(vec![]));
}

#[test]
fn the_summary_fits_a_log_line() {
    let plan = KernelPlan::for_agent(
        load(&rules_file(
            FALCO_OPEN_MACROS,
            &[
                "open_read and fd.name startswith /etc/",
                "evt.type=connect and fd.sport in (22, 2222)",
            ],
        ))
        .rules(),
    );
    assert_eq!(
        plan.to_string(),
        "kinds: exec, fork, exit, open, connect; opens: read under /etc/; write none; \
         ports: 22, 2222"
    );
    assert_eq!(
        KernelPlan::for_agent(load(&rules_file("", &["proc.name=sh"])).rules())
            .to_string()
            .split("; ")
            .skip(1)
            .collect::<Vec<_>>(),
        ["opens: all", "ports: all"]
    );
    let many: Vec<String> = (0..20).map(|i| format!("/d{i:02}/")).collect();
    let condition = format!("open_read and fd.name in ({})", many.join(", "));
    let plan = plan_of(&[&condition]);
    let short = plan.to_string();
    assert!(short.contains("/d07/ (+12 more)"), "{short}");
    assert!(format!("{plan:#}").contains("/d19/"));
}
