//! A real Redis Cluster of 3 masters and 3 replicas (`redis-server --cluster-enabled yes`,
//! joined by `redis-cli --cluster create`) on free ports, private to one test: a master can be
//! killed and its replica's promotion awaited.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free for a node and for its cluster bus (the port plus 10000).
fn free_node_port() -> u16 {
    loop {
        let port = super::redis_server::free_port();
        if port < 50_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub struct RedisCluster {
    nodes: Vec<(u16, Option<Child>)>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let dir = tempfile::tempdir().expect("tmp");
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let port = free_node_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                .arg("--cluster-config-file")
                .arg(dir.path().join(format!("nodes-{port}.conf")))
                .arg("--dir")
                .arg(dir.path())
                .args(["--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server (scripts/test installs it)");
            nodes.push((port, Some(child)));
        }
        for (port, _) in &nodes {
            wait_until(Duration::from_secs(10), || {
                cli(*port, &["PING"]).contains("PONG")
            })
            .unwrap_or_else(|| panic!("node {port} did not start"));
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|(p, _)| format!("127.0.0.1:{p}"))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = RedisCluster { nodes, _dir: dir };
        cluster.wait_ok();
        // A replica that has not finished its first sync is not promoted: wait for all three.
        let synced = wait_until(Duration::from_secs(30), || {
            cluster
                .alive()
                .filter(|p| cli(*p, &["INFO", "replication"]).contains("master_link_status:up"))
                .count()
                == 3
        });
        assert!(synced.is_some(), "the replicas did not sync within 30 s");
        cluster
    }

    /// `redis://h:p,redis://h:p,...`: every node, as `REDIS_URL` lists a cluster.
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|(p, _)| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn alive(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(p, _)| *p)
    }

    /// Waits until every live node says the cluster is `ok` and every slot has a live master.
    pub fn wait_ok(&self) {
        let ok = wait_until(Duration::from_secs(30), || {
            self.alive()
                .all(|p| cli(p, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        });
        assert!(ok.is_some(), "the cluster did not become ok within 30 s");
    }

    /// Waits until `killed` is no master any more (its replica promoted) and the cluster is ok.
    pub fn wait_failover(&self, killed: u16) {
        let promoted = wait_until(Duration::from_secs(30), || {
            let m = self.masters();
            m.len() == 3 && !m.contains(&killed)
        });
        assert!(
            promoted.is_some(),
            "no replica took over from {killed} within 30 s"
        );
        self.wait_ok();
    }

    /// The ports of the masters now.
    pub fn masters(&self) -> Vec<u16> {
        let port = self.alive().next().expect("a live node");
        cli(port, &["CLUSTER", "NODES"])
            .lines()
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                (f.len() >= 9 && f[2].contains("master") && !f[2].contains("fail"))
                    .then(|| f[1].split('@').next()?.rsplit(':').next()?.parse().ok())
                    .flatten()
            })
            .collect()
    }

    /// The port of the master serving `key` now.
    pub fn master_of(&self, key: &str) -> u16 {
        let port = self.alive().next().expect("a live node");
        let slot: u16 = cli(port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .expect("a slot");
        for line in cli(port, &["CLUSTER", "NODES"]).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => {
                    a.parse::<u16>().is_ok_and(|a| a <= slot)
                        && b.parse::<u16>().is_ok_and(|b| slot <= b)
                }
                None => range.parse::<u16>() == Ok(slot),
            });
            if serves {
                let addr = fields[1].split('@').next().unwrap_or_default();
                return addr
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("a port");
            }
        }
        panic!("no master serves slot {slot}");
    }

    /// SIGKILLs the node on `port` (as a crash would).
    pub fn kill(&mut self, port: u16) {
        for (p, child) in &mut self.nodes {
            if *p == port
                && let Some(mut c) = child.take()
            {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// The value of `key`, asked of the master serving it.
    pub fn get(&self, key: &str) -> String {
        cli(self.master_of(key), &["GET", key]).trim().to_string()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.nodes {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

fn wait_until(within: Duration, mut ok: impl FnMut() -> bool) -> Option<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if ok() {
            return Some(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}
