//! Stock event streams at scale: one real `flashsale serve` holds 10,000 open streams with
//! bounded memory (RSS of the server process from /proc before and after) and delivers a
//! change to every one of them; and a client that stops reading is dropped while one that
//! reads keeps its stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::support::buyers::PRODUCT;
use crate::support::http::{ServeProcess, TestServer, buy_at, config};
use crate::support::sse::Sse;
use crate::support::{TestDb, unlimited};

const STREAMS: usize = 10_000;
/// What one open stream may cost the server, at most: its connection, task and channel.
/// Streams opened by a connection's first request are written on their socket, without
/// hyper's buffers (16 KiB a connection at least; about 4 KiB a stream was measured here):
/// a stream served through hyper, or any buffer per stream, fails it.
const PER_STREAM_KIB: u64 = 8;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Reads from `tcp` into `buf` until it holds `needle`; false on end, error or `limit`.
async fn read_until(
    tcp: &mut TcpStream,
    buf: &mut Vec<u8>,
    needle: &[u8],
    limit: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut chunk = [0u8; 1024];
    loop {
        if buf.windows(needle.len()).any(|w| w == needle) {
            return true;
        }
        match tokio::time::timeout_at(deadline, tcp.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return false,
        }
    }
}

/// A minimal client: the request, then the stream up to its first figure.
async fn open_stream(addr: std::net::SocketAddr, path: &str) -> (TcpStream, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut buf = Vec::new();
    assert!(
        read_until(&mut tcp, &mut buf, b"\"stock\":", Duration::from_secs(60)).await,
        "no first figure: {}",
        String::from_utf8_lossy(&buf)
    );
    (tcp, buf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_serve_holds_ten_thousand_streams_in_bounded_memory_and_reaches_them_all() {
    let (soft_before, soft) = flashsale_server::fd_limit::raise_nofile();
    let soft = soft.expect("a descriptor limit");
    assert!(
        soft >= STREAMS as u64 + 512,
        "this test needs {} descriptors, the limit is {soft} (was {soft_before:?})",
        STREAMS + 512
    );
    let (db, store) = TestDb::seeded().await;
    store.set_stock(PRODUCT, 1_000).await.expect("restock");
    let home = tempfile::tempdir().expect("tmp");
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("RATE_LIMIT_IP_MAX", "1000000000"),
        ("FLASHSALE_STRATEGY", "batched"),
    ];
    let server = ServeProcess::start(home.path(), &env);
    let addr: std::net::SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let path = format!("/api/stock/{PRODUCT}/events");
    // One stream first, so that what is measured is what each further stream adds.
    let first = open_stream(addr, &path).await;
    let before = rss_kib(server.pid());

    let opening = Instant::now();
    let gate = Arc::new(Semaphore::new(256));
    let mut tasks = Vec::with_capacity(STREAMS);
    for _ in 1..STREAMS {
        let (gate, path) = (gate.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.expect("gate");
            open_stream(addr, &path).await
        }));
    }
    let mut streams = vec![first];
    for t in tasks {
        streams.push(t.await.expect("opened"));
    }
    let opened_in = opening.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(server.pid());

    // One change, to every stream.
    buy_at(&server.url, "watched", 1).await;
    let changed = Instant::now();
    let reached = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::with_capacity(STREAMS);
    for (mut tcp, mut buf) in streams {
        let reached = reached.clone();
        readers.push(tokio::spawn(async move {
            buf.clear();
            if read_until(
                &mut tcp,
                &mut buf,
                b"\"stock\":999}",
                Duration::from_secs(60),
            )
            .await
            {
                reached.fetch_add(1, Ordering::Relaxed);
            }
            tcp
        }));
    }
    let mut held = Vec::with_capacity(STREAMS);
    for r in readers {
        held.push(r.await.expect("reader"));
    }
    let reached = reached.load(Ordering::Relaxed);
    let delivered_in = changed.elapsed();
    let end = rss_kib(server.pid());
    let per_stream = after.saturating_sub(before) * 1024 / STREAMS as u64;
    println!(
        "stock events: {STREAMS} streams opened in {opened_in:?}; server RSS {before} kB -> \
         {after} kB ({per_stream} B per stream), {end} kB after the change; the change reached \
         {reached} streams in {delivered_in:?}"
    );
    assert_eq!(reached, STREAMS as u64, "every stream hears the change");
    assert!(
        per_stream <= PER_STREAM_KIB * 1024,
        "{per_stream} B per stream, more than {PER_STREAM_KIB} KiB"
    );
    assert!(
        end.saturating_sub(before) * 1024 / STREAMS as u64 <= PER_STREAM_KIB * 1024,
        "{end} kB after the change"
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_and_one_that_reads_stays() {
    let (db, store) = TestDb::seeded().await;
    let mut psql = db.conn().await;
    let ids: Vec<i32> = sqlx::query_scalar(
        "INSERT INTO products (name, description, image_url, stock, price)
         SELECT 'watched ' || g, 'a product to watch', '', 1000000, 1.00
         FROM generate_series(1, 100) g RETURNING id",
    )
    .fetch_all(&mut psql)
    .await
    .expect("products");
    let list: Vec<String> = ids.iter().map(i32::to_string).collect();
    let path = format!("/api/stock/events?ids={}", list.join(","));
    let mut c = config();
    c.http.sse_heartbeat = Duration::from_millis(200);
    let s = TestServer::start(unlimited(&store), c).await;

    // The slow one: a small receive buffer, and nothing read after the first figures.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut slow = socket.connect(s.addr).await.expect("connect");
    slow.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut buf = Vec::new();
    assert!(read_until(&mut slow, &mut buf, b"\"stock\":", Duration::from_secs(10)).await);

    let mut good = Sse::open(&format!("{}{path}", s.url), None).await;
    let heard = Arc::new(AtomicU64::new(0));
    let reader = {
        let heard = heard.clone();
        tokio::spawn(async move {
            while good.next(Duration::from_secs(10)).await.is_some() {
                heard.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.state.events().streams() < 2 {
        assert!(Instant::now() < deadline, "the second stream never opened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Another process changes every product, over and over: ~1,000 events a second.
    let began = Instant::now();
    loop {
        sqlx::query("UPDATE products SET stock = stock - 1 WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut psql)
            .await
            .expect("change");
        if s.state.events().streams() == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the client that stopped reading still has its stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "stock events: the stalled stream was dropped after {:?}",
        began.elapsed()
    );
    // The reader keeps hearing.
    let then = heard.load(Ordering::Relaxed);
    let check = Instant::now();
    while heard.load(Ordering::Relaxed) == then {
        assert!(
            check.elapsed() < Duration::from_secs(10),
            "the reader stopped hearing"
        );
        sqlx::query("UPDATE products SET stock = stock - 1 WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut psql)
            .await
            .expect("change");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.state.events().streams(), 1, "the reader's stream stays");
    reader.abort();
    drop(slow);
}
