//! Where a burst's purchases go: the shared purchase module in this process, or a server's
//! `POST /api/purchase` over HTTP.

use flashsale_client::ApiClient;
use flashsale_core::purchase::{IdempotencyKey, Outcome, PurchaseRequest, Purchaser};

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
    /// One purchase, under `key` as its idempotency key when given.
    pub async fn purchase(&self, req: PurchaseRequest<'_>, key: Option<&str>) -> Outcome {
        match (self, key) {
            (Target::Local(p), None) => p.purchase(req).await.outcome,
            (Target::Local(p), Some(key)) => match IdempotencyKey::parse(key) {
                Ok(key) => match p.purchase_idempotent(req, &key).await {
                    Ok(keyed) => keyed.receipt.outcome,
                    Err(reused) => Outcome::Failed(reused.to_string()),
                },
                Err(e) => Outcome::Failed(format!("idempotency key: {e}")),
            },
            (Target::Http(h), None) => h.purchase(&req).await,
            (Target::Http(h), Some(key)) => h.purchase_with_key(&req, key).await.0,
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
