//! Saving a burst's report (`w` in the burst list): the JSON `flashsale burst --json` prints
//! (the same serializer, [`flashsale_burst::BurstReport::json`]) and its text, into
//! `<state dir>/bursts/`, each file written atomically; the paths come back as an event.

use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use crate::event::Event;
use crate::state::BurstRecord;

/// `20261125T123456Z-p3-atomic`: sortable by time, readable in a listing, unique per second
/// and product (a second report of the same second gets `-2`, `-3`, ...).
fn stem(record: &BurstRecord, dir: &Path) -> PathBuf {
    let strategy = record
        .report
        .strategy
        .map(|s| s.to_string())
        .unwrap_or_else(|| "server".into());
    let base = format!(
        "{}-p{}-{strategy}",
        record.at.format("%Y%m%dT%H%M%SZ"),
        record.request.product_id
    );
    let mut stem = dir.join(&base);
    let mut n = 2;
    while stem.with_extension("json").exists() {
        stem = dir.join(format!("{base}-{n}"));
        n += 1;
    }
    stem
}

/// Writes both files into `dir`; their paths, or what failed (naming the path).
pub fn save(record: &BurstRecord, dir: &Path) -> Result<(String, String), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let stem = stem(record, dir);
    let (json_path, text_path) = (stem.with_extension("json"), stem.with_extension("txt"));
    let json = record.report.json()?;
    flashsale_core::paths::write_atomic(&json_path, format!("{json}\n").as_bytes())?;
    flashsale_core::paths::write_atomic(&text_path, record.report.text().as_bytes())?;
    Ok((
        json_path.display().to_string(),
        text_path.display().to_string(),
    ))
}

/// Saves off the loop (files can be slow), then reports.
pub(super) fn spawn(record: Box<BurstRecord>, tx: mpsc::Sender<Event>) {
    tokio::spawn(async move {
        let dir = flashsale_core::paths::bursts_dir();
        let saved = tokio::task::spawn_blocking(move || save(&record, &dir))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        let _ = tx.send(Event::Exported(saved)).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_files_are_saved_and_a_second_save_gets_its_own_name() {
        let dir = tempfile::tempdir().expect("tmp");
        let record = BurstRecord {
            request: crate::fixture::request(flashsale_core::strategy::Strategy::Atomic),
            report: Box::new(crate::fixture::report(false)),
            at: crate::fixture::wall(),
        };
        let (json, text) = save(&record, dir.path()).expect("saved");
        assert!(json.ends_with("20261125T123456Z-p3-atomic.json"), "{json}");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("JSON");
        assert_eq!(v["purchased"], 15);
        assert!(
            std::fs::read_to_string(&text)
                .expect("text")
                .contains("audit")
        );
        let (again, _) = save(&record, dir.path()).expect("saved again");
        assert!(again.ends_with("-p3-atomic-2.json"), "{again}");
    }

    #[test]
    fn a_save_that_cannot_be_made_names_the_path_and_why() {
        let dir = tempfile::tempdir().expect("tmp");
        let record = BurstRecord {
            request: crate::fixture::request(flashsale_core::strategy::Strategy::Atomic),
            report: Box::new(crate::fixture::report(false)),
            at: crate::fixture::wall(),
        };
        // A file where the bursts directory should be.
        let blocked = dir.path().join("bursts");
        std::fs::write(&blocked, "not a directory").expect("file");
        let e = save(&record, &blocked).expect_err("cannot save");
        assert!(e.contains(&blocked.display().to_string()), "{e}");
        assert!(
            e.contains("File exists") || e.contains("Not a directory"),
            "{e}"
        );
    }
}
