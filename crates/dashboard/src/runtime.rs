//! The dashboard's runtime: opens the database (retrying), starts the samplers, reads the
//! terminal and signals, and runs the one loop: drain events, update, carry out effects, draw
//! at most every [`FRAME`](super::FRAME) when something changed. Over the API (`--api`),
//! `over_http.rs` reaches the server and opens the optional database instead.

mod export;
mod inputs;
mod operator;
mod over_http;
mod prefs_file;

use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::app::{App, Effect, Given};
use super::event::Event;
use super::state::{Level, State};
use super::{
    DataSource, FRAME, Options, RECONNECT, api_connection, connection, prepare, terminal, ui,
};
use flashsale_burst::{self as burst, Target};
use flashsale_core::config::{DatabaseTarget, PoolSettings, Settings};
use flashsale_core::purchase::Purchaser;
use flashsale_core::ratelimit::RateLimiter;
use flashsale_core::store::{OpenMode, Store};
use flashsale_core::strategy::RaceHook;
use flashsale_monitor::{Control, Monitor, ReadRoute, RedisTarget, oversells};

/// Opens the database, retrying every [`RECONNECT`]; starts the samplers once it is open and
/// hands the store over `done`.
async fn connect(
    settings: Settings,
    mode: OpenMode,
    tx: mpsc::Sender<Event>,
    control: watch::Receiver<Control>,
    done: mpsc::Sender<Store>,
) {
    loop {
        match open(&settings, mode).await {
            Ok((store, reads)) => {
                let monitor = Monitor {
                    purchase_store: store.clone(),
                    reads,
                    redis: settings.redis_url.clone().map(|url| RedisTarget {
                        url,
                        timeout: settings.limits.redis_timeout,
                        key_prefix: settings.limits.key_prefix.clone(),
                    }),
                };
                // The tasks end by themselves when the event channel closes.
                let _tasks = monitor.spawn(tx.clone(), control);
                let _ = tx.send(Event::Connected).await;
                let _ = done.send(store).await;
                return;
            }
            Err(error) => {
                let event = Event::ConnectFailed {
                    error,
                    retry_in_secs: RECONNECT.as_secs(),
                };
                if tx.send(event).await.is_err() {
                    return;
                }
                tokio::time::sleep(RECONNECT).await;
            }
        }
    }
}

/// The purchase store, and where the samplers read: on PostgreSQL a small pool of their own,
/// so that a burst holding every purchase connection does not blind the dashboard, and the read
/// replica when one is configured.
async fn open(settings: &Settings, mode: OpenMode) -> Result<(Store, ReadRoute), String> {
    let store = Store::open_with(&settings.database, &settings.pool, mode)
        .await
        .map_err(|e| e.to_string())?;
    let samplers = match &settings.database {
        DatabaseTarget::Postgres(_) => {
            let pool = PoolSettings {
                max_connections: 2,
                ..settings.pool.clone()
            };
            Store::open_with(&settings.database, &pool, mode)
                .await
                .unwrap_or_else(|_| store.clone())
        }
        DatabaseTarget::Sqlite { .. } => store.clone(),
    };
    let reads = crate::read_route(settings, &samplers, mode).await?;
    Ok((store, reads))
}

