//! A made-up `/proc` for the context's unit tests: a directory of its own under
//! the temp dir, removed when dropped.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
};

/// A fake proc root, removed on drop.
pub(crate) struct ProcDir(PathBuf);

impl ProcDir {
    /// A new, empty directory named for `label`, this process and a counter,
    /// so tests running at once never share one.
    pub(crate) fn new(label: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sensor-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp dir");
        Self(dir)
    }

    /// The directory standing for `/proc`.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ProcDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
