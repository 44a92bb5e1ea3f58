//! The condition parser: every operator, value and field form, precedence,
//! error offsets, and hostile input.

use super::super::*;
use super::{cond, cond_with, load, rule_file, syntax};

#[test]
fn every_operator() {
    for (op, text) in [
        ("=", "="),
        ("==", "="),
        ("!=", "!="),
        ("contains", "contains"),
        ("icontains", "icontains"),
        ("startswith", "startswith"),
        ("endswith", "endswith"),
        ("glob", "glob"),
        ("iglob", "iglob"),
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
    for op in ["<", "<=", ">", ">="] {
        for n in ["0", "-1", "+2", "1.5", "3.", "1e+9", "2.5E-3", "0x1F"] {
            assert_eq!(
                cond(&format!("evt.x {op} {n}")),
                format!("evt.x {op} \"{n}\"")
            );
            assert_eq!(
                cond(&format!("evt.x{op}{n}")),
                format!("evt.x {op} \"{n}\"")
            );
        }
        assert_eq!(
            cond(&format!("evt.x {op} val(evt.y)")),
            format!("evt.x {op} val(evt.y)")
        );
        for bad in ["abc", "1e5", "0x", "--1", "1.2.3", "'1'"] {
            let e = syntax(&format!("evt.x {op} {bad}"));
            assert!(e.message.contains("expected a number"), "{op} {bad}: {e}");
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
        ("tolower(proc.name) = x", 0, "transformers"),
        ("a.b = 1 and proc = x", 12, "`proc` is not a field name"),
        ("proc[1] = x", 0, "not a field name"),
        ("proc != x", 0, "not a field name"),
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
fn stand_alone_conditions() {
    let e = parse_condition("proc.name in (a, b) and not fd.num < 3").expect("parses");
    assert_eq!(
        e.to_string(),
        r#"(proc.name in ("a", "b") and not fd.num < "3")"#
    );
    let e = parse_condition("a.b = 1 and spawned").expect_err("no macros here");
    assert_eq!(
        (e.offset, e.message.as_str()),
        (12, "`spawned` is not a defined macro")
    );
    let e = parse_condition("a.b in shells").expect_err("no lists here");
    assert_eq!(e.offset, 7);
}
