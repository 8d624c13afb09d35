//! One handle on Redis, whether it is one server or a Redis Cluster. `REDIS_URL` naming several
//! nodes separated by commas (`redis://h1:7001,redis://h2:7002`) means a cluster: the handle then
//! routes each command by its key's slot, follows `MOVED` and `ASK`, and learns the new master
//! after a failover. Both kinds connect lazily and reconnect by themselves, and never wait on
//! the network longer than the configured timeout; the limiter, its breaker's probe and the
//! dashboard's sampler all talk through it.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterConfig;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::LimiterError;
use crate::config::redis_nodes as nodes;
use crate::redact::SecretUrl;

/// A connection to one Redis server or to a Redis Cluster (see the module).
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConn {
    pub fn is_cluster(&self) -> bool {
        matches!(self, RedisConn::Cluster(_))
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

/// A lazy, self-reconnecting handle on what `url` names (see the module).
pub fn connect(url: &SecretUrl, timeout: Duration) -> Result<RedisConn, LimiterError> {
    let invalid = |e: redis::RedisError| {
        LimiterError::Unreachable(format!("invalid Redis URL ({:?})", e.kind()))
    };
    let raw = url.expose();
    let nodes = nodes(raw);
    if nodes.len() > 1 {
        let client = redis::cluster::ClusterClient::builder(nodes)
            .connection_timeout(timeout)
            .response_timeout(timeout)
            // A failover takes the cluster about its node timeout: callers time out before it
            // ends anyway, and the next call finds the promoted replica.
            .retries(2)
            .min_retry_wait(20)
            .max_retry_wait(200)
            .build()
            .map_err(invalid)?;
        let config = ClusterConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        return Ok(RedisConn::Cluster(
            client.get_pending_async_connection_with_config(config),
        ));
    }
    let client = redis::Client::open(raw).map_err(invalid)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        // Few, quick reconnect attempts: callers time out anyway and the next call retries.
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config)
        .map(RedisConn::Single)
        .map_err(|e| LimiterError::Unreachable(crate::failure::redis_sentence(&e)))
}
