//! `stats`, `stock`, `buy` and `config`: one query or one purchase, printed as text or JSON.

use std::fmt::Write as _;
use std::net::IpAddr;

use clap::Args;

use flashsale_core::config::{Layer, Settings, keys};
use flashsale_core::model::{Product, Stats};
use flashsale_core::purchase::{Outcome, PurchaseRequest, Purchaser, Receipt};
use flashsale_core::ratelimit::{LimitNote, RateLimiter};
use flashsale_core::redact::redact_url;
use flashsale_core::strategy::Strategy;

#[derive(Debug, Args)]
pub struct BuyArgs {
    /// Product id.
    #[arg(long, allow_negative_numbers = true)]
    pub product: i64,
    /// Buyer's user id (1 to 255 characters).
    #[arg(long)]
    pub user: String,
    /// Client IP the per-IP limit counts against.
    #[arg(long, default_value = "127.0.0.1")]
    pub ip: IpAddr,
    /// Units to buy (1 to --max-quantity).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub quantity: i64,
    /// batched, atomic, row-lock, or naive (UNSAFE: oversells) [default: batched, or FLASHSALE_STRATEGY]
    #[arg(long, value_parser = super::parse_strategy)]
    pub strategy: Option<Strategy>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs one purchase; the receipt, and whether it purchased.
pub async fn buy(purchaser: &Purchaser, args: &BuyArgs, default: Strategy) -> Receipt {
    purchaser
        .purchase(PurchaseRequest {
            product_id: args.product,
            user_id: &args.user,
            client_ip: args.ip,
            quantity: args.quantity,
            strategy: args.strategy.unwrap_or(default),
        })
        .await
}

/// `buy --json`'s body: the receipt, the strategy that ran it, and `"unsafe": true` when that
/// strategy can oversell.
#[derive(serde::Serialize)]
pub struct BuyJson<'a> {
    #[serde(flatten)]
    pub receipt: flashsale_core::purchase::ReceiptJson<'a>,
    pub strategy: Strategy,
    #[serde(rename = "unsafe", skip_serializing_if = "std::ops::Not::not")]
    pub is_unsafe: bool,
    /// What the remaining counts mean when the limiter is in process ([`IN_PROCESS_NOTE`]).
    #[serde(rename = "limiterNote", skip_serializing_if = "Option::is_none")]
    pub limiter_note: Option<&'static str>,
}

impl<'a> BuyJson<'a> {
    pub fn new(receipt: &'a Receipt, strategy: Strategy, limiter: &RateLimiter) -> Self {
        let checked = matches!(receipt.limit, Some(LimitNote::Checked { .. }));
        Self {
            receipt: receipt.to_json(),
            strategy,
            is_unsafe: strategy.is_unsafe(),
            limiter_note: (checked && limiter.is_in_process()).then_some(IN_PROCESS_NOTE),
        }
    }
}

/// The in-process limiter counts what this process did: one `buy` is one process, so its
/// remaining counts start full every time.
pub const IN_PROCESS_NOTE: &str = "rate limits counted in this process only (no REDIS_URL): \
     every flashsale buy starts with full limits; set REDIS_URL to share them";

/// The line `buy` prints on stderr when the limiter could not be asked, whatever the output
/// format: a purchase that went through unlimited (fail-open) or was refused for it.
pub fn limiter_warning(receipt: &Receipt) -> Option<String> {
    match &receipt.limit {
        Some(LimitNote::FailedOpen { reason }) => Some(format!(
            "flashsale: warning: rate limits not checked ({reason}): the purchase went ahead \
             under the fail-open policy"
        )),
        Some(LimitNote::FailedClosed { reason }) => Some(format!(
            "flashsale: warning: rate limits not checked ({reason}): refused under the \
             fail-closed policy"
        )),
        _ => None,
    }
}

/// The line `buy` prints on stderr before a purchase with an unsafe strategy, whatever its
/// outcome and output format.
pub const NAIVE_WARNING: &str =
    "warning: strategy naive is UNSAFE (no lock; it can oversell): for demonstrations only";

/// A receipt as one line of text, with the UNSAFE warning where due.
pub fn receipt_text(receipt: &Receipt, strategy: Strategy) -> String {
    let mut line = receipt.outcome.to_string();
    if strategy.is_unsafe() && matches!(receipt.outcome, Outcome::Purchased(_)) {
        line.push_str("  [strategy naive is UNSAFE: this sale may have oversold]");
    }
    line
}

pub fn stock_text(products: &[Product]) -> String {
    let mut out = format!(
        "{:>4}  {:<24} {:>10} {:>7}\n",
        "id", "name", "price", "stock"
    );
    for p in products {
        let _ = writeln!(
            out,
            "{:>4}  {:<24} {:>10} {:>7}",
            p.id,
            p.name,
            p.price.to_string(),
            p.stock
        );
    }
    out
}

