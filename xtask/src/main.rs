//! `cargo xtask`: what plain cargo cannot do for this project.
//!
//! - `setup`: install the prerequisites (nightly rust-src, bpf-linker, Debian packages);
//! - `run`: set up, build, and run the collector, the agent and `sensorctl tail` ([`dev`]);
//! - `trace`: set up, build, and run `sensor trace` as root;
//! - `test`: set up, then formatting, clippy, the manifests, unit tests, the images and the privileged end-to-end tests;
//! - `manifests`: lint, render and validate the Kubernetes manifests offline ([`manifests`]);
//! - `images`: build the OCI images of the static binaries with buildah ([`images`]);
//! - `e2e-kind`: install on a kind cluster and check a finding arrives with its pod ([`e2e_kind`]);
//! - `bench [NAME]`: run the end-to-end benchmarks, or one benchmark of the `sensor-tests` crate ([`bench`]).
//!
//! Every task runs `setup` first; it is idempotent and quick when all is in place.

mod bench;
mod cmd;
mod dev;
mod e2e_kind;
mod images;
mod manifests;
mod setup;

use anyhow::Result;
use clap::{Parser, Subcommand};

use cmd::{build_binaries, cargo, is_root, nightly_cargo, run, workspace_root};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install the prerequisites: nightly rust-src, bpf-linker, runc, busybox, protoc.
    Setup,
    /// Build everything; run the collector on loopback, the agent pointed at it
    /// (needs root; uses sudo when not root) and `sensorctl tail`. Ctrl-C stops them.
    Run {
        /// More arguments for `sensor run` (`--rules FILE`, ...).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build the agent and run `sensor trace` (needs root; uses sudo when not root).
    Trace {
        /// Arguments for `sensor trace`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every check and test: rustfmt, clippy, manifests, unit and end-to-end tests.
    Test,
    /// Lint, render and validate the Kubernetes manifests under deploy/, offline.
    Manifests,
    /// Run the end-to-end benchmarks against the release binaries and the peers
    /// (results in bench/results/), or one benchmark by name: `storms`, `kernel`,
    /// `rules`, `collector`, `store`, `wakeup`.
    Bench {
        /// The benchmark's name; all end-to-end workloads when left out.
        name: Option<String>,
        /// Arguments for the benchmark.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build static (musl) release binaries and their OCI images with buildah
    /// (`localhost/NAME:VERSION` and `:dev`; deploy/images/).
    Images {
        /// Also write each image as an oci-archive tarball into this directory.
        #[arg(long, value_name = "DIR")]
        save: Option<std::path::PathBuf>,
        /// Also start each image's binary inside it and check its version, as `test` does.
        #[arg(long)]
        check: bool,
    },
    /// On a machine with Docker and kind: make a cluster, load the images,
    /// apply the kind overlay, run a pod that reads /etc/shadow, and check
    /// through `sensorctl` that its finding arrived with the pod's name.
    E2eKind {
        /// Leave the cluster up afterwards.
        #[arg(long)]
        keep: bool,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Setup => setup::all(),
        Task::Run { args } => {
            setup::all()?;
            dev::run(&args)
        }
        Task::Trace { args } => {
            setup::all()?;
            run(cargo().args(["build", "--package", "sensor"]))?;
            let sensor = workspace_root().join("target/debug/sensor");
            let mut command = if is_root() {
                std::process::Command::new(&sensor)
            } else {
                let mut sudo = std::process::Command::new("sudo");
                sudo.arg(&sensor);
                sudo
            };
            run(command.arg("trace").args(args))
        }
        Task::Test => test(),
        Task::Manifests => manifests::check(),
        Task::Images { save, check } => {
            setup::all().and_then(|()| images::task(save.as_deref(), check))
        }
        Task::E2eKind { keep } => setup::all().and_then(|()| e2e_kind::task(keep)),
        Task::Bench { name, args } => bench::task(name.as_deref(), &args),
    }
}

fn test() -> Result<()> {
    setup::all()?;
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--exclude",
        "sensor-ebpf",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The kernel programs only build for the BPF target, with nightly.
    run(nightly_cargo().args([
        "clippy",
        "--package",
        "sensor-ebpf",
        "--release",
        "--target",
        "bpfel-unknown-none",
        "-Z",
        "build-std=core",
        "--",
        "-D",
        "warnings",
    ]))?;
    manifests::check()?;
    // Unprivileged tests first: they say what is wrong fastest.
    run(cargo().args([
        "test",
        "--workspace",
        "--exclude",
        "sensor-ebpf",
        "--exclude",
        "sensor-tests",
    ]))?;
    // Before the end-to-end tests: a broken image shows after the musl release
    // builds (11 minutes from clean here), not after twenty minutes of tests.
    images::test()?;
    // The end-to-end tests load programs and start containers as root. One at a
    // time: each attaches its own sensor, and the wakeup test counts what it sees.
    run(&mut build_binaries())?;
    let mut e2e = cargo();
    e2e.args([
        "test",
        "--package",
        "sensor-tests",
        "--",
        "--test-threads=1",
    ])
    .env("SENSOR_BIN", workspace_root().join("target/debug/sensor"))
    .env(
        "COLLECTOR_BIN",
        workspace_root().join("target/debug/collector"),
    )
    .env(
        "SENSORCTL_BIN",
        workspace_root().join("target/debug/sensorctl"),
    );
    if !is_root() {
        eprintln!(
            "xtask: not root: the end-to-end tests need root (or CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN); they will say so"
        );
    }
    run(&mut e2e)
}
