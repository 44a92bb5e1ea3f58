//! A child process that holds a benchmark's programs, as the agent holds its
//! own in deployment: the storms' process then holds none of their programs,
//! maps and links. Held in the storms' own process, the floor's empty programs
//! alone cost an exec storm some 4% that the same floor held by another process
//! did not.
//!
//! A benchmark starts itself again with [`ROLE_ENV`] set; the child attaches
//! what its role names, prints `ready`, and holds it until its stdin closes.

use std::io::{BufRead, Read, Write};

/// The environment variable that makes a benchmark a holder, naming its role.
pub const ROLE_ENV: &str = "SENSOR_BENCH_HOLD";

/// The role this process was started to hold, if it is a holder.
pub fn role() -> Option<String> {
    std::env::var(ROLE_ENV).ok()
}

/// The holder's side, once attached: says `ready`, then waits until the
/// benchmark closes this process's stdin.
pub fn hold_until_released() {
    let mut out = std::io::stdout();
    writeln!(out, "ready")
        .and_then(|()| out.flush())
        .expect("saying ready");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// A child process holding programs for a benchmark.
pub struct Holder {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Holder {
    /// Starts this benchmark again as the holder of `role`, with `env` added,
    /// and waits until it says it is ready.
    pub fn start(role: &str, env: &[(&str, &str)]) -> Self {
        let mut child =
            std::process::Command::new(std::env::current_exe().expect("this benchmark"))
                .env(ROLE_ENV, role)
                .envs(env.iter().copied())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("starting the holder");
        let mut out = std::io::BufReader::new(child.stdout.take().expect("the holder's stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("reading the holder");
        assert_eq!(line.trim(), "ready", "the holder for {role} did not start");
        Self { child, out }
    }

    /// Closes the holder's stdin and waits for it to detach and exit; returns
    /// what it printed after `ready`.
    pub fn stop(mut self) -> String {
        drop(self.child.stdin.take());
        let mut rest = String::new();
        self.out
            .read_to_string(&mut rest)
            .expect("reading the holder");
        let status = self.child.wait().expect("waiting for the holder");
        assert!(status.success(), "the holder failed: {status}");
        rest
    }
}
