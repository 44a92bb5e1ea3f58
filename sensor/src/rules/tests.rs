//! Tests of the rules front end: the parser on every form, hostile input, expansion,
//! merging across files, error positions, and Falco's own stable rules.

use std::collections::BTreeSet;

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
    assert!(
        !set.warnings()
            .iter()
            .any(|w| w.message.contains("evt.type"))
    );

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

fn only(xs: &[&str]) -> EvtTypes {
    EvtTypes::Only(xs.iter().map(|s| s.to_string()).collect())
}

fn walk(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match e {
        Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| walk(x, f)),
        Expr::Not(x) => walk(x, f),
        _ => {}
    }
}

/// A file with one rule and the given extra items (macros, lists) before it.
fn rule_file(before: &str, condition: &str) -> String {
    format!(
        "{before}\n- rule: r\n  desc: d\n  condition: {condition}\n  output: \"o %proc.name\"\n  priority: INFO\n"
    )
}

fn load(text: &str) -> Result<RuleSet, RulesError> {
    RuleSet::load(&[("test.yaml", text)])
}

/// The expanded condition of a one-rule file, printed.
fn cond_with(before: &str, condition: &str) -> String {
    let set = load(&rule_file(before, condition)).unwrap_or_else(|e| panic!("{condition}: {e}"));
    set.rules()[0].condition.to_string()
}

fn cond(condition: &str) -> String {
    // YAML quoting: a single-quoted scalar holds any condition.
    cond_with("", &format!("'{}'", condition.replace('\'', "''")))
}

/// A condition's syntax error straight from the parser.
fn syntax(condition: &str) -> SyntaxError {
    match parser::parse(condition) {
        Ok(raw) => panic!("{condition:?} parsed: {raw:?}"),
        Err(e) => e,
    }
}

