//! Malformed purchases get the right outcome, write nothing, and use no rate-limit budget.

use std::net::IpAddr;

use flashsale_core::purchase::{Outcome, PurchaseRequest, Purchaser};
use flashsale_core::strategy::Strategy;
use redis::AsyncCommands;
use rstest::rstest;

use crate::support::{Engine, TestRedis, seeded};

async fn snapshot(store: &flashsale_core::store::Store) -> (i64, Vec<i32>) {
    let orders = store.max_order_id().await.expect("max id");
    let stocks = store
        .products()
        .await
        .expect("products")
        .iter()
        .map(|p| p.stock)
        .collect();
    (orders, stocks)
}

#[rstest]
#[case::postgres(Engine::Postgres)]
#[case::sqlite(Engine::Sqlite)]
#[tokio::test]
async fn malformed_purchases_are_refused_and_write_nothing(#[case] engine: Engine) {
    let (_held, store) = seeded(engine).await;
    let redis = TestRedis::new().await;
    let p = Purchaser::new(store.clone(), redis.limiter(redis.settings()), 10);
    let before = snapshot(&store).await;
    let long = "u".repeat(256);
    let cases: Vec<(i64, &str, i64, &str)> = vec![
        (1, "zed", 0, "quantity"),
        (1, "zed", -5, "quantity"),
        (1, "zed", 11, "quantity"),
        (1, "", 1, "userId"),
        (1, &long, 1, "userId"),
        (0, "zed", 1, "productId"),
        (-7, "zed", 1, "productId"),
    ];
    for strategy in Strategy::ALL {
        for (product_id, user_id, quantity, field) in &cases {
            let r = p
                .purchase(PurchaseRequest {
                    product_id: *product_id,
                    user_id,
                    client_ip: IpAddr::from([10, 9, 9, 9]),
                    quantity: *quantity,
                    strategy,
                })
                .await;
            match &r.outcome {
                Outcome::Invalid(reason) => assert_eq!(reason.field(), *field, "{reason}"),
                other => panic!(
                    "{strategy} {product_id}/{quantity}: expected invalid {field}, got {other:?}"
                ),
            }
            assert!(r.limit.is_none(), "validation runs before the limiter");
        }
        let unknown = p
            .purchase(PurchaseRequest {
                product_id: 999,
                user_id: "zed",
                client_ip: IpAddr::from([10, 9, 9, 9]),
                quantity: 1,
                strategy,
            })
            .await;
        assert_eq!(unknown.outcome, Outcome::NotFound, "{strategy}");
    }
    assert_eq!(snapshot(&store).await, before, "nothing written");
    let mut conn = redis.conn().await;
    let ip_count: Option<i64> = conn
        .get(format!("{}rate_limit:ip:10.9.9.9", redis.prefix))
        .await
        .expect("get");
    assert_eq!(
        ip_count,
        Some(Strategy::ALL.len() as i64),
        "only the well-formed (unknown product) requests were counted"
    );
}
