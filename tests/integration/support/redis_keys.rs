//! A Redis key prefix of the test's own on the shared Redis (its keys deleted afterwards), and
//! limiters that use it.

use flashsale_core::config::LimitSettings;
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::redact::SecretUrl;

use super::{unique, unreachable};

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

/// A Redis key prefix of the test's own; its keys are deleted on drop.
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
}

impl TestRedis {
    pub async fn new() -> TestRedis {
        let url = redis_url();
        let client = redis::Client::open(url.as_str()).expect("redis url");
        let mut conn = match client.get_multiplexed_async_connection().await {
            Ok(c) => c,
            Err(e) => unreachable("Redis", &url, e),
        };
        let pong: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|e| unreachable("Redis", &url, e));
        assert_eq!(pong, "PONG");
        TestRedis {
            url,
            prefix: format!("{}:", unique("fs_t")),
        }
    }

    pub fn settings(&self) -> LimitSettings {
        LimitSettings {
            key_prefix: self.prefix.clone(),
            ..LimitSettings::default()
        }
    }

    pub fn limiter(&self, settings: LimitSettings) -> RateLimiter {
        RateLimiter::new(settings, Some(&SecretUrl::new(self.url.clone()))).expect("redis limiter")
    }

    pub async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url.as_str())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Ok(client) = redis::Client::open(self.url.as_str())
            && let Ok(mut conn) = client.get_connection()
        {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}*", self.prefix))
                .query(&mut conn)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        }
    }
}
