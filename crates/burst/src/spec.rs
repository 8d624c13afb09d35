//! What a burst is: which products, how many buyers buying how often and how much, with which
//! strategy, under a closed (fixed concurrency) or open (arrival rate) load model.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use super::rng::SplitMix;
use flashsale_core::strategy::Strategy;

/// Units per purchase: fixed or uniform in a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Quantity {
    Fixed(u32),
    Range(u32, u32),
}

impl Quantity {
    pub fn pick(self, rng: &mut SplitMix) -> u32 {
        match self {
            Quantity::Fixed(q) => q,
            Quantity::Range(a, b) => a + rng.below(u64::from(b - a) + 1) as u32,
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quantity::Fixed(q) => write!(f, "{q}"),
            Quantity::Range(a, b) => write!(f, "{a}..{b}"),
        }
    }
}

impl FromStr for Quantity {
    type Err = String;
    /// `N` or `A..B` (inclusive), each 1..=1,000,000.
    fn from_str(s: &str) -> Result<Self, String> {
        let num = |t: &str| -> Result<u32, String> {
            flashsale_core::config::parse_u32_in(t, 1, 1_000_000)
                .map_err(|e| format!("quantity '{s}': {e}"))
        };
        match s.split_once("..") {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b.trim_start_matches('='))?);
                if a > b {
                    return Err(format!("quantity range '{s}' is empty (start above end)"));
                }
                Ok(if a == b {
                    Quantity::Fixed(a)
                } else {
                    Quantity::Range(a, b)
                })
            }
            None => Ok(Quantity::Fixed(num(s)?)),
        }
    }
}

/// One phase of the open model: `rate` arrivals per second for `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Phase {
    pub rate_per_s: f64,
    #[serde(serialize_with = "ser_secs")]
    pub duration: Duration,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Phase {
    /// How many arrivals the phase schedules.
    pub fn arrivals(&self) -> u64 {
        (self.rate_per_s * self.duration.as_secs_f64()).floor() as u64
    }
}

/// The reference system's load-test plan: warm up 60 s at 10/s, ramp 120 s at 50/s, sustain
/// 300 s at 100/s; `scale` multiplies the durations.
pub fn reference_phases(scale: f64) -> Vec<Phase> {
    [(10.0, 60.0), (50.0, 120.0), (100.0, 300.0)]
        .into_iter()
        .map(|(rate_per_s, secs)| Phase {
            rate_per_s,
            duration: Duration::from_secs_f64(secs * scale),
        })
        .collect()
}

/// Parses `RATE/s:DURATION,...`, e.g. `10/s:60s,50/s:120s,100/s:300s` (the `/s` is optional),
/// or `reference`.
pub fn parse_phases(s: &str) -> Result<Vec<Phase>, String> {
    if s.trim() == "reference" {
        return Ok(reference_phases(1.0));
    }
    s.split(',')
        .map(|part| {
            let (rate, dur) = part.split_once(':').ok_or_else(|| {
                format!("phase '{part}': expected RATE/s:DURATION, e.g. 50/s:120s")
            })?;
            let rate_per_s: f64 = rate
                .trim()
                .trim_end_matches("/s")
                .parse()
                .map_err(|_| format!("phase '{part}': rate '{rate}' is not a number"))?;
            if !(rate_per_s > 0.0 && rate_per_s <= 1_000_000.0) {
                return Err(format!(
                    "phase '{part}': rate must be above 0 and at most 1000000/s"
                ));
            }
            Ok(Phase {
                rate_per_s,
                duration: parse_duration(dur)?,
            })
        })
        .collect()
}

