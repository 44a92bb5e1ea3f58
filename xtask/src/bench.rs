//! `cargo xtask bench [NAME]`: the benchmarks of the `sensor-tests` crate, run
//! against the release binaries, with the peers they measure against installed.
//! Without a name, every end-to-end workload in turn; results go to
//! `bench/results/NAME.json`.

use anyhow::Result;

use crate::{
    cmd::{build_binaries, cargo, run, workspace_root},
    setup,
};

/// The end-to-end workloads `cargo xtask bench` runs when no name is given, in
/// order. The others (`kernel`, `rules`, `collector`, `store`, `wakeup`) measure
/// one part and are run by name.
pub const ALL: &[&str] = &[
    "storms",
    "redis",
    "capacity",
    "latency",
    "footprint",
    "collector",
];

/// Runs benchmark `name` (or all of [`ALL`]) with `args`.
pub fn task(name: Option<&str>, args: &[String]) -> Result<()> {
    setup::all()?;
    setup::bench()?;
    // The benchmarks drive the binaries an operator runs: the release builds.
    run(build_binaries().arg("--release"))?;
    let names: Vec<&str> = name.map_or_else(|| ALL.to_vec(), |n| vec![n]);
    for name in names {
        let release = |bin: &str| workspace_root().join("target/release").join(bin);
        run(cargo()
            .env("SENSOR_BIN", release("sensor"))
            .env("COLLECTOR_BIN", release("collector"))
            .env("SENSORCTL_BIN", release("sensorctl"))
            .args(["bench", "--package", "sensor-tests", "--bench", name, "--"])
            .args(args))?;
    }
    Ok(())
}
