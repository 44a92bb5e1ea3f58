//! The evaluator behind the plan: a condition read as a formula over one kind of
//! event, giving an over-approximation of the events it can match.
//!
//! Each domain (paths for opens, ports for network events, nothing more for the
//! other kinds) says what one comparison means for an event of a fixed *shape*
//! (its `evt.type`, and for opens its access mode, `O_PATH` and result). `not` is
//! pushed down to the comparisons rather than computed as a complement: the
//! complement of "under /etc/" is not a set of prefixes, so a negated comparison
//! narrows nothing unless the shape decides it outright.

use crate::rules::Expr;

/// A set of events, over-approximated: the bottom is "none", the top "all".
pub(super) trait Lattice: Clone {
    /// No event.
    fn nothing() -> Self;
    /// Every event.
    fn all() -> Self;
    /// Whether this is [`Lattice::nothing`].
    fn is_nothing(&self) -> bool;
    /// Events in either (union).
    fn join(self, other: Self) -> Self;
    /// Events in both, or a sound superset of them (intersection).
    fn meet(self, other: Self) -> Self;
}

/// What one comparison (or `exists`) is for every event of a shape.
pub(super) enum Atom<V> {
    /// True for every event of the shape, or false for every one.
    Decided(bool),
    /// True at most for the events in this set; its negation may hold anywhere.
    Within(V),
    /// False at most for the events in this set (`fd.name != x`): its negation
    /// holds only there.
    Outside(V),
    /// Anything: true or false, for any event.
    Unknown,
}

/// The events of one shape that `expr` can match when `positive`, or fail to
/// match when not: never fewer than the real ones. `atom` interprets the leaves.
pub(super) fn eval<V: Lattice>(expr: &Expr, positive: bool, atom: &dyn Fn(&Expr) -> Atom<V>) -> V {
    match expr {
        // De Morgan: `not (a and b)` is `not a or not b`.
        Expr::And(xs) if positive => meet_all(xs, positive, atom),
        Expr::Or(xs) if !positive => meet_all(xs, positive, atom),
        Expr::And(xs) | Expr::Or(xs) => xs
            .iter()
            .fold(V::nothing(), |acc, x| acc.join(eval(x, positive, atom))),
        Expr::Not(x) => eval(x, !positive, atom),
        Expr::Compare { .. } | Expr::Exists(_) => match atom(expr) {
            Atom::Decided(holds) if holds == positive => V::all(),
            Atom::Decided(_) => V::nothing(),
            Atom::Within(set) if positive => set,
            Atom::Outside(set) if !positive => set,
            Atom::Within(_) | Atom::Outside(_) | Atom::Unknown => V::all(),
        },
    }
}

/// The meet of every operand, stopping at the first that leaves nothing.
fn meet_all<V: Lattice>(xs: &[Expr], positive: bool, atom: &dyn Fn(&Expr) -> Atom<V>) -> V {
    let mut acc = V::all();
    for x in xs {
        acc = acc.meet(eval(x, positive, atom));
        if acc.is_nothing() {
            break;
        }
    }
    acc
}

/// Whether any event of the shape can match: the lattice of kinds that have no
/// kernel filter of their own.
impl Lattice for bool {
    fn nothing() -> Self {
        false
    }
    fn all() -> Self {
        true
    }
    fn is_nothing(&self) -> bool {
        !*self
    }
    fn join(self, other: Self) -> Self {
        self || other
    }
    fn meet(self, other: Self) -> Self {
        self && other
    }
}
