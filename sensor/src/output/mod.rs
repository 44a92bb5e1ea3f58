//! Ways events leave the agent.

pub mod json;
