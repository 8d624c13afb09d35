//! Exact money: integer cents everywhere in Rust. PostgreSQL stores `DECIMAL(10,2)` and SQL casts
//! convert at the boundary; SQLite stores integer cents. No float ever holds a stored amount.

use serde::{Serialize, Serializer};

/// An amount of money in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_cents(cents: i64) -> Self {
        Self(cents)
    }

    pub const fn cents(self) -> i64 {
        self.0
    }

    /// `self * quantity`, saturating rather than wrapping on absurd inputs.
    pub fn times(self, quantity: i64) -> Self {
        Self(self.0.saturating_mul(quantity))
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, rhs: Money) -> Money {
        Money(self.0.saturating_add(rhs.0))
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// JSON carries money as a number, as the reference API does (`"totalPrice": 1299.99`).
/// The conversion happens only here, at the edge: for any amount below 2^53 cents the shortest
/// decimal that round-trips the nearest double to `cents / 100` is exactly the two-decimal
/// amount, so what a client reads is the exact value.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0 as f64 / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_two_decimals() {
        assert_eq!(Money::from_cents(129_999).to_string(), "1299.99");
        assert_eq!(Money::from_cents(5).to_string(), "0.05");
        assert_eq!(Money::from_cents(-250).to_string(), "-2.50");
    }

    #[test]
    fn json_is_the_exact_decimal() {
        for cents in [
            129_999_i64,
            2_999,
            14_999,
            44_999,
            4_999,
            1,
            10,
            12_345_678_901,
        ] {
            let json = serde_json::to_string(&Money::from_cents(cents)).expect("serialize");
            let expected = Money::from_cents(cents).to_string();
            let trimmed = expected.trim_end_matches('0').trim_end_matches('.');
            assert_eq!(json, trimmed, "cents {cents}");
        }
    }

    #[test]
    fn times_multiplies() {
        assert_eq!(Money::from_cents(2_999).times(3), Money::from_cents(8_997));
    }
}
