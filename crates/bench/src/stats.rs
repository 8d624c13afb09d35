//! The dashboard's stats refresh on 10^4, 10^6 and 10^7 orders, beside a full-table stats
//! query shaped like the reference system's admin CTE and our own one-shot `stats`, on the same
//! data in the same run. Goal: the refresh at 10^7 within 2x of the one at 10^4; with
//! `--partitioned`, on an `orders` partitioned by month, at 10^8 within 2x of 10^4.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::Executor;

use super::{BenchError, machine};
use flashsale_core::config::Settings;
use flashsale_core::store::Store;
use flashsale_monitor::sales::{self, SalesTally};

#[derive(Debug, Clone)]
pub struct StatsPlan {
    /// Order counts to measure at (each run tops the table up to the count).
    pub orders: Vec<u32>,
    /// New orders between two dashboard refreshes.
    pub new_per_refresh: u32,
    /// On an `orders` partitioned by month (`db init --partitioned`).
    pub partitioned: bool,
}

/// A top-up at least this large drops the two secondary indexes first and builds them again
/// after: one sort per index instead of 10^7 scattered inserts into each.
const REBUILD_INDEXES_FROM: u64 = 10_000_000;

/// One pass of every aggregate the reference's admin endpoint returns, over the whole table:
/// totals, the top 3 products, revenue by day for a week. Written here in the reference's shape
/// (one CTE, full scans); its own text is not ours to copy.
const FULL_SCAN_STATS: &str = "
WITH totals AS (
    SELECT COALESCE(SUM(total_price), 0) AS revenue, COALESCE(SUM(quantity), 0) AS units FROM orders
), top_products AS (
    SELECT p.id, p.name, SUM(o.quantity) AS total_sold
    FROM orders o JOIN products p ON p.id = o.product_id
    GROUP BY p.id, p.name ORDER BY total_sold DESC LIMIT 3
), by_day AS (
    SELECT DATE(created_at) AS day, SUM(total_price) AS revenue
    FROM orders WHERE created_at >= NOW() - INTERVAL '7 days'
    GROUP BY DATE(created_at) ORDER BY day
)
SELECT (SELECT row_to_json(totals) FROM totals)::text,
       (SELECT json_agg(top_products) FROM top_products)::text,
       (SELECT json_agg(by_day) FROM by_day)::text";

/// Adds `n` orders spread over the last ten days, a million per statement.
async fn top_up(pg: &sqlx::PgPool, n: u64) -> Result<(), BenchError> {
    let err = flashsale_core::store::StoreError::from;
    // One connection: the index builds need the session's memory setting.
    let mut conn = pg.acquire().await.map_err(err)?;
    let rebuild = n >= REBUILD_INDEXES_FROM;
    if rebuild {
        conn.execute("DROP INDEX IF EXISTS idx_orders_product_id, idx_orders_created_at")
            .await
            .map_err(err)?;
    }
    let mut left = n;
    while left > 0 {
        let chunk = left.min(1_000_000);
        sqlx::query(
            "INSERT INTO orders (user_id, product_id, quantity, total_price, created_at)
             SELECT 'gen_' || (g % 100000), 1 + (g % 5), 1 + (g % 3), (1 + (g % 3)) * 29.99,
                    CURRENT_TIMESTAMP::timestamp - (g % 864000) * interval '1 second'
             FROM generate_series(1, $1::int8) g",
        )
        .bind(chunk as i64)
        .execute(&mut *conn)
        .await
        .map_err(err)?;
        left -= chunk;
    }
    if rebuild {
        // The migration's two indexes, by their names (on a partitioned table, one per month).
        conn.execute(
            "SET maintenance_work_mem = '512MB';
             CREATE INDEX IF NOT EXISTS idx_orders_product_id ON orders(product_id);
             CREATE INDEX IF NOT EXISTS idx_orders_created_at ON orders(created_at)",
        )
        .await
        .map_err(err)?;
    }
    conn.execute("VACUUM ANALYZE orders").await.map_err(err)?;
    Ok(())
}

