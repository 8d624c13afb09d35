//! Admin endpoints (`/api/admin/stats`, `/metrics`): a bearer token when one is configured;
//! without one, loopback listeners only.

use std::time::Duration;

use flashsale_client::{ApiClient, ClientError};
use flashsale_core::redact::Secret;
use flashsale_server::ServerConfig;
use reqwest::StatusCode;

use crate::support::haproxy::HaProxy;
use crate::support::http::{TestServer, config, raw};
use crate::support::{TestDb, unlimited};

const TOKEN: &str = "test-admin-token-0123456789";

#[tokio::test]
async fn admin_endpoints_need_the_bearer_token_when_one_is_set() {
    let (_db, store) = TestDb::seeded().await;
    let s = TestServer::start(
        unlimited(&store),
        ServerConfig {
            admin_token: Some(Secret::new(TOKEN)),
            ..config()
        },
    )
    .await;
    for path in ["/api/admin/stats", "/metrics"] {
        let url = format!("{}{path}", s.url);
        let none = raw().get(&url).send().await.expect("request");
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(none.headers().contains_key("www-authenticate"));
        let body = none.text().await.expect("text");
        assert!(!body.contains(TOKEN), "{body}");
        let wrong = raw()
            .get(&url)
            .bearer_auth("test-admin-token-0123456788")
            .send()
            .await
            .expect("request");
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{path}");
        let right = raw()
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(right.status(), StatusCode::OK, "{path}");
    }
    let anonymous = ApiClient::new(&s.url, 1, Duration::from_secs(10)).expect("client");
    assert!(matches!(
        anonymous.stats().await,
        Err(ClientError::Status { status: 401, .. })
    ));
    let admin = anonymous.with_admin_token(Secret::new(TOKEN));
    let stats = admin.stats().await.expect("stats");
    assert_eq!(stats.total_units_sold, 14);
    assert_eq!(stats.revenue_by_day.len(), 7);
    // Public endpoints need nothing.
    assert_eq!(admin.stock(1).await.expect("stock"), Some(100));
}

#[tokio::test]
async fn without_a_token_admin_endpoints_refuse_non_loopback_listeners() {
    let (_db, store) = TestDb::seeded().await;
    // Listening on every interface; the test still talks to it over loopback only.
    let s = TestServer::start_on("0.0.0.0:0", unlimited(&store), config()).await;
    for path in ["/api/admin/stats", "/metrics"] {
        let res = raw()
            .get(format!("{}{path}", s.url))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let client = s.client();
    assert_eq!(client.stock(1).await.expect("stock"), Some(100));
    let product = client.product(2).await.expect("product").expect("exists");
    assert_eq!(product.name, "Wireless Mouse");
    assert_eq!(client.product(999).await.expect("product"), None);
    let health = client.health().await.expect("health");
    assert!(health.success);
}

/// The README's deployment: HAProxy on the same host in front of a loopback listener, loopback
/// trusted as a proxy. Without a token, what HAProxy forwards is the internet: 403 however
/// local its connection looks; a direct local client still gets in. With the token, the
/// token decides, through the proxy too.
#[tokio::test]
async fn admin_through_a_same_host_proxy_needs_the_token() {
    let (_db, store) = TestDb::seeded().await;
    let open = TestServer::start(unlimited(&store), config()).await;
    let proxy = HaProxy::start(open.addr);
    for path in ["/api/admin/stats", "/metrics"] {
        let via = raw()
            .get(format!("{}{path}", proxy.url()))
            .send()
            .await
            .expect("request");
        assert_eq!(
            via.status(),
            StatusCode::FORBIDDEN,
            "{path}: {}",
            proxy.log()
        );
        let body: serde_json::Value =
            serde_json::from_str(&via.text().await.expect("text")).expect("json body");
        assert_eq!(body["success"], false);
        let direct = raw()
            .get(format!("{}{path}", open.url))
            .send()
            .await
            .expect("request");
        assert_eq!(direct.status(), StatusCode::OK, "{path} direct");
    }
    // Health tells the policy on Redis outages only to whom may see admin figures.
    let via: serde_json::Value = raw()
        .get(format!("{}/api/health", proxy.url()))
        .send()
        .await
        .expect("health")
        .text()
        .await
        .map(|t| serde_json::from_str(&t).expect("json"))
        .expect("text");
    assert!(via.get("rateLimitOnRedisDown").is_none(), "{via}");
    let direct: serde_json::Value = raw()
        .get(format!("{}/api/health", open.url))
        .send()
        .await
        .expect("health")
        .text()
        .await
        .map(|t| serde_json::from_str(&t).expect("json"))
        .expect("text");
    assert_eq!(direct["rateLimitOnRedisDown"], "fail-open", "{direct}");

    let guarded = TestServer::start(
        unlimited(&store),
        ServerConfig {
            admin_token: Some(Secret::new(TOKEN)),
            ..config()
        },
    )
    .await;
    let proxy = HaProxy::start(guarded.addr);
    for path in ["/api/admin/stats", "/metrics"] {
        let url = format!("{}{path}", proxy.url());
        let none = raw().get(&url).send().await.expect("request");
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED, "{path}");
        let right = raw()
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("request");
        assert_eq!(right.status(), StatusCode::OK, "{path}: {}", proxy.log());
    }
}
