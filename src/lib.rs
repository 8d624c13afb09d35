//! flashsale: a flash-sale purchase core that never oversells, on PostgreSQL or an embedded
//! SQLite database, with Redis or in-process rate limiting. The CLI, the dashboard, the burst
//! engine and the HTTP API are faces over this core; the core knows none of them.

pub mod api;
pub mod audit;
pub mod bench;
pub mod burst;
pub mod cli;
pub mod config;
pub mod format;
pub mod http_client;
pub mod logging;
pub mod model;
pub mod money;
pub mod monitor;
pub mod paths;
pub mod purchase;
pub mod ratelimit;
pub mod redact;
pub mod server;
pub mod store;
pub mod tui;
