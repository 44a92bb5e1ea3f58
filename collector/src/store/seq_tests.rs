//! Batches grouped in one transaction, and reading by insertion position (what
//! the live tail is built on).

use prost::{Message as _, bytes::Bytes};
use sensor_proto::v1::Priority;

use super::tests::{finding, now, store};
use super::*;
use crate::filter::parse;

fn enc(f: &Finding) -> Bytes {
    f.encode_to_vec().into()
}

fn f(id: &str, proc: &str) -> Finding {
    finding(id, now(), "R", Priority::Warning, "", proc)
}

#[test]
fn a_bad_finding_refuses_its_batch_before_the_writer() {
    let mut late = f("late", "sh");
    late.time_unix_nano = u64::MAX;
    let refused = Row::all("n2", vec![enc(&f("c", "sh")), enc(&late)]);
    assert!(matches!(refused, Err(StoreError::BadFinding { id, .. }) if id == "late"));
    let long = f(&"x".repeat(MAX_ID + 1), "sh");
    assert!(matches!(
        Row::from_finding("n", &long),
        Err(StoreError::BadFinding { .. })
    ));
    let garbage = Bytes::from_static(b"\x0a\xff\xff");
    assert!(matches!(
        Row::new("n", garbage),
        Err(StoreError::BadFinding { .. })
    ));
    // The head decodes, but a field's value is not UTF-8.
    let mut broken = f("d", "s\u{e9}");
    broken.output.clear();
    let mut bytes = enc(&broken).to_vec();
    let at = bytes
        .windows(2)
        .position(|w| w == [0xc3, 0xa9])
        .expect("the name");
    bytes[at] = 0xff;
    assert!(
        matches!(Row::new("n", bytes.into()), Err(StoreError::BadFinding { id, .. }) if id == "d")
    );
}

#[test]
fn grouped_batches_are_numbered_in_order_and_deduplicated() {
    let (_dir, s) = store();
    let a = f("a", "sh");
    let good = Row::all("n1", vec![enc(&a), enc(&f("b", "sh"))]).expect("prepares");
    // Sent again, as a sensor does after a lost acknowledgement: the same finding.
    let again = Row::all("n3", vec![enc(&a)]).expect("prepares");
    let batch = |node, rows| Batch {
        node,
        instance_id: "i",
        sequence: 1,
        rows,
    };
    let results = s.insert_batches(&[batch("n1", &good), batch("n3", &again)]);
    s.sync().expect("syncs");
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[0].as_ref().ok(),
        Some(&Inserted {
            new: 2,
            duplicates: 0
        })
    );
    // In the same transaction, after the first: a duplicate (same id and time).
    assert_eq!(
        results[1].as_ref().ok(),
        Some(&Inserted {
            new: 0,
            duplicates: 1
        })
    );
    let (all, next) = s.since_seq(None, 0, 100).expect("reads");
    let ids: Vec<&str> = all.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert_eq!(all[0].node, "n1", "the sender's node, not the finding's");
    assert_eq!(next, 2, "a duplicate takes no seq");
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
