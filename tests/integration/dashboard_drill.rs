//! The drill-down and the history graphs on a real terminal (tmux) over a real PostgreSQL
//! (issue 17 items 4 and 9): purchases made, `enter` on a Stock row (by keys, then by a click
//! and `enter`), the product's latest orders shown, `r` restocking to a typed target that the
//! database then holds, the wheel over the orders, `esc` and a click outside closing it, and
//! `m` cycling the graphs' range.

use std::time::{Duration, Instant};

use crate::support::TestDb;
use crate::support::terminal::{START, Tmux, assert_restored, line_with};
use flashsale_core::store::{NewPurchase, Sale, Store};
use flashsale_core::strategy::Strategy;

const STEP: Duration = Duration::from_secs(10);

async fn buy(store: &Store, product: i32, user: &str) {
    let p = NewPurchase {
        product_id: product,
        user_id: user,
        quantity: 1,
    };
    let sale = store
        .purchase(p, Strategy::Atomic, None)
        .await
        .expect("buy");
    assert!(matches!(sale, Sale::Purchased(_)), "{sale:?}");
}

/// Waits until `text` is no longer on screen.
fn wait_gone(t: &Tmux, text: &str) {
    let deadline = Instant::now() + STEP;
    while t.screen().contains(text) {
        assert!(Instant::now() < deadline, "{text} stays:\n{}", t.screen());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn enter_drills_into_a_product_its_orders_r_restocks_it_and_m_cycles_the_graphs() {
    let (db, store) = TestDb::seeded().await;
    for user in ["drill-tmux-1", "drill-tmux-2", "drill-tmux-3"] {
        buy(&store, 3, user).await;
    }
    let t = Tmux::start(&["dashboard", "--database-url", &db.url], &[], 100, 30);
    let screen = t.wait_for("Mechanical Keyboard", START);
    assert!(screen.contains("history 5m"), "{screen}");

    // Keys: the keyboard's row, enter: its drill-down with the orders just made.
    t.keys(&["j", "j", "Enter"]);
    t.wait_for("#3 Mechanical Keyboard", STEP);
    let drill = t.wait_for("drill-tmux-3", STEP);
    assert!(drill.contains("latest orders 1-"), "{drill}");
    assert!(drill.contains("stock 12"), "seeded 15, 3 bought: {drill}");

    // `r`, a typed target, the restock dialog, yes: the database holds it.
    t.keys(&["r"]);
    t.wait_for("restock to: 100", STEP);
    t.keys(&["BSpace", "BSpace", "BSpace"]);
    t.literal("42");
    t.keys(&["Enter"]);
    t.wait_for("to 42?", STEP);
    t.keys(&["y"]);
    t.wait_for("from here", STEP);
    let deadline = Instant::now() + STEP;
    while store.stock(3).await.expect("stock") != Some(42) {
        assert!(Instant::now() < deadline, "the database never held 42");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t.wait_for("stock 42", STEP);
    t.keys(&["Escape"]);
    wait_gone(&t, "latest orders");

    // The mouse: a click on the Wireless Mouse's row (by its price), enter.
    let screen = t.screen();
    t.click(10, line_with(&screen, "29.99"));
    t.wait_for("▶ Wireless Mouse (#2)", STEP);
    t.keys(&["Enter"]);
    t.wait_for("#2 Wireless Mouse", STEP);
    let drill = t.wait_for("latest orders 1-", STEP);
    // The wheel over the list scrolls it; a click on the header row (outside) closes it.
    t.wheel(40, line_with(&drill, "latest orders"), false);
    t.wait_for("latest orders 2-", STEP);
    t.click(40, 0);
    wait_gone(&t, "latest orders");

    // `m`: the graphs over 15 minutes, 1, then 5 again.
    t.keys(&["m"]);
    t.wait_for("history 15m", STEP);
    t.keys(&["m"]);
    t.wait_for("history 1m", STEP);
    t.keys(&["m"]);
    t.wait_for("history 5m", STEP);

    t.keys(&["q"]);
    let (exit, stty) = t.wait_exit();
    assert_eq!(exit, "EXIT=0");
    assert_restored(&t, &stty);
}
