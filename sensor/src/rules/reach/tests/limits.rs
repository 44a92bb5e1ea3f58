//! Plans larger than the kernel's maps are widened to fit, never refused.

use sensor_common::filters::{NET_PORTS_MAX, PREFIX_MAX, PREFIXES_MAX};

use super::*;

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

#[test]
fn too_many_prefixes_shorten_to_common_directories() {
    let paths = list((0..1100).map(|i| format!("/data/{i}/file")));
    let plan = plan_of(&[&format!("open_read and fd.name in ({paths})")]);
    // /data/<i>/ is still 1,100 prefixes; /data/ fits.
    assert_eq!(plan.open, opens(&["/data/"], &[]));
    assert_eq!(plan.widened.len(), 1, "{:?}", plan.widened);
    assert!(
        plan.to_string().contains("widened: 1100 prefixes"),
        "{plan}"
    );
}

#[test]
fn read_and_write_prefixes_count_together() {
    let reads = list((0..600).map(|i| format!("/r/{i}/x")));
    let writes = list((0..600).map(|i| format!("/w/{i}/x")));
    let plan = plan_of(&[
        &format!("open_read and fd.name in ({reads})"),
        &format!("open_write and fd.name in ({writes})"),
    ]);
    // Each list fits alone; the 1,200 distinct prefixes do not.
    assert_eq!(plan.open, opens(&["/r/"], &["/w/"]));
    assert_eq!(plan.widened.len(), 1);
}

#[test]
fn exactly_the_limit_fits() {
    let paths = list((0..PREFIXES_MAX).map(|i| format!("/p/{i}/")));
    let plan = plan_of(&[&format!("open_read and fd.name in ({paths})")]);
    let open = plan.open.expect("a filter");
    assert_eq!(open.read.len(), PREFIXES_MAX as usize);
    assert!(plan.widened.is_empty());
    assert!(open.entries().is_ok(), "the kernel takes it");
}

#[test]
fn flat_prefixes_widen_to_everything() {
    // No common directory but the root: every open.
    let paths = list((0..1100).map(|i| format!("/f{i}.x")));
    let plan = plan_of(&[&format!("evt.type=openat and fd.name in ({paths})")]);
    assert_eq!(plan.open, None);
    assert_eq!(plan.widened.len(), 1);
}

#[test]
fn long_prefixes_are_cut() {
    let long = format!("/{}", "é".repeat(200));
    let plan = plan_of(&[&format!("open_read and fd.name startswith \"{long}\"")]);
    let open = plan.open.expect("a filter");
    let [cut] = &open.read[..] else {
        panic!("{open:?}")
    };
    assert!(
        cut.len() <= PREFIX_MAX && cut.len() >= PREFIX_MAX - 1,
        "{}",
        cut.len()
    );
    assert!(long.starts_with(cut.as_str()));
    assert!(open.entries().is_ok());
    assert_eq!(plan.widened.len(), 1);
}

#[test]
fn too_many_ports_report_every_port() {
    let ports = list((1..=NET_PORTS_MAX + 1).map(|p| p.to_string()));
    let plan = plan_of(&[&format!("evt.type=connect and fd.sport in ({ports})")]);
    assert_eq!(plan.net_ports, None);
    assert_eq!(plan.widened.len(), 1);
    let ports = list((1..=NET_PORTS_MAX).map(|p| p.to_string()));
    let plan = plan_of(&[&format!("evt.type=connect and fd.sport in ({ports})")]);
    assert_eq!(
        plan.net_ports.map(|p| p.len()),
        Some(NET_PORTS_MAX as usize)
    );
}

#[test]
fn huge_lists_on_both_sides_of_an_and_stay_fast() {
    // 5,000 paths met with 5,000: linear in the sorted sets, not quadratic.
    let a = list((0..5_000).map(|i| format!("/a/{i}/")));
    let b = list((0..5_000).map(|i| format!("/a/{}/", i * 2)));
    let started = std::time::Instant::now();
    let plan = plan_of(&[&format!(
        "open_read and fd.name in ({a}) and fd.name in ({b})"
    )]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(plan.open, opens(&["/a/"], &[]));
}
