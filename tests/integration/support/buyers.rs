//! Many buyers at once: all together ([`buy_all`]), `concurrency` at a time through the
//! purchase module ([`storm`]), or through a [`Rig`] that sends them in process or over HTTP to
//! a server started for the test.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use flashsale_client::ApiClient;
use flashsale_core::purchase::{Outcome, PurchaseRequest, Purchaser};
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::Store;
use flashsale_core::strategy::Strategy;
use flashsale_server::ServerConfig;
use futures::stream::{self, StreamExt};

use super::http::{TestServer, config as http_config};

/// A purchaser with no rate limiting (for the database scenarios).
pub fn unlimited(store: &Store) -> Purchaser {
    Purchaser::new(store.clone(), RateLimiter::off(), 10)
}

/// One single-unit purchase of `product` per entry of `users`, all at once; the outcomes in the
/// users' order.
pub async fn buy_all(
    p: &Purchaser,
    users: &[String],
    product: i32,
    strategy: Strategy,
) -> Vec<Outcome> {
    futures::future::join_all(users.iter().map(|u| {
        let p = p.clone();
        async move {
            p.purchase(PurchaseRequest {
                product_id: i64::from(product),
                user_id: u,
                client_ip: IpAddr::from([127, 0, 0, 1]),
                quantity: 1,
                strategy,
            })
            .await
            .outcome
        }
    }))
    .await
}

/// The product the fault storms buy.
pub const PRODUCT: i32 = 1;

/// Buyer `user`'s single-unit purchase of [`PRODUCT`], from an address of its own (`i`).
pub fn req(user: &str, i: u32) -> PurchaseRequest<'_> {
    PurchaseRequest {
        product_id: i64::from(PRODUCT),
        user_id: user,
        client_ip: IpAddr::from([10, 7, (i >> 8) as u8, i as u8]),
        quantity: 1,
        strategy: Strategy::Batched,
    }
}

/// `n` purchases by distinct buyers `prefix<i>`, `concurrency` at a time; returns the outcomes.
pub async fn storm(
    p: &Purchaser,
    strategy: Strategy,
    prefix: &str,
    n: u32,
    concurrency: usize,
) -> Vec<Outcome> {
    stream::iter(0..n)
        .map(|i| {
            let p = p.clone();
            let user = format!("{prefix}{i}");
            async move {
                p.purchase(PurchaseRequest {
                    strategy,
                    ..req(&user, i)
                })
                .await
                .outcome
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// Where a storm's purchases enter: the purchase module, or a server started for the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    InProcess,
    OverHttp,
}

/// Where a storm's purchases go.
enum Via {
    Local(Purchaser),
    /// The server is held only to keep it running for the storm.
    Http(ApiClient, #[allow(dead_code)] TestServer),
}

/// One strategy's purchases of [`PRODUCT`], entering as [`Entry`] says.
pub struct Rig {
    via: Via,
    strategy: Strategy,
}

impl Rig {
    pub async fn new(
        purchaser: Purchaser,
        strategy: Strategy,
        entry: Entry,
        concurrency: usize,
    ) -> Rig {
        let via = match entry {
            Entry::OverHttp => {
                let server = TestServer::start(
                    purchaser,
                    ServerConfig {
                        strategy,
                        ..http_config()
                    },
                )
                .await;
                let client = ApiClient::new(&server.url, concurrency, Duration::from_secs(30))
                    .expect("client");
                Via::Http(client, server)
            }
            Entry::InProcess => Via::Local(purchaser),
        };
        Rig { via, strategy }
    }

    pub async fn buy(&self, user: &str, i: u32) -> Outcome {
        let r = PurchaseRequest {
            strategy: self.strategy,
            ..req(user, i)
        };
        match &self.via {
            Via::Local(p) => p.purchase(r).await.outcome,
            Via::Http(client, _) => client.purchase(&r).await,
        }
    }

    /// Purchases `from..from + n` by buyers `prefix<i>`, `concurrency` at a time, each with
    /// how long it took.
    pub async fn storm(
        &self,
        prefix: &str,
        from: u32,
        n: u32,
        concurrency: usize,
    ) -> Vec<(Outcome, Duration)> {
        stream::iter(from..from + n)
            .map(|i| async move {
                let started = Instant::now();
                let outcome = self.buy(&format!("{prefix}{i}"), i).await;
                (outcome, started.elapsed())
            })
            .buffer_unordered(concurrency)
            .collect()
            .await
    }

    /// Waves of `wave` purchases until `for_how_long` has passed.
    pub async fn waves(&self, prefix: &str, wave: u32, for_how_long: Duration) -> Vec<Outcome> {
        self.timed_waves(prefix, wave, for_how_long)
            .await
            .into_iter()
            .map(|(o, _)| o)
            .collect()
    }

    /// [`Rig::waves`], each purchase with how long it took.
    pub async fn timed_waves(
        &self,
        prefix: &str,
        wave: u32,
        for_how_long: Duration,
    ) -> Vec<(Outcome, Duration)> {
        let end = Instant::now() + for_how_long;
        let (mut outcomes, mut i) = (Vec::new(), 0);
        while Instant::now() < end {
            outcomes.extend(self.storm(prefix, i, wave, wave as usize).await);
            i += wave;
        }
        outcomes
    }
}

/// A `flashsale burst` process selling [`PRODUCT`] of the database at `url`: `buyers` batched
/// purchases, `clients` at a time, no rate limit; its `--json` report on stdout.
pub fn burst_process(
    url: &str,
    home: &std::path::Path,
    buyers: u32,
    clients: u32,
) -> std::process::Child {
    burst_command(url, home, buyers, clients)
        .spawn()
        .expect("start a burst process")
}

/// The command [`burst_process`] runs, for a caller that adds to its environment.
pub fn burst_command(
    url: &str,
    home: &std::path::Path,
    buyers: u32,
    clients: u32,
) -> std::process::Command {
    use std::process::Stdio;
    let mut command = super::flashsale(home);
    command
        .args([
            "burst",
            "--json",
            "--no-rate-limit",
            "--strategy",
            "batched",
        ])
        .args(["--product", &PRODUCT.to_string()])
        .args(["--buyers", &buyers.to_string()])
        .args(["--concurrency", &clients.to_string()])
        .env("DATABASE_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}
