//! The server's purchase error rate as `--once --json` writes it: the growth of its counters
//! between two reads of `/metrics`, or `null`s with the reason there is no rate.

use serde::Serialize;

use super::http_samplers::Missing;
use crate::error_rate::{PurchaseCounts, Reading};

/// The server's purchase error rate in `--once --json`. Every key is always there: `null`s
/// with a `reason` when there is no rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerErrorRate {
    /// Seconds between the two reads of `/metrics`.
    pub window_seconds: Option<f64>,
    /// Purchases the server answered in the window, whatever they came to.
    pub purchases: Option<u64>,
    /// Of those, busy and failed (as the rule counts a burst's errors).
    pub errors: Option<u64>,
    pub rate_percent: Option<f64>,
    /// Why `ratePercent` is `null`; `null` when there is a rate.
    pub reason: Option<String>,
    /// The counters at the second read: totals since the server started.
    pub since_server_start: Option<PurchaseCounts>,
}

impl ServerErrorRate {
    /// The rate a reading tells, or why there is none.
    pub fn of(result: &Result<Reading, Missing>) -> Self {
        let reading = match result {
            Ok(r) => r,
            Err(Missing::Withheld(reason) | Missing::Failed(reason)) => {
                return Self {
                    reason: Some(reason.clone()),
                    ..Self::default()
                };
            }
        };
        let mut out = Self {
            since_server_start: Some(reading.totals),
            ..Self::default()
        };
        match reading.last_minute {
            Some(c) => {
                out.window_seconds = Some(reading.span.as_secs_f64());
                out.purchases = Some(c.purchases);
                out.errors = Some(c.errors);
                out.rate_percent = c.rate_percent();
                if out.rate_percent.is_none() {
                    out.reason = Some("no purchases in the window".into());
                }
            }
            None => {
                out.reason = Some("the server restarted between the two reads of /metrics".into());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_once_rate_is_null_with_a_reason_when_there_is_none() {
        let counts = |purchases, errors| PurchaseCounts { purchases, errors };
        let reading = |last_minute| Reading {
            last_minute,
            span: Duration::from_millis(1_500),
            totals: counts(900, 30),
            restarted: false,
        };
        let r = ServerErrorRate::of(&Ok(reading(Some(counts(40, 3)))));
        assert_eq!(r.window_seconds, Some(1.5));
        assert_eq!((r.purchases, r.errors), (Some(40), Some(3)));
        assert_eq!(r.rate_percent, Some(7.5));
        assert_eq!(r.reason, None);
        assert_eq!(r.since_server_start, Some(counts(900, 30)));
        let r = ServerErrorRate::of(&Ok(reading(Some(counts(0, 0)))));
        assert_eq!(r.purchases, Some(0));
        assert_eq!(r.rate_percent, None);
        assert_eq!(r.reason.as_deref(), Some("no purchases in the window"));
        let r = ServerErrorRate::of(&Ok(Reading {
            restarted: true,
            ..reading(None)
        }));
        assert!(r.reason.is_some_and(|w| w.contains("restarted")));
        let r = ServerErrorRate::of(&Err(Missing::Withheld("the server has no /metrics".into())));
        assert_eq!(r.reason.as_deref(), Some("the server has no /metrics"));
        // Every key is written, `null` when unknown.
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"windowSeconds": null, "purchases": null, "errors": null,
                "ratePercent": null, "reason": "the server has no /metrics",
                "sinceServerStart": null})
        );
    }
}
