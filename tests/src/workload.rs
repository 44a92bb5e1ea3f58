//! Trigger programs: the same work every run, so tests and benchmarks compare like
//! with like.

use std::{
    ffi::CString,
    net::{TcpListener, TcpStream},
    os::fd::AsRawFd as _,
    process::{Child, Command, Stdio},
    time::Instant,
};

/// Starts a shell that execs `/bin/true <marker>` `count` times, one after another.
/// The execs come from another process, so their cost is not charged to the caller.
pub fn spawn_execs(count: usize, marker: &str) -> Child {
    let script = format!("i=0; while [ $i -lt {count} ]; do /bin/true {marker}; i=$((i+1)); done");
    Command::new("/bin/sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .spawn()
        .expect("starting the exec workload")
}

/// Whether an event is one of the workload's execs.
pub fn is_marked(event: &sensor::event::Event, marker: &str) -> bool {
    crate::exec_of(event).is_some_and(|exec| {
        exec.argv.first().is_some_and(|arg0| arg0 == "/bin/true")
            && exec.argv.get(1).is_some_and(|arg| arg == marker)
    })
}

/// Opens and closes `path` `n` times; returns operations per second.
pub fn open_storm(path: &std::ffi::CStr, n: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        // SAFETY: a valid C string; the fd is closed at once.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
        assert!(fd >= 0, "cannot open {path:?}");
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Spawns `/bin/true <marker>` `n` times with posix_spawn(3), one after another,
/// each waited for; returns execs per second. The environment is empty: cargo's
/// `LD_LIBRARY_PATH` would send the dynamic loader through its directories for
/// libc first, three times the opens of an exec run by hand.
pub fn exec_storm(n: u64, marker: &str) -> f64 {
    let program = c"/bin/true";
    let marker = CString::new(marker).expect("a marker without NUL");
    let argv = [program.as_ptr(), marker.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    let start = Instant::now();
    for _ in 0..n {
        let mut pid: libc::pid_t = 0;
        // SAFETY: NUL-terminated argv and envp that outlive the call; no file
        // actions or attributes.
        let err = unsafe {
            libc::posix_spawn(
                &mut pid,
                program.as_ptr(),
                std::ptr::null(),
                std::ptr::null(),
                argv.as_ptr().cast_mut().cast(),
                envp.as_ptr().cast_mut().cast(),
            )
        };
        assert_eq!(err, 0, "posix_spawn of /bin/true failed");
        let mut status = 0;
        // SAFETY: our child's pid.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            waited == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "/bin/true failed"
        );
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Connects over loopback `n` times from this one thread, accepting each
/// connection itself, then closes both ends (the client with a reset, so no
/// side is left in TIME_WAIT to fill the port space). On loopback the
/// handshake completes inside connect(2), so no thread waits for another: the
/// rate is what the syscalls cost (socket, connect, accept, setsockopt, two
/// closes). A storm whose two threads hand each connection to each other
/// ([`connect_round_trips`]) measures how fast the other core wakes as much as
/// the syscalls. Returns connections per second.
pub fn connect_storm(n: u64) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let addr = listener.local_addr().expect("an address");
    let start = Instant::now();
    for _ in 0..n {
        let client = TcpStream::connect(addr).expect("connecting");
        let (server, _) = listener.accept().expect("accepting");
        reset_on_close(&client);
        drop(client);
        drop(server);
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Connects over loopback `n` times, one at a time, with another thread
/// accepting: it accepts and answers a byte before the client connects again,
/// so the accept queue never overflows (an overflow drops SYNs, and each
/// retransmission costs a second). The client closes with a reset, as in
/// [`connect_storm`]. Every connection waits for the other thread to wake, so
/// on this VM the rate follows whether the other core sleeps as much as what
/// the syscalls cost. Returns connections per second.
pub fn connect_round_trips(n: u64) -> f64 {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let addr = listener.local_addr().expect("an address");
    let acceptor = std::thread::spawn(move || {
        for _ in 0..n {
            let (mut conn, _) = listener.accept().expect("accepting");
            conn.write_all(b"x").expect("answering");
            let _ = conn.read(&mut [0u8; 1]);
        }
    });
    let start = Instant::now();
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).expect("connecting");
        stream.read_exact(&mut [0u8; 1]).expect("the answer");
        reset_on_close(&stream);
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    acceptor.join().expect("the acceptor");
    rate
}

/// Makes closing `stream` send a reset, so no side stays in TIME_WAIT.
fn reset_on_close(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and option.
    let set = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as u32,
        )
    };
    assert_eq!(set, 0, "setting SO_LINGER");
}
