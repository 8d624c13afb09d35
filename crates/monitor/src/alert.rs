//! One alert and its severity: what `alerts` evaluates and `oversells` raises (a module of its
//! own so that neither needs the other).

use serde::Serialize;

/// How bad an alert is. Shown as a word as well as a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

/// One rule that fires now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Stable identity (rule and subject), so a standing alert is announced once.
    pub key: String,
    pub severity: Severity,
    pub message: String,
    /// What is true once the rule no longer fires ("Redis answers again"): the words the
    /// dashboard says when it clears the alert, never the firing message again.
    #[serde(skip)]
    pub cleared: String,
}

impl Alert {
    pub(crate) fn new(
        key: impl Into<String>,
        severity: Severity,
        message: String,
        cleared: impl Into<String>,
    ) -> Alert {
        Alert {
            key: key.into(),
            severity,
            message,
            cleared: cleared.into(),
        }
    }
}
