//! Tests of the rules front end: the parser on every form, hostile input, expansion,
//! merging across files, error positions, and Falco's own stable rules.

use super::*;

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
        println!("{}: {:?} {}", r.name, r.evt_types, r.condition);
    }
}
