//! A real HAProxy (Debian's package) on a free loopback port, forwarding HTTP to a server on
//! the same host the way the README's deployment does: `option forwardfor` adds the client's
//! address as `X-Forwarded-For`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(
            &config,
            format!(
                "global\n  maxconn 256\n\ndefaults\n  mode http\n  timeout connect 5s\n  \
                 timeout client 20s\n  timeout server 20s\n  option forwardfor\n\n\
                 frontend public\n  bind 127.0.0.1:{port}\n  default_backend flashsale\n\n\
                 backend flashsale\n  server s1 {backend}\n"
            ),
        )
        .expect("write haproxy.cfg");
        let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("log file");
        let child = Command::new(executable())
            .arg("-db")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
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
        proxy
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What HAProxy wrote (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
