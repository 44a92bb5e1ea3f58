//! Why a rules file was refused. Every error names the file and, where there is one,
//! the item (`rule`, `macro` or `list` and its name) and the line and column, so an
//! operator can fix the file without guessing; the old rules stay in force meanwhile.

use std::fmt;

/// A syntax error inside one condition, before it is placed in its file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    /// Byte offset of the problem in the condition text.
    pub offset: usize,
    /// What is wrong, in words.
    pub message: String,
}

impl SyntaxError {
    /// A syntax error at `offset` of the condition text.
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            message: message.into(),
        }
    }
}

/// Which kind of item an error or warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A `rule:` item.
    Rule,
    /// A `macro:` item.
    Macro,
    /// A `list:` item.
    List,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Rule => "rule",
            Self::Macro => "macro",
            Self::List => "list",
        })
    }
}

/// A rules file (or set of files) could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The file is not valid YAML, or not a sequence of maps.
    #[error("{file}:{line}:{column}: invalid YAML: {source}")]
    Yaml {
        /// The file's name as given to the loader.
        file: String,
        /// 1-based line (0 when the parser did not say).
        line: u64,
        /// 1-based column (0 when the parser did not say).
        column: u64,
        /// The YAML parser's error (boxed: it is large, and errors are rare).
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// An item is malformed: a missing or mistyped field, a bad priority, ...
    #[error("{file}:{line}: {item}: {problem}")]
    Item {
        /// The file.
        file: String,
        /// The item's line.
        line: u64,
        /// The item, e.g. "rule `Foo`" or "item 3" when it has no name.
        item: String,
        /// What is wrong.
        problem: String,
    },
    /// An `append` or `override` item names an item that no earlier file defined.
    #[error(
        "{file}:{line}: {kind} `{name}`: append or override of a {kind} that is not defined earlier"
    )]
    NoSuchItem {
        /// The file.
        file: String,
        /// The item's line.
        line: u64,
        /// The kind of item.
        kind: Kind,
        /// Its name.
        name: String,
    },
    /// A condition does not parse.
    #[error("{file}:{line}:{column}: {kind} `{name}`: condition: {source}")]
    Syntax {
        /// The file.
        file: String,
        /// 1-based line of the problem (see `place.rs` for how it is found).
        line: u64,
        /// 1-based column of the problem.
        column: u64,
        /// The rule or macro.
        kind: Kind,
        /// Its name.
        name: String,
        /// The parser's error.
        #[source]
        source: SyntaxError,
    },
    /// A condition uses a macro or list that is not defined (a field has a dot, so
    /// a bare identifier where a condition is expected can only be a macro).
    #[error("{file}:{line}:{column}: {kind} `{name}`: `{identifier}` is not a defined {what}")]
    Undefined {
        /// The file.
        file: String,
        /// 1-based line of the identifier.
        line: u64,
        /// 1-based column of the identifier.
        column: u64,
        /// The rule or macro using it.
        kind: Kind,
        /// Its name.
        name: String,
        /// What it would have to be: a macro or a list.
        what: Kind,
        /// The unknown identifier.
        identifier: String,
    },
    /// Macros or lists refer to each other in a circle.
    #[error("{file}:{line}: {kind} `{name}`: {kind}s refer to each other in a cycle: {}", cycle.join(" -> "))]
    Cycle {
        /// The file of the item where the cycle was found.
        file: String,
        /// Its line.
        line: u64,
        /// Macro or list.
        kind: Kind,
        /// The item where the cycle was found.
        name: String,
        /// The names in the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// A condition expands into a tree too big or too deep to evaluate safely.
    #[error("{file}:{line}: {kind} `{name}`: condition too large after expanding macros ({what})")]
    TooLarge {
        /// The file.
        file: String,
        /// The item's line.
        line: u64,
        /// Rule or macro.
        kind: Kind,
        /// Its name.
        name: String,
        /// Which limit was hit.
        what: String,
    },
}
