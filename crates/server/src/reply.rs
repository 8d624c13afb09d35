//! Responses: every body is JSON with `success` and `message`; outcomes map to the reference
//! API's status codes; nothing from a driver or an SQL statement ever reaches a client.

use std::borrow::Cow;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use flashsale_api as api;
use flashsale_core::model::Order;
use flashsale_core::purchase::{Outcome, OutcomeKind};
use flashsale_core::ratelimit::Scope;
use flashsale_core::store::StoreError;

/// The message a client sees for anything that broke on our side.
pub const INTERNAL: &str = "Internal server error";

/// A JSON response with a status.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => json_bytes(status, bytes),
        Err(e) => {
            tracing::error!(error = %e, "response not serializable");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                r#"{"success":false,"message":"Internal server error"}"#,
            )
                .into_response()
        }
    }
}

/// A JSON response of bytes already serialized (a cached read keeps them for its `ETag`).
pub fn json_bytes(status: StatusCode, bytes: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

#[derive(Serialize)]
struct Failure<'a> {
    success: bool,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<Scope>,
    /// Out of stock: the stock there was (an addition to the reference body).
    #[serde(skip_serializing_if = "Option::is_none")]
    available: Option<i32>,
}

/// A refusal: status, a message for the client, and the request field at fault if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: Cow<'static, str>,
    pub field: Option<&'static str>,
}

impl ApiError {
    pub fn bad_request(field: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            field: Some(field),
        }
    }

    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
        }
    }

    /// A store error on a read endpoint: the details go to the log, the client gets a category.
    pub fn from_store(e: &StoreError) -> Self {
        tracing::warn!(error = %e, "store error");
        match e {
            e if e.is_busy() => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "Service busy, try again")
            }
            StoreError::Unavailable(_) | StoreError::Timeout(_) | StoreError::Connect(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "Database unavailable")
            }
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = json(
            self.status,
            &Failure {
                success: false,
                message: &self.message,
                field: self.field,
                scope: None,
                available: None,
            },
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res.extensions_mut().insert(match self.status {
            StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE
            | StatusCode::REQUEST_TIMEOUT => OutcomeKind::Invalid,
            StatusCode::SERVICE_UNAVAILABLE => OutcomeKind::Busy,
            _ => OutcomeKind::Failed,
        });
        res
    }
}

#[derive(Serialize)]
struct Purchased<'a> {
    success: bool,
    message: &'a str,
    order: &'a Order,
}

/// Whole seconds, rounded up: a client that waits this long is past the window.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).try_into().unwrap_or(u64::MAX)
}

fn header_num(n: u64) -> HeaderValue {
    HeaderValue::from(n)
}

/// The response for a purchase's outcome, in the reference API's shape.
pub fn outcome_response(outcome: &Outcome) -> Response {
    let mut res = match outcome {
        Outcome::Purchased(order) => json(
            StatusCode::OK,
            &Purchased {
                success: true,
                message: "Purchase successful",
                order,
            },
        ),
        Outcome::SoldOut { available } => json(
            StatusCode::OK,
            &Failure {
                success: false,
                message: "Out of stock",
                field: None,
                scope: None,
                available: Some(*available),
            },
        ),
        Outcome::NotFound => failure(StatusCode::NOT_FOUND, "Product not found", None, None),
        Outcome::RateLimited {
            scope,
            limit,
            retry_after,
        } => {
            let mut res = failure(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit exceeded",
                None,
                Some(*scope),
            );
            let h = res.headers_mut();
            h.insert(
                header::RETRY_AFTER,
                header_num(retry_after_secs(*retry_after)),
            );
            h.insert(
                HeaderName::from_static(api::RATE_LIMIT_LIMIT),
                header_num(u64::from(*limit)),
            );
            h.insert(
                HeaderName::from_static(api::RATE_LIMIT_REMAINING),
                HeaderValue::from_static("0"),
            );
            h.insert(
                HeaderName::from_static(api::RATE_LIMIT_SCOPE),
                HeaderValue::from_static(match scope {
                    Scope::User => "user",
                    Scope::Ip => "ip",
                }),
            );
            res
        }
        Outcome::Invalid(reason) => failure(
            StatusCode::BAD_REQUEST,
            &reason.to_string(),
            Some(reason.field()),
            None,
        ),
        Outcome::Busy(reason) => {
            tracing::warn!(%reason, "purchase answered busy");
            let mut res = failure(
                StatusCode::SERVICE_UNAVAILABLE,
                &outcome.message(),
                None,
                None,
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            res
        }
        Outcome::Failed(reason) => {
            tracing::warn!(%reason, "purchase failed");
            failure(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL, None, None)
        }
    };
    res.extensions_mut().insert(outcome.kind());
    res
}

fn failure(
    status: StatusCode,
    message: &str,
    field: Option<&str>,
    scope: Option<Scope>,
) -> Response {
    json(
        status,
        &Failure {
            success: false,
            message,
            field,
            scope,
            available: None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 0);
    }

    #[test]
    fn failed_purchases_hide_the_reason() {
        let res = outcome_response(&Outcome::Failed("database error: code 42P01".into()));
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            res.extensions().get::<OutcomeKind>(),
            Some(&OutcomeKind::Failed)
        );
    }
}
