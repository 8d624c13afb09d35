//! The preferences kept across restarts in `<state dir>/prefs.json`
//! ([`flashsale_core::paths::prefs_file`]): the last burst parameters (as the editor and `s`
//! left them), the theme and the refresh rate. Only the file's shape, its reading and its
//! checking live here: the app decides when they changed, the runtime writes them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::state::editor::{Field, apply};
use crate::state::{BurstParams, REFRESH_STEPS};

/// `prefs.json`. Every entry is optional: one missing (or written by a newer version under a
/// name we do not know) leaves that preference at its default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prefs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<SavedBurst>,
}

/// The burst parameters as saved: the editor's fields, checked as the editor checks them when
/// read back (a hand-edited file gets no value the editor would refuse).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedBurst {
    pub buyers: u32,
    pub concurrency: u32,
    /// `N`, or `A..B` for a range, as the editor writes it.
    pub quantity: String,
    pub strategy: String,
    /// Client IPs the buyers spread over; `null`: one per buyer.
    pub ips: Option<u32>,
    pub restock_to: i32,
}

impl SavedBurst {
    pub fn of(p: &BurstParams) -> SavedBurst {
        SavedBurst {
            buyers: p.buyers,
            concurrency: p.concurrency,
            quantity: p.quantity.to_string(),
            strategy: p.strategy.to_string(),
            ips: p.ips,
            restock_to: p.restock_to,
        }
    }

    /// The parameters, or the first field the editor would refuse and why.
    pub fn params(&self, max_quantity: u32) -> Result<BurstParams, String> {
        let mut p = BurstParams::default();
        let fields = [
            (Field::Buyers, self.buyers.to_string()),
            (Field::Concurrency, self.concurrency.to_string()),
            (Field::Quantity, self.quantity.clone()),
            (Field::Strategy, self.strategy.clone()),
            (
                Field::Ips,
                self.ips.map_or("per-buyer".into(), |n| n.to_string()),
            ),
            (Field::RestockTo, self.restock_to.to_string()),
        ];
        for (field, text) in fields {
            apply(&mut p, field, &text, max_quantity)
                .map_err(|e| format!("{}: {e}", field.label()))?;
        }
        Ok(p)
    }
}

/// The refresh period `ms` names, if it is one of the steps `+`/`-` walk through.
pub fn refresh_step(ms: u64) -> Option<std::time::Duration> {
    REFRESH_STEPS
        .iter()
        .copied()
        .find(|d| d.as_millis() == u128::from(ms))
}

/// The file's preferences; `None` when there is no file yet. The error names the file and
/// says what is wrong with it (unreadable, not JSON, a value of the wrong type).
pub fn read(path: &Path) -> Result<Option<Prefs>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{} is not valid preferences: {e}", path.display()))
}

/// Writes `prefs` to `path` whole or not at all (its directory created if need be).
pub fn save(path: &Path, prefs: &Prefs) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(prefs).map_err(|e| e.to_string())?;
    flashsale_core::paths::write_atomic(path, format!("{json}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_burst::Quantity;
    use flashsale_core::strategy::Strategy;

    fn every_one() -> Prefs {
        let params = BurstParams {
            buyers: 500,
            concurrency: 8,
            quantity: Quantity::Range(1, 3),
            strategy: Strategy::RowLock,
            ips: Some(20),
            restock_to: 40,
        };
        Prefs {
            theme: Some("light".into()),
            refresh_ms: Some(2_000),
            burst: Some(SavedBurst::of(&params)),
        }
    }

    #[test]
    fn saved_prefs_read_back_the_same_and_the_parameters_too() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("state/prefs.json");
        assert_eq!(read(&path), Ok(None), "no file yet: nothing, and no error");
        save(&path, &every_one()).expect("saved");
        let back = read(&path).expect("readable").expect("a file");
        assert_eq!(back, every_one());
        let p = back.burst.expect("burst").params(10).expect("valid");
        assert_eq!(
            (p.buyers, p.quantity, p.strategy, p.ips),
            (500, Quantity::Range(1, 3), Strategy::RowLock, Some(20))
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("text")).expect("JSON");
        assert_eq!(json["refreshMs"], 2_000);
        assert_eq!(json["burst"]["restockTo"], 40);
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it_and_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("prefs.json");
        std::fs::write(&path, "{\"theme\": \"light\", ").expect("write");
        let e = read(&path).expect_err("corrupt");
        assert!(e.contains(&path.display().to_string()), "{e}");
        assert!(e.contains("EOF while parsing"), "{e}");
        std::fs::write(&path, "{\"refreshMs\": \"fast\"}").expect("write");
        let e = read(&path).expect_err("a string for a number");
        assert!(e.contains("invalid type"), "{e}");
        // A directory where the file should be: unreadable, said so.
        let e = read(dir.path()).expect_err("a directory");
        assert!(e.starts_with("cannot read"), "{e}");
    }

    #[test]
    fn unknown_entries_are_passed_over_and_missing_ones_stay_default() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("prefs.json");
        std::fs::write(&path, "{\"theme\": \"mono\", \"future\": [1, 2]}").expect("write");
        let p = read(&path).expect("readable").expect("a file");
        assert_eq!(p.theme.as_deref(), Some("mono"));
        assert_eq!((p.refresh_ms, p.burst), (None, None));
    }

    #[test]
    fn saved_parameters_the_editor_would_refuse_are_refused_naming_the_field() {
        let mut b = SavedBurst::of(&BurstParams::default());
        b.quantity = "40".into();
        assert_eq!(
            b.params(10),
            Err("quantity: at most 10 (max_quantity)".into())
        );
        b.quantity = "1".into();
        b.buyers = 0;
        assert!(b.params(10).expect_err("0 buyers").starts_with("buyers:"));
        assert_eq!(refresh_step(2_000), Some(std::time::Duration::from_secs(2)));
        assert_eq!(refresh_step(1_234), None);
    }
}
