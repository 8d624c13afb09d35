//! Oversells an audit found, kept until the operator acknowledges them. A burst's audit is the
//! only witness of an oversell (the database cannot tell afterwards: a lost update leaves the
//! stock looking healthy), so what it found is written to a small file in the state directory,
//! per database: the dashboard shows it as the top alert after a restart, and
//! `dashboard --once --json` lists it, until it is acknowledged.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One product an audit found oversold (or with lost updates: its stock then reads more than
/// can honestly be sold), not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Oversell {
    /// The database it happened on, as the dashboard names it (passwords masked).
    pub database: String,
    pub product_id: i32,
    pub product_name: String,
    /// Units sold beyond the stock there was.
    pub oversold: u64,
    /// Units in orders that never left the stock.
    pub lost_updates: u64,
    /// When the audit found it.
    pub at: DateTime<Utc>,
}

impl Oversell {
    /// The audit verdict's words, `OVERSOLD by 9, LOST 12 updates`.
    pub fn verdict(&self) -> String {
        let mut parts = Vec::new();
        if self.oversold > 0 {
            parts.push(format!("OVERSOLD by {}", self.oversold));
        }
        if self.lost_updates > 0 {
            parts.push(format!("LOST {} updates", self.lost_updates));
        }
        parts.join(", ")
    }

    /// Two findings on one product add up into one, dated by the later.
    pub fn merge(&mut self, later: &Oversell) {
        self.oversold += later.oversold;
        self.lost_updates += later.lost_updates;
        self.product_name.clone_from(&later.product_name);
        self.at = self.at.max(later.at);
    }
}

/// The file: `oversells.json` in the state directory.
pub fn file() -> PathBuf {
    flashsale_core::paths::state_dir().join("oversells.json")
}

/// Every record in `path` (all databases); none when the file does not exist. A file that
/// cannot be read is an error: silently forgetting an oversell is what this file prevents.
pub fn load_all(path: &Path) -> Result<Vec<Oversell>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("{} is not readable: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The unacknowledged oversells of `database`.
pub fn load(path: &Path, database: &str) -> Result<Vec<Oversell>, String> {
    Ok(load_all(path)?
        .into_iter()
        .filter(|o| o.database == database)
        .collect())
}

/// Replaces the records of `database` in `path` with `current` (other databases' kept), written
/// to a temporary file and renamed over the old one, so a reader never sees half a file.
pub fn save(path: &Path, database: &str, current: &[Oversell]) -> Result<(), String> {
    let mut all: Vec<Oversell> = load_all(path)?
        .into_iter()
        .filter(|o| o.database != database)
        .collect();
    all.extend(current.iter().cloned());
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(database: &str, id: i32, oversold: u64, lost: u64) -> Oversell {
        Oversell {
            database: database.into(),
            product_id: id,
            product_name: format!("P{id}"),
            oversold,
            lost_updates: lost,
            at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn records_are_kept_per_database_and_replaced_whole() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("state").join("oversells.json");
        assert_eq!(load(&path, "a"), Ok(Vec::new()), "no file: none");
        save(&path, "a", &[found("a", 1, 5, 0)]).expect("save a");
        save(&path, "b", &[found("b", 2, 1, 1)]).expect("save b");
        assert_eq!(load(&path, "a"), Ok(vec![found("a", 1, 5, 0)]));
        save(&path, "a", &[]).expect("acknowledged");
        assert_eq!(load(&path, "a"), Ok(Vec::new()));
        assert_eq!(load(&path, "b"), Ok(vec![found("b", 2, 1, 1)]));
        std::fs::write(&path, "not json").expect("write");
        assert!(
            load(&path, "b").is_err(),
            "a broken file is not taken for none"
        );
    }
}
