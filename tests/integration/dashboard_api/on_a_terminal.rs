//! `flashsale dashboard --api URL` on a real terminal (tmux) against a real `flashsale serve`:
//! an API that cannot be reached is shown, not fatal; a burst fired with keys goes over HTTP and
//! the stock falls on screen; with `--database-url` too, restocks and audits go through it.

use std::time::{Duration, Instant};

use crate::support::TestDb;
use crate::support::http::ServeProcess;
use crate::support::terminal::{START, Tmux, assert_restored};

#[test]
fn an_api_that_cannot_be_reached_is_shown_not_fatal() {
    let t = Tmux::start(&["dashboard", "--api", "http://127.0.0.1:9"], &[], 80, 24);
    let s = t.wait_for("retrying in 2s", START);
    assert!(
        s.contains("API unreachable: connection refused by 127.0.0.1:9"),
        "{s}"
    );
    assert!(s.contains("needs direct database access:"), "{s}");
    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

/// The stock shown for the product priced `price` (as the compact stock table prints it).
fn stock_of(screen: &str, price: &str) -> Option<i64> {
    screen.lines().find_map(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        let i = words.iter().position(|w| *w == price)?;
        words.get(i + 1)?.parse().ok()
    })
}

/// Waits until the stock shown for `price` is `expected`.
fn wait_for_stock(t: &Tmux, price: &str, expected: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = t.screen();
        if stock_of(&s, price) == Some(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the stock never showed {expected}; the screen:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sets buyers and concurrency in the editor (over the API it has no strategy field), and the
/// restock-to value when given.
fn set_burst(t: &Tmux, buyers: &str, restock_to: Option<&str>) {
    t.keys(&["e", "C-u"]);
    t.literal(buyers);
    t.keys(&["Down", "C-u"]);
    t.literal(buyers);
    if let Some(n) = restock_to {
        // concurrency -> quantity -> ip spread -> restock to
        t.keys(&["Down", "Down", "Down", "C-u"]);
        t.literal(n);
    }
    t.keys(&["Enter"]);
    t.wait_for("burst parameters set", Duration::from_secs(5));
}

#[tokio::test]
async fn over_the_api_a_burst_fired_with_keys_goes_over_http_and_the_stock_falls_on_screen() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    // Loopback trusted as a proxy: each simulated buyer has an address of its own.
    let serve = ServeProcess::start(
        home.path(),
        &[("DATABASE_URL", &db.url), ("TRUSTED_PROXIES", "127.0.0.1")],
    );
    let t = Tmux::start(&["dashboard", "--api", &serve.url], &[], 100, 30);
    let s = t.wait_for("1299.99", START);
    let host = serve.url.trim_start_matches("http://");
    assert!(
        s.contains(&format!("api {host}")),
        "the header names it:\n{s}"
    );
    assert_eq!(stock_of(&s, "1299.99"), Some(100), "{s}");
    let s = t.wait_for("server healthy", Duration::from_secs(10));
    assert!(s.contains("needs direct database access:"), "{s}");
    // Health and statistics are sampled separately; either may land first.
    t.wait_for("units 14", Duration::from_secs(10));
    // The server's /metrics (open on loopback): nothing bought since it started.
    t.wait_for("no purchases in the last minute", Duration::from_secs(10));

    t.keys(&["s"]);
    t.wait_for("cannot be changed over the API", Duration::from_secs(5));
    t.keys(&["r"]);
    t.wait_for("restock needs the database", Duration::from_secs(5));

    set_burst(&t, "20", None);
    t.keys(&["b"]);
    t.wait_for("Over HTTP; not audited", Duration::from_secs(5));
    t.keys(&["y"]);
    let s = t.wait_for("AUDIT NOT RUN", Duration::from_secs(30));
    assert!(s.contains("bought 20"), "twenty buyers, twenty units:\n{s}");
    wait_for_stock(&t, "1299.99", 80);
    t.wait_for("units 34", Duration::from_secs(10));
    // The server counted the twenty, none an error (the short form at this width).
    t.wait_for("errors 0.0%", Duration::from_secs(10));

    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}

#[tokio::test]
async fn over_the_api_with_a_database_url_restocks_and_audits_through_it() {
    let (db, _store) = TestDb::seeded().await;
    let home = tempfile::tempdir().expect("tmp");
    let serve = ServeProcess::start(
        home.path(),
        &[("DATABASE_URL", &db.url), ("TRUSTED_PROXIES", "127.0.0.1")],
    );
    let t = Tmux::start(
        &["dashboard", "--api", &serve.url, "--database-url", &db.url],
        &[],
        100,
        30,
    );
    t.wait_for("1299.99", START);
    t.wait_for("database open", Duration::from_secs(10));
    set_burst(&t, "20", Some("5"));
    t.keys(&["r"]);
    t.wait_for("Restock", Duration::from_secs(5));
    t.keys(&["y"]);
    t.wait_for("restocked product 1 to 5", Duration::from_secs(10));
    wait_for_stock(&t, "1299.99", 5);
    t.keys(&["b"]);
    t.wait_for("Over HTTP; audited against", Duration::from_secs(5));
    t.keys(&["y"]);
    let s = t.wait_for("AUDIT OK", Duration::from_secs(30));
    assert!(s.contains("bought 5"), "five units for twenty buyers:\n{s}");
    wait_for_stock(&t, "1299.99", 0);

    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}
