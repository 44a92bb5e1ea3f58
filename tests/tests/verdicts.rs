//! The kernel remembers which opened files lie outside every watched prefix, so
//! their opens are dropped without a path walk. A remembered verdict must never
//! hide an open that is watched now: after a rename puts the file (or a
//! directory above it) under a watched prefix, after a mount is moved there, and
//! after the agent changes the prefixes, the open is reported. Each test runs
//! twice: with the open program's fast path (recent verdicts judged with plain
//! loads, where the kernel allows them) and without it.

use std::{ffi::CString, path::Path, time::Duration};

use sensor::event::{EventKind, Open};
use sensor::kernel::{
    EventReader, KernelConfig, KernelSensor, OpenFilter, WakeupPolicy, btf::kernel_facts, probes,
};
use sensor_tests::{can_load_ebpf, open_of, read_until, start_with, test_config, tmp_dir};

fn watching(read: Vec<String>, fast: bool) -> KernelConfig {
    KernelConfig {
        kinds: vec![EventKind::Open],
        open_filter: Some(OpenFilter {
            read,
            ..OpenFilter::default()
        }),
        open_fast_path: fast,
        ..test_config(WakeupPolicy::EveryEvent)
    }
}

/// Starts the sensor watching `read`, with the fast path on or off, and checks
/// it is what was asked for: on wherever this kernel's BTF says it can be, so
/// a fast path the verifier refused fails here rather than going unseen.
fn start_watching(read: Vec<String>, fast: bool) -> (KernelSensor, EventReader) {
    let (sensor, reader) = start_with(&watching(read, fast));
    let able = kernel_facts().expect("BTF").untrusted_mem;
    assert_eq!(
        sensor.open_fast_path(),
        fast && able,
        "the fast path is on where it can be"
    );
    assert_eq!(
        sensor.attached().contains(&probes::OPEN_FAST_PROGRAM),
        fast && able,
        "the fast program is attached exactly when the fast path is on"
    );
    (sensor, reader)
}

/// Reads `path` a few times: the first read is walked and judged, the others
/// are decided by the remembered verdict.
fn read_thrice(path: &Path) {
    for _ in 0..3 {
        std::fs::read(path).expect("reading");
    }
}

/// The opens under `dir` reported within `wait`.
async fn opens_under(
    reader: &mut sensor::kernel::EventReader,
    dir: &str,
    wait: Duration,
    done: impl Fn(&[Open]) -> bool,
) -> Vec<Open> {
    let under = |events: &[sensor::event::Event]| -> Vec<Open> {
        events
            .iter()
            .filter_map(open_of)
            .filter(|o| o.path.starts_with(dir))
            .cloned()
            .collect()
    };
    let events = read_until(reader, wait, |events| done(&under(events))).await;
    under(&events)
}

#[tokio::test]
async fn renames_and_filter_changes_make_remembered_verdicts_stale() {
    renames_and_filter_changes(true, "verdicts").await;
}

#[tokio::test]
async fn renames_and_filter_changes_make_verdicts_stale_without_the_fast_path() {
    renames_and_filter_changes(false, "verdicts-full").await;
}

