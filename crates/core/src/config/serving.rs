//! The settings only a long-running process reads: `serve`'s connections (timeouts, how many,
//! which browser origins) and the log file (filter, rotation), plus the IPv6 prefix of the
//! per-IP limit.

use std::time::Duration;

use super::{ConfigError, Layer, Settings, keys, parse, parse_u32_in, set_ms, set_num};

/// How `serve` treats its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// A connection must send a whole request head within this of opening, and of its
    /// previous answer (so this is also the keep-alive idle limit).
    pub header_timeout: Duration,
    /// A request must send its whole body within this.
    pub body_timeout: Duration,
    /// From a request's head to its answer.
    pub request_timeout: Duration,
    /// Most open connections; 0: the soft descriptor limit less a reserve.
    pub max_connections: u32,
    /// Origins (`scheme://host[:port]`, compared exactly) answered with CORS headers.
    pub cors_origins: Vec<String>,
    /// Requests slower than this are counted and summarised in the log.
    pub slow_request: Duration,
    /// Stock and product reads answer from memory figures at most this old (zero: none).
    pub read_staleness: Duration,
    /// A stock event stream silent this long gets a `: ping` comment; one whose client has
    /// not taken a frame for twice this is dropped.
    pub sse_heartbeat: Duration,
    /// After SIGTERM, how long `serve` goes on accepting and serving while `/api/ready`
    /// answers 503: the time a load balancer needs to see it and send traffic elsewhere
    /// (its check interval times its fall count, plus a check's own time). Zero: none.
    pub shutdown_drain: Duration,
}

/// The drain `serve` gives a load balancer by default: `deploy/haproxy.cfg` checks every
/// second, gives a check 2 s and takes a replica out after two failed checks, so at most 4 s.
pub const DEFAULT_SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 0,
            cors_origins: Vec::new(),
            slow_request: Duration::from_millis(100),
            read_staleness: Duration::from_millis(100),
            sse_heartbeat: Duration::from_secs(15),
            shutdown_drain: DEFAULT_SHUTDOWN_DRAIN,
        }
    }
}

/// The log file's filter and rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `LOG_LEVEL` as written (a `tracing` targets list); `FLASHSALE_LOG` wins over it.
    pub level: Option<String>,
    /// The file is rotated when a write would take it past this.
    pub max_bytes: u64,
    /// Rotated files kept (`flashsale.log.1` newest ... `.N` oldest).
    pub files: u32,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: None,
            max_bytes: 10 * 1024 * 1024,
            files: 5,
        }
    }
}

pub(super) fn resolve(layer: &Layer, s: &mut Settings) -> Result<(), ConfigError> {
    let mut prefix = u32::from(s.limits.ipv6_prefix);
    set_num(layer, keys::RATE_LIMIT_IPV6_PREFIX, 1, 128, &mut prefix)?;
    s.limits.ipv6_prefix = u8::try_from(prefix).unwrap_or(64);
    let h = &mut s.http;
    set_ms(layer, keys::HEADER_TIMEOUT, &mut h.header_timeout)?;
    set_ms(layer, keys::BODY_TIMEOUT, &mut h.body_timeout)?;
    set_ms(layer, keys::REQUEST_TIMEOUT, &mut h.request_timeout)?;
    set_ms(layer, keys::SLOW_REQUEST, &mut h.slow_request)?;
    set_ms(layer, keys::SSE_HEARTBEAT, &mut h.sse_heartbeat)?;
    let mut staleness = u32::try_from(h.read_staleness.as_millis()).unwrap_or(100);
    set_num(layer, keys::READ_STALENESS, 0, 10_000, &mut staleness)?;
    h.read_staleness = Duration::from_millis(u64::from(staleness));
    if let Some(raw) = layer.get(keys::SHUTDOWN_DRAIN) {
        let ms = parse(raw, |v| parse_u32_in(v, 0, 600_000))?;
        h.shutdown_drain = Duration::from_millis(u64::from(ms));
    }
    if let Some(raw) = layer.get(keys::MAX_CONNECTIONS) {
        h.max_connections = parse(raw, |v| parse_u32_in(v, 0, 1_000_000))?;
    }
    if let Some(raw) = layer.get(keys::CORS_ORIGIN) {
        h.cors_origins = parse(raw, parse_origins)?;
    }
    if let Some(raw) = layer.get(keys::LOG_LEVEL) {
        s.log.level = Some(raw.value.trim().to_string());
    }
    let mut mb = 10;
    set_num(layer, keys::LOG_MAX_MB, 1, 10_000, &mut mb)?;
    s.log.max_bytes = u64::from(mb) * 1024 * 1024;
    set_num(layer, keys::LOG_FILES, 1, 100, &mut s.log.files)?;
    Ok(())
}

