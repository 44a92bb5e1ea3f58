//! Tests of the rules front end, one file per concern: the parser on every form
//! and hostile input (`parse`), macro and list expansion (`expand`), loading and
//! merging files with their errors and positions (`load`), and Falco's own
//! stable rules (`falco`). The helpers here build one-rule files around a condition.

use super::*;

mod expand;
mod falco;
mod load;
mod parse;

pub(super) fn only(xs: &[&str]) -> EvtTypes {
    EvtTypes::Only(xs.iter().map(|s| s.to_string()).collect())
}

pub(super) fn walk(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match e {
        Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| walk(x, f)),
        Expr::Not(x) => walk(x, f),
        _ => {}
    }
}

/// A file with one rule and the given extra items (macros, lists) before it.
pub(super) fn rule_file(before: &str, condition: &str) -> String {
    format!(
        "{before}\n- rule: r\n  desc: d\n  condition: {condition}\n  output: \"o %proc.name\"\n  priority: INFO\n"
    )
}

pub(super) fn load(text: &str) -> Result<RuleSet, RulesError> {
    RuleSet::load(&[("test.yaml", text)])
}

/// The expanded condition of a one-rule file, printed.
pub(super) fn cond_with(before: &str, condition: &str) -> String {
    let set = load(&rule_file(before, condition)).unwrap_or_else(|e| panic!("{condition}: {e}"));
    set.rules()[0].condition.to_string()
}

pub(super) fn cond(condition: &str) -> String {
    // YAML quoting: a single-quoted scalar holds any condition.
    cond_with("", &format!("'{}'", condition.replace('\'', "''")))
}

/// A condition's syntax error straight from the parser.
pub(super) fn syntax(condition: &str) -> SyntaxError {
    match parser::parse(condition) {
        Ok(raw) => panic!("{condition:?} parsed: {raw:?}"),
        Err(e) => e,
    }
}
