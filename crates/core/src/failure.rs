//! Why a connection could not be had, classified once and worded once: every face (buy, stock,
//! burst, stats, the dashboard, serve) shows the same sentence for the same cause, and none says
//! "busy" for a server that is not there. The stores build these from driver errors
//! (`store/postgres/pg_connect.rs` finds out why an acquire timed out); the Redis words are
//! [`redis_sentence`].

use std::fmt;
use std::time::Duration;

/// The class of a connection failure, each asking for a different fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// Nothing listens at the address (the server is down, or the port is wrong).
    Refused { server: String },
    /// The host name does not resolve.
    UnknownHost { host: String },
    /// The server refused the credentials, or the role does not exist.
    Auth { server: String, detail: String },
    /// The TLS handshake failed or the server insists on TLS.
    Tls { server: String, detail: String },
    /// No answer at all within the bound (a stalled network, a black-holed address).
    Timeout { server: String, waited: Duration },
    /// The server answers, but no pooled connection was free (or ready) in time.
    PoolExhausted {
        open: u32,
        max: u32,
        waited: Duration,
    },
    /// The server answers, but the database named does not exist there.
    DatabaseMissing { server: String, name: String },
}

impl ConnectFailure {
    /// A stable camelCase name for JSON.
    pub fn class(&self) -> &'static str {
        match self {
            ConnectFailure::Refused { .. } => "refused",
            ConnectFailure::UnknownHost { .. } => "unknownHost",
            ConnectFailure::Auth { .. } => "auth",
            ConnectFailure::Tls { .. } => "tls",
            ConnectFailure::Timeout { .. } => "timeout",
            ConnectFailure::PoolExhausted { .. } => "poolExhausted",
            ConnectFailure::DatabaseMissing { .. } => "databaseMissing",
        }
    }

    /// Whether the server was reached and is only saturated: the purchase is "busy" (try
    /// again), not "failed" (fix something).
    pub fn is_saturation(&self) -> bool {
        matches!(self, ConnectFailure::PoolExhausted { .. })
    }

    /// Classifies an I/O error met while connecting to `server` (`host:port`).
    pub fn from_io(io: &std::io::Error, host: &str, server: &str) -> Option<ConnectFailure> {
        use std::io::ErrorKind as K;
        let text = io.to_string();
        let server = server.to_string();
        match io.kind() {
            K::ConnectionRefused => Some(ConnectFailure::Refused { server }),
            K::TimedOut => Some(ConnectFailure::Timeout {
                server,
                waited: Duration::ZERO,
            }),
            _ if is_resolver_error(&text) => Some(ConnectFailure::UnknownHost {
                host: host.to_string(),
            }),
            K::InvalidData if text.contains("certificate") => Some(ConnectFailure::Tls {
                server,
                detail: format!(
                    "the server's certificate was refused ({text}); name its CA with sslrootcert=..."
                ),
            }),
            _ => None,
        }
    }
}

/// The resolver's failures as the standard library words them (`getaddrinfo`'s texts).
fn is_resolver_error(text: &str) -> bool {
    text.contains("failed to lookup address")
        || text.contains("Name or service not known")
        || text.contains("nodename nor servname")
        || text.contains("No address associated")
        || text.contains("Temporary failure in name resolution")
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectFailure::Refused { server } => write!(
                f,
                "connection refused by {server}: nothing listens there (is the server running, is the port right?)"
            ),
            ConnectFailure::UnknownHost { host } => {
                write!(f, "unknown host {host}: the name does not resolve")
            }
            ConnectFailure::Auth { server, detail } => {
                write!(f, "authentication failed at {server}: {detail}")
            }
            ConnectFailure::Tls { server, detail } => write!(f, "TLS with {server}: {detail}"),
            ConnectFailure::Timeout { server, waited } if waited.is_zero() => {
                write!(
                    f,
                    "no answer from {server}: the connection attempt timed out"
                )
            }
            ConnectFailure::Timeout { server, waited } => write!(
                f,
                "no answer from {server} within {} ms (a stalled network or a filtered port?)",
                waited.as_millis()
            ),
            ConnectFailure::PoolExhausted { open, max, waited } if open >= max => write!(
                f,
                "all {max} connections in use, none free within {} ms",
                waited.as_millis()
            ),
            // Fewer open than allowed: the pool was still connecting when the wait ran out.
            ConnectFailure::PoolExhausted { waited, .. } => write!(
                f,
                "the server answers, but no connection was ready within the {} ms acquire timeout \
                 (connecting takes longer: raise --db-acquire-timeout-ms)",
                waited.as_millis()
            ),
            ConnectFailure::DatabaseMissing { server, name } => {
                write!(f, "database \"{name}\" does not exist on {server}")
            }
        }
    }
}

/// What a Redis error means, in words that cannot carry a password: a refusal, a timeout, a
/// lost connection, or the server's own answer (`ERR DB index is out of range` for db 99).
pub fn redis_sentence(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        "Redis did not answer in time".into()
    } else if e.is_connection_refusal() {
        "Redis refused the connection: nothing listens at its address (is redis-server running?)"
            .into()
    } else if e.is_connection_dropped() {
        "the Redis connection was lost".into()
    } else if e.is_io_error() {
        let text = e.to_string();
        if is_resolver_error(&text) {
            "unknown Redis host: the name does not resolve".into()
        } else {
            "the Redis connection failed (I/O error)".into()
        }
    } else if let Some(code) = e.code() {
        let detail = e.detail().unwrap_or_default();
        let hint = if detail.contains("DB index") {
            " (the database number in the Redis URL does not exist on this server)"
        } else if code == "NOAUTH" || code == "WRONGPASS" {
            " (check the password in the Redis URL)"
        } else {
            ""
        };
        format!("Redis answered {code} {detail}{hint}")
            .trim_end()
            .to_string()
    } else {
        format!("Redis error ({:?})", e.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_has_its_own_words() {
        let refused = ConnectFailure::Refused {
            server: "127.0.0.1:1".into(),
        };
        assert!(
            refused
                .to_string()
                .starts_with("connection refused by 127.0.0.1:1")
        );
        let exhausted = ConnectFailure::PoolExhausted {
            open: 10,
            max: 10,
            waited: Duration::from_millis(250),
        };
        assert_eq!(
            exhausted.to_string(),
            "all 10 connections in use, none free within 250 ms"
        );
        assert!(exhausted.is_saturation() && !refused.is_saturation());
        let texts: std::collections::HashSet<String> = [
            refused.to_string(),
            exhausted.to_string(),
            ConnectFailure::UnknownHost { host: "x".into() }.to_string(),
            ConnectFailure::Timeout {
                server: "x".into(),
                waited: Duration::from_secs(1),
            }
            .to_string(),
        ]
        .into_iter()
        .collect();
        assert_eq!(texts.len(), 4);
    }

    #[test]
    fn resolver_failures_are_unknown_hosts() {
        let io = std::io::Error::other(
            "failed to lookup address information: Name or service not known",
        );
        assert_eq!(
            ConnectFailure::from_io(&io, "nosuch.invalid", "nosuch.invalid:5432"),
            Some(ConnectFailure::UnknownHost {
                host: "nosuch.invalid".into()
            })
        );
    }
}
