//! Which database the settings name: PostgreSQL by URL or an SQLite file (the embedded
//! default), shown everywhere with its password masked.

use std::fmt;
use std::path::PathBuf;

use crate::redact::SecretUrl;

/// Which database, and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Postgres(SecretUrl),
    Sqlite {
        path: PathBuf,
        /// The default database in the user's data directory, used when no URL is given.
        embedded: bool,
    },
}

impl DatabaseTarget {
    /// The embedded default.
    pub fn embedded() -> Self {
        DatabaseTarget::Sqlite {
            path: crate::paths::embedded_database(),
            embedded: true,
        }
    }

    /// Parses `postgres://`, `postgresql://` or `sqlite://path` (also `sqlite:path`).
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let parsed = url::Url::parse(url).map_err(|e| format!("not a valid URL ({e})"))?;
            if parsed.host_str().is_none_or(str::is_empty)
                && !parsed.query_pairs().any(|(k, _)| k == "host")
            {
                return Err(
                    "a postgres URL needs a host, e.g. postgres://user@127.0.0.1:5432/db".into(),
                );
            }
            return Ok(DatabaseTarget::Postgres(SecretUrl::new(url)));
        }
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err("a sqlite URL needs a file path, e.g. sqlite:///tmp/sale.db".into());
            }
            if path == ":memory:" {
                return Err(
                    "an in-memory database would be empty for every connection; give a file path"
                        .into(),
                );
            }
            return Ok(DatabaseTarget::Sqlite {
                path: PathBuf::from(path),
                embedded: false,
            });
        }
        let scheme = url.split(':').next().unwrap_or_default();
        Err(format!(
            "unsupported scheme '{scheme}' (expected postgres://, postgresql:// or sqlite://)"
        ))
    }

    pub fn kind(&self) -> BackendKind {
        match self {
            DatabaseTarget::Postgres(_) => BackendKind::Postgres,
            DatabaseTarget::Sqlite { .. } => BackendKind::Sqlite,
        }
    }

    /// Whether this is the default database in the user's data directory.
    pub fn is_embedded(&self) -> bool {
        matches!(self, DatabaseTarget::Sqlite { embedded: true, .. })
    }
}

/// A URL that must name a PostgreSQL server (`for_what` says why, in the error for SQLite).
pub(super) fn postgres_only(value: &str, for_what: &str) -> Result<SecretUrl, String> {
    match DatabaseTarget::parse(value)? {
        DatabaseTarget::Postgres(url) => Ok(url),
        DatabaseTarget::Sqlite { .. } => Err(format!("{for_what} needs a postgres:// URL")),
    }
}

/// Shown on screen and in logs: never a password.
impl fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseTarget::Postgres(url) => write!(f, "{url}"),
            DatabaseTarget::Sqlite {
                path,
                embedded: true,
            } => {
                write!(f, "sqlite://{} (embedded)", path.display())
            }
            DatabaseTarget::Sqlite {
                path,
                embedded: false,
            } => write!(f, "sqlite://{}", path.display()),
        }
    }
}

impl fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseTarget({self})")
    }
}

/// The database engine behind a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Postgres,
    Sqlite,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Postgres => "postgres",
            BackendKind::Sqlite => "sqlite",
        })
    }
}
