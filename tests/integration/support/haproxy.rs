//! A real HAProxy (Debian's package) on a free loopback port, forwarding HTTP to servers on
//! the same host the way the README's deployment does: `option forwardfor` adds the client's
//! address as `X-Forwarded-For`. [`HaProxy::start`] runs a one-server config of its own;
//! [`HaProxy::deployed`] runs `deploy/haproxy.cfg` itself, logging every request to a file
//! the test reads ([`HaProxy::requests`]) and answering on a stats socket
//! ([`HaProxy::server_status`]).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::deploy;
use super::redis_server::free_port;

pub struct HaProxy {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

fn executable() -> PathBuf {
    ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("haproxy installed (scripts/test installs Debian's package haproxy)")
}

impl HaProxy {
    /// Forwards `127.0.0.1:<port>` to `backend` (`127.0.0.1:8080`).
    pub fn start(backend: std::net::SocketAddr) -> HaProxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let config = format!(
            "global\n  maxconn 256\n\ndefaults\n  mode http\n  timeout connect 5s\n  \
             timeout client 20s\n  timeout server 20s\n  option forwardfor\n\n\
             frontend public\n  bind 127.0.0.1:{port}\n  default_backend flashsale\n\n\
             backend flashsale\n  server s1 {backend}\n"
        );
        HaProxy::launch(dir, port, &config)
    }

