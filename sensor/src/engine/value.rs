//! Field values as the engine reads them: borrowed from the event and its context,
//! never copied, so that testing a rule allocates nothing.

use std::net::IpAddr;

use crate::context::process::Process;

/// One field's value for one event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val<'a> {
    /// The event has no value for the field (Falco's `<NA>`): every comparison
    /// with it is false, `exists` too.
    Absent,
    /// A string.
    Str(&'a str),
    /// An unsigned number.
    Uint(u64),
    /// A signed number.
    Int(i64),
    /// true or false.
    Bool(bool),
    /// An IP address (compared with addresses and CIDR ranges).
    Ip(IpAddr),
    /// Two addresses, client and server: a comparison holds if it holds for
    /// either (`fd.ip`).
    IpPair(IpAddr, IpAddr),
    /// Several strings (`proc.argv`, the ancestors' names).
    List(List<'a>),
    /// A capability set, one bit per capability number.
    Caps(u64),
}

/// A multi-valued field: its items are read in place.
#[derive(Clone, Copy, Debug)]
pub enum List<'a> {
    /// Owned strings, e.g. the arguments.
    Strings(&'a [String]),
    /// Names the kernel reported, e.g. `evt.truncated`.
    Static(&'a [&'static str]),
    /// Something of each ancestor, parent first.
    Ancestors(&'a [&'a Process], fn(&Process) -> &str),
}

impl PartialEq for List<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'a> List<'a> {
    /// The items, in order.
    pub fn iter(&self) -> ListIter<'a> {
        ListIter {
            list: *self,
            next: 0,
        }
    }

    /// Item `i`.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match *self {
            Self::Strings(items) => items.get(i).map(String::as_str),
            Self::Static(items) => items.get(i).copied(),
            Self::Ancestors(procs, pick) => procs.get(i).map(|p| pick(p)),
        }
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        match *self {
            Self::Strings(items) => items.len(),
            Self::Static(items) => items.len(),
            Self::Ancestors(procs, _) => procs.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Iterates a [`List`] without allocating.
#[derive(Clone, Debug)]
pub struct ListIter<'a> {
    list: List<'a>,
    next: usize,
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let item = self.list.get(self.next)?;
        self.next += 1;
        Some(item)
    }
}
