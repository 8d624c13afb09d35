//! Reading requests our own way, so that axum's plain-text rejections never reach a client:
//! the purchase body (JSON by its `Content-Type`, size- and time-limited, every type mistake a
//! 400 naming the field) and ids in paths.

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use super::reply::ApiError;
use flashsale_api::BODY_LIMIT;

/// A purchase body with the right types; ranges are the purchase module's to check, so that
/// there is one validation and it runs before the rate limiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseInput {
    pub product_id: i64,
    pub user_id: String,
    pub quantity: i64,
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body must be at most {BODY_LIMIT} bytes"),
    )
}

/// A body we parse must say it is JSON (`application/json`, any parameters): a `text/plain`
/// one is what a cross-site form sends without a preflight.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if json {
        Ok(())
    } else {
        Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: "Content-Type must be application/json".into(),
            field: Some("content-type"),
        })
    }
}

/// Reads at most [`BODY_LIMIT`] bytes within `timeout`: a declared length over the limit is
/// refused before reading, an undeclared (chunked) one as soon as it passes it; a body still
/// arriving when the time is up is answered 408.
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    timeout: Duration,
) -> Result<bytes::Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    let read = tokio::time::timeout(timeout, to_bytes(body, BODY_LIMIT))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} ms",
                    timeout.as_millis()
                ),
            )
        })?;
    read.map_err(|e| {
        let over = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over {
            too_large()
        } else {
            ApiError::bad_request("body", "the request body could not be read")
        }
    })
}

/// Parses a purchase body: `{"productId": int, "userId": string, "quantity"?: int}`.
pub fn parse_purchase(bytes: &[u8]) -> Result<PurchaseInput, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            ApiError::bad_request("body", "request body must be a JSON object")
        } else {
            ApiError::bad_request(
                "body",
                format!("malformed JSON at line {} column {}", e.line(), e.column()),
            )
        }
    })?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request(
            "body",
            "request body must be a JSON object",
        ));
    };
    let product_id = match map.get("productId") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request("productId", "productId is required"));
        }
        Some(v) => whole_number(v, "productId")?,
    };
    let user_id = match map.get("userId") {
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request("userId", "userId is required"));
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(
                "userId",
                format!("userId must be a string, not {}", type_name(other)),
            ));
        }
    };
    let quantity = match map.get("quantity") {
        None | Some(Value::Null) => 1,
        Some(v) => whole_number(v, "quantity")?,
    };
    Ok(PurchaseInput {
        product_id,
        user_id,
        quantity,
    })
}

/// A JSON number that is a whole number in `i64` (`2` and `2.0` are; `1.5`, `"2"` and `1e30`
/// are not).
fn whole_number(v: &Value, field: &'static str) -> Result<i64, ApiError> {
    let Value::Number(n) = v else {
        return Err(ApiError::bad_request(
            field,
            format!("{field} must be a whole number, not {}", type_name(v)),
        ));
    };
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    // Exactly representable whole floats only: the range check keeps the cast lossless.
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() <= LIMIT => Ok(f as i64),
        Some(f) if f.fract() == 0.0 || n.is_u64() => Err(ApiError::bad_request(
            field,
            format!("{field} is out of range (got {n})"),
        )),
        _ => Err(ApiError::bad_request(
            field,
            format!("{field} must be a whole number (got {n})"),
        )),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A product id from a path segment: a positive whole number that fits the schema's `INTEGER`.
pub fn path_id(raw: &str) -> Result<i32, ApiError> {
    raw.parse::<i64>()
        .ok()
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            let shown: String = raw.chars().take(40).collect();
            ApiError::bad_request(
                "id",
                format!("id must be a positive integer (got '{shown}')"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: &str) -> Option<&'static str> {
        parse_purchase(body.as_bytes()).err().and_then(|e| e.field)
    }

    #[test]
    fn well_formed_bodies_parse_with_quantity_defaulting_to_one() {
        assert_eq!(
            parse_purchase(br#"{"productId":1,"userId":"u"}"#).expect("valid"),
            PurchaseInput {
                product_id: 1,
                user_id: "u".into(),
                quantity: 1
            }
        );
        let p =
            parse_purchase(br#"{"productId":2.0,"userId":"u","quantity":3,"x":1}"#).expect("valid");
        assert_eq!((p.product_id, p.quantity), (2, 3));
        // Ranges are the purchase module's: these parse, and it refuses them.
        let p = parse_purchase(br#"{"productId":1,"userId":"u","quantity":-5}"#).expect("parses");
        assert_eq!(p.quantity, -5);
    }

    #[test]
    fn type_mistakes_name_their_field() {
        assert_eq!(field_of("{"), Some("body"));
        assert_eq!(field_of(""), Some("body"));
        assert_eq!(field_of("[1]"), Some("body"));
        assert_eq!(field_of(r#"{"userId":"u"}"#), Some("productId"));
        assert_eq!(
            field_of(r#"{"productId":"abc","userId":"u"}"#),
            Some("productId")
        );
        assert_eq!(field_of(r#"{"productId":1}"#), Some("userId"));
        assert_eq!(field_of(r#"{"productId":1,"userId":7}"#), Some("userId"));
        for q in ["1.5", "\"2\"", "true", "1e30", "18446744073709551615", "[]"] {
            let body = format!(r#"{{"productId":1,"userId":"u","quantity":{q}}}"#);
            assert_eq!(field_of(&body), Some("quantity"), "{q}");
        }
    }

    #[test]
    fn only_json_content_types_are_read() {
        let mut h = HeaderMap::new();
        assert_eq!(
            require_json(&h).map_err(|e| e.status),
            Err(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        for (ct, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            h.insert(header::CONTENT_TYPE, ct.parse().expect("header"));
            assert_eq!(require_json(&h).is_ok(), ok, "{ct}");
        }
    }

    #[test]
    fn path_ids_must_be_positive_integers() {
        assert_eq!(path_id("42").expect("id"), 42);
        for bad in ["abc", "0", "-1", "1.5", "99999999999", ""] {
            let e = path_id(bad).expect_err(bad);
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert_eq!(e.field, Some("id"));
        }
    }
}
