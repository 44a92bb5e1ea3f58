use std::{collections::BTreeMap, time::Duration};

use sensor_proto::v1::{Finding, PodInfo, Priority, ProcessInfo, Value, value::Kind};

use super::*;
use crate::filter::parse;

const HOUR: u64 = 3_600_000_000_000;

pub(super) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64
}

fn text(s: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.into())),
    }
}

/// A finding of `rule` at `time_ns` by `proc` in namespace `ns` ("" for the host).
pub(super) fn finding(
    id: &str,
    time_ns: u64,
    rule: &str,
    priority: Priority,
    ns: &str,
    proc: &str,
) -> Finding {
    let mut fields = BTreeMap::new();
    fields.insert("proc.name".into(), text(proc));
    fields.insert(
        "proc.pid".into(),
        Value {
            kind: Some(Kind::UintValue(4242)),
        },
    );
    fields.insert("proc.cmdline".into(), text(&format!("{proc} -c 'id'")));
    let pod = (!ns.is_empty()).then(|| {
        fields.insert("k8s.ns.name".into(), text(ns));
        fields.insert("k8s.pod.name".into(), text("web-1"));
        PodInfo {
            namespace: ns.into(),
            name: "web-1".into(),
            labels: [("app".to_owned(), "web".to_owned())].into(),
            ..PodInfo::default()
        }
    });
    if pod.is_some() {
        fields.insert(
            "k8s.pod.labels".into(),
            sensor_proto::json::value_from_json(&serde_json::json!({"app": "web"})),
        );
    }
    Finding {
        id: id.into(),
        time_unix_nano: time_ns,
        rule: rule.into(),
        priority: priority as i32,
        output: format!("{rule} by {proc}"),
        tags: vec!["container".into(), "T1059".into()],
        source: "syscall".into(),
        node: "claimed-node".into(),
        count: 2,
        suppressed: 0,
        fields,
        ancestry: vec![ProcessInfo {
            pid: 4242,
            name: proc.into(),
            ..ProcessInfo::default()
        }],
        container: None,
        pod,
    }
}

pub(super) fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("findings.db")).expect("opens");
    (dir, store)
}

/// Six findings an hour apart, ending now.
fn seeded() -> (tempfile::TempDir, SqliteStore, u64) {
    let (dir, s) = store();
    let t0 = now() - 6 * HOUR;
    let batch = [
        finding(
            "a",
            t0,
            "Shell in container",
            Priority::Notice,
            "prod",
            "sh",
        ),
        finding(
            "b",
            t0 + HOUR,
            "Shell in container",
            Priority::Notice,
            "dev",
            "bash",
        ),
        finding(
            "c",
            t0 + 2 * HOUR,
            "Read sensitive file",
            Priority::Warning,
            "prod",
            "cat",
        ),
        finding(
            "d",
            t0 + 3 * HOUR,
            "Reverse shell",
            Priority::Critical,
            "prod",
            "sh",
        ),
        finding(
            "e",
            t0 + 4 * HOUR,
            "Read sensitive file",
            Priority::Warning,
            "",
            "cat",
        ),
        finding(
            "f",
            t0 + 5 * HOUR,
            "x' OR 1=1 --",
            Priority::Debug,
            "dev",
            "python3",
        ),
    ];
    let got = s
        .insert_batch("node-1", "run-1", 1, &batch)
        .expect("inserts");
    assert_eq!(
        got,
        Inserted {
            new: 6,
            duplicates: 0
        }
    );
    (dir, s, t0)
}

pub(super) fn ids(s: &SqliteStore, filter: &str) -> Vec<String> {
    let q = Query {
        filter: Some(parse(filter).expect("parses")),
        order: Order::OldestFirst,
        ..Query::default()
    };
    s.query(&q)
        .expect("queries")
        .findings
        .into_iter()
        .map(|f| f.id)
        .collect()
}

