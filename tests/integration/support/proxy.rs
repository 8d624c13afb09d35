//! A TCP fault proxy for tests: sits between us and PostgreSQL or Redis and can add latency,
//! swallow traffic (a black hole), refuse new connections, or cut every open one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Default)]
struct Faults {
    latency_ms: AtomicU64,
    black_hole: AtomicBool,
    refuse: AtomicBool,
}

/// A running proxy; dropping it stops accepting (open connections end with their peers).
pub struct FaultProxy {
    pub addr: SocketAddr,
    faults: Arc<Faults>,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Proxies a free local port to `upstream`.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let faults = Arc::new(Faults::default());
        let (cut, cut_rx) = watch::channel(0u64);
        let f = Arc::clone(&faults);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if f.refuse.load(Ordering::Relaxed) {
                    drop(client);
                    continue;
                }
                let (f, mut cut_rx) = (Arc::clone(&f), cut_rx.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    cut_rx.borrow_and_update();
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::select! {
                        _ = pipe(cr, sw, Arc::clone(&f)) => {}
                        _ = pipe(sr, cw, Arc::clone(&f)) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        FaultProxy {
            addr,
            faults,
            cut,
            task,
        }
    }

    /// Delays every chunk in each direction.
    pub fn set_latency(&self, d: Duration) {
        self.faults
            .latency_ms
            .store(d.as_millis() as u64, Ordering::Relaxed);
    }

    /// Swallows traffic (connections stay open, nothing arrives) while on.
    pub fn set_black_hole(&self, on: bool) {
        self.faults.black_hole.store(on, Ordering::Relaxed);
    }

    /// Closes new connections at once while on.
    pub fn set_refuse(&self, on: bool) {
        self.faults.refuse.store(on, Ordering::Relaxed);
    }

    /// Cuts every open connection.
    pub fn cut_all(&self) {
        self.cut.send_modify(|g| *g += 1);
    }

    /// Back to a clean pipe.
    pub fn heal(&self) {
        self.set_latency(Duration::ZERO);
        self.set_black_hole(false);
        self.set_refuse(false);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut_all();
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    f: Arc<Faults>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let latency = f.latency_ms.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_millis(latency)).await;
        }
        // A black hole keeps reading (so the sender is not pushed back) and forwards nothing.
        if f.black_hole.load(Ordering::Relaxed) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
