//! Settings, resolved from four places in order of precedence: command-line flags, the
//! environment (including `.env`), `config.toml`, and built-in defaults. Every malformed value is
//! an error naming its key and where it was written.

mod database;
pub mod keys;
pub mod net;
mod redis_url;
pub use redis_url::redis_nodes;
mod serving;
pub mod source;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use database::{BackendKind, DatabaseTarget};
pub use net::{IpNet, TrustedProxies};
pub use serving::{HttpSettings, LogSettings};
pub use source::{Layer, Origin};

use crate::redact::{Secret, SecretUrl};
use crate::strategy::Strategy;

/// Why settings could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}:{line}:{column}: {key_part}{message}",
        path = path.display(),
        key_part = key.as_ref().map(|k| format!("key '{k}': ")).unwrap_or_default())]
    File {
        path: PathBuf,
        line: usize,
        column: usize,
        key: Option<String>,
        message: String,
    },
    #[error("cannot read config file {}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    #[error("{origin}: invalid value '{value}': {message}")]
    Invalid {
        origin: Origin,
        value: String,
        message: String,
    },
}

/// What to do with a purchase when Redis cannot be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnavailablePolicy {
    /// Sell without limiting (the outcome records that the limiter was bypassed).
    #[default]
    FailOpen,
    /// Refuse the purchase.
    FailClosed,
}

impl std::str::FromStr for UnavailablePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fail-open" | "open" => Ok(Self::FailOpen),
            "fail-closed" | "closed" => Ok(Self::FailClosed),
            _ => Err("expected fail-open or fail-closed".into()),
        }
    }
}

impl fmt::Display for UnavailablePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FailOpen => "fail-open",
            Self::FailClosed => "fail-closed",
        })
    }
}

/// Connection-pool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    pub statement_timeout: Duration,
    /// Most purchases the `batched` strategy applies in one transaction.
    pub batch_max: u32,
    /// Where the restock listener connects past a transaction pooler (no `LISTEN`): a direct URL.
    pub listen_url: Option<SecretUrl>,
    /// `application_name` of every PostgreSQL connection (the binary's: `flashsale <command>`).
    pub application_name: String,
    /// Where this process takes other processes' batched purchases of the products it sells,
    /// and forwards its own to theirs (`store::forward`); `None`: each process sells alone.
    pub forward_listen: Option<std::net::SocketAddr>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 20,
            acquire_timeout: Duration::from_millis(2000),
            statement_timeout: Duration::from_millis(5000),
            batch_max: 256,
            listen_url: None,
            application_name: "flashsale".into(),
            forward_listen: None,
        }
    }
}

/// Rate-limit settings: the reference system's fixed windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSettings {
    pub user_max: u32,
    pub ip_max: u32,
    pub window: Duration,
    pub on_unavailable: UnavailablePolicy,
    /// Put before every Redis key; lets tests and tenants share one Redis.
    pub key_prefix: String,
    pub redis_timeout: Duration,
    /// IPv6 clients are counted per network of this prefix length (an address of its own per
    /// request is free to anyone given a /64).
    pub ipv6_prefix: u8,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            user_max: 5,
            ip_max: 10,
            window: Duration::from_millis(60_000),
            on_unavailable: UnavailablePolicy::FailOpen,
            key_prefix: String::new(),
            redis_timeout: Duration::from_millis(250),
            ipv6_prefix: 64,
        }
    }
}

/// Idempotency-Key records are kept a day by default, as payment APIs commonly do.
pub const DEFAULT_IDEMPOTENCY_TTL_HOURS: u32 = 24;

/// Everything the core needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseTarget,
    pub redis_url: Option<SecretUrl>,
    /// A streaming replica the dashboard's samplers read from (`--replica-url`).
    pub read_replica: Option<SecretUrl>,
    pub pool: PoolSettings,
    pub limits: LimitSettings,
    pub max_quantity: u32,
    pub strategy: Strategy,
    /// Reverse proxies whose `X-Forwarded-For` the HTTP server believes.
    pub trusted_proxies: TrustedProxies,
    /// Bearer token for the HTTP server's admin endpoints; masked wherever settings are shown.
    pub admin_token: Option<Secret>,
    /// How long `serve` keeps an Idempotency-Key's record before sweeping it away.
    pub idempotency_ttl: Duration,
    /// `serve`'s connections: timeouts, their number, CORS.
    pub http: HttpSettings,
    /// The log file's filter and rotation.
    pub log: LogSettings,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
}

