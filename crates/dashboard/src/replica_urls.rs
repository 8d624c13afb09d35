//! `--api URL1,URL2,...`: the replicas of one deployment, each URL checked as `--api URL` is
//! ([`crate::parse_api_url`]). An empty element, a bad URL or one listed twice is refused,
//! naming which, so a typo never silently watches one replica fewer.

use super::{parse_api_url, shown_api_url};

/// The URLs of an `--api` value, in order: one for `--api URL` (a replica, or the load
/// balancer's), several for `--api A,B,C`.
pub fn parse_api_list(raw: &str) -> Result<Vec<url::Url>, String> {
    let parts: Vec<&str> = raw.split(',').collect();
    let n = parts.len();
    let which = |i: usize| {
        if n == 1 {
            String::new()
        } else {
            format!("URL {} of {n}: ", i + 1)
        }
    };
    let mut out: Vec<url::Url> = Vec::with_capacity(n);
    for (i, part) in parts.iter().enumerate() {
        if part.trim().is_empty() {
            return Err(format!(
                "{}empty (expected http://host:port,http://host:port,...)",
                which(i)
            ));
        }
        let url = parse_api_url(part).map_err(|e| format!("{}{e}", which(i)))?;
        if let Some(first) = out.iter().position(|u| same(u, &url)) {
            return Err(format!(
                "{} is listed twice (URLs {} and {}): each replica once",
                shown_api_url(&url),
                first + 1,
                i + 1
            ));
        }
        out.push(url);
    }
    Ok(out)
}

/// The same server: scheme, host, port (the scheme's default when none is written) and path,
/// a trailing slash aside (the host is already lower case).
fn same(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(raw: &str) -> Vec<String> {
        parse_api_list(raw)
            .expect("valid")
            .iter()
            .map(shown_api_url)
            .collect()
    }

    #[test]
    fn one_url_or_a_comma_separated_list_of_them() {
        assert_eq!(shown("http://127.0.0.1:3000"), ["http://127.0.0.1:3000"]);
        assert_eq!(
            shown(" http://a:3001 , http://b:3002/,http://ops:pw@c:3003"),
            ["http://a:3001", "http://b:3002", "http://***@c:3003"]
        );
    }

    #[test]
    fn an_empty_element_a_bad_url_or_a_duplicate_says_which() {
        let e = parse_api_list("http://a:1,,http://b:2").expect_err("empty");
        assert_eq!(
            e,
            "URL 2 of 3: empty (expected http://host:port,http://host:port,...)"
        );
        assert!(
            parse_api_list("http://a:1,")
                .expect_err("trailing comma")
                .starts_with("URL 2 of 2: empty")
        );
        assert!(
            parse_api_list("")
                .expect_err("nothing")
                .starts_with("empty")
        );
        let e = parse_api_list("http://a:1,http//b:2").expect_err("bad");
        assert!(e.starts_with("URL 2 of 2: 'http//b:2' is not a URL"), "{e}");
        let e = parse_api_list("http://a:1,https://b:2").expect_err("tls");
        assert!(
            e.starts_with("URL 2 of 2: https:// is not supported"),
            "{e}"
        );
        let e = parse_api_list("http://a:1,http://b:2,http://A:1/").expect_err("twice");
        assert_eq!(
            e,
            "http://a:1 is listed twice (URLs 1 and 3): each replica once"
        );
        let e = parse_api_list("http://a,http://a:80").expect_err("default port");
        assert!(e.contains("listed twice"), "{e}");
        // A password in a bad element is not echoed.
        let e = parse_api_list("http://a:1,http//u:hunter2@h").expect_err("bad");
        assert!(!e.contains("hunter2"), "{e}");
        // Different paths on one host are different servers (two gateways).
        assert_eq!(shown("http://gw/a,http://gw/b").len(), 2);
    }
}
