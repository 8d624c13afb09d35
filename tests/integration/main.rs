//! Integration tests against real PostgreSQL, Redis and SQLite. One binary, many modules, so
//! the suite links once; nextest runs every test in its own process, in parallel, each on its
//! own database and Redis key prefix.

mod support;

mod activity;
mod application_name;
mod batched;
mod batched_products;
mod bench;
mod burst;
mod burst_report;
mod burst_watchers;
mod cli;
mod cli_truth;
mod dashboard;
mod dashboard_api;
mod dashboard_bursts;
mod dashboard_drill;
mod dashboard_navigation;
mod dashboard_operator;
mod dashboard_redis;
mod dashboard_truth;
mod faults;
mod hostile;
mod http_admin;
mod http_burst;
mod http_contract;
mod http_drain;
mod http_edges;
mod http_faults;
mod http_idempotency;
mod http_proxy;
mod http_reads;
mod idempotency;
mod idempotency_together;
mod launch;
mod leases;
mod limits;
mod load_balancer;
mod monitor;
mod naive;
mod pooler;
mod rate_limit;
mod redis_breaker;
mod redis_cluster;
mod reference_schema;
mod restock;
mod scenarios;
mod security;
mod slowloris;
mod stock_events;
mod stock_events_scale;
mod stock_product;
mod storm;
mod tls;
mod validation;
