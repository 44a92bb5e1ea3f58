//! Loading files: merging with append and override, YAML and item errors,
//! warnings, error positions, output templates and event types.

use super::super::*;
use super::{load, only, rule_file};

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
  output: >
    user=%user.name
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
        concat!(
            r#"((evt.type = "execve" or evt.type = "execveat") and proc.name in ("sh", "bash")"#,
            r#" and not user.name = "root""#,
            r#" and not ((proc.pname = "cron") or (proc.pname = "sshd"))"#,
            r#" and not proc.name in ("zsh"))"#
        )
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
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    let odd = "- rule: Other\n  append: true\n  condition: and proc.name = sh\n  output: new\n";
    let set = RuleSet::load(&[("base.yaml", BASE), ("odd.yaml", odd)]).expect("loads");
    assert_eq!(set.rule("Other").expect("rule").output, "other");
    assert!(
        set.warnings()
            .iter()
            .any(|w| w.message.starts_with("`output` ignored")),
        "{:?}",
        set.warnings()
    );

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
        (
            "- rule: Shell\n  override:\n    output: replace\n  output: x\n  priority: INFO\n",
            "gives `priority` but `override` does not name it",
        ),
        (
            "- rule: Shell\n  override:\n    source: replace\n  source: k8s\n",
            "unknown field `source`",
        ),
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
    // An unknown kind of item is skipped with a warning, as Falco does, so files
    // for newer versions load; null items and empty documents are skipped.
    let set = load("- desc: no kind\n-\n---\n---\n- list: l\n  items: [a]\n").expect("loads");
    assert_eq!(set.lists().len(), 1);
    assert_eq!(set.lists()[0].origin.line, 5);
    assert_eq!(set.warnings().len(), 1, "{:?}", set.warnings());
    assert!(
        set.warnings()[0]
            .to_string()
            .starts_with("test.yaml:1: item 1: unknown kind of item (keys: desc;")
    );
    let set = load("- macro: my-macro\n  condition: a.b = 1\n- list: 'a list'\n  items: []\n")
        .expect("loads");
    let names: Vec<&str> = set
        .warnings()
        .iter()
        .filter(|w| w.message.starts_with("invalid"))
        .map(|w| w.item.as_str())
        .collect();
    assert_eq!(names, ["macro `my-macro`", "list `a list`"]);
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

#[test]
fn hostile_yaml() {
    // Deep nesting inside an item is refused by the YAML reader's depth limits
    // before our own (recursive) value reader could overflow the stack.
    let deep = format!(
        "- list: l\n  items: {}a{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(matches!(load(&deep), Err(RulesError::Yaml { line: 2, .. })));
    let deep: String = (0..5000)
        .map(|i| format!("{}- \n", " ".repeat(i * 2 + 4)))
        .collect();
    assert!(matches!(
        load(&format!("- list: l\n  items:\n{deep}")),
        Err(RulesError::Yaml { .. })
    ));
    // Aliases: a nested list is a type error here, whatever its expanded size.
    let laughs = "- list: l\n  items: &a [x, x, x, x]\n- list: m\n  items: [*a, *a, *a, *a]\n";
    let e = load(laughs).expect_err("nested sequence");
    assert!(e.to_string().contains("list `m`"), "{e}");
    // Tabs, a BOM, CRLF line ends and a document marker are all fine YAML.
    let odd = "\u{feff}---\r\n- list: l\r\n  items: [a,\tb]\r\n";
    assert_eq!(
        load(odd).expect("odd but valid").lists()[0].resolved,
        ["a", "b"]
    );
}

#[test]
fn exceptions_fold_into_the_condition() {
    let text = r#"
- list: shells
  items: [sh, bash]
- rule: r
  desc: d
  condition: evt.type = execve
  output: o
  priority: INFO
  exceptions:
    - name: by_parent
      fields: proc.pname
      values: [cron, shells]
    - name: by_prefix
      fields: fd.name
      comps: startswith
      values: [/tmp/, /var/run/]
    - name: pairs
      fields: [proc.name, "proc.aname[2]", fd.name]
      comps: [=, in, pmatch]
      values:
        - [runc, [containerd, shells], [/etc]]
    - name: unused
      fields: [proc.name]
      values: []
"#;
    let set = load(text).unwrap_or_else(|e| panic!("{e}"));
    let r = &set.rules()[0];
    assert_eq!(
        r.condition.to_string(),
        concat!(
            r#"(evt.type = "execve""#,
            r#" and not proc.pname in ("cron", "sh", "bash")"#,
            r#" and not (fd.name startswith "/tmp/" or fd.name startswith "/var/run/")"#,
            r#" and not ((proc.name = "runc" and proc.aname[2] in ("containerd", "sh", "bash") and fd.name pmatch ("/etc"))))"#
        )
    );
    assert_eq!(r.evt_types, only(&["execve"]));
    assert!(r.fields.contains(&FieldRef {
        name: "proc.aname".into(),
        arg: Some("2".into())
    }));
    assert_eq!(r.exceptions.len(), 4);

    for (exc, msg) in [
        (
            "fields: [proc.name, fd.name]\n      values: [[a]]",
            "1 items for 2 fields",
        ),
        (
            "fields: [proc.name]\n      comps: [=, =]\n      values: [[a]]",
            "one comparison for each",
        ),
        ("fields: [proc.name]\n      values: [a]", "must be a list"),
        (
            "fields: proc.name\n      comps: is\n      values: [a]",
            "`is` is not a comparison",
        ),
        ("fields: name\n      values: [a]", "`name` is not a field"),
        (
            "fields: [proc.name]\n      comps: [=]\n      values: [[[a, b]]]",
            "takes one value",
        ),
    ] {
        let text = format!(
            "- rule: r\n  desc: d\n  condition: evt.type = x\n  output: o\n  priority: INFO\n  exceptions:\n    - name: e\n      {exc}\n"
        );
        let e = load(&text).expect_err(exc);
        assert!(
            e.to_string().contains("rule `r`: exception `e`: ") && e.to_string().contains(msg),
            "{exc}: {e}"
        );
    }
}

#[test]
fn scalars_keep_their_text_and_booleans_take_yaml_cpp_spellings() {
    let set = RuleSet::load(&[(
        "t.yaml",
        "- list: answers\n  items: [no, yes, off]\n- rule: off\n  desc: x\n  condition: proc.name in (answers)\n  output: x\n  priority: NOTICE\n  enabled: no\n- rule: on\n  desc: x\n  condition: proc.name = y\n  output: x\n  priority: NOTICE\n  enabled: yes\n",
    )])
    .expect("loads");
    let names: Vec<&str> = set.rules().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["off", "on"]);
    assert!(!set.rules()[0].enabled && set.rules()[1].enabled);
    assert_eq!(set.lists()[0].resolved, ["no", "yes", "off"]);
}
