//! Generates the Rust types from the `.proto` files with protoc
//! (Debian's protobuf-compiler; `cargo xtask setup` installs it).
fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=proto");
    prost_build::Config::new()
        // BTreeMaps: a finding's fields and labels encode and print in one order,
        // so equal findings are equal bytes (tests, deduplication, diffs).
        .btree_map(["."])
        .compile_protos(
            &[
                "proto/sensor/v1/events.proto",
                "proto/sensor/v1/findings.proto",
            ],
            &["proto"],
        )
}
