//! Generates the Rust types and the gRPC client and server from the `.proto`
//! files with protoc (Debian's protobuf-compiler; `cargo xtask setup` installs it).
fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=proto");
    let mut config = prost_build::Config::new();
    // BTreeMaps: a finding's fields and labels encode and print in one order,
    // so equal findings are equal bytes (tests, deduplication, diffs).
    config.btree_map(["."]);
    // Slices of the received message rather than copies (see IngestBatch).
    config.bytes([
        ".sensor.v1.IngestBatch.findings",
        ".sensor.v1.FindingHead.ancestry",
    ]);
    tonic_prost_build::configure().compile_with_config(
        config,
        &[
            "proto/sensor/v1/events.proto",
            "proto/sensor/v1/findings.proto",
        ],
        &["proto"],
    )
}
