//! Batches grouped in one transaction, and reading by insertion position (what
//! the live tail is built on).

use sensor_proto::v1::Priority;

use super::tests::{finding, now, store};
use super::*;
use crate::filter::parse;

fn f(id: &str, proc: &str) -> Finding {
    finding(id, now(), "R", Priority::Warning, "", proc)
}

#[test]
fn grouped_batches_fail_alone() {
    let (_dir, s) = store();
    let good = [f("a", "sh"), f("b", "sh")];
    let mut late = f("late", "sh");
    late.time_unix_nano = u64::MAX;
    let bad = [f("c", "sh"), late];
    let again = [f("a", "sh")];
    let batches = [
        Batch {
            node: "n1",
            instance_id: "i",
            sequence: 1,
            findings: &good,
        },
        Batch {
            node: "n2",
            instance_id: "i",
            sequence: 1,
            findings: &bad,
        },
        Batch {
            node: "n3",
            instance_id: "i",
            sequence: 1,
            findings: &again,
        },
    ];
    let results = s.insert_batches(&batches);
    assert_eq!(results.len(), 3);
    assert_eq!(
        results[0].as_ref().ok(),
        Some(&Inserted {
            new: 2,
            duplicates: 0
        })
    );
    assert!(matches!(&results[1], Err(StoreError::BadFinding { id, .. }) if id == "late"));
    // In the same transaction, after the first: a duplicate.
    assert_eq!(
        results[2].as_ref().ok(),
        Some(&Inserted {
            new: 0,
            duplicates: 1
        })
    );
    let (all, _) = s.since_seq(None, 0, 100).expect("reads");
    let ids: Vec<&str> = all.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"], "nothing of the refused batch");
}

#[test]
fn since_seq_follows_insertion_with_a_filter() {
    let (_dir, s) = store();
    assert_eq!(s.last_seq().expect("last"), 0);
    s.insert_batch("n", "i", 1, &[f("1", "sh"), f("2", "cat")])
        .expect("inserts");
    let start = s.last_seq().expect("last");
    assert_eq!(start, 2);
    s.insert_batch("n", "i", 2, &[f("3", "cat"), f("4", "sh"), f("5", "sh")])
        .expect("inserts");
    let sh = parse("proc.name = sh").expect("parses");

    // Only what came after `start`, in insertion order, filtered.
    let (found, next) = s.since_seq(Some(&sh), start, 100).expect("reads");
    let ids: Vec<&str> = found.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["4", "5"]);
    assert_eq!(next, 5);
    assert!(
        s.since_seq(Some(&sh), next, 100)
            .expect("reads")
            .0
            .is_empty()
    );

    // A full page continues after its last row.
    let (page, next) = s.since_seq(Some(&sh), start, 1).expect("reads");
    assert_eq!(page[0].id, "4");
    assert_eq!(next, 4);
    let (page, _) = s.since_seq(Some(&sh), next, 1).expect("reads");
    assert_eq!(page[0].id, "5");
}

#[test]
fn positions_are_not_reused_after_retention_empties_the_store() {
    let (_dir, s) = store();
    let mut old = f("old", "sh");
    old.time_unix_nano = 1;
    s.insert_batch("n", "i", 1, &[old]).expect("inserts");
    let seen = s.last_seq().expect("last");
    s.retain(Some(std::time::Duration::from_secs(60)), None)
        .expect("retains");
    assert_eq!(s.last_seq().expect("last"), seen, "the position stays");
    s.insert_batch("n", "i", 2, &[f("new", "sh")])
        .expect("inserts");
    let (found, _) = s.since_seq(None, seen, 100).expect("reads");
    assert_eq!(
        found.len(),
        1,
        "a subscriber at `seen` sees the new finding"
    );
}
