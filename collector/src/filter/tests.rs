use super::*;

fn cmp(name: &str, op: Op, value: Operand, offset: usize) -> Expr {
    Expr::Compare {
        field: Field {
            name: name.into(),
            arg: None,
        },
        op,
        value,
        offset,
    }
}

#[test]
fn precedence_is_falcos() {
    let e = parse(r#"k8s.ns.name = "prod" and not proc.name in (sh, 'ba sh') or rule != x"#)
        .expect("parses");
    let ns = cmp("k8s.ns.name", Op::Eq, Operand::One("prod".into()), 0);
    let sh = cmp(
        "proc.name",
        Op::In,
        Operand::List(vec!["sh".into(), "ba sh".into()]),
        29,
    );
    let rule = cmp("rule", Op::Ne, Operand::One("x".into()), 59);
    assert_eq!(
        e,
        Expr::Or(vec![Expr::And(vec![ns, Expr::Not(Box::new(sh))]), rule])
    );
}

#[test]
fn operators_arguments_and_exists() {
    let e = parse("k8s.pod.label[app] == web and fd.name startswith /etc and proc.pname exists and (evt.num >= 3)")
        .expect("parses");
    let Expr::And(items) = e else {
        panic!("an and")
    };
    assert!(
        matches!(&items[0], Expr::Compare { field, op: Op::Eq, .. } if field.arg.as_deref() == Some("app"))
    );
    assert!(matches!(
        &items[1],
        Expr::Compare {
            op: Op::StartsWith,
            ..
        }
    ));
    assert!(matches!(&items[2], Expr::Exists { .. }));
    assert!(matches!(&items[3], Expr::Compare { op: Op::Ge, .. }));
    assert_eq!(
        parse("proc.name in ()"),
        Ok(cmp("proc.name", Op::In, Operand::List(vec![]), 0))
    );
    assert_eq!(
        parse(r#"rule = "a \"q\" b""#),
        Ok(cmp("rule", Op::Eq, Operand::One(r#"a "q" b"#.into()), 0))
    );
}

#[test]
fn malformed_filters_are_errors_with_offsets() {
    let bad = [
        "",
        "   ",
        "rule",
        "rule =",
        "rule = x and",
        "(rule = x",
        "rule = x)",
        "rule ! x",
        "rule = \"open",
        "proc.name in sh",
        "proc.name in (sh,",
        "proc.name in (sh bash)",
        "proc.name = val(proc.pname)",
        "1abc = x",
        "a[ = x",
        "a[] = x",
        "rule like x",
        "= x",
        ", x",
    ];
    for text in bad {
        assert!(
            matches!(parse(text), Err(FilterError::Syntax { .. })),
            "{text:?} gives {:?}",
            parse(text)
        );
    }
    assert!(matches!(
        parse("fd.name glob /etc/*"),
        Err(FilterError::UnsupportedOperator { .. })
    ));
    let Err(FilterError::Syntax { offset, .. }) = parse("rule = x and (") else {
        panic!("an error")
    };
    assert_eq!(offset, 14, "the end of the text");
}

#[test]
fn hostile_sizes_are_refused() {
    let deep = format!("{}rule = x{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&deep).is_err(), "too long");
    let deep = format!(
        "{}rule = x{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert!(matches!(parse(&deep), Err(FilterError::Syntax { .. })));
    let nots = format!("{}rule = x", "not ".repeat(MAX_DEPTH + 1));
    assert!(parse(&nots).is_err());
    let items = vec!["x"; MAX_LIST + 1].join(",");
    assert!(parse(&format!("proc.name in ({items})")).is_err());
    let ok = vec!["x"; MAX_LIST].join(",");
    assert!(parse(&format!("proc.name in ({ok})")).is_ok());
    // Odd bytes are values or errors, never panics.
    for text in [
        "\u{0}",
        "é = ü",
        "rule = \u{feff}",
        "rule=\"\\",
        "((((",
        "))))",
        "not",
        "not not",
    ] {
        let _ = parse(text);
    }
}
