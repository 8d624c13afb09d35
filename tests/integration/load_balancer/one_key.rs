//! Retries of one `Idempotency-Key` spread over the replicas.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::{port_of, replica, secrets};
use crate::support::haproxy::HaProxy;
use crate::support::http::ServeProcess;
use crate::support::pgbouncer::PgBouncer;
use crate::support::{TestDb, TestRedis};

/// One buyer's purchase sent 12 times at once through the balancer under one
/// `Idempotency-Key`, then 3 times more, round the three replicas (batched, through
/// PgBouncer): one order, every answer names it, all but one are replays.
#[tokio::test]
async fn load_balancer_retries_of_one_key_across_replicas_make_one_order() {
    let (db, _store) = TestDb::seeded().await;
    let redis = TestRedis::new().await;
    let bouncer = PgBouncer::deployed();
    let home = tempfile::tempdir().expect("tmp");
    let secrets = secrets(Some(&bouncer), &db, &redis);
    let extra = [
        ("RATE_LIMIT_PREFIX", redis.prefix.as_str()),
        ("RATE_LIMIT_USER_MAX", "1000"),
        ("RATE_LIMIT_IP_MAX", "1000"),
        ("SHUTDOWN_DRAIN_MS", "0"),
    ];
    let replicas: Vec<ServeProcess> = (0..3)
        .map(|_| replica(home.path(), &secrets, &extra))
        .collect();
    let ports: Vec<u16> = replicas.iter().map(port_of).collect();
    let proxy = HaProxy::deployed(&ports);
    for s in ["s1", "s2", "s3"] {
        proxy.wait_for_status(s, "UP", Duration::from_secs(20));
    }
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let url = proxy.url();
    let send = || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let res = client
                .post(format!("{url}/api/purchase"))
                .header("content-type", "application/json")
                .header("idempotency-key", "lb-one-key")
                .body(r#"{"productId":2,"userId":"lb_retrier","quantity":2}"#)
                .send()
                .await
                .expect("through the balancer");
            let status = res.status();
            let replayed = res
                .headers()
                .get("idempotent-replayed")
                .is_some_and(|v| v == "true");
            let v: Value = serde_json::from_str(&res.text().await.expect("body")).expect("json");
            assert_eq!(status, StatusCode::OK, "{v}");
            (v["order"]["id"].as_i64().expect("an order id"), replayed)
        }
    };
    let mut answers = futures::future::join_all((0..12).map(|_| send())).await;
    for _ in 0..3 {
        answers.push(send().await);
    }
    let ids: Vec<i64> = answers.iter().map(|(id, _)| *id).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one order id: {ids:?}");
    assert_eq!(
        answers.iter().filter(|(_, replayed)| !replayed).count(),
        1,
        "one request made the order, the others were replays: {answers:?}"
    );
    let mut conn = db.conn().await;
    let (orders, units): (i64, i64) = sqlx::query_as(
        "SELECT count(*)::bigint, COALESCE(SUM(quantity), 0)::bigint FROM orders \
         WHERE user_id = 'lb_retrier'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("orders");
    assert_eq!((orders, units), (1, 2), "one order of 2 units");
    let servers: std::collections::BTreeSet<String> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.request.starts_with("POST /api/purchase"))
        .map(|r| r.server)
        .collect();
    assert_eq!(
        servers.into_iter().collect::<Vec<_>>(),
        ["s1", "s2", "s3"],
        "the retries went to every replica"
    );
}