/// `https://shop.example, http://localhost:3000`: each an origin as a browser sends it.
fn parse_origins(value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for o in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let rest = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))
            .ok_or_else(|| format!("'{o}': an origin starts with http:// or https://"))?;
        if rest.is_empty() || rest.contains('/') || rest.chars().any(char::is_whitespace) {
            return Err(format!(
                "'{o}': an origin is scheme://host[:port], without a path"
            ));
        }
        out.push(o.to_ascii_lowercase());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::Origin;
    use super::*;

    fn layer(pairs: &[(keys::Key, &str)]) -> Layer {
        let mut l = Layer::default();
        for (k, v) in pairs {
            l.set(*k, *v, Origin::Env(k.env));
        }
        l
    }

    #[test]
    fn serving_settings_parse_and_default() {
        let d = Settings::resolve(&Layer::default(), None).expect("defaults");
        assert_eq!(d.http, HttpSettings::default());
        assert_eq!(d.limits.ipv6_prefix, 64);
        let s = Settings::resolve(
            &layer(&[
                (keys::HEADER_TIMEOUT, "1500"),
                (keys::MAX_CONNECTIONS, "300"),
                (
                    keys::CORS_ORIGIN,
                    "https://Shop.example, http://localhost:3000",
                ),
                (keys::RATE_LIMIT_IPV6_PREFIX, "56"),
                (keys::LOG_MAX_MB, "2"),
                (keys::LOG_FILES, "3"),
                (keys::LOG_LEVEL, "warn"),
                (keys::SHUTDOWN_DRAIN, "0"),
            ]),
            None,
        )
        .expect("valid");
        assert_eq!(s.http.header_timeout, Duration::from_millis(1500));
        assert_eq!(s.http.max_connections, 300);
        assert_eq!(
            s.http.cors_origins,
            ["https://shop.example", "http://localhost:3000"]
        );
        assert_eq!(s.limits.ipv6_prefix, 56);
        assert_eq!((s.log.max_bytes, s.log.files), (2 * 1024 * 1024, 3));
        assert_eq!(s.log.level.as_deref(), Some("warn"));
        assert_eq!(s.http.shutdown_drain, Duration::ZERO, "0: no drain");
        assert_eq!(d.http.shutdown_drain, DEFAULT_SHUTDOWN_DRAIN);
    }

    #[test]
    fn bad_serving_values_name_their_key() {
        for (key, bad) in [
            (keys::CORS_ORIGIN, "shop.example"),
            (keys::CORS_ORIGIN, "https://shop.example/path"),
            (keys::RATE_LIMIT_IPV6_PREFIX, "129"),
            (keys::HEADER_TIMEOUT, "0"),
            (keys::LOG_FILES, "0"),
            (keys::SHUTDOWN_DRAIN, "600001"),
            (keys::SHUTDOWN_DRAIN, "5s"),
            (keys::SHUTDOWN_DRAIN, "-1"),
        ] {
            let err = Settings::resolve(&layer(&[(key, bad)]), None).expect_err(bad);
            assert!(err.to_string().contains(key.env), "{err}");
        }
    }
}
