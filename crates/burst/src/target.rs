//! Where a burst's purchases go: the shared purchase module in this process, or a server's
//! `POST /api/purchase` over HTTP.

use flashsale_client::ApiClient;
use flashsale_core::purchase::{Outcome, PurchaseRequest, Purchaser};

/// A destination for purchases. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub enum Target {
    /// In process, through the shared purchase module.
    Local(Purchaser),
    /// Over HTTP; the server chooses the strategy and sees the buyer's IP as `X-Forwarded-For`
    /// (honoured only when this client is one of its trusted proxies).
    Http(ApiClient),
}

impl Target {
    pub async fn purchase(&self, req: PurchaseRequest<'_>) -> Outcome {
        match self {
            Target::Local(p) => p.purchase(req).await.outcome,
            Target::Http(h) => h.purchase(&req).await,
        }
    }

    /// What the report shows as `target`, passwords masked.
    pub fn describe(&self) -> String {
        match self {
            Target::Local(p) => format!("in-process {}", p.store().kind()),
            Target::Http(h) => flashsale_core::redact::redact_url(h.base_url()),
        }
    }
}
