//! What a purchase came to, as every caller (CLI, burst engine, HTTP, dashboard) sees it.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::model::Order;
use crate::ratelimit::{LimitNote, Scope};

/// Why a request was refused before reaching the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Invalid {
    #[error("quantity must be a whole number from 1 to {max} (got {got})")]
    Quantity { got: i64, max: u32 },
    #[error("userId must not be empty")]
    UserIdEmpty,
    #[error("userId must be at most {max} characters (got {got})")]
    UserIdTooLong { got: usize, max: usize },
    #[error("userId must not contain control characters")]
    UserIdControl,
    #[error("productId must be a positive integer (got {got})")]
    ProductId { got: i64 },
    #[error("{message}")]
    Other {
        field: &'static str,
        message: String,
    },
}

impl Invalid {
    /// The request field at fault, in the reference API's naming.
    pub fn field(&self) -> &'static str {
        match self {
            Invalid::Quantity { .. } => "quantity",
            Invalid::UserIdEmpty | Invalid::UserIdTooLong { .. } | Invalid::UserIdControl => {
                "userId"
            }
            Invalid::ProductId { .. } => "productId",
            Invalid::Other { field, .. } => field,
        }
    }
}

/// The typed result of one purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Committed: the order is durable.
    Purchased(Order),
    /// Not enough stock for the quantity asked; nothing written.
    SoldOut { available: i32 },
    /// No such product; nothing written.
    NotFound,
    /// Refused by a rate limit; nothing written, nothing counted.
    RateLimited {
        scope: Scope,
        limit: u32,
        retry_after: Duration,
    },
    /// Malformed request; nothing written, no rate-limit budget used.
    Invalid(Invalid),
    /// The system is saturated (no connection in time, statement timeout, or the rate limiter
    /// unreachable under the fail-closed policy); nothing written, try later.
    Busy(String),
    /// Something broke (e.g. the database is unreachable). The message is safe to show.
    Failed(String),
}

impl Outcome {
    /// A short stable name, used as a metric label and in JSON.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Purchased(_) => OutcomeKind::Purchased,
            Outcome::SoldOut { .. } => OutcomeKind::SoldOut,
            Outcome::NotFound => OutcomeKind::NotFound,
            Outcome::RateLimited {
                scope: Scope::User, ..
            } => OutcomeKind::RateLimitedUser,
            Outcome::RateLimited {
                scope: Scope::Ip, ..
            } => OutcomeKind::RateLimitedIp,
            Outcome::Invalid(_) => OutcomeKind::Invalid,
            Outcome::Busy(_) => OutcomeKind::Busy,
            Outcome::Failed(_) => OutcomeKind::Failed,
        }
    }

    pub fn order(&self) -> Option<&Order> {
        match self {
            Outcome::Purchased(o) => Some(o),
            _ => None,
        }
    }

    /// The reference API's message for this outcome.
    pub fn message(&self) -> String {
        match self {
            Outcome::Purchased(_) => "Purchase successful".into(),
            Outcome::SoldOut { .. } => "Out of stock".into(),
            Outcome::NotFound => "Product not found".into(),
            Outcome::RateLimited { .. } => "Rate limit exceeded".into(),
            Outcome::Invalid(reason) => reason.to_string(),
            Outcome::Busy(reason) => format!("Service busy, try again: {reason}"),
            Outcome::Failed(reason) => format!("Purchase failed: {reason}"),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Purchased(o) => write!(
                f,
                "purchased: order #{} — {} x {} for {} ({} left)",
                o.id, o.quantity, o.product_name, o.total_price, o.remaining_stock
            ),
            Outcome::SoldOut { available } => write!(f, "sold out ({available} left)"),
            Outcome::NotFound => f.write_str("no such product"),
            Outcome::RateLimited {
                scope,
                limit,
                retry_after,
            } => write!(
                f,
                "rate limited by {scope} ({limit} per window); retry in {:.1} s",
                retry_after.as_secs_f64()
            ),
            Outcome::Invalid(reason) => write!(f, "invalid: {reason}"),
            Outcome::Busy(reason) => write!(f, "busy: {reason}"),
            Outcome::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

/// The outcome's name without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Purchased,
    SoldOut,
    NotFound,
    RateLimitedUser,
    RateLimitedIp,
    Invalid,
    Busy,
    Failed,
}

impl OutcomeKind {
    pub const ALL: [OutcomeKind; 8] = [
        OutcomeKind::Purchased,
        OutcomeKind::SoldOut,
        OutcomeKind::NotFound,
        OutcomeKind::RateLimitedUser,
        OutcomeKind::RateLimitedIp,
        OutcomeKind::Invalid,
        OutcomeKind::Busy,
        OutcomeKind::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Purchased => "purchased",
            OutcomeKind::SoldOut => "sold_out",
            OutcomeKind::NotFound => "not_found",
            OutcomeKind::RateLimitedUser => "rate_limited_user",
            OutcomeKind::RateLimitedIp => "rate_limited_ip",
            OutcomeKind::Invalid => "invalid",
            OutcomeKind::Busy => "busy",
            OutcomeKind::Failed => "failed",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Busy and failed: the system's fault, what the error-rate alert counts (the burst tally's
    /// `Counts::errors` and the server's counters read by the dashboard alike). Sold out, rate
    /// limited, not found and invalid are answers to the buyer, not errors.
    pub fn is_error(self) -> bool {
        matches!(self, OutcomeKind::Busy | OutcomeKind::Failed)
    }
}

/// An outcome with what the rate limiter did on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub outcome: Outcome,
    /// `None` when the request never reached the limiter (invalid input).
    pub limit: Option<LimitNote>,
    /// How many times a deadlock or serialization failure was retried.
    pub retries: u32,
}

/// The JSON form of a receipt, for `flashsale buy --json`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptJson<'a> {
    pub success: bool,
    pub outcome: OutcomeKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<&'a Order>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u128>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<&'a LimitNote>,
}

impl Receipt {
    pub fn to_json(&self) -> ReceiptJson<'_> {
        ReceiptJson {
            success: matches!(self.outcome, Outcome::Purchased(_)),
            outcome: self.outcome.kind(),
            message: self.outcome.message(),
            order: self.outcome.order(),
            available: match self.outcome {
                Outcome::SoldOut { available } => Some(available),
                _ => None,
            },
            retry_after_ms: match self.outcome {
                Outcome::RateLimited { retry_after, .. } => Some(retry_after.as_millis()),
                _ => None,
            },
            field: match &self.outcome {
                Outcome::Invalid(i) => Some(i.field()),
                _ => None,
            },
            rate_limit: self.limit.as_ref(),
        }
    }
}
