//! What bounds a figure, measured: CPU seconds of each process group (ours, PostgreSQL, Redis,
//! pgbench) over a run, from /proc, and PostgreSQL's WAL flushes from `pg_stat_wal`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;

/// CPU seconds used so far by processes, grouped by command name. A process's total includes
/// its reaped children (cutime, cstime): PostgreSQL backends that have exited count toward the
/// postmaster, so short-lived connections (pgbench's) are not lost. Our own reaped children are
/// the anchor tools we ran, and are reported as such.
fn cpu_by_command() -> HashMap<String, f64> {
    let ticks = clock_ticks();
    let own = std::process::id().to_string();
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // comm is in parentheses and may hold spaces; fields after it are space-separated.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // utime, stime, cutime, cstime are fields 14-17 of stat, i.e. 11-14 after the comm.
        let num = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let (own_time, children) = (num(11) + num(12), num(13) + num(14));
        if pid == own {
            *out.entry("flashsale".to_string()).or_insert(0.0) += own_time / ticks;
            *out.entry("anchor tool".to_string()).or_insert(0.0) += children / ticks;
        } else {
            *out.entry(group(&comm)).or_insert(0.0) += (own_time + children) / ticks;
        }
    }
    out
}

fn group(comm: &str) -> String {
    match comm {
        c if c.starts_with("postgres") || c.starts_with("postmaster") => "postgres".into(),
        c if c.starts_with("redis-server") => "redis".into(),
        c if c.starts_with("pgbench") => "pgbench".into(),
        c if c.starts_with("redis-benchmark") => "redis-benchmark".into(),
        c if c.starts_with("flashsale") || c.starts_with("tokio-runtime") => {
            "flashsale serve".into()
        }
        _ => "other".into(),
    }
}

fn clock_ticks() -> f64 {
    // USER_HZ is 100 on every Linux we run on; /proc reports in these ticks.
    100.0
}

/// A running measurement.
pub struct Probe {
    start: Instant,
    cpu: HashMap<String, f64>,
}

/// CPU use over a run, in cores (1.0 = one core busy the whole time), by process group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUse {
    pub by_group: Vec<(String, f64)>,
    pub wall: f64,
}

impl CpuUse {
    /// The busiest groups, e.g. "postgres 1.21 cores, flashsale 0.62 cores".
    pub fn summary(&self) -> String {
        self.by_group
            .iter()
            .filter(|(g, c)| *c >= 0.05 && g != "other")
            .map(|(g, c)| format!("{g} {c:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Probe {
    pub fn start() -> Self {
        Self {
            start: Instant::now(),
            cpu: cpu_by_command(),
        }
    }

    pub fn finish(self) -> CpuUse {
        let wall = self
            .start
            .elapsed()
            .max(Duration::from_millis(1))
            .as_secs_f64();
        let after = cpu_by_command();
        let mut by_group: Vec<(String, f64)> = after
            .into_iter()
            .map(|(g, c)| {
                let before = self.cpu.get(&g).copied().unwrap_or(0.0);
                (g, ((c - before).max(0.0)) / wall)
            })
            .collect();
        by_group.sort_by(|a, b| b.1.total_cmp(&a.1));
        CpuUse { by_group, wall }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_name_the_services() {
        assert_eq!(group("postgres"), "postgres");
        assert_eq!(group("redis-server"), "redis");
        assert_eq!(group("bash"), "other");
    }
}

/// What PostgreSQL's backends on one database were doing over a run, sampled from
/// `pg_stat_activity` every 20 ms: the average number waiting on row locks, on WAL I/O, on other
/// waits, and running. Lock waits and WAL waits are what bound a hot row.
pub struct WaitSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<WaitProfile>,
}

/// Average backends in each state over a run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct WaitProfile {
    pub lock: f64,
    pub wal: f64,
    pub other_wait: f64,
    pub running: f64,
}

impl WaitProfile {
    pub fn summary(&self) -> String {
        format!(
            "backends on average: {:.1} waiting on locks, {:.1} on WAL, {:.1} on other waits, {:.1} running",
            self.lock, self.wal, self.other_wait, self.running
        )
    }
}

impl WaitSampler {
    /// Starts sampling the backends of `pool`'s database (excluding the sampler's own), on a
    /// connection of its own so that it takes nothing from the pool under test.
    /// Starts sampling through `pool` (a connection of its own, not the purchases').
    pub fn start(pool: sqlx::PgPool) -> WaitSampler {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut sum = WaitProfile::default();
            let mut samples = 0u32;
            loop {
                let row: Result<(i64, i64, i64, i64), _> = sqlx::query_as(
                    "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'),
                            count(*) FILTER (WHERE wait_event IN ('WALSync', 'WALWrite', 'WalSync', 'WalWrite')
                                             OR (wait_event_type = 'LWLock' AND wait_event LIKE 'WAL%')),
                            count(*) FILTER (WHERE wait_event_type IS NOT NULL AND wait_event_type <> 'Lock'
                                             AND wait_event_type <> 'Client' AND wait_event NOT LIKE 'WAL%'
                                             AND wait_event NOT LIKE 'Wal%'),
                            count(*) FILTER (WHERE wait_event_type IS NULL)
                     FROM pg_stat_activity
                     WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()",
                )
                .fetch_one(&pool)
                .await;
                if let Ok((lock, wal, other, running)) = row {
                    sum.lock += lock as f64;
                    sum.wal += wal as f64;
                    sum.other_wait += other as f64;
                    sum.running += running as f64;
                    samples += 1;
                }
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
            let n = f64::from(samples.max(1));
            WaitProfile {
                lock: sum.lock / n,
                wal: sum.wal / n,
                other_wait: sum.other_wait / n,
                running: sum.running / n,
            }
        });
        WaitSampler { stop, task }
    }

    pub async fn finish(self) -> WaitProfile {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}