pub fn stats_text(stats: &Stats) -> String {
    let mut out = format!(
        "total revenue {}   units sold {}\n\ntop products\n",
        stats.total_revenue, stats.total_units_sold
    );
    for (i, p) in stats.top_products.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {:<24} {:>6} units  {:>12}",
            i + 1,
            p.name,
            p.total_sold,
            p.revenue.to_string()
        );
    }
    out.push_str("\nrevenue by day (UTC)\n");
    let max = stats
        .revenue_by_day
        .iter()
        .map(|d| d.revenue.cents())
        .max()
        .unwrap_or(0)
        .max(1);
    for d in &stats.revenue_by_day {
        let bar = usize::try_from(d.revenue.cents() * 40 / max).unwrap_or(0);
        let _ = writeln!(
            out,
            "  {}  {:>12}  {}",
            d.date,
            d.revenue.to_string(),
            "#".repeat(bar)
        );
    }
    out
}

/// The resolved settings, each with where it came from; passwords masked.
pub fn config_report(settings: &Settings, layer: &Layer) -> Vec<(String, String, String)> {
    let shown = |key: keys::Key| -> String {
        match key {
            keys::DATABASE_URL => settings.database.to_string(),
            keys::REDIS_URL => settings
                .redis_url
                .as_ref()
                .map(|u| u.to_string())
                .unwrap_or_else(|| "none (in-process limiter)".into()),
            keys::ADMIN_TOKEN => settings
                .admin_token
                .as_ref()
                .map(|t| t.to_string())
                .unwrap_or_else(|| "none (admin endpoints on loopback only)".into()),
            keys::TRUSTED_PROXIES => settings.trusted_proxies.to_string(),
            // Wherever it was set, `naive` is shown as what it is.
            keys::STRATEGY => settings.strategy.label(),
            _ => layer
                .get(key)
                .map(|r| redact_url(&r.value))
                .unwrap_or_else(|| default_of(key, settings)),
        }
    };
    keys::ALL
        .iter()
        .map(|k| {
            let origin = layer
                .get(*k)
                .map(|r| r.origin.to_string())
                .unwrap_or_else(|| "default".into());
            (k.file.to_string(), shown(*k), origin)
        })
        .chain(section_rows(layer))
        .collect()
}

/// The `[alerts]` and `[keys]` tables of the config file, one row per entry
/// (`alerts.redis_ping_ms`), so that `config` shows every section it read.
fn section_rows(layer: &Layer) -> Vec<(String, String, String)> {
    ["alerts", "keys"]
        .into_iter()
        .filter_map(|name| layer.section(name).map(|s| (name, s)))
        .flat_map(|(name, section)| {
            section.entries.iter().map(move |e| {
                (
                    format!("{name}.{}", e.name),
                    e.value.to_string(),
                    format!("{}:{}", section.path.display(), e.line),
                )
            })
        })
        .collect()
}

/// A shown value as JSON of its type: a whole number as a number, `true`/`false` as a
/// boolean, "none (...)" as null, anything else as text.
pub fn typed_value(shown: &str) -> serde_json::Value {
    if let Ok(n) = shown.parse::<i64>() {
        return n.into();
    }
    match shown {
        "true" => true.into(),
        "false" => false.into(),
        _ if shown == "none" || shown.starts_with("none (") => serde_json::Value::Null,
        _ => shown.trim_matches('"').into(),
    }
}

fn default_of(key: keys::Key, s: &Settings) -> String {
    match key {
        keys::DB_POOL_MAX => s.pool.max_connections.to_string(),
        keys::DB_TIMEOUT => s.pool.statement_timeout.as_millis().to_string(),
        keys::DB_ACQUIRE_TIMEOUT => s.pool.acquire_timeout.as_millis().to_string(),
        keys::REDIS_TIMEOUT => s.limits.redis_timeout.as_millis().to_string(),
        keys::RATE_LIMIT_USER_MAX => s.limits.user_max.to_string(),
        keys::RATE_LIMIT_IP_MAX => s.limits.ip_max.to_string(),
        keys::RATE_LIMIT_WINDOW => s.limits.window.as_millis().to_string(),
        keys::RATE_LIMIT_ON_REDIS_DOWN => s.limits.on_unavailable.to_string(),
        keys::RATE_LIMIT_PREFIX => s.limits.key_prefix.clone(),
        keys::MAX_QUANTITY => s.max_quantity.to_string(),
        keys::BATCH_MAX => s.pool.batch_max.to_string(),
        keys::FORWARD_LISTEN => s
            .pool
            .forward_listen
            .map_or_else(|| "off".to_string(), |a| a.to_string()),
        keys::IDEMPOTENCY_TTL => (s.idempotency_ttl.as_secs() / 3_600).to_string(),
        keys::SHUTDOWN_DRAIN => s.http.shutdown_drain.as_millis().to_string(),
        keys::SSE_HEARTBEAT => s.http.sse_heartbeat.as_millis().to_string(),
        keys::STRATEGY => s.strategy.label(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flashsale_core::config::Origin;

    #[test]
    fn config_report_masks_the_admin_token() {
        let mut layer = Layer::default();
        layer.set(
            keys::ADMIN_TOKEN,
            "0123456789-very-secret",
            Origin::Env("ADMIN_TOKEN"),
        );
        let settings = Settings::resolve(&layer, None).expect("settings");
        let rows = config_report(&settings, &layer);
        let (_, shown, from) = rows
            .iter()
            .find(|(k, _, _)| k == "admin_token")
            .expect("admin_token row");
        assert_eq!(shown, flashsale_core::redact::MASK);
        assert_eq!(from, "environment variable ADMIN_TOKEN");
        assert!(rows.iter().all(|(_, v, _)| !v.contains("very-secret")));
    }
}
