//! The purchase error rate of a server watched over its API: its purchase counters read from
//! `/metrics` (Prometheus text) and a one-minute window of their growth. Pure: the sampler in
//! [`super::over_http`] does the reading, `--once --json` and the dashboard share the arithmetic.
//!
//! An error is what the burst tally counts as one ([`OutcomeKind::is_error`]: busy and failed,
//! the system's fault); every outcome counts as a purchase, as `Counts::total` does. Sold out,
//! rate limited, not found and invalid are answers, not errors.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

use flashsale_core::purchase::OutcomeKind;

/// The counter `flashsale serve` exports, one series per outcome and strategy.
pub const PURCHASES_METRIC: &str = "flashsale_purchases_total";
/// How far back the rate looks.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Keeps the samples of a counter series that the next reading at `now` is measured against:
/// none after the counters went backwards (`restarted`: a server restarted), else those of
/// the last [`WINDOW`].
pub(crate) fn slide<T>(samples: &mut VecDeque<(Instant, T)>, now: Instant, restarted: bool) {
    if restarted {
        samples.clear();
    }
    while samples
        .front()
        .is_some_and(|(t, _)| now.saturating_duration_since(*t) > WINDOW)
    {
        samples.pop_front();
    }
}

/// Purchases and, among them, errors: running totals, or their growth over a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseCounts {
    pub purchases: u64,
    pub errors: u64,
}

impl PurchaseCounts {
    /// Errors as a percentage of purchases; `None` without purchases.
    pub fn rate_percent(&self) -> Option<f64> {
        (self.purchases > 0).then(|| self.errors as f64 * 100.0 / self.purchases as f64)
    }

    /// (errors, purchases), the order the alert rule takes them in.
    pub fn pair(&self) -> (u64, u64) {
        (self.errors, self.purchases)
    }
}

/// One sample line: the metric name, its labels as written (escapes undone), the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one line of the text exposition format (`name{a="x",b="y"} value [timestamp]`).
/// `None` for comments, blank lines and anything malformed: a line we cannot read is skipped,
/// never guessed at.
pub fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !valid_name(name, true) {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    // Tolerant of a space before the brace, as Prometheus's own reader is.
    if let Some(after) = rest.trim_start().strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    // The value, then at most a timestamp; a name glued to its value (`a{}1`) is malformed.
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next()?)?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>().ok()?;
    }
    if fields.next().is_some() {
        return None;
    }
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Metric names: `[a-zA-Z_:][a-zA-Z0-9_:]*`; label names the same without `:`.
fn valid_name(s: &str, colons: bool) -> bool {
    let ok = |c: char, first: bool| {
        c.is_ascii_alphabetic()
            || c == '_'
            || (colons && c == ':')
            || (!first && c.is_ascii_digit())
    };
    let mut chars = s.chars();
    chars.next().is_some_and(|c| ok(c, true)) && chars.all(|c| ok(c, false))
}

/// Reads `a="x", b="y"}` (the opening brace already taken) into `out`; returns what follows
/// the closing brace.
fn parse_labels<'a>(mut s: &'a str, out: &mut Vec<(String, String)>) -> Option<&'a str> {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Some(rest);
        }
        let name_end = s.find(|c: char| c == '=' || c.is_whitespace())?;
        let name = &s[..name_end];
        if !valid_name(name, false) {
            return None;
        }
        s = s[name_end..].trim_start().strip_prefix('=')?.trim_start();
        s = s.strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    _ => return None,
                },
                (_, c) => value.push(c),
            }
        };
        out.push((name.to_string(), value));
        s = s[end + 1..].trim_start();
        // A comma between labels, and optionally after the last.
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return None;
        }
    }
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

/// The purchase counters summed over every strategy (a server has one, but a restart may change
/// it). `None` when the body holds no readable `flashsale_purchases_total` sample at all: then
/// it is not our server's metrics, or they are broken, and there is nothing to tell.
///
/// A sample without an `outcome` label, or whose value is not a finite count, is skipped like
/// any malformed line. An outcome this version does not know (a newer server's) counts as a
/// purchase but not as an error.
pub fn purchase_counters(body: &str) -> Option<PurchaseCounts> {
    let mut found = false;
    let mut totals = PurchaseCounts::default();
    for sample in body.lines().filter_map(parse_line) {
        if sample.name != PURCHASES_METRIC {
            continue;
        }
        let Some(outcome) = sample.label("outcome") else {
            continue;
        };
        if !sample.value.is_finite() || sample.value < 0.0 {
            continue;
        }
        // Counters are whole; the format writes them as floats. `as` saturates.
        let n = sample.value as u64;
        found = true;
        totals.purchases = totals.purchases.saturating_add(n);
        if OutcomeKind::ALL
            .iter()
            .any(|k| k.is_error() && k.as_str() == outcome)
        {
            totals.errors = totals.errors.saturating_add(n);
        }
    }
    found.then_some(totals)
}

