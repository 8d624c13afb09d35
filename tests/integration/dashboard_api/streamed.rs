//! `dashboard --api`'s stock source: over `serve` the known products' figures come from one
//! stock event stream (and a change made elsewhere reaches it without a poll per product);
//! over a server without streams (the reference system) they are polled as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use flashsale_client::ApiClient;
use flashsale_core::model::Product;
use flashsale_monitor::driver::{Sampler, Step, StepContext};
use flashsale_monitor::over_http::{HttpStockSampler, Probe};

use crate::support::http::{TestServer, config, serve_router};
use crate::support::{TestDb, unlimited};

async fn step(s: &mut HttpStockSampler) -> Vec<Product> {
    let cx = StepContext {
        period: Duration::from_millis(100),
    };
    match s.step(cx).await {
        Step::Data(p) => p,
        other => panic!("the stock source did not report: {other:?}"),
    }
}

/// Steps until product `id` shows `stock`; panics after 10 s.
async fn until(s: &mut HttpStockSampler, id: i32, stock: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let products = step(s).await;
        if products.iter().any(|p| p.id == id && p.stock == stock) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "stock {stock} of {id} never seen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_serve_the_stock_comes_from_one_event_stream() {
    let (db, store) = TestDb::seeded().await;
    let server = TestServer::start(unlimited(&store), config()).await;
    let client = ApiClient::new(&server.url, 4, Duration::from_secs(5)).expect("client");
    let mut sampler = HttpStockSampler::new(client, Probe::default());
    assert_eq!(step(&mut sampler).await.len(), 5, "the discovery");
    assert!(!sampler.is_streaming());
    let products = step(&mut sampler).await;
    assert_eq!(products.len(), 5);
    assert!(sampler.is_streaming(), "the second step opens the stream");
    assert_eq!(server.state.events().streams(), 1);

    sqlx::query("UPDATE products SET stock = 4242 WHERE id = 3")
        .execute(&mut db.conn().await)
        .await
        .expect("plain SQL");
    until(&mut sampler, 3, 4242).await;
    assert!(sampler.is_streaming());
    assert_eq!(
        server.state.events().streams(),
        1,
        "the same stream all along"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_server_without_streams_the_stock_is_polled() {
    // The reference contract's two reads, nothing else: `/api/stock/events` is a bad id.
    let stock = Arc::new(AtomicI32::new(10));
    let app = axum::Router::new()
        .route(
            "/api/products/{id}",
            get(|Path(id): Path<String>| async move {
                match id.as_str() {
                    "1" => (
                        StatusCode::OK,
                        r#"{"success":true,"product":{"id":1,"name":"Only","description":null,"imageUrl":null,"stock":10,"price":"9.99"}}"#,
                    ),
                    _ => (StatusCode::NOT_FOUND, r#"{"success":false,"message":"Product not found"}"#),
                }
            }),
        )
        .route(
            "/api/stock/{id}",
            get({
                let stock = stock.clone();
                move |Path(id): Path<String>| async move {
                    match id.parse::<i32>() {
                        Ok(1) => (
                            StatusCode::OK,
                            format!(r#"{{"success":true,"stock":{}}}"#, stock.load(Ordering::Relaxed)),
                        ),
                        Ok(_) => (StatusCode::NOT_FOUND, r#"{"success":false,"message":"Product not found"}"#.to_string()),
                        Err(_) => (StatusCode::BAD_REQUEST, r#"{"success":false,"message":"Invalid id"}"#.to_string()),
                    }
                }
            }),
        );
    let (url, task) = serve_router(app).await;
    let client = ApiClient::new(&url, 4, Duration::from_secs(5)).expect("client");
    let mut sampler = HttpStockSampler::new(client, Probe::default());
    assert_eq!(step(&mut sampler).await.len(), 1, "the discovery");
    assert_eq!(step(&mut sampler).await[0].stock, 10);
    assert!(!sampler.is_streaming(), "no stream offered: polled");
    stock.store(7, Ordering::Relaxed);
    until(&mut sampler, 1, 7).await;
    assert!(!sampler.is_streaming());
    task.abort();
}