/// Parses `500ms`, `10s`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("duration '{s}': expected e.g. 500ms, 10s, 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "duration '{s}': unknown unit '{unit}' (ms, s, m, h)"
            ));
        }
    };
    if !(secs > 0.0 && secs <= 86_400.0) {
        return Err(format!("duration '{s}': must be above 0 and at most 24h"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// How load is applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "model")]
pub enum Load {
    /// `concurrency` purchases in flight at all times, each starting when one ends.
    Closed { concurrency: u32 },
    /// Arrivals on a schedule, whatever the server does; at most `max_in_flight` outstanding.
    /// Latency is measured from each arrival's intended time.
    Open {
        phases: Vec<Phase>,
        max_in_flight: u32,
    },
}

/// A product and its share of the purchases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WeightedProduct {
    pub id: i32,
    pub weight: u32,
}

/// Parses `ID[:WEIGHT][,ID[:WEIGHT]...]`.
pub fn parse_products(s: &str) -> Result<Vec<WeightedProduct>, String> {
    let products: Vec<WeightedProduct> = s
        .split(',')
        .map(|part| {
            let (id, weight) = part.split_once(':').unwrap_or((part, "1"));
            let id = flashsale_core::config::parse_u32_in(id, 1, i32::MAX as u32)
                .map_err(|e| format!("product '{part}': {e}"))? as i32;
            let weight = flashsale_core::config::parse_u32_in(weight, 1, 1_000_000)
                .map_err(|e| format!("product weight '{part}': {e}"))?;
            Ok(WeightedProduct { id, weight })
        })
        .collect::<Result<_, String>>()?;
    if products.is_empty() {
        return Err("at least one product".into());
    }
    Ok(products)
}

/// Everything that defines a burst.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurstSpec {
    pub products: Vec<WeightedProduct>,
    pub buyers: u32,
    pub per_buyer: u32,
    pub quantity: Quantity,
    pub strategy: Strategy,
    pub load: Load,
    /// Buyers are spread over this many client IPs.
    pub ips: u32,
    /// Stop starting purchases after this long (the rest count as cancelled).
    pub time_limit: Option<Duration>,
    /// Set each product's stock to this before the burst.
    pub restock: Option<i32>,
    /// Every buyer's user id starts with this, so the burst's orders can be told apart.
    pub user_prefix: String,
    pub seed: u64,
    /// Each purchase carries an idempotency key of its own (`<user prefix>-<index>`), as a
    /// client that retries safely would send.
    pub idempotency_keys: bool,
    /// Event streams held open on the target during the burst (`--watchers`), each timing how
    /// late every stock change reached it; HTTP targets only.
    pub watchers: u32,
}

impl BurstSpec {
    /// A closed-model burst of `buyers` single purchases on one product.
    pub fn new(product: i32, buyers: u32, concurrency: u32, strategy: Strategy) -> Self {
        Self {
            products: vec![WeightedProduct {
                id: product,
                weight: 1,
            }],
            buyers,
            per_buyer: 1,
            quantity: Quantity::Fixed(1),
            strategy,
            load: Load::Closed { concurrency },
            ips: buyers.max(1),
            time_limit: None,
            restock: None,
            user_prefix: fresh_prefix(),
            seed: super::rng::clock_seed(),
            idempotency_keys: false,
            watchers: 0,
        }
    }

    /// Checks the numbers make a runnable burst.
    pub fn validate(&self) -> Result<(), String> {
        if self.products.is_empty() {
            return Err("at least one product".into());
        }
        if self.buyers == 0 {
            return Err("buyers must be at least 1".into());
        }
        if self.per_buyer == 0 {
            return Err("per-buyer must be at least 1".into());
        }
        if self.ips == 0 {
            return Err("ips must be at least 1".into());
        }
        match &self.load {
            Load::Closed { concurrency: 0 } => return Err("concurrency must be at least 1".into()),
            Load::Open { phases, .. } if phases.iter().map(Phase::arrivals).sum::<u64>() == 0 => {
                return Err("the arrival schedule has no arrivals (rate x duration < 1)".into());
            }
            Load::Open {
                max_in_flight: 0, ..
            } => return Err("max in flight must be at least 1".into()),
            _ => {}
        }
        if self.user_prefix.is_empty() || self.user_prefix.len() > 200 {
            return Err("user prefix must be 1 to 200 characters".into());
        }
        if let Some(r) = self.restock
            && r < 0
        {
            return Err("restock must not be negative".into());
        }
        Ok(())
    }

    /// How many purchases the burst will attempt.
    pub fn planned(&self) -> u64 {
        match &self.load {
            Load::Closed { .. } => u64::from(self.buyers) * u64::from(self.per_buyer),
            Load::Open { phases, .. } => phases.iter().map(Phase::arrivals).sum(),
        }
    }

    /// The concurrency figure for reports: C in the closed model, the in-flight cap in the open.
    pub fn concurrency(&self) -> u32 {
        match &self.load {
            Load::Closed { concurrency } => *concurrency,
            Load::Open { max_in_flight, .. } => *max_in_flight,
        }
    }

    /// The `i`-th purchase's buyer: buyers take turns, so one buyer's purchases spread out.
    pub fn buyer_of(&self, i: u64) -> u32 {
        (i % u64::from(self.buyers)) as u32
    }

    pub fn user_id(&self, buyer: u32) -> String {
        format!("{}{buyer}", self.user_prefix)
    }

    /// The client IP of a buyer: 10.x.y.z, one of `ips` addresses.
    pub fn ip_of(&self, buyer: u32) -> IpAddr {
        let n = buyer % self.ips + 1;
        IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8))
    }

    /// Picks a product index by weight.
    pub fn pick_product(&self, rng: &mut SplitMix) -> usize {
        let total: u64 = self.products.iter().map(|p| u64::from(p.weight)).sum();
        let mut r = rng.below(total);
        for (i, p) in self.products.iter().enumerate() {
            if r < u64::from(p.weight) {
                return i;
            }
            r -= u64::from(p.weight);
        }
        self.products.len() - 1
    }
}

