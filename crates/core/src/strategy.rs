//! The ways a purchase can be carried out against the database, and the hook that widens the
//! unsafe one's race for demonstrations.

mod race;

pub use race::RaceHook;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a purchase is applied. Every strategy but [`Strategy::Naive`] never oversells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// One connection: BEGIN, SELECT ... FOR UPDATE, guarded UPDATE, INSERT, COMMIT.
    RowLock,
    /// One statement: guarded decrement and order insert together.
    Atomic,
    /// UNSAFE, for demonstrations: read, then write an absolute value with no lock.
    Naive,
    /// Concurrent purchases of one product gathered while the previous transaction on it is in
    /// flight, and applied together: one guarded decrement and one multi-row insert (a batch
    /// larger than the stock locks the row first, to allocate it). The default: measured in
    /// BENCHMARKS.md, within a few percent of `atomic` for a lone buyer and an order of
    /// magnitude faster under contention.
    #[default]
    Batched,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [
        Strategy::Batched,
        Strategy::Atomic,
        Strategy::RowLock,
        Strategy::Naive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RowLock => "row-lock",
            Strategy::Atomic => "atomic",
            Strategy::Naive => "naive",
            Strategy::Batched => "batched",
        }
    }

    /// Whether the strategy can oversell. Every view that shows or accepts an unsafe strategy
    /// says so.
    pub fn is_unsafe(self) -> bool {
        matches!(self, Strategy::Naive)
    }

    /// The name with an `UNSAFE` warning where one is due, for labels.
    pub fn label(self) -> String {
        if self.is_unsafe() {
            format!("{} (UNSAFE: oversells)", self.as_str())
        } else {
            self.as_str().to_string()
        }
    }

    /// The next strategy in display order, for cycling with a key.
    pub fn next(self) -> Strategy {
        let i = Strategy::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Strategy::ALL[(i + 1) % Strategy::ALL.len()]
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a strategy name we do not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown strategy '{0}' (expected one of: batched, atomic, row-lock, naive [UNSAFE])")]
pub struct UnknownStrategy(pub String);

impl FromStr for Strategy {
    type Err = UnknownStrategy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "row-lock" | "rowlock" | "row_lock" => Ok(Strategy::RowLock),
            "atomic" => Ok(Strategy::Atomic),
            "naive" => Ok(Strategy::Naive),
            "batched" | "batch" => Ok(Strategy::Batched),
            _ => Err(UnknownStrategy(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Strategy::ALL {
            assert_eq!(s.as_str().parse::<Strategy>(), Ok(s));
        }
    }

    #[test]
    fn only_naive_is_unsafe_and_says_so() {
        assert!(Strategy::Naive.is_unsafe());
        assert!(Strategy::Naive.label().contains("UNSAFE"));
        assert!(!Strategy::Atomic.label().contains("UNSAFE"));
        assert!(!Strategy::RowLock.is_unsafe());
    }

    #[test]
    fn unknown_names_are_refused_with_the_choices() {
        let err = "optimistic".parse::<Strategy>().expect_err("must fail");
        assert!(err.to_string().contains("batched, atomic, row-lock, naive"));
    }

    #[test]
    fn next_cycles_through_all() {
        let mut s = Strategy::RowLock;
        for _ in 0..Strategy::ALL.len() {
            s = s.next();
        }
        assert_eq!(s, Strategy::RowLock);
        assert_eq!(Strategy::Naive.next(), Strategy::Batched);
    }
}
