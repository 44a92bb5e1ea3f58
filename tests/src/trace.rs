//! `sensor trace` as a user runs it: the binary, started with arguments, its
//! stdout lines on a channel and its log kept for the test to read.

use std::{
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

/// The `sensor` binary: `SENSOR_BIN` (set by `cargo xtask test`), else next to the
/// test binary's directory.
pub fn sensor_bin() -> PathBuf {
    workspace_bin("sensor")
}

/// A binary of the workspace: `<NAME>_BIN` (set by `cargo xtask test`), else
/// in the target directory the test binary runs from.
pub fn workspace_bin(name: &str) -> PathBuf {
    let var = format!("{}_BIN", name.to_ascii_uppercase());
    if let Some(bin) = std::env::var_os(&var) {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("the test's own path");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join(name))
        .expect("a target directory");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p {name}` first, or use `cargo xtask test`",
        bin.display()
    );
    bin
}

/// A running `sensor trace`; killed on drop, so none outlives its test.
pub struct Trace {
    /// The process.
    pub child: Child,
    /// Its stdout, line by line.
    pub lines: mpsc::Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
}

/// `line` without the terminal colour codes the logger adds.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

impl Trace {
    /// Starts `sensor trace ARGS` and waits until it traces.
    pub fn start(args: &[&str]) -> Self {
        Self::start_command(Command::new(sensor_bin()).arg("trace").args(args))
    }

    /// Starts `sensor run ARGS` (the rules engine) and waits until it runs.
    pub fn run(args: &[&str]) -> Self {
        Self::start_command(Command::new(sensor_bin()).arg("run").args(args))
    }

    /// Starts `command` (a `sensor trace` or `sensor run` with its environment)
    /// and waits until it traces.
    pub fn start_command(command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting sensor trace");
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let (ready_tx, ready_rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                eprintln!("sensor: {line}");
                let line = plain(&line);
                if line.contains("tracing; stop with") {
                    let _ = ready_tx.send(());
                }
                kept.lock().expect("the log").push(line);
            }
        });
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (line_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("sensor trace did not start within 30 s");
        Self { child, lines, log }
    }

    /// Counts its stdout lines from now on, on a thread of its own, instead of
    /// handing them over: for tests that only need to know how many came.
    pub fn count_lines(&mut self) -> Arc<AtomicU64> {
        let (_, none) = mpsc::channel();
        let lines = std::mem::replace(&mut self.lines, none);
        let counted = Arc::new(AtomicU64::new(0));
        let counter = counted.clone();
        std::thread::spawn(move || {
            for _ in lines {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        counted
    }

    /// Its log lines so far, without colour codes.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().expect("the log").clone()
    }

    /// Waits until a log line contains `text`; returns it.
    pub fn wait_log(&self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(text)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {text:?} within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `count` log lines contain `text`; returns the last of them.
    pub fn wait_log_count(&self, text: &str, count: usize, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let found: Vec<String> = self
                .log()
                .into_iter()
                .filter(|l| l.contains(text))
                .collect();
            if found.len() >= count {
                return found[count - 1].clone();
            }
            assert!(
                Instant::now() < deadline,
                "{} log lines with {text:?} within {timeout:?}, not {count}",
                found.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `signal` without waiting.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// Sends `signal` and waits for the exit.
    pub fn stop(&mut self, signal: libc::c_int) -> ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        self.wait_exit(Duration::from_secs(30))
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        wait_exit(&mut self.child, timeout)
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for `child` to exit, at most `timeout`.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for sensor") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "sensor did not exit within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of `key=` in a log line (`processes=12` gives 12).
pub fn log_value(line: &str, key: &str) -> Option<u64> {
    let at = line.find(&format!(" {key}="))? + key.len() + 2;
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}
