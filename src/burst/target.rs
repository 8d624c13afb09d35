//! Where a burst's purchases go: the shared purchase module in this process, or (with the HTTP
//! client) a server's `POST /api/purchase`.

use crate::purchase::{Outcome, PurchaseRequest, Purchaser};

/// A destination for purchases. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub enum Target {
    /// In process, through the shared purchase module.
    Local(Purchaser),
}

impl Target {
    pub async fn purchase(&self, req: PurchaseRequest<'_>) -> Outcome {
        match self {
            Target::Local(p) => p.purchase(req).await.outcome,
        }
    }

    /// What the report shows as `target`, passwords masked.
    pub fn describe(&self) -> String {
        match self {
            Target::Local(p) => format!("in-process {}", p.store().kind()),
        }
    }
}
