//! An exec inside a real container (runc, busybox, a kubelet-like cgroup path)
//! carries the container's cgroup id, its argv, parent and user.

use std::time::Duration;

use sensor_tests::{
    can_load_ebpf,
    container::{Container, own_cgroup_id},
    exec_of, nonce, read_until, start,
};

#[tokio::test]
async fn exec_in_a_container_carries_its_cgroup() {
    if !can_load_ebpf("container_exec") {
        return;
    }
    let (_sensor, mut reader) = start();
    let marker = nonce("container");
    let script = format!("/bin/echo {marker}; /bin/true");
    let container = Container::create(&marker, &["/bin/sh", "-c", &script], 1234, 5678);
    let cgroup_id = container.cgroup_id();
    let init_pid = container.init_pid();
    container.start();
    container.wait(Duration::from_secs(20));
    assert!(
        container.stdout().contains(&marker),
        "the container ran its script"
    );

    let is_echo =
        |e: &sensor::event::Event| exec_of(e).is_some_and(|x| x.argv.get(1) == Some(&marker));
    let events = read_until(&mut reader, Duration::from_secs(10), |events| {
        events.iter().any(is_echo)
    })
    .await;
    let echo = events.iter().find(|e| is_echo(e)).unwrap_or_else(|| {
        panic!(
            "no exec event for the container's echo among {}",
            events.len()
        )
    });
    let exec = exec_of(echo).expect("an exec event");
    assert_eq!(exec.argv, ["/bin/echo", marker.as_str()]);
    assert_eq!(
        echo.task.cgroup_id, cgroup_id,
        "the container's cgroup v2 inode"
    );
    assert_eq!(
        echo.task.ppid, init_pid,
        "the container's shell is the parent"
    );
    assert_eq!((echo.task.uid, echo.task.gid), (1234, 5678));

    // The container's first program, exec'd by runc init, is in the cgroup too.
    let shell = events
        .iter()
        .find(|e| e.task.pid == init_pid && exec_of(e).is_some())
        .expect("an exec event for the container's init");
    let exec = exec_of(shell).expect("an exec event");
    assert_eq!(exec.argv, ["/bin/sh", "-c", script.as_str()]);
    assert_eq!(shell.task.cgroup_id, cgroup_id);
    assert_ne!(
        cgroup_id,
        own_cgroup_id(),
        "the container is not in our cgroup"
    );
}
