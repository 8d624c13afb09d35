//! The read replica on screen (issue 13 item 4): its lag on the pool pane's last row at 80x24
//! (in place of the server's session counts) and named by its host wide; down, since when and
//! that the primary is read, in the pane, the status line and the alerts.

use std::time::Instant;

use super::app::App;
use super::fixture;
use super::snapshot_tests::{render, text};
use flashsale_monitor::{ReadReplicaSnapshot, ReadsFrom, Source, Update};

fn screen(app: &App, w: u16, h: u16) -> String {
    let buf = render(app, w, h);
    text(&buf, buf.area)
}

fn replica(lag_ms: Option<u64>, lag_bytes: Option<u64>) -> ReadReplicaSnapshot {
    ReadReplicaSnapshot {
        url: "postgres://watch:***@db-replica.internal:5432/sale".into(),
        reads_from: ReadsFrom::Replica,
        in_recovery: Some(true),
        lag_bytes,
        lag_ms,
        primary_error: None,
        down_since: None,
        error: None,
    }
}

fn with(snap: ReadReplicaSnapshot) -> App {
    let t0 = Instant::now();
    let mut app = fixture::app_with(fixture::postgres(), t0, "dark");
    app.update(Update::ReadReplica(snap).into(), t0, fixture::wall());
    app
}

#[test]
fn the_lag_is_the_pool_panes_last_row_and_wide_it_names_the_replica() {
    let app = with(replica(Some(1_250), Some(48 * 1024)));
    let narrow = screen(&app, 80, 24);
    assert!(narrow.contains("replica lag 1.2 s 48 kB"), "{narrow}");
    insta::assert_snapshot!("read_replica_lag_80x24", narrow);
    let wide = screen(&app, 160, 48);
    assert!(
        wide.contains("read replica lag 1.2 s 48 kB behind"),
        "{wide}"
    );
    // Wide, the server's session counts keep their row above it.
    assert!(wide.contains("server "), "{wide}");
    let wider = screen(&app, 200, 60);
    assert!(
        wider.contains("read replica db-replica.internal:5432 lag 1.2 s 48 kB behind"),
        "{wider}"
    );
}

#[test]
fn a_long_lag_reads_as_an_age_and_an_unknown_one_as_a_question_mark() {
    let long = screen(&with(replica(Some(3_725_000), Some(7 << 30))), 80, 24);
    assert!(long.contains("replica lag 1h02m 7.0 GB"), "{long}");
    let unknown = screen(&with(replica(None, Some(896))), 80, 24);
    assert!(unknown.contains("replica lag ? s 896 B"), "{unknown}");
}

#[test]
fn down_the_pane_the_status_line_and_the_alerts_say_the_primary_is_read() {
    let t0 = Instant::now();
    let mut app = with(replica(Some(0), Some(0)));
    let error = "database unreachable: connection refused by db-replica.internal:5432";
    let down = ReadReplicaSnapshot {
        reads_from: ReadsFrom::Primary,
        in_recovery: None,
        lag_bytes: None,
        lag_ms: None,
        down_since: Some(fixture::wall() - chrono::Duration::seconds(75)),
        error: Some(error.into()),
        ..replica(None, None)
    };
    app.update(Update::ReadReplica(down).into(), t0, fixture::wall());
    app.update(
        Update::Failed {
            source: Source::ReadReplica,
            error: error.into(),
            retry_in: flashsale_monitor::RETRY,
        }
        .into(),
        t0,
        fixture::wall(),
    );
    let narrow = screen(&app, 80, 24);
    assert!(narrow.contains("replica DOWN since"), "{narrow}");
    let keys: Vec<&str> = app.state.alerts.iter().map(|a| a.key.as_str()).collect();
    assert!(keys.contains(&"read-replica-down"), "{keys:?}");
    insta::assert_snapshot!("read_replica_down_80x24", narrow);
    let wide = screen(&app, 160, 48);
    assert!(
        wide.contains("replica DOWN since 12:33:41, primary read"),
        "{wide}"
    );
    assert!(
        wide.contains("not answering: the read replica (the primary is read)"),
        "{wide}"
    );
    // Logged once, in the snapshot's words, not again for the failure that follows it.
    let logged = app
        .state
        .log
        .entries
        .iter()
        .filter(|e| e.text.starts_with("read replica down"))
        .count();
    assert_eq!(logged, 1);
}
