//! The burst pane's data: the parameters, the run in progress or its report, and every burst
//! finished in this session (the `B` list).

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use flashsale_burst::{BurstReport, BurstSpec, Load, Progress, Quantity};
use flashsale_core::strategy::Strategy;

/// Points kept in the throughput sparkline.
pub const THROUGHPUT_POINTS: usize = 120;
/// Finished bursts kept for the `B` list: a session of demos fires tens; the oldest go first.
pub const HISTORY_KEPT: usize = 100;

/// A burst that finished with a report, as the `B` list shows it and `w` saves it.
#[derive(Debug, Clone, PartialEq)]
pub struct BurstRecord {
    pub request: BurstRequest,
    pub report: Box<BurstReport>,
    /// When it finished.
    pub at: DateTime<Utc>,
}

/// What the next burst will do (the product is the stock pane's selection).
#[derive(Debug, Clone, PartialEq)]
pub struct BurstParams {
    pub buyers: u32,
    pub concurrency: u32,
    pub quantity: Quantity,
    pub strategy: Strategy,
    /// Client IPs the buyers spread over; `None`: one per buyer.
    pub ips: Option<u32>,
    /// What `r` restocks the selected product to.
    pub restock_to: i32,
}

impl Default for BurstParams {
    fn default() -> Self {
        Self {
            buyers: 200,
            concurrency: 32,
            quantity: Quantity::Fixed(1),
            strategy: Strategy::default(),
            ips: None,
            restock_to: 100,
        }
    }
}

/// A burst the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct BurstRequest {
    pub product_id: i32,
    pub product_name: String,
    pub params: BurstParams,
}

impl BurstRequest {
    /// The engine's spec (a fresh user prefix and seed each time).
    pub fn spec(&self) -> BurstSpec {
        let p = &self.params;
        let mut spec = BurstSpec::new(self.product_id, p.buyers, p.concurrency, p.strategy);
        spec.quantity = p.quantity;
        spec.ips = p.ips.unwrap_or(p.buyers).max(1);
        spec.load = Load::Closed {
            concurrency: p.concurrency,
        };
        spec
    }
}

/// Where the burst pane is.
#[derive(Debug, Clone, PartialEq)]
pub enum BurstPhase {
    Idle,
    Running {
        request: BurstRequest,
        started: DateTime<Utc>,
        progress: Progress,
        /// Esc was pressed: purchases in flight finish, then the audit runs.
        cancelling: bool,
    },
    Finished {
        request: BurstRequest,
        report: Box<BurstReport>,
        at: DateTime<Utc>,
    },
    Failed {
        request: Option<BurstRequest>,
        error: String,
        at: DateTime<Utc>,
    },
}

/// The pane's state.
#[derive(Debug, Clone)]
pub struct BurstState {
    pub params: BurstParams,
    pub phase: BurstPhase,
    /// Completions per second at each progress step, newest last.
    pub throughput: VecDeque<u64>,
    pub editor: Option<super::Editor>,
    /// (completed, errors) at the last progress step, for deltas.
    pub counted: (u64, u64),
    /// The bursts finished in this session, oldest first, at most [`HISTORY_KEPT`].
    pub history: Vec<BurstRecord>,
}

impl Default for BurstState {
    fn default() -> Self {
        Self {
            params: BurstParams::default(),
            phase: BurstPhase::Idle,
            throughput: VecDeque::new(),
            editor: None,
            counted: (0, 0),
            history: Vec::new(),
        }
    }
}

impl BurstState {
    pub fn is_running(&self) -> bool {
        matches!(self.phase, BurstPhase::Running { .. })
    }

    /// Keeps a finished burst for the list, dropping the oldest beyond [`HISTORY_KEPT`].
    pub fn remember(&mut self, record: BurstRecord) {
        self.history.push(record);
        if self.history.len() > HISTORY_KEPT {
            self.history.remove(0);
        }
    }

    /// The `i`-th burst of the list, which shows the newest first.
    pub fn listed(&self, i: usize) -> Option<&BurstRecord> {
        self.history.iter().rev().nth(i)
    }

    pub fn push_throughput(&mut self, per_s: f64) {
        self.throughput.push_back(per_s.max(0.0).round() as u64);
        while self.throughput.len() > THROUGHPUT_POINTS {
            self.throughput.pop_front();
        }
    }
}