/// What one reading of the counters tells.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// The counters' growth over the window; `None` until two readings are in it.
    pub last_minute: Option<PurchaseCounts>,
    /// From the oldest reading in the window to this one.
    pub span: Duration,
    /// The counters as read: totals since the server started.
    pub totals: PurchaseCounts,
    /// A counter went down since the previous reading: the server restarted and the window
    /// started again from this reading.
    pub restarted: bool,
}

/// The counters as read over the last minute.
#[derive(Debug, Clone, Default)]
pub struct ErrorWindow {
    samples: VecDeque<(Instant, PurchaseCounts)>,
}

impl ErrorWindow {
    /// Records the counters read at `now` and tells their growth since the oldest reading of
    /// the last minute. A counter lower than before means a restart (counters only grow while a
    /// process lives): the earlier readings belong to another process and are dropped, so no
    /// negative or mixed delta is ever reported. (A server that restarted and already counted
    /// past its old totals between two readings cannot be told apart; the rate is then off for
    /// at most one window.)
    pub fn record(&mut self, now: Instant, totals: PurchaseCounts) -> Reading {
        let restarted = self.samples.back().is_some_and(|(_, last)| {
            totals.purchases < last.purchases || totals.errors < last.errors
        });
        slide(&mut self.samples, now, restarted);
        let reading = match self.samples.front() {
            Some((t, first)) => Reading {
                last_minute: Some(PurchaseCounts {
                    purchases: totals.purchases - first.purchases,
                    errors: totals.errors - first.errors,
                }),
                span: now.saturating_duration_since(*t),
                totals,
                restarted,
            },
            None => Reading {
                last_minute: None,
                span: Duration::ZERO,
                totals,
                restarted,
            },
        };
        self.samples.push_back((now, totals));
        reading
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_burst::Counts;

    fn counts(purchases: u64, errors: u64) -> PurchaseCounts {
        PurchaseCounts { purchases, errors }
    }

    const OURS: &str = "\
# HELP flashsale_purchases_total Purchase requests by outcome and strategy.
# TYPE flashsale_purchases_total counter
flashsale_purchases_total{outcome=\"purchased\",strategy=\"atomic\"} 90
flashsale_purchases_total{outcome=\"sold_out\",strategy=\"atomic\"} 40
flashsale_purchases_total{outcome=\"rate_limited_ip\",strategy=\"atomic\"} 7
flashsale_purchases_total{outcome=\"invalid\",strategy=\"atomic\"} 3
flashsale_purchases_total{outcome=\"busy\",strategy=\"atomic\"} 6
flashsale_purchases_total{outcome=\"failed\",strategy=\"atomic\"} 4
flashsale_purchases_total{outcome=\"failed\",strategy=\"batched\"} 0
flashsale_purchase_duration_seconds_bucket{le=\"+Inf\"} 150
flashsale_purchase_duration_seconds_count 150
flashsale_redis_up 1
";

    #[test]
    fn the_servers_own_exposition_is_read() {
        assert_eq!(purchase_counters(OURS), Some(counts(150, 10)));
    }

    #[test]
    fn what_counts_as_an_error_is_what_a_burst_counts() {
        for kind in OutcomeKind::ALL {
            let mut c = Counts::default();
            c.add(kind);
            assert_eq!(c.errors() == 1, kind.is_error(), "{kind:?}");
            let body = format!("{PURCHASES_METRIC}{{outcome=\"{}\"}} 1", kind.as_str());
            let read = purchase_counters(&body).expect("one sample");
            assert_eq!(read, counts(1, c.errors()), "{kind:?}");
        }
    }

    #[test]
    fn label_order_spacing_timestamps_and_other_metrics_do_not_matter() {
        let body = "\
flashsale_purchases_total { strategy = \"row-lock\" , outcome = \"busy\" , } 2 1700000000000
flashsale_purchases_total{outcome=\"purchased\"}\t5
flashsale_purchases_total_created{outcome=\"busy\"} 1700000000
other_purchases_total{outcome=\"busy\"} 99
flashsale_purchases_total{outcome=\"sold_out\",note=\"a \\\"quoted\\\", {braced} \\\\ value\\n\"} 1.0e1
";
        assert_eq!(purchase_counters(body), Some(counts(17, 2)));
        let s = parse_line("m{b=\"x\",a=\"y\"} 3").expect("sample");
        assert_eq!((s.label("a"), s.label("b")), (Some("y"), Some("x")));
    }

    #[test]
    fn malformed_lines_are_skipped_and_never_panic() {
        let bad = [
            "flashsale_purchases_total{outcome=\"busy\"} lots",
            "flashsale_purchases_total{outcome=\"busy\" 3",
            "flashsale_purchases_total{outcome=busy} 3",
            "flashsale_purchases_total{outcome=\"busy} 3",
            "flashsale_purchases_total{outcome=\"bu\\qsy\"} 3",
            "flashsale_purchases_total{outcome=\"busy\"}3",
            "flashsale_purchases_total{outcome=\"busy\"} 3 4 5",
            "flashsale_purchases_total{outcome=\"busy\"} 3 later",
            "flashsale_purchases_total{9outcome=\"busy\"} 3",
            "flashsale_purchases_total{outcome=\"busy\"\"x\"} 3",
            "flashsale_purchases_total{outcome=\"busy\"} -3",
            "flashsale_purchases_total{outcome=\"busy\"} NaN",
            "flashsale_purchases_total{outcome=\"busy\"} +Inf",
            "flashsale_purchases_total{strategy=\"atomic\"} 3",
            "flashsale_purchases_total 3",
            "flashsale purchases_total 3",
            "{outcome=\"busy\"} 3",
            "9flashsale{outcome=\"busy\"} 3",
            "flashsale_purchases_total{",
            "flashsale_purchases_total{outcome=\"",
            "flashsale_purchases_total{outcome=\"\\",
            "flashsale_purchases_total{outcome=\"é🦀\"} 3 ",
            "\u{0}\u{ffff}",
            "",
            "#",
        ];
        for line in bad {
            let body = format!("{line}\n{PURCHASES_METRIC}{{outcome=\"purchased\"}} 1\n");
            let read = purchase_counters(&body);
            // The one good line is still read; the bad one adds no error (the accented
            // outcome is well formed: an unknown outcome, a purchase that is no error).
            assert_eq!(read.map(|c| c.errors), Some(0), "{line:?}");
        }
        assert_eq!(
            purchase_counters("<html><body>Not found</body></html>"),
            None
        );
        assert_eq!(purchase_counters(""), None);
        assert_eq!(
            purchase_counters("# TYPE flashsale_purchases_total counter\n"),
            None
        );
        // Huge and fractional values saturate or truncate; nothing overflows.
        let body = format!(
            "{PURCHASES_METRIC}{{outcome=\"busy\"}} 1e300\n{PURCHASES_METRIC}{{outcome=\"failed\"}} 1e300\n{PURCHASES_METRIC}{{outcome=\"purchased\"}} 2.9"
        );
        assert_eq!(purchase_counters(&body), Some(counts(u64::MAX, u64::MAX)));
    }

    #[test]
    fn an_empty_window_tells_no_rate_then_deltas_of_the_last_minute() {
        let t0 = Instant::now();
        let mut w = ErrorWindow::default();
        let r = w.record(t0, counts(1_000, 10));
        assert_eq!(r.last_minute, None, "one reading: no window yet");
        assert_eq!(r.totals, counts(1_000, 10));
        let r = w.record(t0 + Duration::from_secs(1), counts(1_000, 10));
        assert_eq!(r.last_minute, Some(counts(0, 0)));
        assert_eq!(r.last_minute.and_then(|c| c.rate_percent()), None);
        let r = w.record(t0 + Duration::from_secs(30), counts(1_100, 16));
        assert_eq!(r.last_minute, Some(counts(100, 6)));
        assert_eq!(r.span, Duration::from_secs(30));
        // Past the minute the first readings leave the window.
        w.record(t0 + Duration::from_secs(70), counts(1_200, 16));
        let r = w.record(t0 + Duration::from_secs(95), counts(1_300, 17));
        assert_eq!(
            r.last_minute,
            Some(counts(100, 1)),
            "since the reading at 70 s"
        );
        assert_eq!(r.span, Duration::from_secs(25));
        // A long pause empties it: the next reading starts a new window.
        let r = w.record(t0 + Duration::from_secs(400), counts(5_000, 17));
        assert_eq!(r.last_minute, None);
    }

    #[test]
    fn counters_going_down_mean_a_restart_and_reset_the_window() {
        let t0 = Instant::now();
        let mut w = ErrorWindow::default();
        w.record(t0, counts(500, 50));
        w.record(t0 + Duration::from_secs(1), counts(600, 60));
        let r = w.record(t0 + Duration::from_secs(2), counts(3, 1));
        assert!(r.restarted);
        assert_eq!(r.last_minute, None, "never a negative delta");
        let r = w.record(t0 + Duration::from_secs(3), counts(13, 1));
        assert!(!r.restarted);
        assert_eq!(
            r.last_minute,
            Some(counts(10, 0)),
            "counted from the restart"
        );
        // Errors alone going down is a restart too (purchases grew past the old total).
        let r = w.record(t0 + Duration::from_secs(4), counts(700, 0));
        assert!(r.restarted && r.last_minute.is_none());
    }

    #[test]
    fn the_rate_crosses_the_threshold_as_errors_grow() {
        let t0 = Instant::now();
        let mut w = ErrorWindow::default();
        w.record(t0, counts(0, 0));
        let rate = |r: Reading| r.last_minute.and_then(|c| c.rate_percent());
        let t = crate::Thresholds::default().error_rate_percent;
        assert_eq!(
            rate(w.record(t0 + Duration::from_secs(1), counts(100, 5))),
            Some(5.0)
        );
        assert!(
            rate(w.record(t0 + Duration::from_secs(2), counts(100, 5))).is_some_and(|r| r <= t)
        );
        assert!(rate(w.record(t0 + Duration::from_secs(3), counts(101, 6))).is_some_and(|r| r > t));
    }
}
