//! The sensor's node agent.
//!
//! Data flows through the modules in this order: [`kernel`] loads the eBPF programs
//! and reads their ring buffer, [`event`] decodes each record into an [`event::Event`],
//! and [`output`] writes it out with the field names of the [`fields`] catalogue.
//! [`cli`] wires them into the `sensor` commands.

pub mod cli;
pub mod config;
pub mod context;
pub mod engine;
pub mod event;
pub mod fields;
pub mod kernel;
pub mod metrics;
pub mod output;
pub mod rules;
pub mod ship;
pub mod spool;
