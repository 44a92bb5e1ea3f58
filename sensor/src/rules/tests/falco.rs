//! Falco's stable rules: every item loads and expands, with known facts checked.

use std::collections::BTreeSet;

use super::*;
use super::{only, walk};

/// Falco's stable rules, kept in the repository (with their licence) so CI on a
/// fresh clone has them.
const FALCO_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../rules/compat/falco_rules.yaml"
);

fn falco() -> RuleSet {
    let text = std::fs::read_to_string(FALCO_PATH).unwrap_or_else(|e| panic!("{FALCO_PATH}: {e}"));
    RuleSet::load(&[("falco_rules.yaml", &text)]).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn falco_rules_load() {
    let set = falco();
    for w in set.warnings() {
        println!("{w}");
    }
    for r in set.rules() {
        println!("{}: {:?}, {} fields", r.name, r.evt_types, r.fields.len());
    }
}

#[test]
fn falco_rules_counts_and_facts() {
    let set = falco();
    assert_eq!(set.rules().len(), 25);
    assert_eq!(set.macros().len(), 87);
    assert_eq!(set.lists().len(), 49);
    assert_eq!(set.engine_versions(), ["0.57.0"]);
    assert_eq!(set.plugin_versions().len(), 1);

    let list_names: BTreeSet<&str> = set.lists().iter().map(|l| l.name.as_str()).collect();
    let macro_names: BTreeSet<&str> = set.macros().iter().map(|m| m.name.as_str()).collect();
    for rule in set.rules() {
        // No list name survives in a value, and every field has a dot (a macro
        // name never does): expansion left nothing behind.
        let mut leftovers = Vec::new();
        walk(&rule.condition, &mut |e| {
            if let Expr::Compare {
                value: Value::List(xs),
                ..
            } = e
            {
                leftovers.extend(
                    xs.iter()
                        .filter(|x| list_names.contains(x.as_str()))
                        .cloned(),
                );
            }
        });
        assert!(leftovers.is_empty(), "{}: {leftovers:?}", rule.name);
        for f in &rule.fields {
            assert!(
                f.name.contains('.') && !macro_names.contains(f.name.as_str()),
                "{}: {f}",
                rule.name
            );
        }
        // Every stable rule names its syscalls: none is evaluated for every event.
        assert!(matches!(rule.evt_types, EvtTypes::Only(_)), "{}", rule.name);
        assert!(!rule.output_fields.is_empty(), "{}", rule.name);
    }
    // Every macro is used, every key known, every rule bounded by evt.type.
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());

    let r = set.rule("Read sensitive file untrusted").expect("rule");
    assert_eq!(r.evt_types, only(&["open", "openat", "openat2"]));
    assert_eq!(r.priority, Priority::Warning);
    assert!(r.fields.contains(&FieldRef::new("fd.name")));
    assert!(r.fields.contains(&FieldRef {
        name: "proc.aname".into(),
        arg: Some("2".into())
    }));
    assert!(r.output_fields.contains(&FieldRef {
        name: "proc.aname".into(),
        arg: Some("4".into())
    }));
    // `'"(systemd)"'` in a YAML list is the quoted string `(systemd)`.
    assert!(r.condition.to_string().contains(r#""(systemd)""#));

    let shell = set.rule("Terminal shell in container").expect("rule");
    assert_eq!(shell.evt_types, only(&["execve", "execveat"]));
    assert_eq!(shell.priority, Priority::Notice);
    assert!(shell.condition.to_string().contains(r#""runc:[0:PARENT]""#));
    let ssh = set
        .rule("Disallowed SSH Connection Non Standard Port")
        .expect("rule");
    assert_eq!(ssh.evt_types, only(&["connect", "sendmsg", "sendto"]));
    assert!(
        ssh.condition
            .to_string()
            .contains(r#"fd.sport in ("80", "8080""#)
    );

    let nested = set
        .lists()
        .iter()
        .find(|l| l.name == "user_mgmt_binaries")
        .expect("list");
    assert!(nested.resolved.contains(&"passwd".to_owned()));
    assert!(nested.resolved.len() > nested.items.len());
    let used = set
        .macros()
        .iter()
        .find(|m| m.name == "open_read")
        .expect("macro");
    assert!(used.condition.is_some());
}
