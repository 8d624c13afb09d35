//! The replicas of a deployment (`--api A,B,C`, issue 13 item 3): the Replicas pane in the
//! Pool pane's place at 80x24 and 200x60 with one replica down, the rows that do not fit
//! counted and read whole with `v`, the alert naming the replica, and the `replicas` of
//! `--once --json` from the same state. One URL keeps the screen it always had.

use std::time::Instant;

use super::fixture;
use super::headless::opening;
use super::layout;
use super::snapshot_tests::{render, text};
use super::state::{Overlay, Pane};
use flashsale_monitor::{Source, Thresholds, Update};

const SIZES: [(u16, u16); 2] = [(80, 24), (200, 60)];

#[test]
fn the_replicas_pane_with_one_replica_down_at_80x24_and_200x60() {
    let app = fixture::app_replicas(3, 1, Instant::now(), "dark");
    for (w, h) in SIZES {
        let buf = render(&app, w, h);
        let screen = text(&buf, buf.area);
        let a = layout::areas(buf.area, 5).expect("fits");
        let pane = text(&buf, a.pool);
        assert!(pane.contains("Replicas 2/3 up"), "{w}x{h}:\n{pane}");
        assert!(!pane.contains("Connection pool"), "{pane}");
        // 71,340 purchases in 59 s; 96 errors of 1,180 (8.1%, above 5%); the third is down
        // since 12:34:26 (30 s before the fixture's 12:34:56, in the zone the test runs in).
        assert!(pane.contains("1209/s"), "{w}x{h}:\n{pane}");
        assert!(pane.contains("8.1%"), "{w}x{h}:\n{pane}");
        assert!(pane.contains("DOWN"), "{w}x{h}:\n{pane}");
        let down_since = app
            .state
            .local(fixture::wall() - chrono::Duration::seconds(30));
        assert!(
            pane.contains(&down_since.format("%H:%M:%S").to_string()),
            "{pane}"
        );
        if w >= 200 {
            for heading in ["state", "since", "strategy", "buys/s", "err%", "p99"] {
                assert!(pane.contains(heading), "{heading}:\n{pane}");
            }
            assert!(
                pane.contains("batched") && pane.contains("≤250ms"),
                "{pane}"
            );
            assert!(pane.contains("app1.internal:3000"), "{pane}");
        } else {
            assert!(
                pane.contains("app1:3000") && pane.contains("app3:3000"),
                "{pane}"
            );
        }
        assert!(!pane.contains('…'), "nothing cut at {w}x{h}:\n{pane}");
        // The banner names the replica down (and the one erring).
        assert!(
            screen.contains("replica http://app3.internal:3000 down"),
            "{screen}"
        );
        insta::assert_snapshot!(format!("replicas_{w}x{h}"), screen);
        insta::assert_snapshot!(format!("replicas_pane_{w}x{h}"), pane);
    }
}

#[test]
fn rows_that_do_not_fit_are_counted_and_v_reads_them_all() {
    let mut app = fixture::app_replicas(5, 1, Instant::now(), "dark");
    let buf = render(&app, 80, 24);
    let a = layout::areas(buf.area, 5).expect("fits");
    let pane = text(&buf, a.pool);
    assert!(pane.contains("+2 more (v whole)"), "{pane}");
    assert!(
        pane.contains("app3:3000") && !pane.contains("app4:3000"),
        "{pane}"
    );
    app.state.focus = Pane::Pool;
    app.state.overlay = Some(Overlay::Whole {
        pane: Pane::Pool,
        scroll: 0,
    });
    let buf = render(&app, 80, 24);
    let whole = text(&buf, buf.area);
    for i in 1..=5 {
        assert!(
            whole.contains(&format!("app{i}.internal:3000")),
            "app{i}:\n{whole}"
        );
    }
    assert!(!whole.contains("more (v"), "{whole}");
    // Zoomed, the pane has the rows for all five.
    app.state.overlay = None;
    app.state.zoom = true;
    let buf = render(&app, 80, 24);
    let zoomed = text(&buf, buf.area);
    assert!(
        zoomed.contains("app5") && !zoomed.contains("more (v"),
        "{zoomed}"
    );
    insta::assert_snapshot!("replicas_more_80x24", pane);
}