/// A user-id prefix no earlier burst used: `burst-<hex>-`.
pub fn fresh_prefix() -> String {
    format!("burst-{:x}-", super::rng::clock_seed() & 0xff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse() {
        assert_eq!("3".parse(), Ok(Quantity::Fixed(3)));
        assert_eq!("1..3".parse(), Ok(Quantity::Range(1, 3)));
        assert_eq!("2..2".parse(), Ok(Quantity::Fixed(2)));
        assert!("0".parse::<Quantity>().is_err());
        assert!(
            "3..1"
                .parse::<Quantity>()
                .expect_err("empty")
                .contains("empty")
        );
        assert!("x".parse::<Quantity>().is_err());
    }

    #[test]
    fn range_picks_stay_inside() {
        let mut rng = SplitMix::new(3);
        for _ in 0..500 {
            let q = Quantity::Range(1, 3).pick(&mut rng);
            assert!((1..=3).contains(&q));
        }
    }

    #[test]
    fn phases_parse_and_scale() {
        let p = parse_phases("10/s:60s,50:2m").expect("phases");
        assert_eq!(p[0].arrivals(), 600);
        assert_eq!(p[1].duration, Duration::from_secs(120));
        let r = reference_phases(0.01);
        assert_eq!(r.iter().map(Phase::arrivals).sum::<u64>(), 6 + 60 + 300);
        assert!(parse_phases("fast").is_err());
        assert!(parse_phases("0/s:10s").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1y").is_err());
    }

    #[test]
    fn products_parse_with_weights() {
        assert_eq!(
            parse_products("1:3,2"),
            Ok(vec![
                WeightedProduct { id: 1, weight: 3 },
                WeightedProduct { id: 2, weight: 1 }
            ])
        );
        assert!(parse_products("0").is_err());
        assert!(parse_products("a").is_err());
    }

    #[test]
    fn buyers_take_turns_and_spread_over_ips() {
        let mut spec = BurstSpec::new(1, 3, 2, Strategy::Atomic);
        spec.per_buyer = 2;
        spec.ips = 2;
        assert_eq!(spec.planned(), 6);
        let buyers: Vec<u32> = (0..6).map(|i| spec.buyer_of(i)).collect();
        assert_eq!(buyers, [0, 1, 2, 0, 1, 2]);
        assert_eq!(spec.ip_of(0).to_string(), "10.0.0.1");
        assert_eq!(spec.ip_of(1).to_string(), "10.0.0.2");
        assert_eq!(spec.ip_of(2).to_string(), "10.0.0.1");
        assert!(spec.user_id(2).starts_with("burst-"));
    }

    #[test]
    fn weights_bias_the_choice() {
        let mut spec = BurstSpec::new(1, 1, 1, Strategy::Atomic);
        spec.products = parse_products("1:9,2:1").expect("products");
        let mut rng = SplitMix::new(11);
        let firsts = (0..10_000)
            .filter(|_| spec.pick_product(&mut rng) == 0)
            .count();
        assert!((8_500..9_500).contains(&firsts), "{firsts}");
    }

    #[test]
    fn invalid_specs_are_refused() {
        let mut spec = BurstSpec::new(1, 10, 0, Strategy::Atomic);
        assert!(spec.validate().is_err());
        spec.load = Load::Closed { concurrency: 4 };
        assert!(spec.validate().is_ok());
        spec.buyers = 0;
        assert!(spec.validate().is_err());
    }
}
