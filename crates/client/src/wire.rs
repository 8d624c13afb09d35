//! Lenient wire numbers. Our server sends money and counts as JSON numbers; the reference
//! system's (node-pg) sends `DECIMAL` and `SUM(...)` results as strings ("1299.99", "42") and
//! dates as midnight timestamps. Both parse here, money exactly (no float in the string path).

use serde::{Deserialize, Deserializer};

use flashsale_core::money::Money;

/// A money amount given as a JSON number or a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireMoney(pub Money);

impl<'de> Deserialize<'de> for WireMoney {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            // Two-decimal amounts: the nearest cent is the exact amount.
            Raw::Number(x) if x.is_finite() => {
                Ok(WireMoney(Money::from_cents((x * 100.0).round() as i64)))
            }
            Raw::Number(_) => Err(serde::de::Error::custom("money is not a finite number")),
            Raw::Text(s) => parse_decimal_cents(&s)
                .map(|c| WireMoney(Money::from_cents(c)))
                .ok_or_else(|| {
                    serde::de::Error::custom(format!("'{s}' is not an amount of money"))
                }),
        }
    }
}

/// A whole number given as a JSON number or a digit string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireInt(pub i64);

impl<'de> Deserialize<'de> for WireInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(WireInt(n)),
            Raw::Text(s) => s
                .trim()
                .parse()
                .map(WireInt)
                .map_err(|_| serde::de::Error::custom(format!("'{s}' is not a whole number"))),
        }
    }
}

/// `YYYY-MM-DD` from a date or a timestamp that starts with one.
pub fn day(s: &str) -> String {
    s.get(..10)
        .filter(|d| d.as_bytes().get(4) == Some(&b'-'))
        .unwrap_or(s)
        .to_string()
}

/// "1299.99" -> 129999, exactly; more than two decimals round half up.
fn parse_decimal_cents(s: &str) -> Option<i64> {
    let t = s.trim();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let digit = |i: usize| frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
    let mut cents = whole
        .checked_mul(100)?
        .checked_add(digit(0) * 10 + digit(1))?;
    if digit(2) >= 5 {
        cents += 1;
    }
    Some(if negative { -cents } else { cents })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_from_numbers_and_strings_is_exact() {
        for (json, cents) in [
            ("1299.99", 129_999),
            ("\"1299.99\"", 129_999),
            ("\"29.9\"", 2_990),
            ("\"5\"", 500),
            ("0.1", 10),
            ("\"0.005\"", 1),
        ] {
            let m: WireMoney = serde_json::from_str(json).expect(json);
            assert_eq!(m.0.cents(), cents, "{json}");
        }
        assert!(serde_json::from_str::<WireMoney>("\"12,50\"").is_err());
        assert!(serde_json::from_str::<WireMoney>("\"\"").is_err());
    }

    #[test]
    fn counts_from_numbers_and_strings() {
        assert_eq!(serde_json::from_str::<WireInt>("42").expect("n").0, 42);
        assert_eq!(serde_json::from_str::<WireInt>("\"42\"").expect("s").0, 42);
        assert!(serde_json::from_str::<WireInt>("\"4.2\"").is_err());
    }

    #[test]
    fn days_from_dates_and_timestamps() {
        assert_eq!(day("2026-11-24"), "2026-11-24");
        assert_eq!(day("2026-11-24T00:00:00.000Z"), "2026-11-24");
    }
}
