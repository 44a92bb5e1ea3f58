//! Macro and list expansion: nesting, undefined names, cycles and blow-ups.

use super::super::*;
use super::{cond_with, load, only, rule_file};

#[test]
fn macros_and_lists_expand() {
    let before = "
- list: shells
  items: [sh, bash]
- list: more_shells
  items: [shells, zsh, '\"quoted shells\"']
- list: ports
  items: [80, 443]
- macro: spawned
  condition: evt.type in (execve, execveat)
- macro: shell
  condition: proc.name in (more_shells, fish)
- macro: spawned_shell
  condition: (spawned and shell)
";
    assert_eq!(
        cond_with(
            before,
            "spawned_shell and not proc.pname in (shells) and fd.sport in ports"
        ),
        r#"((evt.type in ("execve", "execveat") and proc.name in ("sh", "bash", "zsh", "quoted shells", "fish")) and not proc.pname in ("sh", "bash") and fd.sport in ("80", "443"))"#
    );
    // A quoted item is a string even when a list has that name.
    assert_eq!(
        cond_with(before, r#"proc.name in ("shells")"#),
        r#"proc.name in ("shells")"#
    );
    // Outside `in`, a list name is just a value.
    assert_eq!(
        cond_with(before, "proc.name = shells"),
        r#"proc.name = "shells""#
    );
    let set = load(&rule_file(before, "spawned_shell")).expect("loads");
    assert_eq!(set.rules()[0].evt_types, only(&["execve", "execveat"]));
    let unused = set
        .warnings()
        .iter()
        .filter(|w| w.message.contains("not used"))
        .count();
    assert_eq!(unused, 0, "{:?}", set.warnings());
}

#[test]
fn undefined_names() {
    let e = load(&rule_file("", "spawned and proc.name = sh")).expect_err("undefined");
    assert!(
        matches!(&e, RulesError::Undefined { identifier, what: Kind::Macro, kind: Kind::Rule, line: 4, column: 14, .. } if identifier == "spawned"),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "test.yaml:4:14: rule `r`: `spawned` is not a defined macro"
    );
    let e = load(&rule_file("", "proc.name in nosuch")).expect_err("undefined list");
    assert!(
        matches!(&e, RulesError::Undefined { identifier, what: Kind::List, .. } if identifier == "nosuch"),
        "{e}"
    );
    // Inside a macro, the error points at the macro's text.
    let m = "- macro: outer\n  condition: a.b = 1 and\n    inner\n";
    let e = load(&rule_file(m, "outer")).expect_err("undefined inner");
    assert!(
        matches!(&e, RulesError::Undefined { kind: Kind::Macro, name, identifier, line: 3, column: 5, .. } if name == "outer" && identifier == "inner"),
        "{e}"
    );
    // An unused macro is checked for syntax only, as Falco does.
    let set = load(&rule_file(m, "a.b = 1")).expect("unused macro");
    assert!(set.warnings().iter().any(|w| w.item == "macro `outer`"));
    assert!(set.macros()[0].condition.is_none());
}

#[test]
fn cycles_and_blowups() {
    let m = "- macro: a\n  condition: b\n- macro: b\n  condition: x.y = 1 or c\n- macro: c\n  condition: not a\n";
    let e = load(&rule_file(m, "a")).expect_err("cycle");
    assert!(
        matches!(&e, RulesError::Cycle { cycle, kind: Kind::Macro, .. } if cycle == &["a", "b", "c", "a"]),
        "{e}"
    );
    let e = load(&rule_file("- macro: s\n  condition: s\n", "s")).expect_err("self");
    assert!(
        matches!(&e, RulesError::Cycle { cycle, .. } if cycle == &["s", "s"]),
        "{e}"
    );
    let l = "- list: p\n  items: [q]\n- list: q\n  items: [x, p]\n";
    let e = load(&rule_file(l, "a.b in (p)")).expect_err("list cycle");
    assert!(
        matches!(
            &e,
            RulesError::Cycle {
                kind: Kind::List,
                ..
            }
        ),
        "{e}"
    );

    // A chain of 10,000 macros: too deep, reported, no overflow.
    let mut chain = String::new();
    for i in 0..10_000 {
        chain.push_str(&format!("- macro: m{i}\n  condition: m{}\n", i + 1));
    }
    chain.push_str("- macro: m10000\n  condition: a.b = 1\n");
    let e = load(&rule_file(&chain, "m0")).expect_err("deep");
    assert!(matches!(&e, RulesError::TooLarge { .. }), "{e}");
    // Each macro using the previous twice: 2^40 nodes if expanded blindly.
    let mut doubling = "- macro: d0\n  condition: a.b = 1\n".to_owned();
    for i in 1..=40 {
        doubling.push_str(&format!(
            "- macro: d{i}\n  condition: d{} or d{}\n",
            i - 1,
            i - 1
        ));
    }
    let e = load(&rule_file(&doubling, "d40")).expect_err("huge");
    assert!(
        matches!(&e, RulesError::TooLarge { what, .. } if what.contains("nodes")),
        "{e}"
    );
    let mut lists = "- list: l0\n  items: [a, b]\n".to_owned();
    for i in 1..=40 {
        lists.push_str(&format!(
            "- list: l{i}\n  items: [l{}, l{}]\n",
            i - 1,
            i - 1
        ));
    }
    let e = load(&rule_file(&lists, "a.b in (l40)")).expect_err("huge list");
    assert!(matches!(&e, RulesError::TooLarge { .. }), "{e}");
}