/// Runs the dashboard until quit; returns how it ended.
pub async fn run(opts: Options) -> crate::Ending {
    let (themes, theme, keymap, thresholds) = match prepare(&opts) {
        Ok(x) => x,
        Err(e) => return crate::Ending::BadOptions(e),
    };
    let (conn, strategy) = match &opts.source {
        DataSource::Direct(settings) => {
            match RateLimiter::new(settings.limits.clone(), settings.redis_url.as_ref()) {
                Ok(l) => (connection(settings, &l.describe()), Some(settings.strategy)),
                Err(e) => return crate::Ending::Failed(e.to_string()),
            }
        }
        // The server applies its own strategy; ours stays at the default, unused.
        DataSource::Api(source) => (api_connection(source), None),
    };
    let tz = *chrono::Local::now().offset();
    let mut state = State::new(conn, std::time::Instant::now(), Utc::now(), tz);
    state.read_only = opts.read_only;
    if let Some(refresh) = opts.refresh {
        state.refresh = refresh;
    }
    state.log_file = Some(opts.log_file.clone());
    state.thresholds = thresholds;
    state.theme = theme;
    if let Some(strategy) = strategy {
        state.burst.params.strategy = strategy;
    }
    // Oversells found earlier on this database and not acknowledged: still the top alert.
    match oversells::load(&oversells::file(), &state.conn.database) {
        Ok(found) => state.oversells = found,
        Err(e) => state
            .log
            .push(state.wall, Level::Error, format!("oversells unknown: {e}")),
    }
    let mut app = App::new(state, keymap, themes);
    let prefs_path = flashsale_core::paths::prefs_file();
    let given = Given {
        // NO_COLOR (or --color never) chose `mono`: a saved colour theme would defy it.
        theme: opts.theme.is_some() || opts.color == crate::theme::ColorMode::None,
        refresh: opts.refresh.is_some(),
        strategy: opts.strategy_given,
    };
    let read = crate::prefs::read(&prefs_path);
    app.load_prefs(read, &prefs_path.display().to_string(), given);
    app.update(Event::Tick, std::time::Instant::now(), Utc::now());

    let mut term = match terminal::TerminalGuard::enter(opts.mouse) {
        Ok(t) => t,
        Err(e) => return crate::Ending::Failed(format!("cannot use the terminal: {e}")),
    };
    // Where clicks land depends on the size; later sizes come as resize events.
    if let Ok(size) = term.size() {
        let resized = Event::Resize(size.width, size.height);
        app.update(resized, std::time::Instant::now(), Utc::now());
    }
    let (tx, mut rx) = mpsc::channel::<Event>(1024);
    let (control_tx, control_rx) = watch::channel(Control {
        paused: false,
        period: app.state.refresh,
    });
    let prefs = prefs_file::PrefsWriter::start(prefs_path, tx.clone());
    // The store, once open: the database directly, or the one given with `--api`.
    let (store_tx, mut store_rx) = mpsc::channel::<Store>(1);
    let mut tasks = vec![
        tokio::spawn(inputs::read_input(tx.clone(), opts.mouse)),
        tokio::spawn(inputs::signals(tx.clone())),
        match &opts.source {
            DataSource::Direct(settings) => {
                // `--read-only`: the file is neither created, migrated nor seeded.
                let mode = if opts.read_only {
                    OpenMode::ReadOnly
                } else {
                    OpenMode::Create
                };
                tokio::spawn(connect(
                    settings.clone(),
                    mode,
                    tx.clone(),
                    control_rx,
                    store_tx,
                ))
            }
            DataSource::Api(source) => tokio::spawn(over_http::connect(
                source.clone(),
                tx.clone(),
                control_rx,
                store_tx,
            )),
        },
    ];
    let mut store: Option<Store> = None;
    let mut burst_cancel: Option<CancellationToken> = None;
    let mut operator = operator::Operator::default();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    let mut last_frame = Instant::now() - FRAME;
    let force_panic = std::env::var_os("FLASHSALE_DASHBOARD_TEST_PANIC").is_some();

    loop {
        let due = last_frame + FRAME;
        let mut events = Vec::new();
        tokio::select! {
            Some(ev) = rx.recv() => {
                events.push(ev);
                // Drain what else is waiting: many events, one frame.
                while let Ok(ev) = rx.try_recv() {
                    events.push(ev);
                }
            }
            _ = tick.tick() => events.push(Event::Tick),
            Some(s) = store_rx.recv(), if store.is_none() => store = Some(s),
            _ = tokio::time::sleep_until(due), if dirty => {}
        }
        for ev in events {
            dirty = true;
            let effects = app.update(ev, std::time::Instant::now(), Utc::now());
            for effect in effects {
                let database = &app.state.conn.database;
                if let Effect::SavePrefs(wanted) = effect {
                    prefs.save(wanted);
                    continue;
                }
                carry_out(
                    effect,
                    store.as_ref(),
                    &opts,
                    database,
                    &tx,
                    &mut burst_cancel,
                    (&mut operator, &control_tx),
                );
            }
        }
        control_tx.send_if_modified(|c| {
            let next = Control {
                paused: app.state.paused,
                period: app.state.refresh,
            };
            let changed = *c != next;
            *c = next;
            changed
        });
        if app.state.quit.is_some() {
            break;
        }
        if dirty && Instant::now() >= due {
            let (state, theme, keymap) = (&app.state, app.theme(), &app.keymap);
            if let Err(e) = term.draw(|f| ui::draw(f, state, theme, keymap)) {
                tracing::error!(error = %e, "drawing failed");
                app.state.quit = Some(crate::Ending::DrawFailed);
                break;
            }
            dirty = false;
            last_frame = Instant::now();
            if force_panic {
                panic!("forced panic (FLASHSALE_DASHBOARD_TEST_PANIC) to test terminal restore");
            }
        }
    }
    if let Some(token) = burst_cancel {
        token.cancel();
    }
    if app.state.burst.is_running() && !app.state.leave_now {
        await_audit(&mut app, &mut rx).await;
    }
    drop(term);
    prefs.finish().await;
    for t in &mut tasks {
        t.abort();
    }
    if let Some(s) = store {
        let _ = tokio::time::timeout(Duration::from_secs(1), s.close()).await;
    }
    app.state.quit.unwrap_or(crate::Ending::Quit)
}

