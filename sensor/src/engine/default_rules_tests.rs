//! The shipped default rules: every one loads and runs, names its MITRE ATT&CK
//! technique and tactic, has a priority and an output with the process,
//! container and pod; and the rules no end-to-end test can fire on this kernel
//! (kernel module loads: no init_module tracepoint here) are tested on
//! hand-made events.

use std::sync::Arc;

use super::DEFAULT_RULES;
use crate::{
    context::{Who, container::ContainerRef},
    engine::{Engine, Subject},
    event::{Body, Event, PrivCall, PrivSyscall, Task, clock::BootClock},
    rules::RuleSet,
};

fn default_engine() -> (RuleSet, Engine) {
    let set = RuleSet::load(DEFAULT_RULES).expect("the default rules load");
    let engine = Engine::new(&set);
    (set, engine)
}

/// A MITRE ATT&CK technique id: T and four digits, maybe .NNN for a
/// sub-technique.
fn is_technique(tag: &str) -> bool {
    let Some(rest) = tag.strip_prefix('T') else {
        return false;
    };
    let (id, sub) = rest.split_once('.').unwrap_or((rest, "000"));
    id.len() == 4
        && sub.len() == 3
        && id.bytes().all(|b| b.is_ascii_digit())
        && sub.bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn every_default_rule_loads_and_names_its_technique() {
    let (set, engine) = default_engine();
    for v in engine.verdicts() {
        assert!(v.loaded, "{v:?}");
    }
    let rules = set.rules();
    assert!(rules.len() >= 40, "{} default rules", rules.len());
    let text: String = DEFAULT_RULES.iter().map(|(_, t)| *t).collect();
    for rule in rules {
        let name = &rule.name;
        assert!(
            rule.tags.iter().any(|t| is_technique(t)),
            "{name}: no MITRE technique tag in {:?}",
            rule.tags
        );
        assert!(
            rule.tags.iter().any(|t| t.starts_with("mitre_")),
            "{name}: no MITRE tactic tag in {:?}",
            rule.tags
        );
        // The priority is required by the loader; make sure it was written,
        // not defaulted.
        let block = text
            .split("\n- rule: ")
            .find(|b| b.starts_with(name.as_str()))
            .unwrap_or_else(|| panic!("{name}: not found in the text"));
        assert!(block.contains("\n  priority: "), "{name}: no priority");
        assert!(!rule.desc.trim().is_empty(), "{name}: no desc");
        for field in [
            "%proc.name",
            "%proc.cmdline",
            "%container.id",
            "%k8s.ns.name",
            "%k8s.pod.name",
        ] {
            assert!(rule.output.contains(field), "{name}: output lacks {field}");
        }
    }
}

#[test]
fn technique_ids_are_checked() {
    assert!(is_technique("T1059"));
    assert!(is_technique("T1059.004"));
    assert!(!is_technique("T105"));
    assert!(!is_technique("T1059.4"));
    assert!(!is_technique("mitre_execution"));
}

const CONTAINER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn module_load(syscall: PrivSyscall) -> Event {
    Event {
        boot_ns: 5_000_000_000,
        task: Task {
            pid: 100,
            tid: 100,
            ppid: 50,
            uid: 0,
            gid: 0,
            comm: "insmod".into(),
            cgroup_id: 7,
            start_ns: 2_000_000_000,
            exec_seq: 1,
        },
        truncated: vec![],
        unreadable: vec![],
        body: Body::Priv(PrivCall {
            syscall,
            result: -1,
            args: [3, 0, 0, 0],
            name: String::new(),
        }),
    }
}

fn matched(engine: &mut Engine, event: &Event, who: &Who<'_>) -> Vec<String> {
    let clock = BootClock::now();
    let s = Subject {
        event,
        who,
        num: 1,
        clock: &clock,
        ticks_per_second: 100,
    };
    let mut out = Vec::new();
    engine.matches(&s, &mut out);
    out.iter()
        .map(|&i| engine.rule(i).expect("a rule").rule.name.clone())
        .collect()
}

/// The kernel here has no init_module or finit_module tracepoint, so the
/// end-to-end tests cannot make these events: the rule is tested on made ones.
#[test]
fn kernel_module_loads_from_containers_are_found() {
    let (_, mut engine) = default_engine();
    let in_container = Who {
        container: Some(Arc::new(ContainerRef {
            id: CONTAINER.into(),
            runtime: None,
            pod_uid: None,
            qos: None,
        })),
        ..Default::default()
    };
    let on_host = Who::default();
    for syscall in [PrivSyscall::InitModule, PrivSyscall::FinitModule] {
        let event = module_load(syscall);
        assert_eq!(
            matched(&mut engine, &event, &in_container),
            ["Kernel module loaded from container"],
            "{syscall:?}"
        );
        assert!(
            matched(&mut engine, &event, &on_host).is_empty(),
            "{syscall:?} on the host"
        );
    }
}

/// No default rule makes the kernel report every open: an agent with the
/// default rules drops opens outside their prefixes and names in the kernel.
#[test]
fn the_default_rules_leave_most_opens_in_the_kernel() {
    let (_, engine) = default_engine();
    let plan = crate::rules::KernelPlan::for_agent(engine.rules().iter().map(|c| &*c.rule));
    let open = plan.open.as_ref().expect("an open filter");
    for (access, prefixes) in [("read", &open.read), ("write", &open.write)] {
        assert!(
            !prefixes.iter().any(|p| p == "/"),
            "the default rules watch every {access}: {plan}"
        );
    }
    assert!(
        open.read_names.iter().any(|n| n == "config.json"),
        "registry credentials are watched by name: {plan}"
    );
    assert!(plan.widened.is_empty(), "{:?}", plan.widened);
}
