//! The process table (to be written).