#[test]
fn findings_round_trip_and_the_node_is_the_peer() {
    let (_dir, s, t0) = seeded();
    let page = s.query(&Query::default()).expect("queries");
    assert_eq!(page.findings.len(), 6);
    assert_eq!(page.next, None);
    let a = page.findings.iter().find(|f| f.id == "a").expect("a");
    let mut expected = finding(
        "a",
        t0,
        "Shell in container",
        Priority::Notice,
        "prod",
        "sh",
    );
    expected.node = "node-1".into();
    assert_eq!(*a, expected, "what was sent, but from the peer's node");
    assert_eq!(s.last_sequence("node-1", "run-1").expect("reads"), Some(1));
    assert_eq!(s.last_sequence("node-2", "run-1").expect("reads"), None);
}

#[test]
fn a_batch_sent_again_is_stored_once() {
    let (_dir, s, t0) = seeded();
    let again = [
        finding(
            "a",
            t0,
            "Shell in container",
            Priority::Notice,
            "prod",
            "sh",
        ),
        finding("g", t0, "New", Priority::Notice, "prod", "sh"),
        finding("g", t0, "New", Priority::Notice, "prod", "sh"),
    ];
    let got = s
        .insert_batch("node-1", "run-1", 1, &again)
        .expect("inserts");
    assert_eq!(
        got,
        Inserted {
            new: 1,
            duplicates: 2
        }
    );
    assert_eq!(
        s.query(&Query::default()).expect("queries").findings.len(),
        7
    );
}

#[test]
fn bad_findings_refuse_the_whole_batch() {
    let (_dir, s) = store();
    let mut late = finding("z", 0, "r", Priority::Notice, "", "sh");
    late.time_unix_nano = u64::MAX;
    let ok = finding("ok", 1, "r", Priority::Notice, "", "sh");
    assert!(matches!(
        s.insert_batch("n", "i", 1, &[ok.clone(), late]),
        Err(StoreError::BadFinding { .. })
    ));
    let no_id = finding("", 1, "r", Priority::Notice, "", "sh");
    assert!(s.insert_batch("n", "i", 2, &[no_id]).is_err());
    assert!(
        s.query(&Query::default())
            .expect("queries")
            .findings
            .is_empty()
    );
}

