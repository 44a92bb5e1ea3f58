//! The application workload of the benchmarks: Debian's `redis-server` on a
//! loopback port and `redis-benchmark` against it.

use std::{
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::collector::free_addr;

/// The commands measured, as redis-benchmark names them.
pub const TESTS: [&str; 2] = ["SET", "GET"];

/// A `redis-server` on a loopback port, without persistence; killed on drop.
pub struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts it on a free port and waits until it listens.
    pub fn start() -> anyhow::Result<Self> {
        let port = free_addr().port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .context(
                "starting redis-server (Debian's redis-server; `cargo xtask bench` installs it)",
            )?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("redis-server did not listen on port {port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { child, port })
    }

    /// Runs redis-benchmark; per test, requests per second and p50 latency (ms).
    pub fn benchmark(&self, requests: u64) -> anyhow::Result<Vec<(String, f64, f64)>> {
        let out = Command::new("redis-benchmark")
            .args(["-h", "127.0.0.1", "--csv", "-t", "set,get"])
            .args(["-p", &self.port.to_string(), "-n", &requests.to_string()])
            .output()
            .context("running redis-benchmark")?;
        if !out.status.success() {
            bail!(
                "redis-benchmark failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        parse_csv(&String::from_utf8_lossy(&out.stdout))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// redis-benchmark's `--csv` output: `"test","rps","avg_latency_ms",
/// "min_latency_ms","p50_latency_ms",...`, one quoted row per test.
fn parse_csv(text: &str) -> anyhow::Result<Vec<(String, f64, f64)>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .context("redis-benchmark printed nothing")?
        .split(',')
        .map(|c| c.trim_matches('"'))
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|c| *c == name)
            .with_context(|| format!("no {name} column in redis-benchmark's output"))
    };
    let (rps, p50) = (column("rps")?, column("p50_latency_ms")?);
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').map(|c| c.trim_matches('"')).collect();
            let number = |i: usize| -> anyhow::Result<f64> {
                cells
                    .get(i)
                    .and_then(|c| c.parse().ok())
                    .with_context(|| format!("a malformed row: {line}"))
            };
            Ok((cells[0].to_owned(), number(rps)?, number(p50)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_redis_benchmark_csv() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\"\n\
                   \"SET\",\"21505.38\",\"1.557\",\"0.216\",\"1.199\",\"4.975\"\n";
        let rows = super::parse_csv(csv).expect("parsed");
        assert_eq!(rows, vec![("SET".to_owned(), 21505.38, 1.199)]);
        assert!(super::parse_csv("\"test\",\"rps\"\n").is_err());
    }
}
