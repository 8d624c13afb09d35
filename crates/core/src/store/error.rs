//! The store's errors, mapped from driver errors at the boundary so that nothing above it sees
//! SQL text or a driver's message, and so the purchase module can turn each into its outcome.

use crate::failure::ConnectFailure;

/// Why a database call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had in time, or the server refused one for load, or a statement
    /// timed out: the database is saturated, not broken.
    #[error("database busy: {0}")]
    Busy(String),
    /// The database cannot be reached or the connection broke.
    #[error("database unreachable: {0}")]
    Unavailable(String),
    /// No answer within the client-side deadline (a stalled network, a black-holed
    /// connection): whether the operation took effect is unknown, and its connection was
    /// closed. Reads are not retried after one (the database was slow, not gone).
    #[error("database unreachable: no answer from the database within {} ms", .0.as_millis())]
    Timeout(std::time::Duration),
    /// A deadlock or serialization failure: the transaction was rolled back and may be retried.
    #[error("transaction conflict (rolled back): {0}")]
    Conflict(String),
    /// A unique key was already taken: the idempotency key of a purchase that another request
    /// committed first. The transaction was rolled back whole.
    #[error("duplicate key (rolled back)")]
    Duplicate,
    /// The request cannot be stored (e.g. a total too large for the price column).
    #[error("{0}")]
    Invalid(String),
    /// The database has no flashsale schema.
    #[error("the database has no products/orders tables; run `flashsale db init` (and `db seed`)")]
    NoSchema,
    /// No connection: refused, unknown host, credentials, TLS, no answer, pool exhausted, no
    /// such database. Each class has its own words ([`ConnectFailure`]).
    #[error("database {}: {}", if .0.is_saturation() { "busy" } else { "unreachable" }, .0)]
    Connect(ConnectFailure),
    /// Anything else; the message is safe to show.
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    /// Saturated, not broken: try again later.
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::Busy(_) => true,
            StoreError::Connect(c) => c.is_saturation(),
            _ => false,
        }
    }

    /// The connection failure's class, when it is one.
    pub fn connect_failure(&self) -> Option<&ConnectFailure> {
        match self {
            StoreError::Connect(c) => Some(c),
            _ => None,
        }
    }

    /// A driver error met while connecting to `server` (`host:port`, database `name`): the
    /// connection classes worded with where, anything else as [`From`] maps it.
    pub(crate) fn connecting(err: sqlx::Error, host: &str, server: &str, name: &str) -> Self {
        use sqlx::Error as E;
        let class = match &err {
            E::Io(io) => ConnectFailure::from_io(io, host, server),
            E::Tls(e) => Some(ConnectFailure::Tls {
                server: server.to_string(),
                detail: format!("handshake failed ({e})"),
            }),
            E::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let message = db.message();
                match code.as_str() {
                    "28P01" => Some(ConnectFailure::Auth {
                        server: server.to_string(),
                        detail: "the password was refused".into(),
                    }),
                    "28000" if message.contains("does not exist") => Some(ConnectFailure::Auth {
                        server: server.to_string(),
                        detail: "the role (user) in the URL does not exist".into(),
                    }),
                    "28000" if message.ends_with("no encryption") => Some(ConnectFailure::Tls {
                        server: server.to_string(),
                        detail: "the server accepts only TLS connections: add sslmode=require \
                                 (or verify-full) to the URL"
                            .into(),
                    }),
                    "28000" => Some(ConnectFailure::Auth {
                        server: server.to_string(),
                        detail: "no pg_hba.conf entry admits this user, database and address"
                            .into(),
                    }),
                    "3D000" => Some(ConnectFailure::DatabaseMissing {
                        server: server.to_string(),
                        name: name.to_string(),
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        class.map_or_else(|| classify(&err), StoreError::Connect)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        classify(&err)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(err: sqlx::migrate::MigrateError) -> Self {
        match err {
            sqlx::migrate::MigrateError::Execute(e) => classify(&e),
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::Other(format!(
                "the database has migration {v}, which this flashsale does not know: \
                 it was set up by a newer version; upgrade flashsale or use another database"
            )),
            sqlx::migrate::MigrateError::VersionMismatch(v) => StoreError::Other(format!(
                "migration {v} in the database differs from this flashsale's; \
                 the schema was changed by another build"
            )),
            other => StoreError::Other(format!("migration failed: {other}")),
        }
    }
}

fn classify(err: &sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match err {
        E::PoolTimedOut => StoreError::Busy("no database connection free in time".into()),
        E::PoolClosed => StoreError::Unavailable("connection pool closed".into()),
        E::Io(io) => classify_io(io),
        E::Tls(_) => StoreError::Unavailable("TLS handshake failed".into()),
        E::Protocol(_) => StoreError::Unavailable("protocol error (connection lost?)".into()),
        E::WorkerCrashed => StoreError::Unavailable("database worker stopped".into()),
        E::Database(db) => classify_database(db.as_ref()),
        E::Configuration(_) => StoreError::Other("invalid connection settings".into()),
        E::RowNotFound => StoreError::Other("row not found".into()),
        E::ColumnDecode { index, .. } => StoreError::Other(format!(
            "unexpected column type at {index}; schema mismatch?"
        )),
        _ => StoreError::Other("unexpected driver error".into()),
    }
}

/// An I/O error in our words. A refused TLS certificate arrives as `InvalidData` carrying
/// rustls's reason (`invalid peer certificate: UnknownIssuer`): that reason names no secret and
/// is what the operator needs, so it is kept.
fn classify_io(io: &std::io::Error) -> StoreError {
    let text = io.to_string();
    if io.kind() == std::io::ErrorKind::InvalidData && text.contains("certificate") {
        return StoreError::Unavailable(format!(
            "TLS: the server's certificate was refused ({text}); name its CA with sslrootcert=..."
        ));
    }
    StoreError::Unavailable(io.kind().to_string())
}

fn classify_database(db: &dyn sqlx::error::DatabaseError) -> StoreError {
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    match code.as_str() {
        // PostgreSQL SQLSTATEs.
        "40P01" => StoreError::Conflict("deadlock detected".into()),
        "40001" => StoreError::Conflict("serialization failure".into()),
        "53300" => StoreError::Busy("server has no connection slots left".into()),
        "57014" => StoreError::Busy("statement timed out".into()),
        "55P03" => StoreError::Busy("lock not available".into()),
        "57P01" | "57P02" | "57P03" => {
            StoreError::Unavailable("server shutting down or restarting".into())
        }
        "08000" | "08003" | "08006" | "08001" | "08004" => {
            StoreError::Unavailable("connection failure".into())
        }
        "23505" => StoreError::Duplicate,
        "22003" => StoreError::Invalid("amount out of range for the database".into()),
        "42P01" => StoreError::NoSchema,
        "3D000" => StoreError::Unavailable("database does not exist".into()),
        // pg_hba.conf's verdicts: say which, as they ask for different fixes.
        "28000" if db.message().ends_with("no encryption") => StoreError::Unavailable(
            "the server accepts only TLS connections: add sslmode=require (or verify-full) to the URL"
                .into(),
        ),
        "28000" => StoreError::Unavailable("connection rejected by the server's pg_hba.conf".into()),
        "28P01" => StoreError::Unavailable("authentication failed".into()),
        "42501" => StoreError::Other("permission denied (read-only role?)".into()),
        "23514" => StoreError::Other("a check constraint refused the write".into()),
        // SQLite primary result codes (sqlx reports extended codes; the low byte is primary).
        // SQLITE_CONSTRAINT_PRIMARYKEY and SQLITE_CONSTRAINT_UNIQUE, before the primary codes.
        "1555" | "2067" => StoreError::Duplicate,
        _ => match code.parse::<i32>().map(|c| c & 0xff) {
            Ok(5) => StoreError::Busy("database is locked by another writer".into()),
            Ok(6) => StoreError::Busy("table is locked".into()),
            Ok(8) => StoreError::Other("attempt to write a read-only database".into()),
            Ok(13) => StoreError::Other("disk full".into()),
            Ok(1) if db.message().contains("no such table") => StoreError::NoSchema,
            _ => StoreError::Other(format!("code {code}")),
        },
    }
}
