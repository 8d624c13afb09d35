//! Integration tests against real PostgreSQL, Redis and SQLite. One binary, many modules, so
//! the suite links once; nextest runs every test in its own process, in parallel, each on its
//! own database and Redis key prefix.

mod support;

mod burst;
mod cli;
mod dashboard;
mod monitor;
mod naive;
mod rate_limit;
mod reference_schema;
mod scenarios;
mod storm;
mod validation;
