//! Empty on purpose: the programs live in the `sensor` binary target (src/main.rs).
//! This library target lets the agent's build script depend on this crate.
#![no_std]
