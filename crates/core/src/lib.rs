//! The flashsale core: a flash-sale purchase path that never oversells, on PostgreSQL or an
//! embedded SQLite database, with Redis or in-process rate limiting. The CLI, the dashboard, the
//! burst engine and the HTTP server are faces over this crate; it knows none of them (no
//! terminal, HTTP-server or command-line crate is among its dependencies).

pub mod audit;
pub mod config;
pub mod failure;
pub mod format;
pub mod model;
pub mod money;
pub mod paths;
pub mod purchase;
pub mod ratelimit;
pub mod redact;
pub mod store;
pub mod strategy;
