//! A purchase's HTTP answer read back into the core's [`Outcome`]: the reference contract's
//! status codes, bodies and rate-limit headers, leniently (our server's and the reference's).

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;

use super::wire::WireMoney;
use flashsale_api as api;
use flashsale_core::model::Order;
use flashsale_core::purchase::{Invalid, Outcome};
use flashsale_core::ratelimit::Scope;

/// The fields of a purchase reply that any outcome may carry.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Reply {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    pub(crate) message: String,
    order: Option<WireOrder>,
    field: Option<String>,
    scope: Option<String>,
    available: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOrder {
    id: i64,
    product_id: i32,
    product_name: String,
    quantity: i32,
    total_price: WireMoney,
    remaining_stock: i32,
    created_at: String,
}

impl WireOrder {
    fn into_order(self) -> Result<Order, String> {
        Ok(Order {
            id: self.id,
            product_id: self.product_id,
            product_name: self.product_name,
            quantity: self.quantity,
            total_price: self.total_price.0,
            remaining_stock: self.remaining_stock,
            created_at: parse_time(&self.created_at)?,
        })
    }
}

pub(crate) fn parse_time(s: &str) -> Result<NaiveDateTime, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.naive_utc())
        .map_err(|_| format!("createdAt '{s}' is not an RFC 3339 time"))
}

/// The request field a 400 names, as the `'static` name [`Invalid`] carries.
fn known_field(name: Option<&str>) -> &'static str {
    match name {
        Some("quantity") => "quantity",
        Some("userId") => "userId",
        Some("productId") => "productId",
        Some("Idempotency-Key") => "Idempotency-Key",
        Some("id") => "id",
        Some("body") => "body",
        _ => "request",
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Maps a status and body back to the outcome the server had.
pub(crate) fn outcome_of(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Outcome {
    let reply: Option<Reply> = serde_json::from_slice(body).ok();
    let message = reply
        .as_ref()
        .map(|r| r.message.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
    match status {
        StatusCode::OK => match reply {
            Some(Reply {
                success: true,
                order: Some(order),
                ..
            }) => match order.into_order() {
                Ok(order) => Outcome::Purchased(order),
                Err(e) => Outcome::Failed(format!("purchased, but {e}")),
            },
            Some(Reply {
                success: false,
                available,
                ..
            }) => Outcome::SoldOut {
                available: available.unwrap_or(0),
            },
            _ => Outcome::Failed("HTTP 200 without a purchase reply".into()),
        },
        StatusCode::NOT_FOUND => Outcome::NotFound,
        StatusCode::TOO_MANY_REQUESTS => {
            let scope = headers
                .get(api::RATE_LIMIT_SCOPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| reply.as_ref().and_then(|r| r.scope.clone()));
            Outcome::RateLimited {
                scope: if scope.as_deref() == Some("user") {
                    Scope::User
                } else {
                    Scope::Ip
                },
                limit: header_u64(headers, api::RATE_LIMIT_LIMIT)
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0),
                retry_after: Duration::from_secs(
                    header_u64(headers, RETRY_AFTER.as_str()).unwrap_or(0),
                ),
            }
        }
        StatusCode::BAD_REQUEST
        | StatusCode::UNPROCESSABLE_ENTITY
        | StatusCode::PAYLOAD_TOO_LARGE => Outcome::Invalid(Invalid::Other {
            field: known_field(reply.as_ref().and_then(|r| r.field.as_deref())),
            message,
        }),
        StatusCode::SERVICE_UNAVAILABLE => Outcome::Busy(message),
        other => Outcome::Failed(format!("HTTP {}: {message}", other.as_u16())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_core::money::Money;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("value"));
        }
        h
    }

    #[test]
    fn a_purchase_reply_becomes_the_same_order() {
        let body = br#"{"success":true,"message":"Purchase successful","order":{"id":7,
            "productId":1,"productName":"Laptop Pro 15","quantity":2,"totalPrice":2599.98,
            "remainingStock":98,"createdAt":"2026-11-25T06:42:52.523Z"}}"#;
        let Outcome::Purchased(o) = outcome_of(StatusCode::OK, &HeaderMap::new(), body) else {
            panic!("expected a purchase");
        };
        assert_eq!(o.total_price, Money::from_cents(259_998));
        assert_eq!(o.remaining_stock, 98);
        let json = serde_json::to_value(&o).expect("json");
        assert_eq!(json["createdAt"], "2026-11-25T06:42:52.523Z");
    }

    #[test]
    fn statuses_map_to_outcomes() {
        let none = HeaderMap::new();
        assert_eq!(
            outcome_of(
                StatusCode::OK,
                &none,
                br#"{"success":false,"message":"Out of stock","available":1}"#
            ),
            Outcome::SoldOut { available: 1 }
        );
        assert_eq!(
            outcome_of(StatusCode::NOT_FOUND, &none, b"{}"),
            Outcome::NotFound
        );
        let limited = outcome_of(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[
                ("retry-after", "42"),
                ("x-ratelimit-limit", "5"),
                ("x-ratelimit-scope", "user"),
            ]),
            b"{}",
        );
        assert_eq!(
            limited,
            Outcome::RateLimited {
                scope: Scope::User,
                limit: 5,
                retry_after: Duration::from_secs(42)
            }
        );
        let invalid = outcome_of(
            StatusCode::BAD_REQUEST,
            &none,
            br#"{"success":false,"message":"quantity must be...","field":"quantity"}"#,
        );
        assert!(matches!(&invalid, Outcome::Invalid(i) if i.field() == "quantity"));
        assert!(matches!(
            outcome_of(StatusCode::SERVICE_UNAVAILABLE, &none, b"{}"),
            Outcome::Busy(_)
        ));
        assert!(matches!(
            outcome_of(StatusCode::INTERNAL_SERVER_ERROR, &none, b"not json"),
            Outcome::Failed(_)
        ));
    }
}
