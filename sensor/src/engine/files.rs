//! Where the rules come from: files and directories given with `--rules` (a
//! directory contributes its `*.yaml` and `*.yml` files in name order, as a
//! mounted ConfigMap does), or the default set shipped in the binary. Changes are
//! noticed by a cheap fingerprint of each file (size, mtime, inode: a ConfigMap
//! update swaps a symlink, which changes the inode), so a reload costs one stat
//! per file until something changes.

use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

/// The default rule set, shipped in the binary: used when no `--rules` is given.
pub const DEFAULT_RULES: &[(&str, &str)] = &[(
    "default/sensor_rules.yaml",
    include_str!("../../../rules/default/sensor_rules.yaml"),
)];

/// Largest rule file read: Falco's whole stable set is about 70 KB.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Why rule files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is too large.
    #[error("{path} is {len} bytes; rule files may be at most {MAX_FILE_BYTES}")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// A directory without rule files.
    #[error("{0} has no *.yaml or *.yml files")]
    EmptyDir(PathBuf),
}

/// What a file looked like when read: a change means a reload.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    path: PathBuf,
    len: u64,
    mtime_ns: i128,
    inode: u64,
}

/// The rule files in force.
#[derive(Clone, Debug)]
pub struct RuleFiles {
    given: Vec<PathBuf>,
    stamps: Vec<Stamp>,
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> FilesError + '_ {
    move |source| FilesError::Read {
        path: path.to_owned(),
        source,
    }
}

impl RuleFiles {
    /// The files and directories `given`, in order; none means the default set.
    pub fn new(given: Vec<PathBuf>) -> Self {
        Self {
            given,
            stamps: Vec::new(),
        }
    }

    /// Whether the shipped default set is in force.
    pub fn is_default(&self) -> bool {
        self.given.is_empty()
    }

    /// The files the paths name now, in load order.
    fn expand(&self) -> Result<Vec<PathBuf>, FilesError> {
        let mut files = Vec::new();
        for path in &self.given {
            let meta = std::fs::metadata(path).map_err(read_err(path))?;
            if !meta.is_dir() {
                files.push(path.clone());
                continue;
            }
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(read_err(path))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                // ConfigMap mounts hold `..data` and `..2026_...` entries: skip
                // hidden names, follow the visible symlinks.
                .filter(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or(".");
                    !name.starts_with('.')
                        && (name.ends_with(".yaml") || name.ends_with(".yml"))
                        && p.is_file()
                })
                .collect();
            if found.is_empty() {
                return Err(FilesError::EmptyDir(path.clone()));
            }
            found.sort();
            files.extend(found);
        }
        Ok(files)
    }

    fn stamps(files: &[PathBuf]) -> Result<Vec<Stamp>, FilesError> {
        files
            .iter()
            .map(|path| {
                let meta = std::fs::metadata(path).map_err(read_err(path))?;
                Ok(Stamp {
                    path: path.clone(),
                    len: meta.len(),
                    mtime_ns: i128::from(meta.mtime()) * 1_000_000_000
                        + i128::from(meta.mtime_nsec()),
                    inode: meta.ino(),
                })
            })
            .collect()
    }

    /// Reads every file: `(name, text)` in load order. Remembers what they looked
    /// like, for [`Self::changed`].
    pub fn read(&mut self) -> Result<Vec<(String, String)>, FilesError> {
        if self.is_default() {
            return Ok(DEFAULT_RULES
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect());
        }
        let files = self.expand()?;
        let stamps = Self::stamps(&files)?;
        let mut texts = Vec::with_capacity(files.len());
        for (path, stamp) in files.iter().zip(&stamps) {
            if stamp.len > MAX_FILE_BYTES {
                return Err(FilesError::TooLarge {
                    path: path.clone(),
                    len: stamp.len,
                });
            }
            let bytes = std::fs::read(path).map_err(read_err(path))?;
            // Non-UTF-8 bytes become U+FFFD: the YAML parser then names the place.
            texts.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
        self.stamps = stamps;
        Ok(texts)
    }

    /// Whether the files changed (or appeared, or went) since the last
    /// [`Self::read`]. An unreadable path counts as a change: the reload that
    /// follows says what is wrong.
    pub fn changed(&self) -> bool {
        if self.is_default() {
            return false;
        }
        match self.expand().and_then(|files| Self::stamps(&files)) {
            Ok(now) => now != self.stamps,
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_read_in_name_order_and_changes_noticed() {
        let dir = std::env::temp_dir().join(format!("sensor-rules-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("..data")).expect("mkdir");
        std::fs::write(dir.join("b.yaml"), "- list: b\n  items: []\n").expect("write");
        std::fs::write(dir.join("a.yml"), "- list: a\n  items: []\n").expect("write");
        std::fs::write(dir.join("notes.txt"), "not rules").expect("write");
        std::fs::write(dir.join(".hidden.yaml"), "x").expect("write");
        let mut files = RuleFiles::new(vec![dir.clone()]);
        let texts = files.read().expect("readable");
        let names: Vec<&str> = texts.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            names[0].ends_with("a.yml") && names[1].ends_with("b.yaml"),
            "{names:?}"
        );
        assert_eq!(names.len(), 2);
        assert!(!files.changed());
        std::fs::write(dir.join("c.yaml"), "- list: c\n  items: []\n").expect("write");
        assert!(files.changed(), "a new file");
        files.read().expect("readable");
        std::fs::write(dir.join("a.yml"), "- list: a\n  items: [x]\n").expect("write");
        assert!(files.changed(), "an edited file");
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert!(files.changed(), "gone");
        assert!(matches!(files.read(), Err(FilesError::Read { .. })));
    }

    #[test]
    fn the_default_set_loads_and_every_rule_runs() {
        let mut files = RuleFiles::new(vec![]);
        let texts = files.read().expect("shipped");
        let named: Vec<(&str, &str)> = texts
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        let set = crate::rules::RuleSet::load(&named).expect("the default rules load");
        let engine = super::super::Engine::new(&set);
        for v in engine.verdicts() {
            assert!(v.loaded, "{v:?}");
        }
        assert!(!engine.rules().is_empty());
    }
}

#[cfg(test)]
#[path = "default_rules_tests.rs"]
mod default_rules_tests;
