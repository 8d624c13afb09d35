//! The limits prompt's state (`u`): what the operator typed (a user id, then optionally an IP
//! address), what the last lookup found, and why the input was refused. Parsing lives here so
//! that a bad input is told in the prompt and loses nothing.

use std::net::IpAddr;

use flashsale_core::ratelimit::Windows;

/// How long the typed text may be: the longest user id, a space and an IPv6 address.
pub const INPUT_MAX: usize = flashsale_core::purchase::MAX_USER_ID_CHARS + 48;

/// A user and an optional address, as parsed from the prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    pub user: String,
    pub ip: Option<IpAddr>,
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub who: Who,
    /// `None`: limiting is off.
    pub windows: Option<Windows>,
    /// `redis (URL)`, or the in-process limiter with what its counts cover.
    pub source: String,
    /// The counts are this process's alone (the in-process limiter).
    pub per_process: bool,
}

/// The prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitsPrompt {
    pub input: String,
    /// Why the input or the lookup was refused (shown under the input; the input stays).
    pub error: Option<String>,
    /// A lookup is on its way.
    pub pending: bool,
    pub found: Option<Found>,
    /// When the last lookup answered (its times to reset count from then).
    pub found_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl LimitsPrompt {
    /// `42` or `42 10.0.0.1`: the user id (as purchases check it) and the address, each
    /// refusal naming the part at fault.
    pub fn parse(&self) -> Result<Who, String> {
        let mut parts = self.input.split_whitespace();
        let Some(user) = parts.next() else {
            return Err("type a user id, then optionally an IP address (e.g. 42 10.0.0.1)".into());
        };
        flashsale_core::purchase::validate_user_id(user)
            .map_err(|e| format!("user id '{user}': {e}"))?;
        let ip = match parts.next() {
            None => None,
            Some(text) => Some(text.parse::<IpAddr>().map_err(|_| {
                format!("'{text}' is not an IP address (e.g. 10.0.0.1 or 2001:db8::1)")
            })?),
        };
        if let Some(extra) = parts.next() {
            return Err(format!(
                "'{extra}': expected a user id and at most one IP address"
            ));
        }
        Ok(Who {
            user: user.to_string(),
            ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Who, String> {
        LimitsPrompt {
            input: text.into(),
            ..LimitsPrompt::default()
        }
        .parse()
    }

    #[test]
    fn a_user_and_an_optional_address_parse_and_bad_parts_are_named() {
        assert_eq!(
            parsed(" 42  10.0.0.1 "),
            Ok(Who {
                user: "42".into(),
                ip: Some(IpAddr::from([10, 0, 0, 1])),
            })
        );
        assert_eq!(parsed("alice").map(|w| w.ip), Ok(None));
        let e = parsed("42 10.0.0.300").expect_err("bad ip");
        assert!(e.contains("'10.0.0.300' is not an IP address"), "{e}");
        assert!(parsed("").expect_err("empty").contains("type a user id"));
        let e = parsed("42 10.0.0.1 x").expect_err("extra");
        assert!(e.contains("'x'"), "{e}");
        let long = "u".repeat(flashsale_core::purchase::MAX_USER_ID_CHARS + 1);
        assert!(parsed(&long).expect_err("too long").contains("user id"));
    }
}
