//! No TLS to a database on this machine unless asked for. sqlx, like libpq, defaults to
//! `sslmode=prefer`, and Debian's PostgreSQL has `ssl = on` (its snakeoil certificate), so a
//! plain `postgres://127.0.0.1/...` would encrypt loopback traffic that never leaves the
//! machine; and sqlx leaves Nagle's algorithm on, so each TLS handshake waits out two delayed
//! ACKs: about 88 ms per new connection here (a `flashsale stock` took 106 ms against 18 ms
//! without TLS), paid by every command and by the purchase that opens a pool connection. A URL
//! naming `sslmode` (or `PGSSLMODE` in the environment) is followed as written.

use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// Whether `url` points at this machine over TCP without saying how to use TLS.
pub fn loopback_without_sslmode(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    if parsed
        .query_pairs()
        .any(|(k, _)| k == "sslmode" || k == "host")
    {
        return false;
    }
    if std::env::var_os("PGSSLMODE").is_some() {
        return false;
    }
    // `postgres:` is not a special scheme to the URL parser: an IPv4 host comes back as text.
    match parsed.host() {
        Some(url::Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `options` for `url`, without TLS when it is loopback and says nothing of it: the store's
/// pool, and any other connection that should go the way the store does (`bench`'s own).
pub fn transport(options: PgConnectOptions, url: &str) -> PgConnectOptions {
    if loopback_without_sslmode(url) {
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_url_without_sslmode_goes_without_tls() {
        for plain in [
            "postgres://postgres@127.0.0.1:5432/sale",
            "postgres://u:p@localhost/sale",
            "postgres://[::1]:6432/sale?application_name=x",
            "postgresql://127.0.0.2/sale",
        ] {
            assert!(loopback_without_sslmode(plain), "{plain}");
        }
        for as_written in [
            "postgres://127.0.0.1/sale?sslmode=require",
            "postgres://db.example.com/sale",
            "postgres://10.0.0.5/sale",
            "postgres://localhost/sale?host=/var/run/postgresql",
            "not a url",
        ] {
            assert!(!loopback_without_sslmode(as_written), "{as_written}");
        }
    }
}
