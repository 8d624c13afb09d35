//! The anchor: pgbench running the one-statement purchase on the same database and product, at
//! the same client count, with per-transaction latencies for percentiles.

use std::path::Path;
use std::process::Command;

use flashsale_core::redact::SecretUrl;

/// The one-statement purchase the peer findings measured.
const SCRIPT: &str = "\\set pid :product\n\
WITH u AS (UPDATE products SET stock = stock - 1 WHERE id = :pid AND stock >= 1 RETURNING id, price) \
INSERT INTO orders (user_id, product_id, quantity, total_price) SELECT 'pgbench', id, 1, price FROM u;\n";

/// One pgbench run's figures.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PgbenchRun {
    pub clients: u32,
    pub transactions: u64,
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Why pgbench could not give a figure.
#[derive(Debug, thiserror::Error)]
pub enum PgbenchError {
    #[error("pgbench is not installed (it ships with PostgreSQL: apt-get install postgresql)")]
    Missing,
    #[error("pgbench failed: {0}")]
    Failed(String),
}

/// The same purchase of a product drawn from `lo..=hi` per transaction: uniformly, or by
/// pgbench's Zipfian draw with exponent [`ZIPF_EXPONENT`] (rank 1 = `lo`, the hottest).
pub fn spread_script(zipf: bool) -> String {
    let draw = if zipf {
        format!("\\set pid :lo + random_zipfian(1, :hi - :lo + 1, {ZIPF_EXPONENT}) - 1\n")
    } else {
        "\\set pid random(:lo, :hi)\n".to_string()
    };
    format!(
        "{draw}{}",
        SCRIPT.split_once('\n').map_or(SCRIPT, |(_, rest)| rest)
    )
}

/// The exponent of the Zipf-like sale: product of rank r draws 1/r^s of the demand.
pub const ZIPF_EXPONENT: f64 = 1.1;

/// Runs `transactions` one-statement purchases of `product` over `clients` connections.
pub fn run(
    url: &SecretUrl,
    product: i32,
    clients: u32,
    transactions: u64,
    dir: &Path,
) -> Result<PgbenchRun, PgbenchError> {
    run_script(
        url,
        SCRIPT,
        &[("product", product.to_string())],
        clients,
        transactions,
        dir,
    )
}

/// Runs `transactions` of `script` (its variables from `vars`) over `clients` connections.
pub fn run_script(
    url: &SecretUrl,
    script_text: &str,
    vars: &[(&str, String)],
    clients: u32,
    transactions: u64,
    dir: &Path,
) -> Result<PgbenchRun, PgbenchError> {
    let script = dir.join("purchase.sql");
    std::fs::write(&script, script_text).map_err(|e| PgbenchError::Failed(e.to_string()))?;
    let per_client = (transactions / u64::from(clients)).max(1);
    let logs = dir.join(format!("log_{clients}"));
    let _ = std::fs::create_dir_all(&logs);
    let mut pgbench = Command::new("pgbench");
    if flashsale_core::store::postgres::loopback_without_sslmode(url.expose()) {
        // The anchor on the same transport as flashsale's store (no TLS on loopback).
        pgbench.env("PGSSLMODE", "disable");
    }
    let out = pgbench
        .current_dir(&logs)
        .args(["-n", "-M", "prepared", "--log", "--log-prefix=tx"])
        .arg("-c")
        .arg(clients.to_string())
        .arg("-j")
        .arg(clients.min(2).to_string())
        .arg("-t")
        .arg(per_client.to_string())
        .args(
            vars.iter()
                .flat_map(|(k, v)| ["-D".to_string(), format!("{k}={v}")]),
        )
        .arg("-f")
        .arg(&script)
        .arg(url.expose())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                PgbenchError::Missing
            } else {
                PgbenchError::Failed(e.to_string())
            }
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(PgbenchError::Failed(flashsale_core::redact::redact_url(
            err.lines().last().unwrap_or("no output"),
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let per_s = stdout
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| PgbenchError::Failed("no tps line in its output".into()))?;
    let mut latencies_us: Vec<u64> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&logs) {
        for entry in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                // client_id transaction_no time_us script_no time_epoch time_us
                latencies_us.extend(
                    text.lines()
                        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok()),
                );
            }
            let _ = std::fs::remove_file(entry.path());
        }
    }
    latencies_us.sort_unstable();
    let pct = |q: f64| -> f64 {
        if latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((latencies_us.len() as f64 - 1.0) * q).round() as usize;
        latencies_us[i] as f64 / 1000.0
    };
    Ok(PgbenchRun {
        clients,
        transactions: per_client * u64::from(clients),
        per_s,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    })
}
