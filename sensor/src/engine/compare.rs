//! Comparisons compiled once per rule: the right side parsed for the field's kind
//! (numbers, booleans, addresses, glob patterns, hashed sets), so that testing an
//! event does no parsing and no allocation.

use std::{collections::HashSet, net::IpAddr};

use super::{access::Kind, value::Val};
use crate::event::facts::cap_number;
use crate::rules::{CmpOp, Value};

/// Lists longer than this are hashed; shorter ones are scanned (faster when short).
const SCAN_MAX: usize = 8;

/// A set of strings to look values up in.
#[derive(Clone, Debug)]
pub enum StrSet {
    /// A few: compared one by one.
    Few(Box<[Box<str>]>),
    /// Many: hashed.
    Many(HashSet<Box<str>>),
}

impl StrSet {
    fn new(items: &[String]) -> Self {
        if items.len() <= SCAN_MAX {
            Self::Few(items.iter().map(|s| s.as_str().into()).collect())
        } else {
            Self::Many(items.iter().map(|s| s.as_str().into()).collect())
        }
    }

    fn contains(&self, s: &str) -> bool {
        match self {
            Self::Few(items) => items.iter().any(|i| &**i == s),
            Self::Many(items) => items.contains(s),
        }
    }
}

/// A string test.
#[derive(Clone, Debug)]
pub enum StrTest {
    /// Equal.
    Eq(Box<str>),
    /// One of these (`in`, `intersects`).
    In(StrSet),
    /// Contains.
    Contains(Box<str>),
    /// Contains, ASCII case ignored (the needle is lowercased).
    IContains(Box<str>),
    /// Starts with.
    StartsWith(Box<str>),
    /// Ends with.
    EndsWith(Box<str>),
    /// Matches a shell pattern (`*` also matches `/`, as in Falco).
    Glob(glob::Pattern, glob::MatchOptions),
    /// Is one of these paths or below it.
    PMatch(Box<[Box<str>]>),
    /// Matches a regular expression as a whole.
    Regex(regex::Regex),
    /// Contains these bytes.
    BContains(Box<[u8]>),
    /// Starts with these bytes.
    BStartsWith(Box<[u8]>),
}

impl StrTest {
    fn holds(&self, s: &str) -> bool {
        match self {
            Self::Eq(v) => s == &**v,
            Self::In(set) => set.contains(s),
            Self::Contains(v) => s.contains(&**v),
            Self::IContains(v) => contains_ignore_ascii_case(s.as_bytes(), v.as_bytes()),
            Self::StartsWith(v) => s.starts_with(&**v),
            Self::EndsWith(v) => s.ends_with(&**v),
            Self::Glob(p, options) => p.matches_with(s, *options),
            Self::PMatch(prefixes) => prefixes.iter().any(|p| below(s, p)),
            Self::Regex(re) => re.is_match(s),
            Self::BContains(b) => b.is_empty() || s.as_bytes().windows(b.len()).any(|w| w == &**b),
            Self::BStartsWith(b) => s.as_bytes().starts_with(b),
        }
    }
}

/// `path` is `dir` or below it (Falco's `pmatch`).
fn below(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    match path.strip_prefix(dir) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || dir.is_empty(),
        None => false,
    }
}

fn contains_ignore_ascii_case(hay: &[u8], lower_needle: &[u8]) -> bool {
    if lower_needle.is_empty() {
        return true;
    }
    hay.windows(lower_needle.len()).any(|w| {
        w.iter()
            .zip(lower_needle)
            .all(|(a, b)| a.to_ascii_lowercase() == *b)
    })
}