impl Settings {
    /// Defaults on the embedded database.
    pub fn embedded_defaults() -> Self {
        Self::with_database(DatabaseTarget::embedded())
    }

    /// Defaults on the given database.
    pub fn with_database(database: DatabaseTarget) -> Self {
        Self {
            database,
            redis_url: None,
            read_replica: None,
            pool: PoolSettings::default(),
            limits: LimitSettings::default(),
            max_quantity: 10,
            strategy: Strategy::default(),
            trusted_proxies: TrustedProxies::default(),
            admin_token: None,
            idempotency_ttl: Duration::from_secs(u64::from(DEFAULT_IDEMPOTENCY_TTL_HOURS) * 3_600),
            http: HttpSettings::default(),
            log: LogSettings::default(),
            config_file: None,
        }
    }

    /// Resolves settings from `layer` (flags over env over file, already merged) and defaults.
    pub fn resolve(layer: &Layer, config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut s = Settings::embedded_defaults();
        s.config_file = config_file.map(Path::to_path_buf);
        if let Some(raw) = layer.get(keys::DATABASE_URL) {
            s.database = parse(raw, DatabaseTarget::parse)?;
        }
        if let Some(raw) = layer.get(keys::REDIS_URL) {
            s.redis_url = Some(parse(raw, redis_url::parse_redis_url)?);
        }
        set_num(
            layer,
            keys::DB_POOL_MAX,
            1,
            10_000,
            &mut s.pool.max_connections,
        )?;
        set_read_replica(layer, &mut s)?;
        if let Some(raw) = layer.get(keys::DATABASE_LISTEN_URL) {
            s.pool.listen_url = Some(parse(raw, parse_listen_url)?);
        }
        if let Some(raw) = layer.get(keys::FORWARD_LISTEN) {
            s.pool.forward_listen = parse(raw, parse_forward_listen)?;
        }
        set_ms(layer, keys::DB_TIMEOUT, &mut s.pool.statement_timeout)?;
        set_ms(layer, keys::DB_ACQUIRE_TIMEOUT, &mut s.pool.acquire_timeout)?;
        set_ms(layer, keys::REDIS_TIMEOUT, &mut s.limits.redis_timeout)?;
        set_num(
            layer,
            keys::RATE_LIMIT_USER_MAX,
            1,
            1_000_000_000,
            &mut s.limits.user_max,
        )?;
        set_num(
            layer,
            keys::RATE_LIMIT_IP_MAX,
            1,
            1_000_000_000,
            &mut s.limits.ip_max,
        )?;
        set_ms(layer, keys::RATE_LIMIT_WINDOW, &mut s.limits.window)?;
        if let Some(raw) = layer.get(keys::RATE_LIMIT_ON_REDIS_DOWN) {
            s.limits.on_unavailable = parse(raw, |v| v.parse())?;
        }
        if let Some(raw) = layer.get(keys::RATE_LIMIT_PREFIX) {
            s.limits.key_prefix = parse(raw, parse_key_prefix)?;
        }
        set_num(layer, keys::MAX_QUANTITY, 1, 1_000_000, &mut s.max_quantity)?;
        set_num(layer, keys::BATCH_MAX, 1, 10_000, &mut s.pool.batch_max)?;
        if let Some(raw) = layer.get(keys::STRATEGY) {
            s.strategy = parse(raw, |v| v.parse::<Strategy>().map_err(|e| e.to_string()))?;
        }
        if let Some(raw) = layer.get(keys::TRUSTED_PROXIES) {
            s.trusted_proxies = parse(raw, str::parse)?;
        }
        if let Some(raw) = layer.get(keys::ADMIN_TOKEN) {
            s.admin_token = Some(parse_admin_token(raw)?);
        }
        let mut hours = DEFAULT_IDEMPOTENCY_TTL_HOURS;
        set_num(layer, keys::IDEMPOTENCY_TTL, 1, 8_760, &mut hours)?;
        s.idempotency_ttl = Duration::from_secs(u64::from(hours) * 3_600);
        serving::resolve(layer, &mut s)?;
        Ok(s)
    }
}

