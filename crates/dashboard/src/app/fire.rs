//! Firing a burst (asking first, whatever the database: these are real orders) and what the
//! audit's verdict leaves behind: an oversell stays the top alert until acknowledged.

use super::{App, Effect};
use crate::state::{BurstPhase, BurstRequest, Confirm, Level, Overlay, Pane, Pending};

impl App {
    pub(super) fn fire(&mut self) {
        let s = &self.state;
        if s.read_only {
            return self.notice(
                Level::Warn,
                "read-only: bursts and restocks are disabled (started with --read-only)",
            );
        }
        if !s.connected {
            let what = if s.over_api() {
                "the API"
            } else {
                "the database"
            };
            return self.notice(Level::Warn, format!("not connected to {what} yet"));
        }
        if s.burst.is_running() {
            return self.notice(Level::Warn, "a burst is already running (Esc cancels it)");
        }
        let Some(p) = s.selected_product() else {
            return self.notice(Level::Warn, "no product to fire at yet");
        };
        let request = BurstRequest {
            product_id: p.id,
            product_name: p.name.clone(),
            params: s.burst.params.clone(),
        };
        let strategy = match (&s.conn.api, s.server_strategy()) {
            (None, _) => format!("strategy {}", request.params.strategy.label()),
            (Some(_), Some(name)) => format!("the server's strategy ({name})"),
            (Some(_), None) => "the server's strategy".to_string(),
        };
        let mut lines = vec![
            format!(
                "{} purchases of {} (#{}) at concurrency {}, {strategy}",
                request.params.buyers,
                request.product_name,
                request.product_id,
                request.params.concurrency,
            ),
            if s.conn.embedded {
                format!(
                    "against the embedded {} — these are real orders.",
                    s.conn.short
                )
            } else {
                format!("against {} — these are real orders.", s.conn.database)
            },
        ];
        if let Some(api) = &s.conn.api {
            lines.push(match &api.database {
                Some(db) => format!("Over HTTP; audited against {db}."),
                None => "Over HTTP; not audited (no --database-url).".to_string(),
            });
            // The buyers' addresses travel in X-Forwarded-For, which a server believes only
            // from a proxy it trusts; nothing in the API tells whether it trusts us.
            let ips = request.params.ips.unwrap_or(request.params.buyers);
            if ips > 1 {
                lines.push(format!(
                    "IP spread ({ips}): only if the server's TRUSTED_PROXIES lists us."
                ));
            }
        }
        if request.params.strategy.is_unsafe() && !s.over_api() {
            lines.push("naive is UNSAFE: expect an oversell.".into());
        }
        self.state.overlay = Some(Overlay::Confirm(Confirm {
            title: "Fire a burst?".into(),
            lines,
            on_yes: Pending::Burst(request),
            back: None,
        }));
    }

    pub(super) fn carry_out(&mut self, pending: Pending, effects: &mut Vec<Effect>) {
        let s = &mut self.state;
        match pending {
            Pending::Signal { pid, signal } => effects.push(Effect::Signal { pid, signal }),
            Pending::ResetLimits { who, keys } => effects.push(Effect::ResetLimits { who, keys }),
            Pending::Burst(request) => {
                if s.burst.is_running() {
                    return self.notice(Level::Warn, "a burst is already running");
                }
                let over_api = s.over_api();
                s.log.push(
                    s.wall,
                    if request.params.strategy.is_unsafe() && !over_api {
                        Level::Warn
                    } else {
                        Level::Info
                    },
                    format!(
                        "burst started: {} buyers on {}, {}",
                        request.params.buyers,
                        request.product_name,
                        if over_api {
                            "over HTTP".to_string()
                        } else {
                            request.params.strategy.label().to_string()
                        }
                    ),
                );
                s.burst.throughput.clear();
                s.burst.counted = (0, 0);
                s.burst.phase = BurstPhase::Running {
                    progress: flashsale_burst::Progress {
                        planned: u64::from(request.params.buyers),
                        ..Default::default()
                    },
                    request: request.clone(),
                    started: s.wall,
                    cancelling: false,
                };
                s.focus = Pane::Burst;
                effects.push(Effect::StartBurst(request));
            }
            Pending::Restock {
                product_id, stock, ..
            } => effects.push(Effect::Restock { product_id, stock }),
        }
    }

    /// The audit of a finished burst found units sold beyond the stock, or lost updates (the
    /// stock then reads more than there is): kept as the top alert until acknowledged.
    pub(super) fn record_oversell(
        &mut self,
        request: &BurstRequest,
        report: &flashsale_burst::BurstReport,
        effects: &mut Vec<Effect>,
    ) {
        let Some(a) = report.audit.as_ref() else {
            return;
        };
        if a.oversold == 0 && a.lost_updates == 0 {
            return;
        }
        let s = &mut self.state;
        let found = flashsale_monitor::Oversell {
            database: s.conn.database.clone(),
            product_id: request.product_id,
            product_name: request.product_name.clone(),
            oversold: a.oversold.max(0) as u64,
            lost_updates: a.lost_updates.max(0) as u64,
            at: s.wall,
        };
        match s
            .oversells
            .iter_mut()
            .find(|o| o.product_id == found.product_id)
        {
            Some(o) => o.merge(&found),
            None => s.oversells.push(found),
        }
        effects.push(Effect::SaveOversells(s.oversells.clone()));
        self.refresh_alerts();
    }

    /// `a`: the operator has seen the oversells; their alerts go (the events keep them).
    pub(super) fn acknowledge(&mut self, effects: &mut Vec<Effect>) {
        let s = &mut self.state;
        if s.oversells.is_empty() {
            return self.notice(Level::Info, "no oversell to acknowledge");
        }
        for o in std::mem::take(&mut s.oversells) {
            let key = flashsale_monitor::alerts::oversold(&o).key;
            s.alerts.retain(|a| a.key != key);
            s.alert_clearing.remove(&key);
            s.log.push(
                s.wall,
                Level::Warn,
                format!("acknowledged: {} {}", o.product_name, o.verdict()),
            );
        }
        effects.push(Effect::SaveOversells(Vec::new()));
        self.refresh_alerts();
    }
}
