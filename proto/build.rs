//! Generates the Rust types from the `.proto` files with protoc
//! (Debian's protobuf-compiler; `cargo xtask setup` installs it).
fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=proto");
    prost_build::compile_protos(&["proto/sensor/v1/events.proto"], &["proto"])
}
