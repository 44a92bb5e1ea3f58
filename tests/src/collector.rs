//! The collector and `sensorctl` as an operator runs them: development
//! certificates from `collector dev-certs`, the `collector` binary on a loopback
//! port with its SQLite file, and `sensorctl` with an analyst's certificate.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{kubelet::NODE_NAME, trace::workspace_bin};

/// The analyst's certificate name.
pub const ANALYST: &str = "analyst";

/// Makes a CA, the collector's certificate and client certificates for this
/// node and the analyst in `dir`.
pub fn make_certs(dir: &Path, nodes: &[&str]) {
    let mut cmd = Command::new(workspace_bin("collector"));
    cmd.args(["dev-certs", "--dir"]).arg(dir);
    for node in nodes {
        cmd.args(["--node", node]);
    }
    cmd.args(["--client", ANALYST]);
    let out = cmd.output().expect("running collector dev-certs");
    assert!(
        out.status.success(),
        "dev-certs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A free loopback port (bound, then released for the collector to take).
pub fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address")
}

/// A running `collector`; killed on drop.
pub struct Collector {
    /// The process.
    pub child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The certificates and the database.
    pub dir: PathBuf,
}

/// Where [`Collector::start_logged`] writes the collector's log.
const LOG: &str = "collector.log";

impl Collector {
    /// Starts the collector on `addr` with the certificates and database in
    /// `dir`, and waits until it accepts connections.
    pub fn start(dir: &Path, addr: SocketAddr) -> Self {
        Self::spawn(dir, addr, Stdio::inherit())
    }

    /// [`Collector::start`] with the log kept in `dir` for [`Collector::log`]
    /// rather than shown with the test's output.
    pub fn start_logged(dir: &Path, addr: SocketAddr) -> Self {
        let log = std::fs::File::create(dir.join(LOG)).expect("creating the collector's log");
        Self::spawn(dir, addr, Stdio::from(log))
    }

    /// What a collector started with [`Collector::start_logged`] logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(LOG)).unwrap_or_default()
    }

    fn spawn(dir: &Path, addr: SocketAddr, stderr: Stdio) -> Self {
        let child = Command::new(workspace_bin("collector"))
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--db")
            .arg(dir.join("findings.db"))
            .arg("--tls-cert")
            .arg(dir.join("server.pem"))
            .arg("--tls-key")
            .arg(dir.join("server-key.pem"))
            .arg("--client-ca")
            .arg(dir.join("ca.pem"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("starting the collector");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "the collector did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            addr,
            dir: dir.to_owned(),
        }
    }

    /// The URL clients use (the certificate names `localhost`).
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// SIGKILL, and waits for the end.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `sensor run` flags that send findings here as `node`.
    pub fn sensor_args(&self, node: &str, spool: &Path) -> Vec<String> {
        let file = |n: &str| self.dir.join(n).display().to_string();
        vec![
            "--collector".into(),
            self.url(),
            "--tls-cert".into(),
            file(&format!("{node}.pem")),
            "--tls-key".into(),
            file(&format!("{node}-key.pem")),
            "--tls-ca".into(),
            file("ca.pem"),
            "--spool-dir".into(),
            spool.display().to_string(),
        ]
    }

    /// `sensorctl ARGS` as the analyst.
    pub fn sensorctl(&self, args: &[&str]) -> Output {
        self.sensorctl_command(args)
            .output()
            .expect("running sensorctl")
    }

    /// The command line of `sensorctl ARGS` as the analyst, to run as a caller needs.
    pub fn sensorctl_command(&self, args: &[&str]) -> Command {
        let file = |n: &str| self.dir.join(n);
        let mut command = Command::new(workspace_bin("sensorctl"));
        command
            .arg("--collector")
            .arg(self.url())
            .arg("--tls-cert")
            .arg(file(&format!("{ANALYST}.pem")))
            .arg("--tls-key")
            .arg(file(&format!("{ANALYST}-key.pem")))
            .arg("--tls-ca")
            .arg(file("ca.pem"))
            .args(args);
        command
    }

    /// The stored findings `filter` holds for, oldest first, through
    /// `sensorctl findings -o json`.
    pub fn findings(&self, filter: &str) -> Vec<Value> {
        let out = self.sensorctl(&[
            "findings",
            "--where",
            filter,
            "--oldest-first",
            "--limit",
            "100000",
            "-o",
            "json",
        ]);
        assert!(
            out.status.success(),
            "sensorctl findings: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Waits until `filter` finds at least `n` findings; returns them.
    pub fn wait_findings(&self, filter: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.findings(filter);
            if found.len() >= n || Instant::now() >= deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The node name the tests' sensors and kubelet use.
pub fn node() -> &'static str {
    NODE_NAME
}
