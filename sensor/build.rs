//! Builds the kernel programs (`sensor-ebpf`) for the BPF target with the nightly
//! toolchain and bpf-linker, and leaves the object in OUT_DIR for `include_bytes!`.
//! `cargo xtask setup` installs what this needs.
use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let ebpf_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sensor-ebpf");
    let ebpf_dir = ebpf_dir
        .canonicalize()
        .with_context(|| format!("cannot find the eBPF crate at {}", ebpf_dir.display()))?;
    let root_dir = ebpf_dir
        .to_str()
        .context("the eBPF crate's path is not UTF-8")?;
    aya_build::build_ebpf(
        [aya_build::Package {
            name: "sensor-ebpf",
            root_dir,
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
    .context("building the eBPF programs failed; `cargo xtask setup` installs the nightly rust-src component and bpf-linker")
}