/// Makes an empty ordinary `orders` partitioned (one with orders is refused), and says how.
async fn partitioned(store: &Store) -> Result<String, BenchError> {
    let plan = flashsale_core::store::partitions::PartitionPlan::default();
    let report = store.partition_orders(plan).await?.ok_or_else(|| {
        BenchError::Setup("--partitioned needs PostgreSQL: SQLite has no partitions".into())
    })?;
    Ok(format!(
        "orders partitioned by month ({} monthly partitions and a default)",
        report.months
    ))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

pub async fn run(plan: &StatsPlan, settings: &Settings) -> Result<String, BenchError> {
    // Filling 10^7 rows and scanning them takes far longer than a purchase's statement timeout.
    let pool = flashsale_core::config::PoolSettings {
        statement_timeout: Duration::from_secs(1_800),
        ..settings.pool.clone()
    };
    let store = Store::open(&settings.database, &pool).await?;
    // Our own connections for the bulk inserts and the reference query: not the store's.
    let pg = super::postgres_pool(settings, 2).ok_or_else(|| {
        BenchError::Setup("the stats benchmark needs a PostgreSQL DATABASE_URL".into())
    })?;
    let layout = if plan.partitioned {
        partitioned(&store).await?
    } else {
        "orders not partitioned".to_string()
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Database {}, {layout}, machine {}; medians of the runs noted.\n",
        settings.database,
        machine()
    );
    let _ = writeln!(
        out,
        "| orders | full-scan CTE, reference shape (3 runs) | `flashsale stats` one-shot (3 runs) | dashboard baseline, once at start | dashboard refresh, {} new orders (20 runs) | refresh vs first row |",
        plan.new_per_refresh
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let mut first_refresh = None;
    for &target in plan.orders.iter() {
        let have: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
            .fetch_one(&pg)
            .await
            .map_err(flashsale_core::store::StoreError::from)?;
        if (have as u64) < u64::from(target) {
            top_up(&pg, u64::from(target) - have as u64).await?;
        }
        let mut full = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            sqlx::query(FULL_SCAN_STATS)
                .fetch_one(&pg)
                .await
                .map_err(flashsale_core::store::StoreError::from)?;
            full.push(t.elapsed());
        }
        let mut ours = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            store.stats().await?;
            ours.push(t.elapsed());
        }
        let today = Utc::now().date_naive();
        let since = today - chrono::Days::new((flashsale_core::model::REVENUE_DAYS - 1) as u64);
        let t = Instant::now();
        let baseline = store.sales_baseline(since, sales::GAP_WINDOW).await?;
        let mut tally = SalesTally::from_baseline(&baseline, Instant::now());
        let baseline_took = t.elapsed();
        let mut refreshes = Vec::new();
        for _ in 0..20 {
            sqlx::query(
                "INSERT INTO orders (user_id, product_id, quantity, total_price)
                 SELECT 'live', 1 + (g % 5), 1, 29.99 FROM generate_series(1, $1::int8) g",
            )
            .bind(i64::from(plan.new_per_refresh))
            .execute(&pg)
            .await
            .map_err(flashsale_core::store::StoreError::from)?;
            // What one tick of the dashboard's sales sampler does.
            let t = Instant::now();
            let _max = store.max_order_id().await?;
            let rows = store
                .orders_since(tally.high(), &tally.missing(), sales::BATCH)
                .await?;
            tally.apply(&rows, Instant::now());
            let snapshot = tally.snapshot(Instant::now(), today);
            refreshes.push(t.elapsed());
            std::hint::black_box(snapshot);
        }
        let refresh = median(refreshes);
        let base = *first_refresh.get_or_insert(refresh);
        let _ = writeln!(
            out,
            "| {target} | {} ms | {} ms | {} ms | {} ms | {:.2}x |",
            ms(median(full)),
            ms(median(ours)),
            ms(baseline_took),
            ms(refresh),
            refresh.as_secs_f64() / base.as_secs_f64().max(1e-9)
        );
    }
    store.close().await;
    Ok(out)
}
