//! Masking of secrets in connection URLs, so that nothing we print or log carries a password.

/// What a masked password is shown as.
pub const MASK: &str = "***";

/// Returns `url` with any password (in the userinfo or in a `password=` query parameter)
/// replaced by [`MASK`]. Strings that do not parse as URLs are returned with everything between
/// `://` and the last `@` masked, so a malformed URL given by mistake still does not leak.
pub fn redact_url(url: &str) -> String {
    // A Redis Cluster's nodes, comma-separated: each masked on its own.
    if url.matches("://").count() > 1 && url.contains(',') {
        return url.split(',').map(redact_url).collect::<Vec<_>>().join(",");
    }
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let has_secret_param = parsed.query_pairs().any(|(k, _)| is_secret_param(&k));
            if parsed.password().is_none() && !has_secret_param {
                // Nothing to hide: keep the text exactly as given.
                return url.to_string();
            }
            if parsed.password().is_some() {
                // Cannot fail: a URL with a password has a host, and so can carry one.
                let _ = parsed.set_password(Some(MASK));
            }
            if has_secret_param {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if is_secret_param(&k) {
                            MASK.to_string()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        Err(_) => redact_unparsed(url),
    }
}

fn is_secret_param(key: &str) -> bool {
    matches!(
        key.to_ascii_lowercase().as_str(),
        "password" | "pass" | "pwd" | "sslpassword"
    )
}

fn redact_unparsed(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{}://{user}:{MASK}@{}", &url[..scheme_end], &rest[at + 1..])
            } else {
                url.to_string()
            }
        }
        None => url.to_string(),
    }
}

/// A string holding a connection URL that may carry a password. `Display` and `Debug` both
/// mask it; [`SecretUrl::expose`] is the one way to the real value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The real URL, for handing to a driver. Never print this.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretUrl({})", redact_url(&self.0))
    }
}

/// A secret that is not a URL (an API token). `Display` and `Debug` print [`MASK`];
/// [`Secret::expose`] is the one way to the real value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for comparing. Never print this.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({MASK})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_in_userinfo_is_masked() {
        let shown = redact_url("postgres://alice:s3cret@db.example:5432/sale");
        assert_eq!(shown, "postgres://alice:***@db.example:5432/sale");
        assert!(!shown.contains("s3cret"));
    }

    #[test]
    fn password_in_query_is_masked() {
        let shown = redact_url("postgres://db/sale?user=bob&password=hunter2&sslmode=require");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("sslmode=require"));
    }

    #[test]
    fn redis_url_with_only_a_password_is_masked() {
        let shown = redact_url("redis://:topsecret@127.0.0.1:6379/0");
        assert!(!shown.contains("topsecret"), "{shown}");
    }

    #[test]
    fn url_without_password_is_unchanged() {
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn unparseable_url_still_hides_password() {
        let shown = redact_url("postgres://bob:pw@[bad host/db");
        assert!(!shown.contains(":pw@"), "{shown}");
    }

    #[test]
    fn secret_url_debug_and_display_mask() {
        let url = SecretUrl::new("rediss://u:p4ss@h:6380");
        assert!(!format!("{url}").contains("p4ss"));
        assert!(!format!("{url:?}").contains("p4ss"));
        assert_eq!(url.expose(), "rediss://u:p4ss@h:6380");
    }

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("tok-1234567890abcdef");
        assert_eq!(s.to_string(), MASK);
        assert!(!format!("{s:?}").contains("tok-"));
        assert_eq!(s.expose(), "tok-1234567890abcdef");
    }
}
