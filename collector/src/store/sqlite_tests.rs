//! The SQLite store's own machinery: the schema version, `field()` on every
//! kind of value, and checkpoints that keep up with the writer.

use std::{collections::BTreeMap, time::Duration};

use sensor_proto::v1::{Priority, StringList, StringMap, Value, value::Kind};

use super::tests::{finding, ids, now, store};
use super::*;

fn value(kind: Kind) -> Value {
    Value { kind: Some(kind) }
}

#[test]
fn a_file_of_another_schema_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("old.db");
    let conn = rusqlite::Connection::open(&db).expect("opens");
    conn.execute_batch("CREATE TABLE findings (seq INTEGER PRIMARY KEY, fields TEXT)")
        .expect("creates");
    drop(conn);
    match SqliteStore::open(&db) {
        Err(e @ StoreError::Schema { found: 0, .. }) => {
            assert!(e.to_string().contains("move the file away"), "{e}");
        }
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("an old file was opened"),
    }
    // A file this collector made opens again.
    let (dir, s) = store();
    drop(s);
    SqliteStore::open(dir.path().join("findings.db")).expect("reopens");
}

#[test]
fn field_reads_every_kind_as_filters_compare_it() {
    let (_dir, s) = store();
    let mut f = finding("kinds", now(), "R", Priority::Warning, "prod", "sh");
    let fields: BTreeMap<String, Value> = [
        ("evt.res", value(Kind::IntValue(-2))),
        ("fd.sport", value(Kind::UintValue(8080))),
        ("evt.big", value(Kind::UintValue(u64::MAX))),
        ("fd.connected", value(Kind::BoolValue(true))),
        ("evt.ratio", value(Kind::DoubleValue(0.5))),
        (
            "proc.args",
            value(Kind::ListValue(StringList {
                values: vec!["-c".into(), "id".into()],
            })),
        ),
        (
            "container.labels",
            value(Kind::MapValue(StringMap {
                values: [("tier".to_owned(), "db".to_owned())].into(),
            })),
        ),
        ("proc.aname[2]", value(Kind::StringValue("bash".into()))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    f.fields.extend(fields);
    s.insert_batch("n", "i", 1, &[f]).expect("inserts");
    for filter in [
        "evt.res = -2",
        "evt.res < 0",
        "fd.sport = 8080",
        "fd.sport >= 8000",
        "fd.connected = true",
        "evt.ratio < 1",
        "proc.args contains id",
        "proc.aname[2] = bash",
        "k8s.pod.label[app] = web",
        "proc.pid = 4242",
    ] {
        assert_eq!(ids(&s, filter), ["kinds"], "{filter}");
    }
    for filter in [
        "evt.res = 2",
        "fd.connected = false",
        "proc.aname[3] = bash",
        "k8s.pod.label[tier] = db",
        "fd.nothing exists",
    ] {
        assert!(ids(&s, filter).is_empty(), "{filter}");
    }
    assert_eq!(
        ids(&s, "not fd.nothing = x"),
        ["kinds"],
        "absent: not is true"
    );
}

#[test]
fn checkpoints_copy_commits_into_the_database_file_while_writing_goes_on() {
    let (dir, s) = store();
    let db = dir.path().join("findings.db");
    let wal = dir.path().join("findings.db-wal");
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    // The schema's pages.
    let empty = size(&db);
    let t0 = now();
    let mut batches = 0;
    let mut write = |count: u64| {
        for _ in 0..count {
            let batch: Vec<_> = (0..100)
                .map(|i| {
                    let n = batches * 100 + i;
                    finding(
                        &format!("f{n}"),
                        t0 + n,
                        "R",
                        Priority::Notice,
                        "prod",
                        "sh",
                    )
                })
                .collect();
            batches += 1;
            s.insert_batch("n", "i", batches, &batch).expect("inserts");
        }
    };
    // A little is left in the WAL: copying it all would make the next commit
    // start the WAL over, and sync, in front of a finding.
    write(20);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(size(&db), empty, "a few commits were checkpointed");
    // Once the WAL holds enough, the checkpointer copies within a few of its
    // ticks while writing goes on (the writer never checkpoints: only the WAL
    // grows on a commit).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while size(&wal) < 80 << 20 && std::time::Instant::now() < deadline {
        write(10);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while size(&db) < empty + (512 << 10) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        size(&db) >= empty + (512 << 10),
        "the database file has {} bytes, {empty} when empty, after a WAL of {} bytes",
        size(&db),
        size(&wal)
    );
    assert_eq!(s.last_seq().expect("reads"), batches as i64 * 100);
}