#[test]
fn one_url_keeps_the_pool_pane_and_no_replicas_json() {
    let app = fixture::app_api(None, Instant::now(), "dark");
    assert!(app.state.replicas.rows.is_empty());
    let buf = render(&app, 80, 24);
    let a = layout::areas(buf.area, 5).expect("fits");
    assert!(text(&buf, a.pool).contains("Connection pool"));
    let (_, _, replicas) = opening::panes(
        fixture::api(None),
        None,
        &Thresholds::default(),
        fixture::wall(),
        vec![Update::Health(fixture::health("up"))],
        Vec::new(),
    );
    assert!(
        replicas.is_empty(),
        "one URL: no list (it may be a load balancer)"
    );
}

#[test]
fn the_once_json_lists_each_replica_as_the_pane_shows_it() {
    let mut conn = fixture::api(None);
    let urls = fixture::replica_urls(2);
    if let Some(api) = conn.api.as_mut() {
        api.replicas = urls.clone();
    }
    let (_, events, replicas) = opening::panes(
        conn,
        None,
        &Thresholds::default(),
        fixture::wall(),
        vec![
            Update::Replica(fixture::replica_reading(0, 590, 0, Some(25.0))),
            Update::Failed {
                source: Source::Replica(1),
                error: "API unreachable: timed out".into(),
                retry_in: flashsale_monitor::RETRY,
            },
        ],
        Vec::new(),
    );
    let json = serde_json::to_value(&replicas).expect("json");
    assert_eq!(json[0]["url"], urls[0].as_str());
    assert_eq!(json[0]["up"], true);
    assert_eq!(json[0]["since"], "2026-11-25T12:34:56Z");
    assert_eq!(json[0]["strategy"], "batched");
    assert_eq!(json[0]["purchasesPerSec"], 10.0);
    assert_eq!(json[0]["errorRate"], 0.0, "no errors in 590");
    assert_eq!(json[0]["p99Ms"], 25.0);
    assert_eq!(json[0]["purchasesTotal"], 20_590);
    assert_eq!(json[1]["up"], false);
    assert_eq!(json[1]["error"], "API unreachable: timed out");
    assert_eq!(json[1]["purchasesPerSec"], serde_json::Value::Null);
    assert!(
        events.iter().any(|e| e
            .text
            .contains("replica http://app2.internal:3000 down: API unreachable")),
        "{events:?}"
    );
}

#[test]
fn a_replica_answering_again_is_up_since_then_and_its_alert_clears_after_the_hold() {
    let t0 = Instant::now();
    let mut app = fixture::app_replicas(3, 1, t0, "dark");
    let key = "replica-down-http://app3.internal:3000";
    assert!(app.state.alerts.iter().any(|a| a.key == key));
    let back = fixture::wall() + chrono::Duration::seconds(5);
    let reading = fixture::replica_reading(2, 100, 0, Some(5.0));
    app.update(Update::Replica(reading).into(), t0, back);
    let row = &app.state.replicas.rows[2];
    assert_eq!(
        (row.up, row.since, row.error.as_deref()),
        (Some(true), Some(back), None)
    );
    assert!(
        app.state
            .log
            .entries
            .iter()
            .any(|e| e.text == "replica http://app3.internal:3000: answers again"),
        "the events say it"
    );
    assert!(app.state.alert_clearing.contains_key(key), "held, clearing");
    let later = t0 + crate::state::ALERT_HOLD;
    app.update(super::event::Event::Tick, later, back);
    assert!(
        !app.state.alerts.iter().any(|a| a.key == key),
        "cleared after the hold"
    );
    assert!(
        app.state.log.entries.iter().any(|e| e
            .text
            .starts_with("cleared: replica http://app3.internal:3000 answers again")),
        "in the rule's words"
    );
    assert_eq!(app.state.replicas.up_count(), (3, 3));
}
