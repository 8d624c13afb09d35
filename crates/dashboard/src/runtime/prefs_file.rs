//! Writing the preferences file off the loop: one writer task that writes the latest
//! preferences only (ten presses of `+` are one write, never two writes racing over one
//! temporary file); on leaving, what is pending is written before the dashboard returns.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::event::Event;
use crate::prefs::{self, Prefs};
use crate::state::Level;

/// How long leaving waits for the last preferences to be written.
const FINISH_WAIT: Duration = Duration::from_secs(2);

pub(super) struct PrefsWriter {
    tx: watch::Sender<Option<Prefs>>,
    task: JoinHandle<()>,
}

impl PrefsWriter {
    /// Writes to `path`; a failure (naming the file and why) goes to the events pane.
    pub(super) fn start(path: PathBuf, events: mpsc::Sender<Event>) -> PrefsWriter {
        let (tx, mut rx) = watch::channel::<Option<Prefs>>(None);
        let task = tokio::spawn(async move {
            // Ends once the sender is gone and the last value was written.
            while rx.changed().await.is_ok() {
                let Some(wanted) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let path = path.clone();
                let saved = tokio::task::spawn_blocking(move || prefs::save(&path, &wanted))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r);
                if let Err(e) = saved {
                    let text = format!("preferences not saved: {e}");
                    let _ = events.send(Event::Note(Level::Error, text)).await;
                }
            }
        });
        PrefsWriter { tx, task }
    }

    pub(super) fn save(&self, wanted: Prefs) {
        self.tx.send_replace(Some(wanted));
    }

    /// Waits (at most [`FINISH_WAIT`]) for the pending write.
    pub(super) async fn finish(self) {
        drop(self.tx);
        if tokio::time::timeout(FINISH_WAIT, self.task).await.is_err() {
            tracing::warn!("left before the preferences were written");
        }
    }
}
