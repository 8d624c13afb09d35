//! The table of configuration keys: one row per setting, with its name in each source.
//! The config file uses the lower-case name, the environment the upper-case one (the reference
//! system's names where it has one), the command line the flag.

/// One configurable setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Key in `config.toml`.
    pub file: &'static str,
    /// Environment variable (also read from `.env`).
    pub env: &'static str,
    /// Long command-line flag, without the dashes; empty for secrets, which a command line
    /// would show to every user of the machine (`ps`), and for the settings of `serve`'s
    /// connections and of the log, which deployments set in the environment or the file.
    pub flag: &'static str,
    /// What it means, for `flashsale config` and error messages.
    pub help: &'static str,
}

macro_rules! keys {
    ($($ident:ident = $file:literal, $env:literal, $flag:literal, $help:literal;)*) => {
        $(pub const $ident: Key = Key { file: $file, env: $env, flag: $flag, help: $help };)*
        /// Every key, in documentation order.
        pub const ALL: &[Key] = &[$($ident),*];
    };
}

keys! {
    DATABASE_URL = "database_url", "DATABASE_URL", "database-url",
        "postgres://... or sqlite://path; default: the embedded SQLite database";
    REDIS_URL = "redis_url", "REDIS_URL", "redis-url",
        "redis://... or rediss://...; default: none (in-process rate limiter)";
    DATABASE_REPLICA_URL = "database_replica_url", "DATABASE_REPLICA_URL", "replica-url",
        "postgres://... a streaming replica the dashboard reads stock and sales from; never purchases, restocks or the audit (default: none)";
    DATABASE_LISTEN_URL = "database_listen_url", "DATABASE_LISTEN_URL", "",
        "postgres://... the restock listener uses when database_url is a transaction pooler (default: none)";
    FORWARD_LISTEN = "forward_listen", "FLASHSALE_FORWARD_LISTEN", "forward-listen",
        "IP:PORT where this process takes other flashsale processes' batched purchases of the products it sells, and forwards its own to theirs, so they share commits (PostgreSQL; port 0 picks a free one; default: off)";
    DB_POOL_MAX = "db_pool_max", "DB_POOL_MAX", "db-pool-max",
        "maximum database connections (default 20)";
    DB_TIMEOUT = "db_timeout_ms", "DB_TIMEOUT", "db-timeout-ms",
        "statement timeout in ms (default 5000)";
    DB_ACQUIRE_TIMEOUT = "db_acquire_timeout_ms", "DB_ACQUIRE_TIMEOUT", "db-acquire-timeout-ms",
        "wait for a pooled connection in ms before answering Busy (default 2000)";
    REDIS_TIMEOUT = "redis_timeout_ms", "REDIS_TIMEOUT", "redis-timeout-ms",
        "timeout of each Redis call in ms (default 250)";
    RATE_LIMIT_USER_MAX = "rate_limit_user_max", "RATE_LIMIT_USER_MAX", "rate-limit-user-max",
        "purchases per user per window (default 5)";
    RATE_LIMIT_IP_MAX = "rate_limit_ip_max", "RATE_LIMIT_IP_MAX", "rate-limit-ip-max",
        "purchases per client IP per window (default 10)";
    RATE_LIMIT_WINDOW = "rate_limit_window_ms", "RATE_LIMIT_WINDOW_MS", "rate-limit-window-ms",
        "rate-limit window in ms (default 60000)";
    RATE_LIMIT_ON_REDIS_DOWN = "rate_limit_on_redis_down", "RATE_LIMIT_ON_REDIS_DOWN",
        "rate-limit-on-redis-down",
        "fail-open (default: sell without limiting) or fail-closed (refuse) when Redis is unreachable";
    RATE_LIMIT_PREFIX = "rate_limit_prefix", "RATE_LIMIT_PREFIX", "rate-limit-prefix",
        "text put before every Redis key (default empty: keys are rate_limit:user:<id>)";
    MAX_QUANTITY = "max_quantity", "MAX_QUANTITY", "max-quantity",
        "largest quantity one purchase may ask for (default 10)";
    BATCH_MAX = "batch_max", "FLASHSALE_BATCH_MAX", "batch-max",
        "most purchases the batched strategy applies in one transaction (default 256)";
    STRATEGY = "strategy", "FLASHSALE_STRATEGY", "strategy",
        "default purchase strategy: batched (default), atomic, row-lock, naive (UNSAFE)";
    TRUSTED_PROXIES = "trusted_proxies", "TRUSTED_PROXIES", "trusted-proxies",
        "comma-separated IPs and CIDRs of reverse proxies whose X-Forwarded-For is believed (default: none)";
    IDEMPOTENCY_TTL = "idempotency_ttl_hours", "IDEMPOTENCY_TTL_HOURS", "idempotency-ttl-hours",
        "hours serve keeps an Idempotency-Key's record (a retry within it replays), 1 to 8760 (default 24)";
    RATE_LIMIT_IPV6_PREFIX = "rate_limit_ipv6_prefix", "RATE_LIMIT_IPV6_PREFIX", "",
        "IPv6 clients share one per-IP window per network of this prefix length, 1 to 128 (default 64: one /64, what one subscriber is usually given)";
    HEADER_TIMEOUT = "header_timeout_ms", "HEADER_TIMEOUT_MS", "",
        "serve: ms a connection gets to send a whole request head, after it opens and between requests (default 5000)";
    BODY_TIMEOUT = "body_timeout_ms", "BODY_TIMEOUT_MS", "",
        "serve: ms a request gets to send its whole body (default 10000)";
    REQUEST_TIMEOUT = "request_timeout_ms", "REQUEST_TIMEOUT_MS", "",
        "serve: ms from a request's head to its answer before it is answered 503 (default 30000)";
    MAX_CONNECTIONS = "max_connections", "MAX_CONNECTIONS", "",
        "serve: most open client connections, 0 for the descriptor limit less a reserve (default 0)";
    CORS_ORIGIN = "cors_origin", "CORS_ORIGIN", "",
        "serve: comma-separated exact origins browsers may call the API from (default: none)";
    READ_STALENESS = "read_staleness_ms", "READ_STALENESS_MS", "",
        "serve: GET /api/stock and /api/products answer from memory figures at most this many ms old, 0 to 10000 (0: every read asks the database; default 100)";
    SSE_HEARTBEAT = "sse_heartbeat_ms", "SSE_HEARTBEAT_MS", "",
        "serve: ms of silence after which a stock event stream gets a `: ping` comment; a stream that cannot take a frame for two of these is dropped (default 15000)";
    SHUTDOWN_DRAIN = "shutdown_drain_ms", "SHUTDOWN_DRAIN_MS", "",
        "serve: ms between SIGTERM and closing the listener, /api/ready answering 503 meanwhile so a load balancer takes it out of its pool, 0 to 600000 (default 5000)";
    SLOW_REQUEST = "slow_request_ms", "SLOW_REQUEST_MS", "",
        "serve: requests slower than this many ms are counted and summarised in the log (default 100)";
    LOG_LEVEL = "log_level", "LOG_LEVEL", "",
        "log filter: a level or target=level list, e.g. warn or info,sqlx=warn (FLASHSALE_LOG wins; default info,sqlx=warn)";
    LOG_MAX_MB = "log_max_mb", "LOG_MAX_MB", "",
        "the log file is rotated when it passes this many MB, 1 to 10000 (default 10)";
    LOG_FILES = "log_files", "LOG_FILES", "",
        "rotated log files kept beside the current one, 1 to 100 (default 5)";
    ADMIN_TOKEN = "admin_token", "ADMIN_TOKEN", "",
        "bearer token for /api/admin/* and /metrics, 16+ characters; environment or file only (default: none, loopback listeners only)";
}

/// Finds the key with this config-file name.
pub fn by_file_name(name: &str) -> Option<Key> {
    ALL.iter().copied().find(|k| k.file == name)
}
