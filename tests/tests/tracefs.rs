//! A fresh machine has no tracefs mounted; the sensor mounts it itself.

use std::time::Duration;

use sensor::kernel::tracefs::TRACEFS;
use sensor_tests::{can_load_ebpf, nonce, read_until, start};

fn tracefs_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("reading mountinfo")
        .lines()
        .any(|line| line.contains(&format!(" {TRACEFS} ")) && line.contains(" - tracefs "))
}

#[tokio::test]
async fn sensor_mounts_tracefs_when_missing() {
    if !can_load_ebpf("tracefs") {
        return;
    }
    // Unmount every tracefs at the standard place (it may be stacked), lazily so a
    // reader elsewhere cannot make this fail.
    let target = std::ffi::CString::new(TRACEFS).expect("no NUL");
    while tracefs_mounted() {
        // SAFETY: a valid path; MNT_DETACH has no other preconditions.
        let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        assert_eq!(
            rc,
            0,
            "cannot unmount tracefs: {}",
            std::io::Error::last_os_error()
        );
    }
    assert!(!tracefs_mounted());

    let (_sensor, mut reader) = start();
    assert!(tracefs_mounted(), "the sensor mounted tracefs");
    let marker = nonce("tracefs");
    let out = std::process::Command::new("/bin/echo")
        .arg(&marker)
        .output()
        .expect("echo");
    assert!(out.status.success());
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        events
            .iter()
            .any(|e| sensor_tests::argv(e).get(1) == Some(&marker))
    })
    .await;
    assert!(
        events
            .iter()
            .any(|e| sensor_tests::argv(e).get(1) == Some(&marker)),
        "events flow after the sensor mounted tracefs"
    );
}
