//! What a deployment's error answers mean to the dashboard: unreachable (in words), still
//! answering, or keeping data to itself (the admin guard; no such endpoint) rather than failing.

use flashsale_client::ClientError;

/// A client error in the dashboard's words (a transport error arrives classified: refused,
/// unknown host, timed out).
pub fn describe(e: &ClientError) -> String {
    match e {
        ClientError::Transport(t) => format!("API unreachable: {t}"),
        other => other.to_string(),
    }
}

/// Whether an error still shows a server answering (any HTTP status, any body): only a
/// transport error means it is out of reach.
pub fn reached(e: &ClientError) -> bool {
    matches!(e, ClientError::Status { .. } | ClientError::Body(_))
}

/// Why the server withholds its statistics, when an error is the admin guard's answer
/// (401/403), rather than a failure.
pub fn withheld(e: &ClientError, have_token: bool) -> Option<String> {
    match e {
        ClientError::Status { status: 401, .. } if have_token => {
            Some("admin token refused (ADMIN_TOKEN differs from the server's)".into())
        }
        ClientError::Status {
            status: 401 | 403, ..
        } => Some("admin token needed (ADMIN_TOKEN)".into()),
        _ => None,
    }
}

/// Why a server without a health endpoint (the reference system's may have none) gives no
/// health report: not a failure.
pub(super) fn no_health(e: &ClientError) -> Option<String> {
    matches!(e, ClientError::Status { status: 404, .. })
        .then(|| "the server has no /api/health".to_string())
}

/// Why the purchase counters cannot be had, when that is the server's answer rather than a
/// failure: the admin guard (as for the statistics), or no `/metrics` at all (the reference
/// system has none).
pub(super) fn metrics_withheld(e: &ClientError, have_token: bool) -> Option<String> {
    match e {
        ClientError::Status { status: 404, .. } => Some("the server has no /metrics".into()),
        _ => withheld(e, have_token),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> ClientError {
        ClientError::Status {
            status,
            message: String::new(),
        }
    }

    #[test]
    fn the_admin_guard_is_a_withheld_source_not_a_failure() {
        assert_eq!(
            withheld(&status(401), false).as_deref(),
            Some("admin token needed (ADMIN_TOKEN)")
        );
        assert_eq!(
            withheld(&status(403), false).as_deref(),
            Some("admin token needed (ADMIN_TOKEN)")
        );
        assert!(withheld(&status(401), true).is_some_and(|w| w.contains("refused")));
        assert_eq!(withheld(&status(500), false), None);
        assert_eq!(
            withheld(&ClientError::Transport("cannot connect".into()), false),
            None
        );
        assert!(describe(&ClientError::Transport("cannot connect".into())).contains("unreachable"));
        assert_eq!(
            no_health(&status(404)).as_deref(),
            Some("the server has no /api/health")
        );
        assert_eq!(no_health(&status(503)), None);
        assert!(reached(&status(404)) && reached(&ClientError::Body("x".into())));
        assert!(!reached(&ClientError::Transport("timed out".into())));
    }

    #[test]
    fn counters_guarded_or_absent_are_withheld_other_errors_are_failures() {
        assert_eq!(
            metrics_withheld(&status(404), false).as_deref(),
            Some("the server has no /metrics")
        );
        assert_eq!(
            metrics_withheld(&status(403), false).as_deref(),
            Some("admin token needed (ADMIN_TOKEN)")
        );
        assert!(metrics_withheld(&status(401), true).is_some_and(|w| w.contains("refused")));
        assert_eq!(metrics_withheld(&status(500), false), None);
        assert_eq!(
            metrics_withheld(&ClientError::Transport("timed out".into()), false),
            None
        );
    }
}
