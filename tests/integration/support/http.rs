//! HTTP servers for tests: `TestServer` runs `flashsale_server::run` in-process on a free
//! loopback port; `ServeProcess` runs the real binary (`flashsale serve --listen 127.0.0.1:0`)
//! and reads the address it printed; `serve_router` serves a hand-made axum app (a server that
//! is not ours). The first two stop on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use flashsale_client::ApiClient;
use flashsale_core::config::TrustedProxies;
use flashsale_core::purchase::Purchaser;
use flashsale_core::strategy::Strategy;
use flashsale_server::{self as server, AppState, ServerConfig};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::flashsale;

/// The admin token of servers started with one (never printed by anything under test).
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// Server settings for tests: atomic, loopback trusted as a proxy (so the client's
/// `X-Forwarded-For` gives each simulated buyer its own address), no admin token.
pub fn config() -> ServerConfig {
    ServerConfig {
        strategy: Strategy::Atomic,
        trusted_proxies: "127.0.0.1,::1".parse().expect("proxies"),
        admin_token: None,
        slow_request: Duration::from_millis(100),
        drain_limit: Duration::from_secs(10),
        // Nothing balances load in front of an in-process server: stop at once.
        shutdown_drain: Duration::ZERO,
        idempotency_ttl: Duration::from_secs(24 * 3_600),
        key_sweep_every: Duration::from_secs(600),
        http: Default::default(),
    }
}

pub fn untrusting() -> ServerConfig {
    ServerConfig {
        trusted_proxies: TrustedProxies::default(),
        ..config()
    }
}

pub struct TestServer {
    pub url: String,
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(purchaser: Purchaser, config: ServerConfig) -> TestServer {
        Self::start_on("127.0.0.1:0", purchaser, config).await
    }

    pub async fn start_on(bind: &str, purchaser: Purchaser, config: ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind(bind).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let state = AppState::new(purchaser, config);
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(server::run(
            listener,
            state.clone(),
            shutdown.clone().cancelled_owned(),
        ));
        let port = addr.port();
        TestServer {
            url: format!("http://127.0.0.1:{port}"),
            addr,
            state,
            shutdown,
            handle: Some(handle),
        }
    }

    pub fn client(&self) -> ApiClient {
        ApiClient::new(&self.url, 64, Duration::from_secs(20)).expect("client")
    }

    /// Signals shutdown and waits for `run` to return.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        let handle = self.handle.take().expect("running");
        tokio::time::timeout(Duration::from_secs(30), handle)
            .await
            .expect("server stops within 30 s")
            .expect("server task")
    }

    pub fn trigger_shutdown(&self) {
        self.shutdown.cancel();
    }

    pub fn take_handle(&mut self) -> JoinHandle<std::io::Result<()>> {
        self.handle.take().expect("running")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A raw reqwest client for requests `ApiClient` would never send.
/// One purchase of [`PRODUCT`](super::buyers::PRODUCT) at `url` by `user`; the stock it left.
/// Panics unless it made an order.
pub async fn buy_at(url: &str, user: &str, quantity: u32) -> i64 {
    let r = raw()
        .post(format!("{url}/api/purchase"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"productId":{},"userId":"{user}","quantity":{quantity}}}"#,
            super::buyers::PRODUCT
        ))
        .send()
        .await
        .expect("purchase");
    let v: serde_json::Value =
        serde_json::from_slice(&r.bytes().await.expect("body")).expect("json");
    v["order"]["remainingStock"].as_i64().expect("an order")
}

pub fn raw() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// A real `flashsale serve` process.
pub struct ServeProcess {
    pub url: String,
    child: Child,
}

impl ServeProcess {
    /// Starts the binary with its files in `home` and `env` on top of a cleared environment
    /// ([`flashsale`]).
    pub fn start(home: &Path, env: &[(&str, &str)]) -> ServeProcess {
        Self::start_limited(home, env, None)
    }

    /// Like [`ServeProcess::start`], under `ulimit -n nofile` (soft and hard, through
    /// util-linux's `prlimit`) when given: the descriptor limit of a stock distribution.
    pub fn start_limited(home: &Path, env: &[(&str, &str)], nofile: Option<u64>) -> ServeProcess {
        Self::launch(home, &["serve", "--listen", "127.0.0.1:0"], env, nofile)
    }

    /// `flashsale <args>` (a `serve` command line, as a systemd unit's `ExecStart` has it),
    /// with `env`.
    pub fn start_args(home: &Path, args: &[&str], env: &[(&str, &str)]) -> ServeProcess {
        Self::launch(home, args, env, None)
    }

    fn launch(
        home: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        nofile: Option<u64>,
    ) -> ServeProcess {
        let base = flashsale(home);
        let mut cmd = match nofile {
            None => base,
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg(super::bin::BIN);
                c.env_clear();
                for (k, v) in base.get_envs() {
                    if let Some(v) = v {
                        c.env(k, v);
                    }
                }
                if let Some(dir) = base.get_current_dir() {
                    c.current_dir(dir);
                }
                c
            }
        };
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
        // No load balancer waits on most tests' servers: SIGTERM stops them at once, unless
        // the test's own `env` says otherwise.
        cmd.env("SHUTDOWN_DRAIN_MS", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn flashsale serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("flashsale serve printed no address within 30 s");
            }
        };
        let url = line
            .trim()
            .strip_prefix("flashsale: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from serve: {line:?}"))
            .to_string();
        ServeProcess { url, child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL (no drain, no goodbye: a crash or a lost machine), and its exit status.
    pub fn kill(&mut self) -> std::process::ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("wait for the killed serve")
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        self.wait_exit(limit)
    }

    /// Waits (at most `limit`) for the exit status, sending nothing.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None))
            && self.terminate(Duration::from_secs(5)).is_none()
        {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Serves `app` on a free loopback port: its URL, and the task (aborted by the caller).
pub async fn serve_router(app: axum::Router) -> (String, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}
