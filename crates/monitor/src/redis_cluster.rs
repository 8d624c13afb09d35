//! A Redis Cluster seen node by node: its masters from `CLUSTER NODES` (asked of any node), then
//! each master PINGed and asked `INFO` by its own address, so the Redis pane shows every master,
//! not one node chosen at random by the router. A master that does not answer is listed with
//! its error; one that failed over drops out of the list as its replica takes its slots.

use std::time::{Duration, Instant};

use crate::redis::slowlog::{SLOWLOG_ENTRIES, parse_slowlog, parse_stats, slowlog_cmd};
use crate::redis::{ClusterMaster, SlowlogEntry, parse_info};
use flashsale_core::ratelimit::connection::RedisConn;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

/// The masters `CLUSTER NODES` lists (flags `master`, not `fail`), with their slots.
pub fn masters_of(nodes: &str) -> Vec<(String, u16, String)> {
    nodes
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let flags = f.get(2)?;
            if !flags.contains("master") || flags.contains("fail") {
                return None;
            }
            let addr = f.get(1)?.split('@').next()?;
            let (host, port) = addr.rsplit_once(':')?;
            let slots = f.get(8..).map(|s| s.join(" ")).unwrap_or_default();
            Some((host.to_string(), port.parse().ok()?, slots))
        })
        .collect()
}

async fn ask(
    conn: &mut redis::cluster_async::ClusterConnection,
    cmd: redis::Cmd,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<String, String> {
    let value = ask_value(conn, cmd, host, port, timeout).await?;
    redis::from_redis_value::<String>(value).map_err(|e| e.to_string())
}

/// One command sent to the node at `host:port` itself, not where the router would send it.
async fn ask_value(
    conn: &mut redis::cluster_async::ClusterConnection,
    cmd: redis::Cmd,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<redis::Value, String> {
    let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
        host: host.to_string(),
        port,
    });
    let value = tokio::time::timeout(timeout, conn.route_command(cmd, route))
        .await
        .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
        .map_err(|e| flashsale_core::ratelimit::redis::describe(&e))?;
    Ok(value)
}

/// Every master's slow log, merged newest first and cut to [`SLOWLOG_ENTRIES`], each entry
/// naming its node: a slow command is slow on one master, and the operator must know which.
/// `None` for a single server. The error is the first master's that could not be read.
pub async fn slowlog(
    conn: &RedisConn,
    masters: &[ClusterMaster],
    timeout: Duration,
) -> Option<Result<Vec<SlowlogEntry>, String>> {
    let RedisConn::Cluster(cluster) = conn else {
        return None;
    };
    let mut conn = cluster.clone();
    let mut all = Vec::new();
    let mut error = None;
    for m in masters {
        let Some((host, port)) = m.address.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse() else { continue };
        match ask_value(&mut conn, slowlog_cmd(), host, port, timeout).await {
            Ok(v) => all.extend(parse_slowlog(&v, Some(&m.address))),
            Err(e) => {
                error.get_or_insert(format!("{}: {e}", m.address));
            }
        }
    }
    all.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
    all.truncate(SLOWLOG_ENTRIES);
    Some(match error {
        Some(e) if all.is_empty() => Err(e),
        _ => Ok(all),
    })
}

/// Every master, PINGed and asked `INFO`; `None` for a single server.
pub async fn masters(conn: &RedisConn, timeout: Duration) -> Option<Vec<ClusterMaster>> {
    let RedisConn::Cluster(cluster) = conn else {
        return None;
    };
    let mut conn = cluster.clone();
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("NODES");
    let nodes: Result<String, _> = tokio::time::timeout(timeout, cmd.query_async(&mut conn))
        .await
        .ok()?;
    let mut out = Vec::new();
    for (host, port, slots) in masters_of(&nodes.ok()?) {
        let start = Instant::now();
        let ping = ask(&mut conn, redis::cmd("PING"), &host, port, timeout).await;
        let ping_ms = ping
            .as_ref()
            .ok()
            .map(|_| start.elapsed().as_secs_f64() * 1000.0);
        let mut info_cmd = redis::cmd("INFO");
        info_cmd
            .arg("server")
            .arg("clients")
            .arg("stats")
            .arg("memory");
        let info = match &ping {
            Ok(_) => ask(&mut conn, info_cmd, &host, port, timeout).await.ok(),
            Err(_) => None,
        };
        out.push(ClusterMaster {
            address: format!("{host}:{port}"),
            slots,
            ping_ms,
            info: info.as_deref().map(parse_info),
            stats: info.as_deref().map(parse_stats),
            error: ping.err(),
        });
    }
    out.sort_by(|a, b| a.address.cmp(&b.address));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let nodes = "\
a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7002@17002 master - 0 0 2 connected 5461-10922
c3 127.0.0.1:7003@17003 master,fail - 0 0 3 connected
d4 127.0.0.1:7004@17004 slave a1 0 0 1 connected
e5 127.0.0.1:7005@17005 master - 0 0 4 connected 10923-16383";
        let m = masters_of(nodes);
        let ports: Vec<u16> = m.iter().map(|(_, p, _)| *p).collect();
        assert_eq!(ports, [7001, 7002, 7005]);
        assert_eq!(m[0].2, "0-5460");
    }
}
