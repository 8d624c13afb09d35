//! `X-Forwarded-For` through the balancer: believed only from `TRUSTED_PROXIES`.

use std::time::Duration;

use super::{port_of, replica, secrets};
use crate::support::haproxy::HaProxy;
use crate::support::http::ServeProcess;
use crate::support::{TestDb, TestRedis};

/// A client of the balancer connecting from `source` (a loopback address of its own).
fn client_from(source: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(std::net::IpAddr::from(source))
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// One purchase through the balancer with a forged `X-Forwarded-For`: the status, and the
/// rate-limit scope when limited.
async fn forged(client: &reqwest::Client, url: &str, user: &str, forged: &str) -> (u16, String) {
    let res = client
        .post(format!("{url}/api/purchase"))
        .header("content-type", "application/json")
        .header("x-forwarded-for", forged)
        .body(format!(r#"{{"productId":2,"userId":"{user}"}}"#))
        .send()
        .await
        .expect("purchase through the balancer");
    let scope = res
        .headers()
        .get("x-ratelimit-scope")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (res.status().as_u16(), scope)
}

/// Per-IP limit 4, through `deploy/haproxy.cfg` to three replicas sharing one Redis window.
/// With the unit's `TRUSTED_PROXIES` (HAProxy's address): clients at 127.0.0.2 and 127.0.0.3
/// get 4 purchases each, whatever `X-Forwarded-For` they forge (HAProxy drops theirs and writes
/// its own), then 429 `ip`; the requests went round all three replicas. With `TRUSTED_PROXIES`
/// emptied: every client is HAProxy's one address, so the two share 4 purchases.
#[tokio::test]
async fn load_balancer_forwarded_for_counts_only_through_trusted_proxies() {
    let (db, _store) = TestDb::seeded().await;
    let (a, b) = (client_from([127, 0, 0, 2]), client_from([127, 0, 0, 3]));
    for trusted in [true, false] {
        let redis = TestRedis::new().await;
        let home = tempfile::tempdir().expect("tmp");
        let secrets = secrets(None, &db, &redis);
        let mut extra = vec![
            ("RATE_LIMIT_PREFIX", redis.prefix.as_str()),
            ("RATE_LIMIT_IP_MAX", "4"),
            ("RATE_LIMIT_USER_MAX", "100"),
            // The drain is the storm's subject; here the replicas stop at once.
            ("SHUTDOWN_DRAIN_MS", "0"),
        ];
        if !trusted {
            extra.push(("TRUSTED_PROXIES", ""));
        }
        let replicas: Vec<ServeProcess> = (0..3)
            .map(|_| replica(home.path(), &secrets, &extra))
            .collect();
        let ports: Vec<u16> = replicas.iter().map(port_of).collect();
        let proxy = HaProxy::deployed(&ports);
        for s in ["s1", "s2", "s3"] {
            proxy.wait_for_status(s, "UP", Duration::from_secs(20));
        }
        let url = proxy.url();
        let tag = if trusted { "t" } else { "u" };
        let mut seen = Vec::new();
        for i in 0..5 {
            let user = format!("xff{tag}a{i}");
            seen.push((
                "a",
                forged(&a, &url, &user, &format!("203.0.113.{i}")).await,
            ));
        }
        for i in 0..5 {
            let user = format!("xff{tag}b{i}");
            seen.push(("b", forged(&b, &url, &user, "198.51.100.9").await));
        }
        let statuses: Vec<u16> = seen.iter().map(|(_, (s, _))| *s).collect();
        let want: Vec<u16> = if trusted {
            // Each client its own window of 4.
            vec![200, 200, 200, 200, 429, 200, 200, 200, 200, 429]
        } else {
            // One window, HAProxy's.
            vec![200, 200, 200, 200, 429, 429, 429, 429, 429, 429]
        };
        assert_eq!(
            statuses,
            want,
            "trusted {trusted}: {seen:?}\n{}",
            proxy.log()
        );
        assert!(
            seen.iter()
                .filter(|(_, (s, _))| *s == 429)
                .all(|(_, (_, scope))| scope == "ip"),
            "limited by the IP window: {seen:?}"
        );
        let used: std::collections::BTreeSet<String> = proxy
            .requests()
            .into_iter()
            .filter(|r| r.request.starts_with("POST /api/purchase"))
            .map(|r| r.server)
            .collect();
        assert_eq!(
            used.into_iter().collect::<Vec<_>>(),
            ["s1", "s2", "s3"],
            "one window across the three replicas"
        );
    }
}
