//! The replicas' rules (`dashboard --api A,B,C`): a replica out of reach is critical, one whose
//! purchase errors over the last minute pass the error-rate threshold too (the same
//! `error_rate_percent` as the server's and the bursts'), and one that answers but is not ready
//! (draining, or it reports a dependency down) a warning. Each alert names its replica. Pure;
//! [`crate::alerts::evaluate`] calls it with the rest.

use super::alert::{Alert, Severity};

/// One replica as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReplicaView<'a> {
    /// As shown (credentials masked).
    pub url: &'a str,
    /// Why it is out of reach, while it is.
    pub down: Option<&'a str>,
    /// `/api/ready` answered 503.
    pub not_ready: bool,
    /// (errors, purchases) over its last minute.
    pub last_minute: Option<(u64, u64)>,
}

/// The alerts of `replicas`; `error_rate_percent` is the threshold.
pub fn evaluate(replicas: &[ReplicaView<'_>], error_rate_percent: f64) -> Vec<Alert> {
    // Those down first: the banner's first alert is the worst news.
    let mut out: Vec<Alert> = replicas
        .iter()
        .filter_map(|r| {
            let why = r.down?;
            Some(Alert::new(
                format!("replica-down-{}", r.url),
                Severity::Critical,
                format!("replica {} down: {why}", r.url),
                format!("replica {} answers again", r.url),
            ))
        })
        .collect();
    for r in replicas.iter().filter(|r| r.down.is_none()) {
        if let Some((errors, total)) = r.last_minute.filter(|(_, total)| *total > 0) {
            let rate = errors as f64 * 100.0 / total as f64;
            if rate > error_rate_percent {
                out.push(Alert::new(
                    format!("replica-errors-{}", r.url),
                    Severity::Critical,
                    format!(
                        "replica {}: purchase errors {rate:.1}% over the last minute (above \
                         {error_rate_percent:.0}%)",
                        r.url
                    ),
                    format!(
                        "replica {}: purchase errors no longer above {error_rate_percent:.0}%",
                        r.url
                    ),
                ));
            }
        }
        if r.not_ready {
            out.push(Alert::new(
                format!("replica-not-ready-{}", r.url),
                Severity::Warning,
                format!(
                    "replica {} not ready (/api/ready 503: draining or a dependency down)",
                    r.url
                ),
                format!("replica {} ready again", r.url),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(url: &str, last_minute: Option<(u64, u64)>) -> ReplicaView<'_> {
        ReplicaView {
            url,
            down: None,
            not_ready: false,
            last_minute,
        }
    }

    #[test]
    fn a_replica_down_or_erring_is_an_alert_naming_it() {
        assert!(
            evaluate(&[up("http://a:1", Some((5, 100)))], 5.0).is_empty(),
            "5% is not above 5%"
        );
        let alerts = evaluate(
            &[
                up("http://a:1", Some((6, 100))),
                ReplicaView {
                    down: Some("API unreachable: connection refused by b:2"),
                    ..up("http://b:2", Some((90, 100)))
                },
                ReplicaView {
                    not_ready: true,
                    ..up("http://c:3", Some((0, 0)))
                },
            ],
            5.0,
        );
        let keys: Vec<&str> = alerts.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "replica-down-http://b:2",
                "replica-errors-http://a:1",
                "replica-not-ready-http://c:3"
            ]
        );
        assert_eq!(
            alerts[1].message,
            "replica http://a:1: purchase errors 6.0% over the last minute (above 5%)"
        );
        assert_eq!(
            alerts[0].message,
            "replica http://b:2 down: API unreachable: connection refused by b:2"
        );
        assert_eq!(alerts[0].severity, Severity::Critical);
        assert_eq!(alerts[2].severity, Severity::Warning);
        // The threshold is the configured one.
        assert!(evaluate(&[up("http://a:1", Some((6, 100)))], 10.0).is_empty());
    }
}