/// How long quitting waits for the audit of the burst it cancelled.
const QUIT_AUDIT_WAIT: Duration = Duration::from_secs(3);

/// Quitting with `q` during a burst: the burst was cancelled; its purchases in flight finish
/// and the audit runs, and its verdict reaches the log if that takes at most
/// [`QUIT_AUDIT_WAIT`]. Nothing more is drawn. Ctrl-C or a signal skips this wait (and ends it
/// if it has begun).
async fn await_audit(app: &mut App, rx: &mut mpsc::Receiver<Event>) {
    let deadline = Instant::now() + QUIT_AUDIT_WAIT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev @ Event::BurstFinished(_))) => {
                app.update(ev, std::time::Instant::now(), Utc::now());
                return;
            }
            Ok(Some(Event::Signal(_))) => break,
            Ok(Some(Event::Key(k)))
                if k.code == crossterm::event::KeyCode::Char('c')
                    && k.modifiers
                        .contains(crossterm::event::KeyModifiers::CONTROL) =>
            {
                break;
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    tracing::warn!("left before the cancelled burst's audit finished");
}

/// Starts what an effect asks for; results come back as events.
fn carry_out(
    effect: Effect,
    store: Option<&Store>,
    opts: &Options,
    database: &str,
    tx: &mpsc::Sender<Event>,
    burst_cancel: &mut Option<CancellationToken>,
    (operator, control): (&mut operator::Operator, &watch::Sender<Control>),
) {
    let tx = tx.clone();
    let refuse = |event: Event| {
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(event).await;
        });
    };
    match effect {
        Effect::StartBurst(request) => {
            let started = match &opts.source {
                DataSource::Direct(settings) => {
                    local_burst(&request, store, settings, opts.naive_delay).map(
                        |(handle, limiter)| {
                            operator.burst_limiter = limiter.is_in_process().then_some(limiter);
                            handle
                        },
                    )
                }
                DataSource::Api(source) => over_http::burst(&request, store, source),
            };
            match started {
                Ok(handle) => {
                    *burst_cancel = Some(handle.cancel_token());
                    tokio::spawn(follow_burst(handle, tx));
                }
                Err(e) => refuse(Event::BurstFinished(Err(e))),
            }
        }
        Effect::SaveOversells(current) => {
            let database = database.to_string();
            tokio::spawn(async move {
                let saved = tokio::task::spawn_blocking(move || {
                    oversells::save(&oversells::file(), &database, &current)
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
                if let Err(e) = saved {
                    let text = format!("oversells not kept: {e}");
                    let _ = tx.send(Event::Note(Level::Error, text)).await;
                }
            });
        }
        Effect::WatchActivity(_)
        | Effect::Signal { .. }
        | Effect::LookUpLimits(_)
        | Effect::ResetLimits { .. } => operator.carry_out(effect, store, opts, control, &tx),
        Effect::ExportBurst(record) => export::spawn(record, tx),
        // Taken by the loop: its one writer keeps the writes in order.
        Effect::SavePrefs(_) => {}
        Effect::CancelBurst => {
            if let Some(token) = burst_cancel {
                token.cancel();
            }
        }
        Effect::FetchOrders { product_id, limit } => {
            let store = match (store, &opts.source) {
                (Some(s), _) => s.clone(),
                (None, DataSource::Direct(_)) => {
                    return refuse(Event::RecentOrders {
                        product_id,
                        result: Err("not connected to the database yet".into()),
                    });
                }
                (None, DataSource::Api(source)) => {
                    return refuse(Event::RecentOrders {
                        product_id,
                        result: Err(over_http::no_database(source)),
                    });
                }
            };
            tokio::spawn(async move {
                let result = store.recent_orders(product_id, limit).await;
                let result = result.map_err(|e| e.to_string());
                let _ = tx.send(Event::RecentOrders { product_id, result }).await;
            });
        }
        Effect::Restock { product_id, stock } => {
            let store = match (store, &opts.source) {
                (Some(s), _) => s.clone(),
                (None, DataSource::Direct(_)) => {
                    return refuse(Event::Restocked(Err(
                        "not connected to the database yet".into()
                    )));
                }
                (None, DataSource::Api(source)) => {
                    return refuse(Event::Restocked(Err(over_http::no_database(source))));
                }
            };
            tokio::spawn(async move {
                let result = match store.set_stock(product_id, stock).await {
                    Ok(true) => Ok((product_id, stock)),
                    Ok(false) => Err(format!("product {product_id} does not exist")),
                    Err(e) => Err(e.to_string()),
                };
                let _ = tx.send(Event::Restocked(result)).await;
            });
        }
    }
}

/// A burst through the shared purchase module, audited against the same database; with the
/// limiter it counts in (the limits prompt reads an in-process one).
fn local_burst(
    request: &super::state::BurstRequest,
    store: Option<&Store>,
    settings: &Settings,
    naive_delay: Option<Duration>,
) -> Result<(burst::BurstHandle, RateLimiter), String> {
    let store = store.ok_or("not connected to the database yet")?.clone();
    let limiter = RateLimiter::new(settings.limits.clone(), settings.redis_url.as_ref())
        .map_err(|e| e.to_string())?;
    let counted = limiter.clone();
    let purchaser = match naive_delay {
        Some(d) if request.params.strategy.is_unsafe() => Purchaser::with_race_hook(
            store.clone(),
            limiter,
            settings.max_quantity,
            RaceHook::Delay(d),
        ),
        _ => Purchaser::new(store.clone(), limiter, settings.max_quantity),
    };
    burst::start(request.spec(), Target::Local(purchaser), Some(store))
        .map(|handle| (handle, counted))
        .map_err(|e| e.to_string())
}

/// Forwards a burst's progress, then its report.
async fn follow_burst(handle: burst::BurstHandle, tx: mpsc::Sender<Event>) {
    let mut progress = handle.progress();
    let forward_tx = tx.clone();
    let forward = tokio::spawn(async move {
        while progress.changed().await.is_ok() {
            let p = progress.borrow_and_update().clone();
            if forward_tx.send(Event::BurstProgress(p)).await.is_err() {
                return;
            }
        }
    });
    let report = handle.finish().await;
    let _ = forward.await;
    let _ = tx
        .send(Event::BurstFinished(
            report.map(Box::new).map_err(|e| e.to_string()),
        ))
        .await;
}
