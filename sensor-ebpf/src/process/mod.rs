//! Process lifecycle hooks.

pub mod exec;