    /// `deploy/haproxy.cfg` on a free loopback port, its servers `s1`, `s2`, ... at
    /// `127.0.0.1:<ports[i]>`, logging to its stdout (the file [`HaProxy::traffic`] reads; its
    /// console messages stay in [`HaProxy::log`]) and with its stats socket in a directory of
    /// its own.
    pub fn deployed(ports: &[u16]) -> HaProxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut swaps = vec![
            ("bind :80", format!("bind 127.0.0.1:{port}")),
            (
                "log /dev/log local0",
                // stdout, apart from the console's warnings on stderr: two writers on one
                // file could split each other's lines.
                "log stdout format raw local0 info".to_string(),
            ),
            (
                "stats socket /run/haproxy/admin.sock",
                format!("stats socket {}", Self::socket_in(dir.path()).display()),
            ),
        ];
        let lines: Vec<(String, String)> = ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let n = i + 1;
                (
                    format!("server s{n} 127.0.0.1:{}", 3000 + n),
                    format!("server s{n} 127.0.0.1:{p}"),
                )
            })
            .collect();
        let text = deploy::read("haproxy.cfg");
        let declared = text.matches("\n  server ").count();
        assert_eq!(
            declared,
            ports.len(),
            "deploy/haproxy.cfg declares {declared} servers; the test starts {}",
            ports.len()
        );
        for (from, to) in &lines {
            swaps.push((from.as_str(), to.clone()));
        }
        let config = deploy::swap("haproxy.cfg", &text, &swaps);
        HaProxy::launch(dir, port, &config)
    }

    fn socket_in(dir: &Path) -> PathBuf {
        dir.join("admin.sock")
    }

    fn launch(dir: tempfile::TempDir, port: u16, config_text: &str) -> HaProxy {
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(&config, config_text).expect("write haproxy.cfg");
        let check = Command::new(executable())
            .arg("-c")
            .arg("-f")
            .arg(&config)
            .output()
            .expect("run haproxy -c");
        assert!(
            check.status.success(),
            "haproxy -c refuses the config: {}{}\n{config_text}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("log file");
        let requests =
            std::fs::File::create(dir.path().join("requests.log")).expect("request log file");
        let child = Command::new(executable())
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(requests)
            .stderr(log)
            .spawn()
            .expect("start haproxy");
        let proxy = HaProxy { port, child, dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "haproxy did not start listening on {port}: {}",
                proxy.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The stats socket is bound on its own, possibly after the listener: a test asking it
        // at once met "No such file or directory" (CI, 2026-12-02).
        if config_text.contains("stats socket") {
            let socket = Self::socket_in(proxy.dir.path());
            while std::os::unix::net::UnixStream::connect(&socket).is_err() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "haproxy did not open its stats socket {}: {}",
                    socket.display(),
                    proxy.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        proxy
    }

    /// One command on the stats socket of a [`HaProxy::deployed`] proxy: its answer.
    pub fn command(&self, command: &str) -> String {
        let path = Self::socket_in(self.dir.path());
        let mut sock = std::os::unix::net::UnixStream::connect(&path)
            .unwrap_or_else(|e| panic!("stats socket {}: {e}", path.display()));
        sock.write_all(format!("{command}\n").as_bytes())
            .expect("write to the stats socket");
        let mut out = String::new();
        sock.read_to_string(&mut out)
            .expect("read the stats socket");
        out
    }

    /// The `show stat` row of server `name` of backend `flashsale`, by column: `status`
    /// (`UP`, `DOWN`, `UP 1/2`, ...), and its counters: `econ` (connections that failed),
    /// `eresp` (responses that failed), `wretr` (connections retried), `wredis`
    /// (redispatched elsewhere), `srv_abrt` (sessions the server cut), `hrsp_5xx`, ...
    pub fn server_stats(&self, name: &str) -> std::collections::HashMap<String, String> {
        let csv = self.command("show stat");
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let row: Vec<&str> = lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&"flashsale") && f.get(1) == Some(&name))
            .unwrap_or_else(|| panic!("no server {name} in show stat: {csv}"));
        header
            .iter()
            .zip(row)
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect()
    }

    /// A field of `show info` (`DroppedLogs`: log lines HAProxy could not write), as a number.
    pub fn info(&self, field: &str) -> u64 {
        let info = self.command("show info");
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no numeric {field} in show info: {info}"))
    }

    /// What HAProxy says of server `name`: `UP`, `DOWN`, `UP 1/2`, `NOLB`, ...
    pub fn server_status(&self, name: &str) -> String {
        self.server_stats(name)
            .remove("status")
            .expect("a status column")
    }

    /// Waits (at most `limit`) until server `name` is `want` (`UP`, `DOWN`).
    pub fn wait_for_status(&self, name: &str, want: &str, limit: Duration) {
        let started = Instant::now();
        loop {
            let now = self.server_status(name);
            if now == want {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "server {name} still {now}, not {want}, after {limit:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every request line of the log (`option httplog`), parsed.
    pub fn requests(&self) -> Vec<Logged> {
        self.traffic().lines().filter_map(Logged::parse).collect()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What HAProxy wrote (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }

    /// The log of a [`HaProxy::deployed`] proxy (on its stdout): a line per request and per
    /// health check that changed something.
    pub fn traffic(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("requests.log")).unwrap_or_default()
    }
}

/// One request as `option httplog` logs it: `client [date] frontend backend/server
/// TR/Tw/Tc/Tr/Ta status bytes - - tsc act/fe/be/srv/retries queues "request"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// `s1`, `s2`, ... or `<NOSRV>` when none was picked.
    pub server: String,
    /// The status the client got (-1: none).
    pub status: i32,
    /// How the session ended: `----` is normal; `SH--` the server closed before answering, ...
    pub termination: String,
    /// Connection attempts redone (a `+` in front: redispatched to another server).
    pub retries: String,
    /// `POST /api/purchase HTTP/1.1`.
    pub request: String,
}

impl Logged {
    fn parse(line: &str) -> Option<Logged> {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() < 13 || !t.get(1)?.starts_with('[') {
            return None;
        }
        let server = t[3].strip_prefix("flashsale/")?.to_string();
        let status = t[5].parse().ok()?;
        let retries = t[10].rsplit('/').next()?.to_string();
        Some(Logged {
            server,
            status,
            termination: t[9].to_string(),
            retries,
            request: t[12..].join(" ").trim_matches('"').to_string(),
        })
    }

    /// The session ended as it should: the server answered and nobody cut it short.
    pub fn ended_normally(&self) -> bool {
        self.termination.starts_with("--")
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
