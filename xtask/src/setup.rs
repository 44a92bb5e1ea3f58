//! Installs what building and testing the sensor needs, idempotently: each step
//! checks first and does nothing when its part is in place, so every task can call
//! [`all`] and a fresh clone on a fresh machine needs no manual steps.

use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::cmd::{is_root, output, path_with_cargo_bin, run};

/// The bpf-linker release known to work with the nightly toolchain's LLVM here.
const BPF_LINKER_VERSION: &str = "0.10.0";
/// The LLVM major that bpf-linker 0.10.0 was verified against (nightly 1.97's LLVM).
const VERIFIED_LLVM_MAJOR: u32 = 22;
/// Debian packages the tests need: runc and busybox-static for real containers,
/// protobuf-compiler for the gRPC contract, procps for `ps -o sid` (what the
/// session test compares `proc.sid` with; minimal images lack it).
const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("runc", "runc"),
    ("busybox-static", "busybox"),
    ("protobuf-compiler", "protoc"),
    ("procps", "ps"),
];
/// The target of the images' static binaries.
pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";
/// Debian packages the images need: musl-tools for `musl-gcc`, which compiles the C
/// inside the binaries (SQLite, mimalloc, ring) for musl; buildah builds the images.
const IMAGE_PACKAGES: &[(&str, &str)] = &[("musl-tools", "musl-gcc"), ("buildah", "buildah")];

/// Runs every set-up step.
pub fn all() -> Result<()> {
    nightly_rust_src()?;
    bpf_linker()?;
    debian_packages(DEBIAN_PACKAGES)?;
    Ok(())
}

/// What `cargo xtask manifests` needs beyond [`all`]: kubectl, whose
/// `kustomize` renders the overlays (Debian's `kubectl`, from the Kubernetes or
/// Google Cloud package repository).
pub fn manifests() -> Result<()> {
    debian_packages(&[("kubectl", "kubectl")])
}

/// What `cargo xtask bench` needs beyond [`all`]: the peers it measures against
/// (libbpf-tools' opensnoop and execsnoop, bpftrace), the application workload
/// (redis-server and redis-benchmark) and bpftool for per-program statistics.
pub fn bench() -> Result<()> {
    debian_packages(&[
        ("libbpf-tools", "opensnoop"),
        ("bpftrace", "bpftrace"),
        ("redis-server", "redis-server"),
        ("redis-tools", "redis-benchmark"),
        ("bpftool", "bpftool"),
    ])
}

/// What `cargo xtask images` needs beyond [`all`]: the musl target of the
/// toolchain running xtask, musl-gcc and buildah. Kept apart so that `run` and
/// `trace` on a developer's machine do not install an image builder.
pub fn images() -> Result<()> {
    // No `rustup()` here: RUSTUP_TOOLCHAIN, when set, names the toolchain running
    // xtask, the one whose cargo builds the images.
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed.lines().any(|line| line.trim() == MUSL_TARGET) {
        run(Command::new("rustup").args(["target", "add", MUSL_TARGET])).with_context(|| {
            format!("cannot add the {MUSL_TARGET} target, which builds the images' static binaries")
        })?;
    }
    eprintln!("xtask: setup: {MUSL_TARGET} target: ok");
    debian_packages(IMAGE_PACKAGES)
}

fn rustup() -> Command {
    let mut command = Command::new("rustup");
    // This image sets RUSTUP_AUTO_INSTALL=0; the explicit commands below install.
    command.env_remove("RUSTUP_TOOLCHAIN");
    command
}

fn nightly_rust_src() -> Result<()> {
    let toolchains = output(rustup().args(["toolchain", "list"]))
        .context("rustup is required to build the eBPF programs; install it from your distribution or rustup.rs")?;
    if !toolchains.lines().any(|line| line.starts_with("nightly")) {
        run(rustup().args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]))
        .context("cannot install the nightly toolchain, which builds the eBPF programs")?;
    }
    let installed =
        output(rustup().args(["component", "list", "--toolchain", "nightly", "--installed"]))
            .unwrap_or_default();
    if !installed
        .lines()
        .any(|line| line.trim().starts_with("rust-src"))
    {
        run(rustup().args(["component", "add", "rust-src", "--toolchain", "nightly"]))
            .context("cannot add rust-src to the nightly toolchain (needed for -Z build-std)")?;
    }
    eprintln!("xtask: setup: nightly toolchain with rust-src: ok");
    Ok(())
}

fn llvm_major(rustc_vv: &str) -> Option<u32> {
    let version = rustc_vv
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version: "))?;
    version.split('.').next()?.trim().parse().ok()
}

fn bpf_linker() -> Result<()> {
    let version = output(
        Command::new("bpf-linker")
            .arg("--version")
            .env("PATH", path_with_cargo_bin()),
    )
    .unwrap_or_default();
    if version.split_whitespace().nth(1) != Some(BPF_LINKER_VERSION) {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        run(Command::new(cargo).args([
            "install",
            &format!("bpf-linker@{BPF_LINKER_VERSION}"),
            "--locked",
        ]))
        .context("cannot install bpf-linker, which links the eBPF programs")?;
    }
    let nightly = output(rustup().args(["run", "nightly", "rustc", "-vV"])).unwrap_or_default();
    match llvm_major(&nightly) {
        Some(VERIFIED_LLVM_MAJOR) => {}
        Some(other) => eprintln!(
            "xtask: setup: warning: nightly uses LLVM {other}, but bpf-linker {BPF_LINKER_VERSION} was verified with LLVM {VERIFIED_LLVM_MAJOR}; if linking the eBPF object fails, install a bpf-linker release built for LLVM {other}"
        ),
        None => {
            eprintln!("xtask: setup: warning: cannot tell the nightly toolchain's LLVM version")
        }
    }
    eprintln!("xtask: setup: bpf-linker {BPF_LINKER_VERSION}: ok");
    Ok(())
}

fn debian_packages(packages: &[(&str, &str)]) -> Result<()> {
    let has_dpkg = output(Command::new("dpkg-query").arg("--version")).is_some();
    let missing: Vec<&str> = packages
        .iter()
        .filter(|(package, binary)| {
            if has_dpkg {
                let status =
                    output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]));
                status.as_deref() != Some("install ok installed")
            } else {
                output(Command::new("which").arg(binary)).is_none()
            }
        })
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        eprintln!("xtask: setup: Debian packages: ok");
        return Ok(());
    }
    if !has_dpkg {
        bail!(
            "missing {}: this is not a Debian system, so install them with your package manager",
            missing.join(", ")
        );
    }
    let apt = |args: &[&str]| {
        let mut command = if is_root() {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        command.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        command
    };
    run(&mut apt(&["update", "-q"])).context("apt-get update failed")?;
    let mut install = apt(&["install", "-y", "-q", "--no-install-recommends"]);
    install.args(&missing);
    run(&mut install).with_context(|| {
        format!(
            "cannot install the Debian packages {}; install them by hand with apt-get",
            missing.join(", ")
        )
    })?;
    eprintln!(
        "xtask: setup: Debian packages installed: {}",
        missing.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_llvm_major() {
        let vv = "rustc 1.97.0-nightly\nhost: x86_64-unknown-linux-gnu\nLLVM version: 22.1.4\n";
        assert_eq!(llvm_major(vv), Some(22));
        assert_eq!(llvm_major("rustc 1.97.0\n"), None);
    }
}