#[test]
fn time_range_order_and_paging_by_cursor() {
    let (_dir, s, t0) = seeded();
    let range = TimeRange {
        since_ns: Some(t0 + HOUR),
        until_ns: Some(t0 + 5 * HOUR),
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .query(&Query {
                range,
                limit: 2,
                after,
                ..Query::default()
            })
            .expect("queries");
        assert!(page.findings.len() <= 2);
        seen.extend(page.findings.iter().map(|f| f.id.clone()));
        match page.next {
            Some(next) => {
                // The token goes through a client and back.
                after = Some(Cursor::from_token(&next.to_token()).expect("reads"));
            }
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["e", "d", "c", "b"],
        "newest first, since included, until excluded"
    );
    let oldest = s
        .query(&Query {
            order: Order::OldestFirst,
            limit: 3,
            ..Query::default()
        })
        .expect("queries");
    let first: Vec<_> = oldest.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(first, ["a", "b", "c"]);
    let c = &oldest.findings[2];
    assert_eq!(
        oldest.next.map(|c| c.time_ns),
        Some(c.time_unix_nano),
        "the next page starts after c"
    );

    // Same time: the order they were stored in orders them, and paging
    // neither skips nor repeats.
    let (_dir2, s2) = store();
    let same: Vec<_> = ["3", "1", "2"]
        .iter()
        .map(|id| finding(id, t0, "r", Priority::Notice, "", "sh"))
        .collect();
    s2.insert_batch("n", "i", 1, &same).expect("inserts");
    let p1 = s2
        .query(&Query {
            order: Order::OldestFirst,
            limit: 2,
            ..Query::default()
        })
        .expect("queries");
    let p2 = s2
        .query(&Query {
            order: Order::OldestFirst,
            limit: 2,
            after: p1.next,
            ..Query::default()
        })
        .expect("queries");
    let all: Vec<_> = p1
        .findings
        .iter()
        .chain(&p2.findings)
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(all, ["3", "1", "2"]);
    assert_eq!(p2.next, None);
}

#[test]
fn bad_page_tokens_are_errors() {
    for token in [
        "",
        "abc",
        "12",
        "x.1",
        "-1.1",
        "12.",
        "12.id",
        "12.-3",
        "12.1.2",
        &format!("1.{}", "9".repeat(200)),
    ] {
        assert!(Cursor::from_token(token).is_err(), "{token:?}");
    }
    let c = Cursor {
        time_ns: 17,
        seq: 193,
    };
    assert_eq!(Cursor::from_token(&c.to_token()).expect("reads"), c);
    assert_eq!(Cursor::from_token("17.193").expect("reads"), c);
}

#[test]
fn filters_on_columns_and_fields() {
    let (_dir, s, _) = seeded();
    assert_eq!(ids(&s, r#"k8s.ns.name = "prod""#), ["a", "c", "d"]);
    assert_eq!(ids(&s, "proc.name in (sh, bash)"), ["a", "b", "d"]);
    assert_eq!(
        ids(&s, "k8s.ns.name = prod and proc.name in (sh, bash)"),
        ["a", "d"]
    );
    assert_eq!(
        ids(&s, "rule = 'Read sensitive file' or priority = critical"),
        ["c", "d", "e"]
    );
    assert_eq!(ids(&s, "priority >= warning"), ["c", "d", "e"]);
    assert_eq!(ids(&s, "priority < notice"), ["f"]);
    assert_eq!(ids(&s, "priority in (Debug, CRITICAL)"), ["d", "f"]);
    assert_eq!(
        ids(&s, "not k8s.ns.name = prod"),
        ["b", "e", "f"],
        "the host finding too"
    );
    assert_eq!(
        ids(&s, "k8s.ns.name != prod"),
        ["b", "f"],
        "a missing field compares false"
    );
    assert_eq!(ids(&s, "not k8s.ns.name exists"), ["e"]);
    assert_eq!(
        ids(&s, "k8s.pod.label[app] = web and rule startswith Shell"),
        ["a", "b"]
    );
    assert_eq!(ids(&s, "proc.cmdline contains \"python3 -c\""), ["f"]);
    assert_eq!(ids(&s, "proc.cmdline icontains PYTHON"), ["f"]);
    assert_eq!(ids(&s, "rule endswith file and node = node-1"), ["c", "e"]);
    assert_eq!(
        ids(
            &s,
            "proc.pid = 4242 and proc.pid >= 4000 and not proc.pid > 5000"
        )
        .len(),
        6
    );
    assert_eq!(ids(&s, "tags contains T1059").len(), 6);
    assert_eq!(ids(&s, "tags in (nope, other)"), Vec::<String>::new());
    assert_eq!(ids(&s, "proc.name in ()"), Vec::<String>::new());
    assert_eq!(ids(&s, "proc.name contains ''").len(), 6);
}

#[test]
fn hostile_filters_are_values() {
    let (_dir, s, _) = seeded();
    assert_eq!(
        ids(&s, r#"rule = "x' OR 1=1 --""#),
        ["f"],
        "matched as the literal name"
    );
    for hostile in [
        r#"rule = "x' OR '1'='1""#,
        r#"rule = "'; DROP TABLE findings; --""#,
        r#"k8s.ns.name = "prod\" OR 1=1 --""#,
        r#"proc.name in ("sh') OR 1=1 --", x)"#,
        r#"proc.cmdline contains "%' OR 1=1""#,
        r#"rule startswith "_%""#,
    ] {
        assert_eq!(ids(&s, hostile), Vec::<String>::new(), "{hostile}");
    }
    // A field's name and key are bound values too: quotes in them are only
    // characters of a key no finding has.
    assert!(parse(r#"k8s.pod.label[a"].x] = y"#).is_err());
    let q = Query {
        filter: Some(crate::filter::Expr::Exists {
            field: crate::filter::Field {
                name: "k8s.pod.label".into(),
                arg: Some(r#"a"."x') OR 1=1 --"#.into()),
            },
            offset: 0,
        }),
        ..Query::default()
    };
    assert_eq!(s.query(&q).expect("runs").findings.len(), 0);
    assert_eq!(
        s.query(&Query::default())
            .expect("still there")
            .findings
            .len(),
        6
    );
}

#[test]
fn unsupported_fields_and_operators_are_clear_errors() {
    let (_dir, s, _) = seeded();
    let err = |filter: &str| {
        let q = Query {
            filter: Some(parse(filter).expect("parses")),
            ..Query::default()
        };
        s.query(&q).expect_err("refused").to_string()
    };
    let e = err("evil.field = 1");
    assert!(
        e.contains("`evil.field`") && e.contains("not supported"),
        "{e}"
    );
    assert!(err("priority contains warn").contains("`contains` is not supported on `priority`"));
    assert!(err("priority = loud").contains("not a valid value"));
    assert!(err("tags startswith T").contains("not supported"));
    assert!(err("rule[x] = y").contains("not supported"));
}

#[test]
fn stats_by_key_and_bucket() {
    let (_dir, s, t0) = seeded();
    let all = s
        .stats(StatsBy::Priority, None, TimeRange::default(), None)
        .expect("stats");
    let by: Vec<_> = all
        .iter()
        .map(|b| (b.key.as_str(), b.findings, b.events))
        .collect();
    assert_eq!(
        by,
        [
            ("Critical", 1, 2),
            ("Warning", 2, 4),
            ("Notice", 2, 4),
            ("Debug", 1, 2)
        ],
        "most severe first"
    );
    let ns = s
        .stats(StatsBy::Namespace, None, TimeRange::default(), None)
        .expect("stats");
    let keys: Vec<_> = ns.iter().map(|b| (b.key.as_str(), b.findings)).collect();
    assert_eq!(keys, [("", 1), ("dev", 2), ("prod", 3)]);
    let node = s
        .stats(StatsBy::Node, None, TimeRange::default(), None)
        .expect("stats");
    assert_eq!(node.len(), 1);
    assert_eq!(node[0].key, "node-1");

    // Three-hour buckets over a filtered range.
    let filter = parse("rule != 'Reverse shell'").expect("parses");
    let range = TimeRange {
        since_ns: Some(t0),
        until_ns: None,
    };
    let bucket = Duration::from_secs(3 * 3600);
    let b = s
        .stats(StatsBy::Rule, Some(&filter), range, Some(bucket))
        .expect("stats");
    let b3 = 3 * HOUR;
    assert!(b.iter().all(|b| b.start_ns % b3 == 0));
    assert_eq!(b.iter().map(|b| b.findings).sum::<u64>(), 5);
    let first = t0 / b3 * b3;
    let shells: u64 = b
        .iter()
        .filter(|b| b.key == "Shell in container")
        .map(|b| b.findings)
        .sum();
    assert_eq!(shells, 2);
    assert!(b.iter().all(|b| b.start_ns >= first));
    assert!(
        b.windows(2)
            .all(|w| (w[0].start_ns, &w[0].key) < (w[1].start_ns, &w[1].key))
    );
}

#[test]
fn retention_by_age_then_by_size() {
    let (_dir, s, _) = seeded();
    assert_eq!(s.retain(None, None).expect("retains"), Removed::default());
    // Older than 2.5 hours: a, b, c, d (at 6, 5, 4, 3 hours ago).
    let removed = s
        .retain(Some(Duration::from_secs(9000)), None)
        .expect("retains");
    assert_eq!(
        removed,
        Removed {
            by_age: 4,
            by_size: 0
        }
    );
    assert_eq!(ids(&s, "rule exists"), ["e", "f"]);

    let total = s.stored_bytes().expect("size");
    assert!(total > 0);
    let removed = s.retain(None, Some(total - 1)).expect("retains");
    assert_eq!(
        removed,
        Removed {
            by_age: 0,
            by_size: 1
        },
        "the oldest one goes"
    );
    assert_eq!(ids(&s, "rule exists"), ["f"]);
    assert!(s.stored_bytes().expect("size") < total);
    assert_eq!(s.retain(None, Some(0)).expect("retains").by_size, 1);
    assert_eq!(s.stored_bytes().expect("size"), 0);
}

#[test]
fn a_reopened_store_keeps_its_findings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("f.db");
    {
        let s = SqliteStore::open(&path).expect("opens");
        s.insert_batch(
            "n",
            "i",
            1,
            &[finding("a", 1, "r", Priority::Notice, "", "sh")],
        )
        .expect("inserts");
    }
    let s = SqliteStore::open(&path).expect("opens again");
    assert_eq!(
        s.query(&Query::default()).expect("queries").findings.len(),
        1
    );
    // WAL is a property of the file: another connection sees it.
    let other = rusqlite::Connection::open(&path).expect("opens");
    let mode: String = other
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, "wal");
}

#[test]
fn reads_run_beside_writes_from_other_threads() {
    let (_dir, s) = store();
    let s = std::sync::Arc::new(s);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let s = s.clone();
            std::thread::spawn(move || {
                for b in 0..10 {
                    let batch: Vec<_> = (0..20)
                        .map(|i| {
                            finding(
                                &format!("{w}-{b}-{i}"),
                                1 + i,
                                "r",
                                Priority::Notice,
                                "",
                                "sh",
                            )
                        })
                        .collect();
                    s.insert_batch("n", &w.to_string(), b, &batch)
                        .expect("inserts");
                    s.query(&Query::default()).expect("reads");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("no panic");
    }
    let stats = s
        .stats(StatsBy::Rule, None, TimeRange::default(), None)
        .expect("stats");
    assert_eq!(stats[0].findings, 800);
}

/// The plan SQLite makes for the inner step of a query (as `query` writes
/// it: the page's rows, without their bodies) on `db`.
fn plan(db: &std::path::Path, filter: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("opens");
    sqlite::functions::register(&conn).expect("registers");
    let clause = sql::translate(&parse(filter).expect("parses")).expect("translates");
    conn.prepare(&format!(
        "EXPLAIN QUERY PLAN {}",
        sqlite::page_rows(&clause.sql, "DESC")
    ))
    .expect("prepares")
    .query_map(
        // The filter's values, then the page size.
        rusqlite::params_from_iter(
            clause
                .params
                .iter()
                .chain([&rusqlite::types::Value::Integer(101)]),
        ),
        |r| r.get::<_, String>(3),
    )
    .expect("plans")
    .collect::<Result<_, _>>()
    .expect("rows")
}

#[test]
fn filters_on_indexed_columns_search_their_index() {
    // Each reads its column's index in time order, and on one column the
    // index alone answers (no finding's row is read); of two, the planner
    // statistics the store writes pick the one with fewer findings per value.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("f.db");
    drop(SqliteStore::open(&db).expect("opens"));
    let covering = "SEARCH findings USING COVERING INDEX";
    let index = "SEARCH findings USING INDEX";
    for (filter, wanted) in [
        (
            "k8s.ns.name = prod",
            format!("{covering} findings_namespace (namespace=?)"),
        ),
        (
            "k8s.pod.name = web-1",
            format!("{covering} findings_pod (pod=?)"),
        ),
        (
            "k8s.ns.name = prod and k8s.pod.name = web-1",
            format!("{index} findings_pod (pod=?)"),
        ),
        (
            "rule = \"Read of password hashes\"",
            format!("{covering} findings_rule (rule=?)"),
        ),
        (
            "rule = R and priority = Critical",
            format!("{index} findings_rule (rule=?)"),
        ),
        (
            "priority = Critical",
            format!("{covering} findings_priority (priority=?)"),
        ),
        (
            "node = node-1",
            format!("{covering} findings_node (node=?)"),
        ),
        (
            "fd.name = /etc/shadow",
            format!("{covering} findings_fd_name (fd_name=?)"),
        ),
    ] {
        let plan = plan(&db, filter);
        assert!(
            plan.contains(&wanted),
            "`{filter}`: wanted {wanted}, planned {plan:?}"
        );
    }
}