fn parse<T>(
    raw: &source::Raw,
    f: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    f(&raw.value).map_err(|message| ConfigError::Invalid {
        origin: raw.origin.clone(),
        value: crate::redact::redact_url(&raw.value),
        message,
    })
}

fn set_num(
    layer: &Layer,
    key: keys::Key,
    min: u32,
    max: u32,
    out: &mut u32,
) -> Result<(), ConfigError> {
    if let Some(raw) = layer.get(key) {
        *out = parse(raw, |v| parse_u32_in(v, min, max))?;
    }
    Ok(())
}

fn set_ms(layer: &Layer, key: keys::Key, out: &mut Duration) -> Result<(), ConfigError> {
    if let Some(raw) = layer.get(key) {
        let ms = parse(raw, |v| parse_u32_in(v, 1, 3_600_000))?;
        *out = Duration::from_millis(u64::from(ms));
    }
    Ok(())
}

/// A whole number in `min..=max`, with an error that says the range.
pub fn parse_u32_in(value: &str, min: u32, max: u32) -> Result<u32, String> {
    let v = value.trim();
    let n: i128 = v
        .parse()
        .map_err(|_| format!("expected a whole number from {min} to {max}"))?;
    if n < i128::from(min) || n > i128::from(max) {
        return Err(format!("out of range: expected {min} to {max}"));
    }
    u32::try_from(n).map_err(|_| format!("out of range: expected {min} to {max}"))
}

/// `host:port` with a concrete IP (the address other processes are told to connect to), or
/// `off`.
fn parse_forward_listen(value: &str) -> Result<Option<std::net::SocketAddr>, String> {
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let addr: std::net::SocketAddr = value
        .parse()
        .map_err(|_| "expected IP:PORT (for example 127.0.0.1:0) or off".to_string())?;
    if addr.ip().is_unspecified() {
        return Err(format!(
            "{} is no address another process can reach: name this host's own IP \
             (127.0.0.1 when every process runs here)",
            addr.ip()
        ));
    }
    Ok(Some(addr))
}

fn parse_listen_url(value: &str) -> Result<SecretUrl, String> {
    database::postgres_only(value, "the restock listener (SQLite has no LISTEN)")
}

/// A read replica of the database: PostgreSQL, and only beside a PostgreSQL database.
fn set_read_replica(layer: &Layer, s: &mut Settings) -> Result<(), ConfigError> {
    let Some(raw) = layer.get(keys::DATABASE_REPLICA_URL) else {
        return Ok(());
    };
    let url = parse(raw, |v| database::postgres_only(v, "a read replica"))?;
    if s.database.kind() != BackendKind::Postgres {
        return Err(ConfigError::Invalid {
            origin: raw.origin.clone(),
            value: url.to_string(),
            message: format!(
                "a read replica needs a PostgreSQL database to replicate, and the database is {}",
                s.database
            ),
        });
    }
    s.read_replica = Some(url);
    Ok(())
}

/// Shortest admin token accepted: long enough that guessing it over HTTP is hopeless.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

/// Like [`parse`], but the error never echoes the value: it is a secret.
fn parse_admin_token(raw: &source::Raw) -> Result<Secret, ConfigError> {
    let v = raw.value.trim();
    let problem = if v.chars().count() < MIN_ADMIN_TOKEN_CHARS {
        Some(format!(
            "must be at least {MIN_ADMIN_TOKEN_CHARS} characters"
        ))
    } else if v.chars().any(|c| !c.is_ascii_graphic()) {
        Some("only visible ASCII characters, no spaces".to_string())
    } else {
        None
    };
    match problem {
        Some(message) => Err(ConfigError::Invalid {
            origin: raw.origin.clone(),
            value: crate::redact::MASK.to_string(),
            message,
        }),
        None => Ok(Secret::new(v)),
    }
}

fn parse_key_prefix(value: &str) -> Result<String, String> {
    if value.len() > 100 {
        return Err("at most 100 characters".into());
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("no spaces or control characters".into());
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests;