/// An address range: `10.0.0.0/8`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse().ok()?, p.parse().ok()?),
            None => {
                let addr: IpAddr = s.parse().ok()?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if matches!(addr, IpAddr::V4(_)) {
            32
        } else {
            128
        };
        (prefix <= max).then_some(Self { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer of an IPv6 socket shows as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A numeric test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumOp {
    /// `=`.
    Eq,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// A compiled comparison of a field with a constant.
#[derive(Clone, Debug)]
pub enum Compare {
    /// A string (or each item of a list: any may match).
    Str(StrTest),
    /// A number against one value (`=`, `<`, ...) or any of several (`in`).
    Num(NumOp, Box<[i128]>),
    /// A boolean.
    Bool(bool),
    /// An address in one of these ranges.
    Ip(Box<[Net]>),
    /// A capability set holds every capability of this mask (`contains`).
    CapsHave(u64),
    /// A capability set is exactly this one (`=`).
    CapsAre(u64),
}

impl Compare {
    /// Whether `v` passes; `None` when the field has no value (then no
    /// comparison holds, not even `!=`, as in Falco).
    pub fn holds(&self, v: Val<'_>) -> Option<bool> {
        Some(match (self, v) {
            (_, Val::Absent) => return None,
            (Self::Str(t), Val::Str(s)) => t.holds(s),
            (Self::Str(t), Val::List(list)) => list.iter().any(|s| t.holds(s)),
            (Self::Num(op, rhs), v) => {
                let n = match v {
                    Val::Uint(u) => i128::from(u),
                    Val::Int(i) => i128::from(i),
                    _ => return Some(false),
                };
                rhs.iter().any(|&r| match op {
                    NumOp::Eq => n == r,
                    NumOp::Lt => n < r,
                    NumOp::Le => n <= r,
                    NumOp::Gt => n > r,
                    NumOp::Ge => n >= r,
                })
            }
            (Self::Bool(b), Val::Bool(v)) => *b == v,
            (Self::Ip(nets), Val::Ip(ip)) => nets.iter().any(|n| n.contains(ip)),
            (Self::Ip(nets), Val::IpPair(a, b)) => {
                nets.iter().any(|n| n.contains(a) || n.contains(b))
            }
            (Self::CapsHave(mask), Val::Caps(set)) => set & mask == *mask,
            (Self::CapsAre(mask), Val::Caps(set)) => set == *mask,
            _ => false,
        })
    }
}

/// Why a comparison cannot be compiled.
pub type CompareError = String;

fn items(value: &Value) -> Result<&[String], CompareError> {
    match value {
        Value::Str(s) => Ok(std::slice::from_ref(s)),
        Value::List(items) => Ok(items),
        Value::Field(_) => Err("a field is not a constant".into()),
    }
}

fn one(op: CmpOp, value: &Value) -> Result<&str, CompareError> {
    match value {
        Value::Str(s) => Ok(s),
        _ => Err(format!("`{}` takes one value, not a list", op.as_str())),
    }
}

fn hex(s: &str) -> Result<Box<[u8]>, CompareError> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return Err(format!("{s:?} is not hex bytes"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(|| format!("{s:?} is not hex bytes"))
        })
        .collect()
}

/// Compiles `field op value` for a field of `kind`. Returns the comparison and
/// whether its result is negated (`!=`).
pub fn compile(kind: Kind, op: CmpOp, value: &Value) -> Result<(Compare, bool), CompareError> {
    let negate = op == CmpOp::Ne;
    let wrong = || {
        Err(format!(
            "operator `{}` does not apply to a {} field",
            op.as_str(),
            kind_name(kind)
        ))
    };
    let compare = match kind {
        Kind::Str | Kind::List => Compare::Str(str_test(op, value)?),
        Kind::Uint | Kind::Int => {
            let num_op = match op {
                CmpOp::Eq | CmpOp::Ne | CmpOp::In => NumOp::Eq,
                CmpOp::Lt => NumOp::Lt,
                CmpOp::Le => NumOp::Le,
                CmpOp::Gt => NumOp::Gt,
                CmpOp::Ge => NumOp::Ge,
                _ => return wrong(),
            };
            let values = if op == CmpOp::In {
                items(value)?
            } else {
                std::slice::from_ref(match value {
                    Value::Str(s) => s,
                    _ => return Err(format!("`{}` takes one number", op.as_str())),
                })
            };
            let numbers = values
                .iter()
                .map(|s| {
                    s.trim()
                        .parse::<i128>()
                        .map_err(|_| format!("{s:?} is not a number"))
                })
                .collect::<Result<_, _>>()?;
            Compare::Num(num_op, numbers)
        }
        Kind::Bool => {
            if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return wrong();
            }
            let s = one(op, value)?;
            match s.trim().to_ascii_lowercase().as_str() {
                "true" => Compare::Bool(true),
                "false" => Compare::Bool(false),
                _ => return Err(format!("{s:?} is not true or false")),
            }
        }
        Kind::Caps => {
            let mask = |s: &str| {
                s.split([' ', '|', ','])
                    .filter(|n| !n.is_empty())
                    .try_fold(0u64, |mask, n| {
                        cap_number(n)
                            .map(|bit| mask | (1 << bit))
                            .ok_or_else(|| format!("{n:?} is not a capability"))
                    })
            };
            match op {
                CmpOp::Contains | CmpOp::IContains => Compare::CapsHave(mask(one(op, value)?)?),
                CmpOp::Eq | CmpOp::Ne => Compare::CapsAre(mask(one(op, value)?)?),
                _ => return wrong(),
            }
        }
        Kind::Ip => {
            if !matches!(op, CmpOp::Eq | CmpOp::Ne | CmpOp::In) {
                return wrong();
            }
            let nets = items(value)?
                .iter()
                .map(|s| Net::parse(s.trim()).ok_or_else(|| format!("{s:?} is not an address")))
                .collect::<Result<_, _>>()?;
            Compare::Ip(nets)
        }
    };
    Ok((compare, negate))
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "string",
        Kind::Uint | Kind::Int => "number",
        Kind::Bool => "boolean",
        Kind::Ip => "address",
        Kind::List => "list",
        Kind::Caps => "capability set",
    }
}

fn str_test(op: CmpOp, value: &Value) -> Result<StrTest, CompareError> {
    let glob = |s: &str, case_sensitive| {
        glob::Pattern::new(s)
            .map(|p| {
                let options = glob::MatchOptions {
                    case_sensitive,
                    require_literal_separator: false,
                    require_literal_leading_dot: false,
                };
                StrTest::Glob(p, options)
            })
            .map_err(|e| format!("bad glob {s:?}: {e}"))
    };
    Ok(match op {
        CmpOp::Eq | CmpOp::Ne => StrTest::Eq(one(op, value)?.into()),
        CmpOp::In | CmpOp::Intersects => StrTest::In(StrSet::new(items(value)?)),
        CmpOp::Contains => StrTest::Contains(one(op, value)?.into()),
        CmpOp::IContains => StrTest::IContains(one(op, value)?.to_ascii_lowercase().into()),
        CmpOp::StartsWith => StrTest::StartsWith(one(op, value)?.into()),
        CmpOp::EndsWith => StrTest::EndsWith(one(op, value)?.into()),
        CmpOp::Glob => glob(one(op, value)?, true)?,
        CmpOp::IGlob => glob(one(op, value)?, false)?,
        CmpOp::PMatch => StrTest::PMatch(items(value)?.iter().map(|s| s.as_str().into()).collect()),
        CmpOp::Regex => {
            let pattern = one(op, value)?;
            // Bounded: a hostile pattern must not take the agent's memory.
            let re = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("bad regex {pattern:?}: {e}"))?;
            StrTest::Regex(re)
        }
        CmpOp::BContains => StrTest::BContains(hex(one(op, value)?)?),
        CmpOp::BStartsWith => StrTest::BStartsWith(hex(one(op, value)?)?),
        CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
            return Err(format!(
                "operator `{}` does not apply to a string field",
                op.as_str()
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(kind: Kind, op: CmpOp, value: Value, v: Val<'_>) -> Option<bool> {
        let (c, negate) = compile(kind, op, &value).expect("compiles");
        c.holds(v).map(|b| b != negate)
    }

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    fn list(x: &[&str]) -> Value {
        Value::List(x.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn string_operators_follow_falco() {
        let k = Kind::Str;
        let etc = Val::Str("/etc/shadow");
        assert_eq!(holds(k, CmpOp::Eq, s("/etc/shadow"), etc), Some(true));
        assert_eq!(holds(k, CmpOp::Ne, s("/etc/shadow"), etc), Some(false));
        assert_eq!(holds(k, CmpOp::Ne, s("x"), Val::Absent), None);
        assert_eq!(holds(k, CmpOp::StartsWith, s("/etc/"), etc), Some(true));
        assert_eq!(holds(k, CmpOp::EndsWith, s("shadow"), etc), Some(true));
        assert_eq!(holds(k, CmpOp::Contains, s("c/sh"), etc), Some(true));
        assert_eq!(holds(k, CmpOp::IContains, s("SHADOW"), etc), Some(true));
        assert_eq!(holds(k, CmpOp::Glob, s("/etc/*ow"), etc), Some(true));
        assert_eq!(holds(k, CmpOp::Glob, s("/*"), etc), Some(true));
        assert_eq!(holds(k, CmpOp::IGlob, s("/ETC/*"), etc), Some(true));
        assert_eq!(holds(k, CmpOp::PMatch, list(&["/etc"]), etc), Some(true));
        assert_eq!(holds(k, CmpOp::PMatch, list(&["/etc/"]), etc), Some(true));
        assert_eq!(
            holds(k, CmpOp::PMatch, list(&["/et"]), etc),
            Some(false),
            "pmatch is by path component"
        );
        assert_eq!(
            holds(k, CmpOp::PMatch, list(&["/etc/shadow"]), etc),
            Some(true)
        );
        assert_eq!(holds(k, CmpOp::Regex, s("/etc/.*"), etc), Some(true));
        assert_eq!(holds(k, CmpOp::Regex, s("etc"), etc), Some(false));
        assert_eq!(holds(k, CmpOp::BContains, s("2f657463"), etc), Some(true));
        assert_eq!(holds(k, CmpOp::BStartsWith, s("2f"), etc), Some(true));
        let many: Vec<String> = (0..100).map(|i| format!("/f{i}")).collect();
        assert_eq!(
            holds(k, CmpOp::In, Value::List(many), Val::Str("/f42")),
            Some(true)
        );
        assert_eq!(
            holds(k, CmpOp::In, list(&["a", "b"]), Val::Str("c")),
            Some(false)
        );
        assert!(compile(k, CmpOp::Lt, &s("3")).is_err());
        assert!(compile(k, CmpOp::Regex, &s("(")).is_err());
        assert!(compile(k, CmpOp::BContains, &s("zz")).is_err());
        assert!(compile(k, CmpOp::Eq, &list(&["a"])).is_err());
    }

    #[test]
    fn numbers_booleans_and_addresses() {
        assert_eq!(
            holds(Kind::Uint, CmpOp::Lt, s("1024"), Val::Uint(80)),
            Some(true)
        );
        assert_eq!(
            holds(Kind::Int, CmpOp::Eq, s("-1"), Val::Int(-1)),
            Some(true)
        );
        assert_eq!(
            holds(
                Kind::Uint,
                CmpOp::In,
                list(&["22", "4444"]),
                Val::Uint(4444)
            ),
            Some(true)
        );
        assert!(compile(Kind::Uint, CmpOp::Eq, &s("x")).is_err());
        assert!(compile(Kind::Uint, CmpOp::Contains, &s("1")).is_err());
        assert_eq!(
            holds(Kind::Bool, CmpOp::Eq, s("TRUE"), Val::Bool(true)),
            Some(true)
        );
        assert!(compile(Kind::Bool, CmpOp::Eq, &s("yes")).is_err());
        let ip = |s: &str| Val::Ip(s.parse().expect("ip"));
        assert_eq!(
            holds(Kind::Ip, CmpOp::In, list(&["10.0.0.0/8"]), ip("10.1.2.3")),
            Some(true)
        );
        assert_eq!(
            holds(Kind::Ip, CmpOp::Eq, s("10.0.0.0/8"), ip("::ffff:10.1.2.3")),
            Some(true)
        );
        assert_eq!(
            holds(Kind::Ip, CmpOp::Eq, s("fd00::/8"), ip("fd12::1")),
            Some(true)
        );
        assert_eq!(
            holds(Kind::Ip, CmpOp::Ne, s("1.2.3.4"), ip("1.2.3.4")),
            Some(false)
        );
        assert_eq!(
            holds(Kind::Ip, CmpOp::Eq, s("0.0.0.0/0"), ip("8.8.8.8")),
            Some(true)
        );
        assert!(compile(Kind::Ip, CmpOp::Eq, &s("10.0.0.0/33")).is_err());
    }
}
