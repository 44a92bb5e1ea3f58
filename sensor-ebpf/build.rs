//! Rebuild the eBPF object when the `bpf-linker` binary changes: cargo cannot see
//! that dependency by itself. And tell bpf-linker how to lower memory intrinsics.
fn main() {
    match which::which("bpf-linker") {
        Ok(path) => println!("cargo:rerun-if-changed={}", path.display()),
        Err(err) => println!(
            "cargo:warning=bpf-linker not found ({err}); run `cargo xtask setup` to install it"
        ),
    }
    // By default bpf-linker asks LLVM to expand memcpy "in order", which turns
    // off LLVM's own expansion of small memsets and memcpys: every zeroed struct
    // or copied key then calls aya-ebpf's `memset`, a loop of one-byte stores
    // (an unwatched open zeroed 229 bytes that way, half of its program's time).
    // Without the option LLVM writes them as a few word-wide stores.
    println!("cargo:rustc-link-arg-bins=--disable-expand-memcpy-in-order");
}