#[test]
fn every_operator() {
    for (op, text) in [
        ("=", "="),
        ("==", "="),
        ("!=", "!="),
        ("<", "<"),
        ("<=", "<="),
        (">", ">"),
        (">=", ">="),
        ("contains", "contains"),
        ("icontains", "icontains"),
        ("startswith", "startswith"),
        ("endswith", "endswith"),
        ("glob", "glob"),
        ("bcontains", "bcontains"),
        ("bstartswith", "bstartswith"),
        ("regex", "regex"),
    ] {
        assert_eq!(
            cond(&format!("evt.x {op} v")),
            format!("evt.x {text} \"v\"")
        );
        // No spaces around symbolic operators, as in `fd.num>=0`.
        if !op.chars().next().is_some_and(char::is_alphabetic) {
            assert_eq!(cond(&format!("evt.x{op}v")), format!("evt.x {text} \"v\""));
        }
    }
    for op in ["in", "intersects", "pmatch"] {
        assert_eq!(
            cond(&format!("evt.x {op} (a, b)")),
            format!(r#"evt.x {op} ("a", "b")"#)
        );
        assert_eq!(
            cond(&format!("evt.x {op}(a,b)")),
            format!(r#"evt.x {op} ("a", "b")"#)
        );
    }
    assert_eq!(cond("proc.pname exists"), "proc.pname exists");
    assert_eq!(cond("not proc.pname exists"), "not proc.pname exists");
    assert_eq!(cond("proc.name in ()"), "proc.name in ()");
}

#[test]
fn value_forms() {
    assert_eq!(cond("fd.name = /etc/shadow"), r#"fd.name = "/etc/shadow""#);
    assert_eq!(cond("fd.num=-1"), r#"fd.num = "-1""#);
    assert_eq!(
        cond("evt.is_open_read=true"),
        r#"evt.is_open_read = "true""#
    );
    assert_eq!(cond("evt.dir = <"), r#"evt.dir = "<""#);
    assert_eq!(cond("evt.dir=>"), r#"evt.dir = ">""#);
    assert_eq!(cond("user.uid >= 1000"), r#"user.uid >= "1000""#);
    assert_eq!(cond("fd.typechar='f'"), r#"fd.typechar = "f""#);
    assert_eq!(cond(r#"proc.name!="sshd""#), r#"proc.name != "sshd""#);
    assert_eq!(
        cond(r#"proc.cmdline = "a \"b\" \\ c\td""#),
        r#"proc.cmdline = "a \"b\" \\ c\td""#
    );
    assert_eq!(cond(r"proc.cmdline = 'it\'s'"), r#"proc.cmdline = "it's""#);
    assert_eq!(
        cond(r#"proc.cmdline = "don't""#),
        r#"proc.cmdline = "don't""#
    );
    assert_eq!(cond("proc.name = ''"), r#"proc.name = """#);
    assert_eq!(
        cond(r#"proc.pname in (runc:[0:PARENT], "c d", 'e,f', x)"#),
        r#"proc.pname in ("runc:[0:PARENT]", "c d", "e,f", "x")"#
    );
    assert_eq!(
        cond("proc.name = val(proc.pname)"),
        "proc.name = val(proc.pname)"
    );
    assert_eq!(
        cond("proc.name != val( proc.aname[1] )"),
        "proc.name != val(proc.aname[1])"
    );
    // Odd Unicode is data, not syntax.
    assert_eq!(cond("proc.name = héllo→😀"), r#"proc.name = "héllo→😀""#);
    assert_eq!(
        cond("proc.name = \"\u{202e}\u{200b}\""),
        "proc.name = \"\u{202e}\u{200b}\""
    );
}

#[test]
fn field_forms() {
    assert_eq!(cond("proc.aname[2]=sshd"), r#"proc.aname[2] = "sshd""#);
    assert_eq!(
        cond("k8s.pod.label[app] = web"),
        r#"k8s.pod.label[app] = "web""#
    );
    assert_eq!(
        cond("k8s.pod.label[app.kubernetes.io/name] = web"),
        r#"k8s.pod.label[app.kubernetes.io/name] = "web""#
    );
    assert_eq!(cond("evt.arg[0] = x"), r#"evt.arg[0] = "x""#);
    assert_eq!(cond(r#"fd.name["a b"] = x"#), r#"fd.name[a b] = "x""#);
    assert_eq!(
        cond("evt.arg.flags contains O_TRUNC"),
        r#"evt.arg.flags contains "O_TRUNC""#
    );
    let set = load(&rule_file(
        "",
        "proc.aname[3] = a and val(x.y) exists or evt.arg.name = val(proc.name)",
    ));
    assert!(set.is_err(), "val() is a value, not a field");
    let set = load(&rule_file(
        "",
        "'proc.aname[3] = a or evt.arg.name = val(proc.name)'",
    ))
    .expect("loads");
    let names: Vec<String> = set.rules()[0]
        .fields
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert_eq!(names, ["evt.arg.name", "proc.aname[3]", "proc.name"]);
}

#[test]
fn precedence_and_parentheses() {
    assert_eq!(
        cond("a.a = 1 or b.b = 2 and not c.c = 3"),
        r#"(a.a = "1" or (b.b = "2" and not c.c = "3"))"#
    );
    assert_eq!(
        cond("not a.a = 1 and b.b = 2"),
        r#"(not a.a = "1" and b.b = "2")"#
    );
    assert_eq!(
        cond("not (a.a = 1 and b.b = 2)"),
        r#"not (a.a = "1" and b.b = "2")"#
    );
    assert_eq!(cond("not not a.a exists"), "not not a.a exists");
    assert_eq!(
        cond("(a.a=1 or (b.b=2 and (c.c=3 or d.d=4)))and e.e=5"),
        r#"((a.a = "1" or (b.b = "2" and (c.c = "3" or d.d = "4"))) and e.e = "5")"#
    );
    assert_eq!(cond("((((a.a = 1))))"), r#"a.a = "1""#);
    // Keywords are whole words: these are macro names, not `not`/`and`/`or`.
    let m = "- macro: notable\n  condition: a.a = 1\n- macro: order\n  condition: b.b = 2\n";
    assert_eq!(
        cond_with(m, "notable and order"),
        r#"(a.a = "1" and b.b = "2")"#
    );
    // Printing round-trips through the parser.
    let text = cond(r#"(a.a in (x, "y z") or not b.b[1] exists) and c.c = "q\"""#);
    assert_eq!(cond(&text), text);
}

#[test]
fn syntax_errors_and_offsets() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "empty"),
        ("   \n ", 0, "empty"),
        (r#"proc.name = "abc"#, 12, "unterminated"),
        ("proc.name = 'abc", 12, "unterminated"),
        ("proc.name =", 11, "expected a value"),
        ("proc.name = a b", 14, "found `b`"),
        ("(a.b = 1", 8, "expected `)`"),
        ("a.b = 1)", 7, "found `)`"),
        ("and", 0, "found `and`"),
        ("a.b = 1 and", 11, "expected a field"),
        ("a.b = 1 or or c.d = 2", 11, "expected a field"),
        (
            "proc.name is x",
            10,
            "expected an operator after `proc.name`",
        ),
        ("proc.name", 9, "expected an operator"),
        (r#"proc.name = "a\qb""#, 14, "unknown escape"),
        ("proc.name in (a, b,)", 19, "list item"),
        ("proc.name in (a b)", 16, "`,` or `)`"),
        ("proc.name in (a, b", 18, "`,` or `)`"),
        ("proc.name in /etc", 13, "needs a list"),
        ("proc.name = val(x)", 16, "field name inside `val(...)`"),
        ("proc.aname[2 = x", 12, "`]`"),
        ("proc.aname[] = x", 11, "empty field argument"),
        ("proc. = x", 5, "not a field name"),
        ("proc.name\u{a0}= x", 9, "expected an operator"),
    ];
    for (text, offset, msg) in cases {
        let e = syntax(text);
        assert!(e.message.contains(msg), "{text:?}: {e}");
        assert_eq!(e.offset, *offset, "{text:?}: {e}");
    }
}

#[test]
fn hostile_conditions() {
    // 100,000 nested parentheses (and `not`s): an error, not a stack overflow.
    let deep = format!("{}a.b = 1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(syntax(&deep).message.contains("nested more than"));
    let nots = format!("{}a.b = 1", "not ".repeat(100_000));
    assert!(syntax(&nots).message.contains("nested more than"));
    let at_limit = format!("{}a.b = 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(parser::parse(&at_limit).is_ok());
    assert!(syntax(&"(".repeat(1 << 20)).message.contains("nested"));

    // 1 MB conditions: long `and` chains stay flat and parse in linear time.
    let chain = vec!["proc.name = abcdefgh"; 45_000].join(" and ");
    assert!(chain.len() > 1_000_000);
    let start = std::time::Instant::now();
    let set = load(&rule_file("", &format!("'{chain}'"))).expect("1 MB chain");
    assert!(start.elapsed().as_secs() < 10);
    assert!(matches!(&set.rules()[0].condition, Expr::And(xs) if xs.len() == 45_000));
    let big = format!("proc.name = \"{}\"", "x".repeat(1 << 20));
    assert!(parser::parse(&big).is_ok());
    let unterminated = format!("proc.name = \"{}", "\\\"".repeat(1 << 19));
    assert!(syntax(&unterminated).message.contains("unterminated"));
    assert!(parser::parse(&"a.b = 1 or ".repeat(100_000)).is_err());

    // Junk from a small generator: every input gives a result, none panics.
    let alphabet: Vec<char> = "ab.[]()'\"\\ ,=<>!nototandr:é😀\u{a0}\n\t-%"
        .chars()
        .collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        let len = (seed % 40) as usize;
        let text: String = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                alphabet[(seed % alphabet.len() as u64) as usize]
            })
            .collect();
        if let Err(e) = parser::parse(&text) {
            assert!(e.offset <= text.len(), "{text:?}: {e:?}");
        }
        let _ = output_fields(&text);
        let _ = lexer::unquote_item(&text);
    }
}

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

const BASE: &str = r#"
- list: bins
  items: [sh]
- macro: spawned
  condition: evt.type = execve
- rule: Shell
  desc: a shell
  condition: spawned and proc.name in (bins)
  output: "shell %proc.name"
  priority: warning
  tags: [a]
  exceptions:
    - name: known
      fields: [proc.pname]
      values: [[cron]]
- rule: Other
  desc: other
  condition: evt.type = open
  output: other
  priority: info
"#;

#[test]
fn append_and_override_across_files() {
    let local = r#"
- list: bins
  append: true
  items: [bash]
- macro: spawned
  append: true
  condition: or evt.type = execveat
- rule: Shell
  append: true
  condition: and not user.name = root
  exceptions:
    - name: known
      values: [[sshd]]
    - name: more
      fields: proc.name
      values: [zsh]
- rule: Shell
  override:
    output: append
    priority: replace
    tags: append
  output: "user=%user.name"
  priority: CRITICAL
  tags: [b]
- rule: Other
  enabled: false
"#;
    let set = RuleSet::load(&[("base.yaml", BASE), ("local.yaml", local)])
        .unwrap_or_else(|e| panic!("{e}"));
    let shell = set.rule("Shell").expect("rule");
    assert_eq!(
        shell.condition_text,
        "spawned and proc.name in (bins) and not user.name = root"
    );
    assert_eq!(
        shell.condition.to_string(),
        r#"((evt.type = "execve" or evt.type = "execveat") and proc.name in ("sh", "bash") and not user.name = "root")"#
    );
    assert_eq!(shell.evt_types, only(&["execve", "execveat"]));
    assert_eq!(shell.output, "shell %proc.name user=%user.name");
    assert_eq!(
        shell.output_fields,
        [FieldRef::new("proc.name"), FieldRef::new("user.name")]
    );
    assert_eq!(shell.priority, Priority::Critical);
    assert_eq!(shell.tags, ["a", "b"]);
    assert_eq!(shell.exceptions.len(), 2);
    assert_eq!(shell.exceptions[0].values.len(), 2);
    assert_eq!(
        shell.exceptions[1].fields,
        OneOrMany::One("proc.name".into())
    );
    assert_eq!(shell.origin.file, "base.yaml");
    assert!(!set.rule("Other").expect("rule").enabled);

    // Replace: same name, no append: the later one wins, in the earlier's place.
    let replace = "- rule: Shell\n  desc: new\n  condition: evt.type = clone\n  output: new\n  priority: DEBUG\n- list: bins\n  items: [ksh]\n";
    let set = RuleSet::load(&[("base.yaml", BASE), ("new.yaml", replace)]).expect("loads");
    assert_eq!(set.rules()[0].name, "Shell");
    assert_eq!(set.rules()[0].evt_types, only(&["clone"]));
    assert!(set.rules()[0].exceptions.is_empty());
    assert_eq!(set.lists()[0].resolved, ["ksh"]);

    // Override: replace the condition, append to a list.
    let over = "- rule: Shell\n  override:\n    condition: replace\n  condition: evt.type = kill\n- list: bins\n  override:\n    items: replace\n  items: [csh]\n";
    let set = RuleSet::load(&[("base.yaml", BASE), ("over.yaml", over)]).expect("loads");
    assert_eq!(
        set.rule("Shell").expect("rule").condition_text,
        "evt.type = kill"
    );
    assert_eq!(set.lists()[0].resolved, ["csh"]);
}

#[test]
fn append_and_override_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "- rule: Nope\n  append: true\n  condition: and a.b = 1\n",
            "not defined earlier",
        ),
        (
            "- macro: nope\n  append: true\n  condition: a.b = 1\n",
            "not defined earlier",
        ),
        (
            "- list: nope\n  append: true\n  items: [a]\n",
            "not defined earlier",
        ),
        (
            "- rule: Shell\n  override:\n    output: replace\n",
            "does not give it",
        ),
        (
            "- rule: Shell\n  override:\n    priority: append\n  priority: DEBUG\n",
            "only be replaced",
        ),
        (
            "- rule: Shell\n  override:\n    bogus: replace\n  bogus: 1\n",
            "unknown field",
        ),
        (
            "- rule: Shell\n  override:\n    output: merge\n  output: x\n",
            "`append` or `replace`",
        ),
        (
            "- rule: Shell\n  append: true\n  override:\n    output: append\n  output: x\n",
            "together",
        ),
        (
            "- macro: spawned\n  override:\n    items: append\n  condition: x\n",
            "only override `condition`",
        ),
        ("- rule: Nope\n  enabled: false\n", "not defined earlier"),
    ];
    for (local, msg) in cases {
        let e = RuleSet::load(&[("base.yaml", BASE), ("local.yaml", local)]).expect_err(local);
        assert!(e.to_string().contains(msg), "{local}: {e}");
        assert!(e.to_string().starts_with("local.yaml:"), "{local}: {e}");
    }
}

#[test]
fn yaml_items_and_warnings() {
    let e = load("- rule: x\n  desc: [unclosed\n").expect_err("yaml");
    assert!(
        matches!(&e, RulesError::Yaml { file, line, .. } if file == "test.yaml" && *line >= 2),
        "{e}"
    );
    assert!(matches!(load("rule: x\n"), Err(RulesError::Yaml { .. })));
    assert!(load("").expect("empty file").rules().is_empty());
    assert!(
        load("# only a comment\n")
            .expect("comment only")
            .rules()
            .is_empty()
    );
    let e = load("- desc: no kind\n").expect_err("no kind");
    assert!(
        e.to_string()
            .contains("test.yaml:1: item 1: has none of the keys"),
        "{e}"
    );
    let e = load("- rule: r\n  macro: m\n").expect_err("two kinds");
    assert!(e.to_string().contains("more than one"), "{e}");
    for (text, msg) in [
        (
            "- rule: r\n  desc: d\n  condition: a.b = 1\n  priority: LOUD\n  output: o\n",
            "unknown priority `LOUD`",
        ),
        (
            "- rule: r\n  desc: d\n  condition: a.b = 1\n  priority: INFO\n",
            "has no `output`",
        ),
        (
            "- rule: r\n  desc: d\n  condition: [a]\n  output: o\n  priority: INFO\n",
            "`condition` must be a string",
        ),
        (
            "- rule: r\n  desc: d\n  condition: a.b = 1\n  output: o\n  priority: INFO\n  enabled: maybe\n",
            "true or false",
        ),
        ("- list: l\n  items: a\n", "must be a sequence"),
        ("- macro: m\n", "has no `condition`"),
        (
            "- list: l\n  items: ['\"open']\n- rule: r\n  desc: d\n  condition: a.b in (l)\n  output: o\n  priority: INFO\n",
            "list `l`: bad item",
        ),
    ] {
        let e = load(text).expect_err(text);
        assert!(e.to_string().contains(msg), "{text}: {e}");
    }
    for p in [
        "emergency",
        "Alert",
        "CRITICAL",
        "error",
        "WARNING",
        "notice",
        "informational",
        "info",
        "DEBUG",
    ] {
        let set = load(&format!(
            "- rule: r\n  desc: d\n  condition: evt.type = x\n  output: o\n  priority: {p}\n"
        ))
        .expect(p);
        assert!(Priority::parse(p) == Some(set.rules()[0].priority));
    }
    let text = "- required_engine_version: 0.26.0\n- rule: r\n  desc: d\n  condition: a.b = 1\n  output: o\n  priority: INFO\n  source: k8s_audit\n  shiny: yes\n  skip-if-unknown-filter: true\n  capture: true\n  capture_duration: 500\n  warn_evttypes: false\n";
    let set = load(text).expect("loads");
    let r = &set.rules()[0];
    assert_eq!(
        (
            r.source.as_str(),
            r.skip_if_unknown_filter,
            r.capture,
            r.capture_duration
        ),
        ("k8s_audit", true, true, Some(500))
    );
    assert_eq!(r.origin.line, 2);
    assert_eq!(set.warnings().len(), 1, "{:?}", set.warnings());
    assert_eq!(
        set.warnings()[0].to_string(),
        "test.yaml:2: rule `r`: unknown key `shiny` ignored"
    );
    // A syscall rule that does not restrict evt.type is worth a warning.
    let set = load(&rule_file("", "proc.name = sh")).expect("loads");
    assert!(
        set.warnings()
            .iter()
            .any(|w| w.message.contains("evt.type"))
    );
}

#[test]
fn condition_error_positions() {
    // Plain scalar on the key's line: line 4, column of `b` after `condition: `.
    let e = load(&rule_file("", "a.b = 1 b")).expect_err("syntax");
    assert!(
        matches!(
            &e,
            RulesError::Syntax {
                line: 4,
                column: 22,
                kind: Kind::Rule,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("test.yaml:4:22: rule `r`: condition: expected `and`"),
        "{e}"
    );
    // Folded block scalar: the third line of the condition, at its own column.
    let text = "- macro: m\n  condition: >\n    evt.type = open\n    and fd.name = x\n      and (proc.name = \"sh\n- rule: r\n  desc: d\n  condition: m\n  output: o\n  priority: INFO\n";
    let e = load(text).expect_err("syntax");
    assert!(
        matches!(
            &e,
            RulesError::Syntax {
                line: 5,
                column: 24,
                kind: Kind::Macro,
                ..
            }
        ),
        "{e}"
    );
    // Double-quoted YAML with an escape: the exact match fails, the fallback still
    // gives the value's line.
    let text =
        "- rule: r\n  desc: d\n  condition: \"a.b = \\\"x\\\" c\"\n  output: o\n  priority: INFO\n";
    let e = load(text).expect_err("syntax");
    assert!(matches!(&e, RulesError::Syntax { line: 3, .. }), "{e}");
    // An appended condition's error is placed in the appending file.
    let local = "\n\n- rule: Other\n  append: true\n  condition: and and\n";
    let e = RuleSet::load(&[("base.yaml", BASE), ("local.yaml", local)]).expect_err("syntax");
    assert!(
        matches!(&e, RulesError::Syntax { file, line: 5, column: 18, .. } if file == "local.yaml"),
        "{e}"
    );
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn output_templates() {
    let fields = |t: &str| {
        output_fields(t)
            .iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        fields("a %proc.name b=%proc.aname[2] %(evt.type) %evt.arg.flags, 100%% %fd.name."),
        [
            "proc.name",
            "proc.aname[2]",
            "evt.type",
            "evt.arg.flags",
            "fd.name"
        ]
    );
    assert_eq!(
        fields("%proc.name %proc.name %k8s.pod.label[app]"),
        ["proc.name", "k8s.pod.label[app]"]
    );
    assert!(fields("50% %notafield %( %[ % %%").is_empty());
    assert_eq!(fields("%(proc.aname[3])"), ["proc.aname[3]"]);
}

#[test]
fn evt_types_are_sound() {
    let types = |c: &str| {
        load(&rule_file("", &format!("'{c}'"))).expect(c).rules()[0]
            .evt_types
            .clone()
    };
    assert_eq!(
        types("evt.type in (a, b) and proc.name = x"),
        only(&["a", "b"])
    );
    assert_eq!(
        types("evt.type = a or evt.type in (b, c)"),
        only(&["a", "b", "c"])
    );
    assert_eq!(types("evt.type = a or proc.name = x"), EvtTypes::Any);
    assert_eq!(
        types("evt.type in (a, b) and evt.type in (b, c)"),
        only(&["b"])
    );
    assert_eq!(types("evt.type = a and evt.type = b"), only(&[]));
    assert_eq!(types("not evt.type = a"), EvtTypes::Any);
    assert_eq!(types("not not evt.type = a"), EvtTypes::Any);
    assert_eq!(types("evt.type != a"), EvtTypes::Any);
    assert_eq!(types("evt.type startswith open"), EvtTypes::Any);
    assert_eq!(types("evt.type[1] = a"), EvtTypes::Any);
    assert_eq!(
        types("(evt.type = a and x.y = 1) or (evt.type = b and not x.y = 2)"),
        only(&["a", "b"])
    );
}
