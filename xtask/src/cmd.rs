//! Running commands, with the command line echoed and a clear error when it fails.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// `cargo`, as the one running xtask, in the workspace root, with cargo's bin
/// directory on PATH: `cargo install` puts bpf-linker there, and rustc must find it.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .current_dir(workspace_root())
        .env("PATH", path_with_cargo_bin());
    command
}

/// `cargo build` of the product's binaries: the agent, the collector, sensorctl.
pub fn build_binaries() -> Command {
    let mut command = cargo();
    command.args([
        "build",
        "--package",
        "sensor",
        "--package",
        "collector",
        "--package",
        "sensorctl",
    ]);
    command
}

/// The nightly toolchain's `cargo`, through rustup: `CARGO` names the stable
/// toolchain's binary, which does not understand `+nightly`.
pub fn nightly_cargo() -> Command {
    let mut command = Command::new("rustup");
    command
        .args(["run", "nightly", "cargo"])
        .current_dir(workspace_root())
        .env("PATH", path_with_cargo_bin());
    // Set by the outer cargo for the stable toolchain; they must not leak in.
    for var in ["RUSTC", "RUSTDOC", "RUSTUP_TOOLCHAIN", "CARGO"] {
        command.env_remove(var);
    }
    command
}

/// PATH with `$CARGO_HOME/bin` (default `~/.cargo/bin`) in front.
pub fn path_with_cargo_bin() -> std::ffi::OsString {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let mut dirs: Vec<PathBuf> = cargo_home
        .map(|home| home.join("bin"))
        .into_iter()
        .collect();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// Whether we run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a command to completion; fails unless it exits with 0.
pub fn run(command: &mut Command) -> Result<()> {
    eprintln!("xtask: running {}", describe(command));
    let status = command
        .status()
        .with_context(|| format!("cannot start {}", describe(command)))?;
    if !status.success() {
        bail!("{} failed: {status}", describe(command));
    }
    Ok(())
}

/// Runs a command and returns its stdout, or None if it cannot start or fails.
pub fn output(command: &mut Command) -> Option<String> {
    let out = command.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}