async fn renames_and_filter_changes(fast: bool, name: &str) {
    if !can_load_ebpf("verdict_renames") {
        return;
    }
    let dir = tmp_dir(name);
    let d = dir.to_str().expect("utf-8").to_string();
    for sub in ["a", "b", "other", "watched"] {
        std::fs::create_dir_all(dir.join(sub)).expect("creating dirs");
    }
    for file in ["a/f", "b/g", "other/h"] {
        std::fs::write(dir.join(file), "x").expect("writing");
    }
    let (mut sensor, mut reader) = start_watching(vec![format!("{d}/watched/")], fast);

    // Unwatched: judged once, then remembered; nothing is reported.
    read_thrice(&dir.join("a/f"));
    read_thrice(&dir.join("b/g"));
    read_thrice(&dir.join("other/h"));
    let quiet = opens_under(&mut reader, &d, Duration::from_millis(500), |_| false).await;
    assert!(quiet.is_empty(), "unwatched opens were reported: {quiet:?}");

    // The directory above a remembered file moves under the watched prefix: the
    // file's own dentry is unchanged, only its path is new.
    std::fs::rename(dir.join("a"), dir.join("watched/a")).expect("renaming a directory");
    // The file itself moves.
    std::fs::rename(dir.join("b/g"), dir.join("watched/g")).expect("renaming a file");
    read_thrice(&dir.join("watched/a/f"));
    read_thrice(&dir.join("watched/g"));
    let (moved_dir, moved_file) = (format!("{d}/watched/a/f"), format!("{d}/watched/g"));
    let opens = opens_under(&mut reader, &d, Duration::from_secs(10), |opens| {
        opens.iter().filter(|o| o.path == moved_dir).count() == 3
            && opens.iter().filter(|o| o.path == moved_file).count() == 3
    })
    .await;
    assert_eq!(
        opens.iter().filter(|o| o.path == moved_dir).count(),
        3,
        "every open after the directory's rename is reported: {opens:?}"
    );
    assert_eq!(
        opens.iter().filter(|o| o.path == moved_file).count(),
        3,
        "every open after the file's rename is reported: {opens:?}"
    );

    // The agent watches another prefix: what was remembered under the old
    // prefixes no longer holds.
    sensor
        .set_open_filter(Some(&OpenFilter {
            read: vec![format!("{d}/other/")],
            ..OpenFilter::default()
        }))
        .expect("changing the watched prefixes");
    read_thrice(&dir.join("other/h"));
    read_thrice(&dir.join("watched/g"));
    let other = format!("{d}/other/h");
    let opens = opens_under(&mut reader, &d, Duration::from_secs(10), |opens| {
        opens.iter().filter(|o| o.path == other).count() == 3
    })
    .await;
    assert_eq!(
        opens.iter().filter(|o| o.path == other).count(),
        3,
        "the newly watched file is reported: {opens:?}"
    );
    // Give any straggler the chance to arrive before checking it did not.
    let late = opens_under(&mut reader, &d, Duration::from_millis(500), |_| false).await;
    assert!(
        opens.iter().chain(&late).all(|o| o.path == other),
        "the no longer watched file is not reported: {opens:?} {late:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn mount(source: &str, target: &Path, fstype: Option<&str>, flags: libc::c_ulong) {
    let source = CString::new(source).expect("no NUL");
    let target = CString::new(target.to_str().expect("utf-8")).expect("no NUL");
    let fstype = fstype.map(|t| CString::new(t).expect("no NUL"));
    // SAFETY: valid C strings that outlive the call; no data argument.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ref().map_or(std::ptr::null(), |t| t.as_ptr()),
            flags,
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "mount: {}", std::io::Error::last_os_error());
}

fn umount(target: &Path) {
    let target = CString::new(target.to_str().expect("utf-8")).expect("no NUL");
    // SAFETY: a valid C string.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
}

#[tokio::test]
async fn a_mount_moved_under_a_watched_prefix_is_watched() {
    mount_moved(true, "verdict-mounts").await;
}

#[tokio::test]
async fn a_mount_moved_under_a_watched_prefix_is_watched_without_the_fast_path() {
    mount_moved(false, "verdict-mounts-full").await;
}

async fn mount_moved(fast: bool, name: &str) {
    if !can_load_ebpf("verdict_mounts") {
        return;
    }
    let dir = tmp_dir(name);
    let d = dir.to_str().expect("utf-8").to_string();
    let (loose, watched) = (dir.join("loose"), dir.join("watched"));
    std::fs::create_dir_all(&loose).expect("creating dirs");
    std::fs::create_dir_all(watched.join("m")).expect("creating dirs");
    mount("sensor-test", &loose, Some("tmpfs"), 0);
    std::fs::write(loose.join("f"), "x").expect("writing");
    let (_sensor, mut reader) = start_watching(vec![format!("{d}/watched/")], fast);

    read_thrice(&loose.join("f"));
    // The same mount, with the same dentries, now under the watched prefix.
    mount(
        loose.to_str().expect("utf-8"),
        &watched.join("m"),
        None,
        libc::MS_MOVE,
    );
    read_thrice(&watched.join("m/f"));
    let moved = format!("{d}/watched/m/f");
    let opens = opens_under(&mut reader, &d, Duration::from_secs(10), |opens| {
        opens.iter().filter(|o| o.path == moved).count() == 3
    })
    .await;
    umount(&watched.join("m"));
    assert_eq!(
        opens.iter().filter(|o| o.path == moved).count(),
        3,
        "every open after the move is reported: {opens:?}"
    );
    assert!(
        opens.iter().all(|o| o.path == moved),
        "the opens before the move are not: {opens:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
