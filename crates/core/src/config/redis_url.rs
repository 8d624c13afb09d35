//! `REDIS_URL`: one server (`redis://`, `rediss://`, a unix socket) or a Redis Cluster, its
//! nodes separated by commas, each checked and named by its place when it is wrong.

use crate::redact::SecretUrl;

/// The nodes a `REDIS_URL` names: more than one is a cluster.
pub fn redis_nodes(url: &str) -> Vec<&str> {
    url.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect()
}

pub(super) fn parse_redis_url(value: &str) -> Result<SecretUrl, String> {
    let v = value.trim();
    let nodes = redis_nodes(v);
    if nodes.len() > 1 {
        // A Redis Cluster: every node checked, and named by its place when it is wrong.
        for (i, node) in nodes.iter().enumerate() {
            if !(node.starts_with("redis://") || node.starts_with("rediss://")) {
                return Err(format!(
                    "cluster node {} of {}: expected redis:// or rediss://",
                    i + 1,
                    nodes.len()
                ));
            }
            parse_redis_url(node)
                .map_err(|e| format!("cluster node {} of {}: {e}", i + 1, nodes.len()))?;
        }
        return Ok(SecretUrl::new(nodes.join(",")));
    }
    if !(v.starts_with("redis://")
        || v.starts_with("rediss://")
        || v.starts_with("redis+unix://")
        || v.starts_with("unix://"))
    {
        let scheme = v.split(':').next().unwrap_or_default();
        return Err(format!(
            "unsupported scheme '{scheme}' (expected redis:// or rediss://)"
        ));
    }
    redis::Client::open(v)
        .map_err(|e| format!("not a valid Redis URL ({})", e.kind_description()))?;
    Ok(SecretUrl::new(v))
}

trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for redis::RedisError {
    fn kind_description(&self) -> String {
        // The driver's message can echo the URL back; keep only its category.
        format!("{:?}", self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_nodes_are_a_cluster_and_one_is_not() {
        assert_eq!(
            redis_nodes("redis://a:7001, redis://b:7002,,redis://c:7003"),
            ["redis://a:7001", "redis://b:7002", "redis://c:7003"]
        );
        assert_eq!(
            redis_nodes("redis://127.0.0.1:6379/2"),
            ["redis://127.0.0.1:6379/2"]
        );
    }

    #[test]
    fn a_cluster_is_every_node_checked_and_masked() {
        let url = parse_redis_url("redis://:pw1@a:7001, redis://:pw2@b:7002").expect("cluster");
        assert_eq!(url.expose(), "redis://:pw1@a:7001,redis://:pw2@b:7002");
        let shown = url.to_string();
        assert!(!shown.contains("pw1") && !shown.contains("pw2"), "{shown}");
        assert!(
            shown.contains("a:7001") && shown.contains("b:7002"),
            "{shown}"
        );
        let err = parse_redis_url("redis://a:7001,unix:///tmp/r.sock").expect_err("unix node");
        assert_eq!(err, "cluster node 2 of 2: expected redis:// or rediss://");
        let err = parse_redis_url("redis://a:7001,redis://b:notaport").expect_err("bad port");
        assert!(
            err.starts_with("cluster node 2 of 2: not a valid Redis URL"),
            "{err}"
        );
    }
}
