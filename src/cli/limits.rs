//! `flashsale limits --user U [--ip A] [--reset [--yes]]`: one customer's rate-limit windows as
//! Redis holds them (count, limit, remaining, time to reset), and lifting them.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};

use super::exit;
use super::output::{fail, print_json};
use flashsale_core::config::Settings;
use flashsale_core::ratelimit::windows::ip_label;
use flashsale_core::ratelimit::{RateLimiter, WindowState, Windows, ip_bucket};

#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// The customer's user id (as purchases give it).
    #[arg(long)]
    pub user: String,
    /// A client address whose per-IP window to show too (an IPv6 address: its network's).
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// Print JSON: {"limiter","redis","windowMs","user","ip","note","reset"}.
    #[arg(long)]
    pub json: bool,
    /// Delete these windows (after asking): the customer's next purchase starts new ones.
    #[arg(long)]
    pub reset: bool,
    /// With --reset: do not ask (for scripts; needed when stdin is not a terminal).
    #[arg(long, requires = "reset")]
    pub yes: bool,
}

/// Why there are no figures without Redis.
pub const IN_PROCESS: &str = "rate limits are counted in process (no REDIS_URL): each flashsale \
     process keeps its own windows and this one has just started, so it knows nothing of any \
     other's; there are no figures to show. Set REDIS_URL to share the windows and read them here";

/// Runs `limits`: 0 when shown (or reset), 2 for bad input or a reset that cannot be asked
/// for, 1 when Redis could not be read.
pub async fn run(settings: &Settings, args: &LimitsArgs) -> u8 {
    if let Err(e) = flashsale_core::purchase::validate_user_id(&args.user) {
        return usage(format!("--user: {e}"));
    }
    let limiter = match RateLimiter::new(settings.limits.clone(), settings.redis_url.as_ref()) {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    let s = &settings.limits;
    let Some(redis) = limiter.redis() else {
        if args.reset {
            return usage(
                "limits --reset needs Redis: the in-process limiter's windows live in each \
                 process and end with it, so there is nothing here to reset"
                    .into(),
            );
        }
        return show_in_process(settings, args);
    };
    let url = redis.url().to_string();
    let windows = match redis.windows(&args.user, args.ip, s).await {
        Ok(w) => w,
        Err(e) => {
            return fail(format!(
                "cannot read the rate-limit windows from {url}: {e}"
            ));
        }
    };
    let mut reset = Value::Null;
    let mut reset_line = None;
    if args.reset {
        let keys = windows.open_keys();
        if keys.is_empty() {
            reset = json!({"deleted": 0, "confirmed": true});
            reset_line = Some("reset: nothing to delete (no window open)".to_string());
        } else {
            let question = format!("delete {} in {url}?", keys.join(" and "));
            match super::confirm::confirm(&question, args.yes, "limits --reset") {
                Err(e) => return usage(e),
                Ok(false) => {
                    reset = json!({"deleted": 0, "confirmed": false});
                    reset_line = Some("not reset (answered no)".to_string());
                }
                Ok(true) => match redis.delete_windows(&keys).await {
                    Ok(n) => {
                        reset = json!({"deleted": n, "confirmed": true});
                        reset_line = Some(format!(
                            "reset: deleted {n} of {} ({}); the next purchase starts new windows",
                            keys.len(),
                            keys.join(", ")
                        ));
                    }
                    Err(e) => return fail(format!("cannot reset the windows in {url}: {e}")),
                },
            }
        }
    }
    if args.json {
        let body = json!({
            "limiter": "redis",
            "redis": url,
            "windowMs": millis(s.window),
            "user": window_json(json!({"id": args.user}), Some(&windows.user), s.user_max),
            "ip": ip_json(args.ip, &windows, s.ip_max),
            "note": Value::Null,
            "reset": reset,
        });
        return print_json(&body).map_or_else(fail, |_| exit::OK);
    }
    let mut out = format!("rate limits in {url}: {}\n", limiter.describe());
    let _ = writeln!(out, "{}", windows.user.line(&format!("user {}", args.user)));
    if let (Some(ip), Some((bucket, w))) = (args.ip, &windows.ip) {
        let _ = writeln!(out, "{}", w.line(&ip_label(ip, bucket)));
    }
    if let Some(l) = reset_line {
        let _ = writeln!(out, "{l}");
    }
    print!("{out}");
    exit::OK
}

fn usage(e: String) -> u8 {
    eprintln!("flashsale: error: {e}");
    exit::USAGE
}

/// Without Redis: the limits, and why there is nothing else to show.
fn show_in_process(settings: &Settings, args: &LimitsArgs) -> u8 {
    let s = &settings.limits;
    if args.json {
        let ip = args.ip.map(|ip| {
            window_json(
                json!({"address": ip.to_string(), "bucket": ip_bucket(ip, s.ipv6_prefix)}),
                None,
                s.ip_max,
            )
        });
        let body = json!({
            "limiter": "in-process",
            "redis": Value::Null,
            "windowMs": millis(s.window),
            "user": window_json(json!({"id": args.user}), None, s.user_max),
            "ip": ip,
            "note": IN_PROCESS,
            "reset": Value::Null,
        });
        return print_json(&body).map_or_else(fail, |_| exit::OK);
    }
    let limiter = RateLimiter::new(s.clone(), None);
    let policy = limiter.map(|l| l.describe()).unwrap_or_default();
    println!("{policy}\n{IN_PROCESS}");
    exit::OK
}

/// A window's JSON: `who` ({"id"} or {"address","bucket"}) plus the figures, every one `null`
/// but the limit when there are none to give.
fn window_json(who: Value, w: Option<&WindowState>, limit: u32) -> Value {
    let mut v = who;
    let figures = match w {
        Some(w) => json!({
            "key": w.key,
            "open": w.open,
            "count": w.count,
            "limit": w.limit,
            "remaining": w.remaining(),
            "resetInMs": w.resets_in.map(millis),
        }),
        None => json!({
            "key": Value::Null, "open": Value::Null, "count": Value::Null, "limit": limit,
            "remaining": Value::Null, "resetInMs": Value::Null,
        }),
    };
    if let (Some(map), Value::Object(f)) = (v.as_object_mut(), figures) {
        map.extend(f);
    }
    v
}

fn ip_json(ip: Option<IpAddr>, windows: &Windows, limit: u32) -> Value {
    match (ip, &windows.ip) {
        (Some(ip), Some((bucket, w))) => window_json(
            json!({"address": ip.to_string(), "bucket": bucket}),
            Some(w),
            limit,
        ),
        _ => Value::Null,
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
