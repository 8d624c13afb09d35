//! Fault storms: backends killed, the database restarted or behind a faulty network, Redis
//! paused, restarted or behind a faulty network, the pool exhausted, two processes on one
//! product; for every safe strategy, in process and over HTTP. After each: nothing oversold,
//! nothing acknowledged lost, stock and orders in balance.

mod database_outages;
mod exhausted_pool;
mod killed_backends;
mod redis_outages;
mod two_processes;
