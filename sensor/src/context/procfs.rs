//! Processes running at start, read from /proc (to be written).
