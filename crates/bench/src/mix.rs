//! The buyers' mix over HTTP: purchases and stock reads interleaved in a fixed ratio
//! (`--mix 80:20`, the reference plan's; `1:50` for a read-heavy sale), beside the HTTP floor
//! of the same server in the same run (`GET` of a path it does not serve: a 404 that touches
//! neither the database nor the view). Closed loop: `clients` workers take the next request's
//! index from one counter; request `i` is a purchase when `i mod (p + r) < p`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use flashsale_client::ApiClient;
use flashsale_core::purchase::{Outcome, PurchaseRequest};
use flashsale_core::strategy::Strategy;

/// Purchases to stock reads, `p:r`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    pub purchases: u32,
    pub reads: u32,
}

impl std::str::FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}': expected purchases:reads, e.g. 80:20 or 1:50");
        let (p, r) = s.split_once(':').ok_or_else(bad)?;
        let (purchases, reads): (u32, u32) = (
            p.trim().parse().map_err(|_| bad())?,
            r.trim().parse().map_err(|_| bad())?,
        );
        if purchases + reads == 0 || purchases > 10_000 || reads > 10_000 {
            return Err(bad());
        }
        Ok(Mix { purchases, reads })
    }
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.purchases, self.reads)
    }
}

/// What a floor or mix run measured.
#[derive(Debug, Clone, Default)]
pub struct MixReport {
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub purchases_per_s: f64,
    pub reads_per_s: f64,
    /// Answers that were not what the request should get (transport errors, busy, 5xx).
    pub errors: u64,
}

/// What one run sends.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// `GET` of a path nobody serves.
    Floor,
    Mix {
        mix: Mix,
        product: i32,
        strategy: Strategy,
    },
}

#[derive(Default)]
struct Tally {
    micros: Vec<u32>,
    purchases: u64,
    reads: u64,
    errors: u64,
}

/// `requests` requests of `load`, `clients` at a time, through `client`.
pub async fn run(client: &ApiClient, load: Load, requests: u32, clients: u32) -> MixReport {
    let next = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..clients.max(1) {
        let (client, next) = (client.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut t = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return t;
                }
                let sent = Instant::now();
                let ok = match load {
                    Load::Floor => client.status_of("/api/bench-floor").await == Ok(404),
                    Load::Mix {
                        mix,
                        product,
                        strategy,
                    } if i % (mix.purchases + mix.reads) < mix.purchases => {
                        t.purchases += 1;
                        let user = format!("mix-{i}");
                        let outcome = client
                            .purchase(&PurchaseRequest {
                                product_id: i64::from(product),
                                user_id: &user,
                                client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                                quantity: 1,
                                strategy,
                            })
                            .await;
                        matches!(outcome, Outcome::Purchased(_) | Outcome::SoldOut { .. })
                    }
                    Load::Mix { product, .. } => {
                        t.reads += 1;
                        client.stock(product).await.is_ok_and(|s| s.is_some())
                    }
                };
                let us = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                t.micros.push(us);
                if !ok {
                    t.errors += 1;
                }
            }
        }));
    }
    let mut all = Tally::default();
    for w in workers {
        if let Ok(t) = w.await {
            all.micros.extend(t.micros);
            all.purchases += t.purchases;
            all.reads += t.reads;
            all.errors += t.errors;
        }
    }
    let secs = started
        .elapsed()
        .max(Duration::from_micros(1))
        .as_secs_f64();
    all.micros.sort_unstable();
    let at = |q: f64| {
        let n = all.micros.len();
        if n == 0 {
            return 0.0;
        }
        let i = ((n as f64 - 1.0) * q).round() as usize;
        f64::from(all.micros[i.min(n - 1)]) / 1000.0
    };
    MixReport {
        per_s: all.micros.len() as f64 / secs,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        purchases_per_s: all.purchases as f64 / secs,
        reads_per_s: all.reads as f64 / secs,
        errors: all.errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_as_purchases_to_reads() {
        assert_eq!(
            "80:20".parse::<Mix>(),
            Ok(Mix {
                purchases: 80,
                reads: 20
            })
        );
        assert_eq!(
            "1:50".parse::<Mix>().map(|m| m.to_string()),
            Ok("1:50".into())
        );
        for bad in ["", "80", "80:", "a:b", "0:0", "-1:2", "80:20:1"] {
            assert!(bad.parse::<Mix>().is_err(), "{bad}");
        }
    }
}
