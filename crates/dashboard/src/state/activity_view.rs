//! The activity view's state (`d`): the backends of our database as the activity sampler last
//! sent them, which one is selected (by pid, so that a refresh reordering the rows keeps it),
//! and whether its query is read whole.

use flashsale_core::store::activity::{Activity, BackendRow};

use super::Sampled;

/// What the activity view shows and where its selection is.
#[derive(Debug, Clone, Default)]
pub struct ActivityView {
    /// The last sample: `Some(None)` when the database has no server to ask (SQLite).
    pub sample: Sampled<Option<Activity>>,
    /// The selected backend's pid; the first row when it is gone.
    pub selected_pid: Option<i32>,
    /// The selected backend's query read whole (`v` / Enter).
    pub whole: bool,
    /// Whether the runtime has been asked to run the sampler (the view or its dialog is open).
    pub watching: bool,
}

impl ActivityView {
    /// The backends of the last sample (none before the first, or on SQLite).
    pub fn backends(&self) -> &[BackendRow] {
        self.sample
            .value
            .as_ref()
            .and_then(Option::as_ref)
            .map_or(&[], |a| a.backends.as_slice())
    }

    /// The selected row's index.
    pub fn selected(&self) -> usize {
        let rows = self.backends();
        self.selected_pid
            .and_then(|pid| rows.iter().position(|b| b.pid == pid))
            .unwrap_or(0)
    }

    /// The selected backend, if any is listed.
    pub fn selected_backend(&self) -> Option<&BackendRow> {
        self.backends().get(self.selected())
    }

    /// Selects row `i` (clamped to the rows there are).
    pub fn select(&mut self, i: usize) {
        let rows = self.backends();
        let Some(last) = rows.len().checked_sub(1) else {
            return;
        };
        self.selected_pid = Some(rows[i.min(last)].pid);
    }
}
