//! Ways events leave the agent.

pub mod context;
pub mod json;
