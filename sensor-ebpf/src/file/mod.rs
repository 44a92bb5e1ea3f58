//! File hooks: opens, with paths resolved in the kernel.

pub mod filter;
pub mod open;
pub mod ops;
pub mod path;
pub mod verdict;
