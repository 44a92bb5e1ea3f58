//! The agent as a benchmark runs it: the `sensor run` binary (the release build
//! that `cargo xtask bench` hands over), its Prometheus endpoint on a loopback
//! port, and its resident memory and CPU time read from `/proc`.

use std::{
    io::{Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    path::Path,
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::{collector::free_addr, trace::sensor_bin};

/// A running `sensor run`; killed on drop.
pub struct Agent {
    child: Child,
    metrics: SocketAddr,
}

impl Agent {
    /// Starts `sensor run ARGS --metrics-addr ...` with its log in `log` and its
    /// stdout discarded, and waits until `/readyz` answers (process table
    /// loaded, events flowing).
    pub fn start(args: &[String], log: &Path) -> anyhow::Result<Self> {
        let metrics = free_addr();
        let child = Command::new(sensor_bin())
            .arg("run")
            .args(args)
            .arg("--metrics-addr")
            .arg(metrics.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?)
            .env("RUST_LOG", "warn")
            .spawn()
            .with_context(|| format!("starting {}", sensor_bin().display()))?;
        let mut agent = Self { child, metrics };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = agent.child.try_wait()? {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                bail!("sensor run exited at start ({status}):\n{log}");
            }
            if agent.get("/readyz").is_ok_and(|(code, _)| code == 200) {
                return Ok(agent);
            }
            if Instant::now() > deadline {
                bail!("sensor run was not ready within 60 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A GET on the agent's HTTP endpoint: status code and body.
    fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let mut stream = TcpStream::connect_timeout(&self.metrics, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.metrics
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        let code = answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .context("an HTTP status line")?;
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((code, body))
    }

    /// The agent's metrics now.
    pub fn scrape(&self) -> anyhow::Result<Scrape> {
        let (code, body) = self.get("/metrics")?;
        if code != 200 {
            bail!("/metrics answered {code}");
        }
        Ok(Scrape::parse(&body))
    }

    /// Its resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }

    /// The CPU time (user and system) it has used.
    pub fn cpu(&self) -> Duration {
        cpu(self.child.id())
    }

    /// Stops it with SIGTERM, as the DaemonSet's kubelet does, and waits.
    pub fn stop(mut self) -> anyhow::Result<ExitStatus> {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("sensor run did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Resident memory of `pid` in KiB (`VmRSS`); 0 if it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// Peak resident memory of `pid` in KiB (`VmHWM`); 0 if it is gone.
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user and system) `pid` has used, all its threads; zero if gone.
pub fn cpu(pid: u32) -> Duration {
    crate::threadcpu::ThreadCpu::sample(pid)
        .map(|t| t.0.values().sum())
        .unwrap_or_default()
}

/// Prometheus text, as series (name with labels) and values.
#[derive(Clone, Debug, Default)]
pub struct Scrape(Vec<(String, f64)>);

impl Scrape {
    /// Parses the text format; comment and malformed lines are left out.
    pub fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| {
                    let (series, value) = l.rsplit_once(' ')?;
                    Some((series.to_owned(), value.parse().ok()?))
                })
                .collect(),
        )
    }

    /// The sum of metric `name`'s series whose labels contain every one of
    /// `labels` (`kind="open"`, ...).
    pub fn sum(&self, name: &str, labels: &[&str]) -> f64 {
        self.0
            .iter()
            .filter(|(series, _)| {
                let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
                metric == name && labels.iter().all(|l| rest.contains(l))
            })
            .map(|(_, v)| v)
            // An empty float sum is -0.0, which prints as "-0".
            .sum::<f64>()
            + 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_series_by_labels() {
        let s = Scrape::parse(
            "# HELP x\nsensor_events_total{kind=\"open\"} 5\nsensor_events_total{kind=\"exec\"} 2\n\
             sensor_kernel_drops_total{kind=\"open\",reason=\"ring_full\"} 3\nbroken\nsensor_x 1.5\n",
        );
        assert_eq!(s.sum("sensor_events_total", &[]), 7.0);
        assert_eq!(s.sum("sensor_events_total", &["kind=\"open\""]), 5.0);
        assert_eq!(
            s.sum("sensor_kernel_drops_total", &["reason=\"ring_full\""]),
            3.0
        );
        assert_eq!(s.sum("sensor_x", &[]), 1.5);
        assert_eq!(s.sum("sensor_missing", &[]), 0.0);
    }
}
