//! Process lifecycle hooks: exec, fork and exit.

pub mod exec;
pub mod exit;
pub mod facts;
pub mod fork;
