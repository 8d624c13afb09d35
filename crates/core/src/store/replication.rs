//! Where a PostgreSQL server is in its write-ahead log, and what that says of a streaming
//! replica: how far behind its primary it is, in bytes and in time. The dashboard reads from a
//! replica (`--replica-url`) and shows its lag from two of these, one of each server.

use std::time::Duration;

/// One server's place in the WAL at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalPosition {
    /// A standby replaying a primary's WAL (`pg_is_in_recovery()`); `false` for a primary,
    /// or a former replica that was promoted.
    pub in_recovery: bool,
    /// A primary's current write position; a standby's last replayed one.
    pub lsn: u64,
    /// A standby: the last position it received from the primary (`None` for a primary, and
    /// for a standby restored from an archive rather than streaming).
    pub received: Option<u64>,
    /// A standby: how long ago the last transaction it replayed committed on the primary
    /// (`pg_last_xact_replay_timestamp()`); `None` before it replayed any, and for a primary.
    pub replay_age: Option<Duration>,
}

/// How far a standby is behind its primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    /// WAL the primary has written that the standby has not replayed yet.
    pub bytes: u64,
    /// The age of the last replayed commit while the standby has received WAL it has not
    /// replayed; zero when it has replayed all it received (an idle primary sends no commits,
    /// so the age grows while nothing is behind, and the bytes still in flight are network).
    /// `None` while behind with no commit replayed since it started: unknown.
    pub time: Option<Duration>,
}

impl WalPosition {
    /// This standby's lag behind `primary`, read just before it (so a standby that replayed
    /// more since reads as caught up, not as ahead).
    pub fn lag_behind(&self, primary: &WalPosition) -> Lag {
        let bytes = primary.lsn.saturating_sub(self.lsn);
        let replaying = self.received.is_none_or(|received| received > self.lsn);
        let time = if bytes > 0 && replaying {
            self.replay_age
        } else {
            Some(Duration::ZERO)
        };
        Lag { bytes, time }
    }
}

/// An LSN as PostgreSQL prints it (`16/B374D848`: the high and low 32 bits, in hex).
pub(crate) fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.split_once('/')?;
    let high = u32::from_str_radix(high, 16).ok()?;
    let low = u32::from_str_radix(low, 16).ok()?;
    Some((u64::from(high) << 32) | u64::from(low))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(in_recovery: bool, lsn: u64, age_ms: Option<u64>) -> WalPosition {
        WalPosition {
            in_recovery,
            lsn,
            received: None,
            replay_age: age_ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn lsns_parse_as_postgres_prints_them() {
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("16/B374D848"), Some((0x16 << 32) | 0xB374_D848));
        assert_eq!(parse_lsn("FFFFFFFF/FFFFFFFF"), Some(u64::MAX));
        for bad in ["", "16", "16/", "/1", "G/1", "1/2/3", "100000000/0"] {
            assert_eq!(parse_lsn(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_standby_behind_lags_by_the_bytes_left_and_its_last_replayed_commit() {
        let lag = at(true, 1_000, Some(1_500)).lag_behind(&at(false, 9_192, None));
        assert_eq!(lag.bytes, 8_192);
        assert_eq!(lag.time, Some(Duration::from_millis(1_500)));
        // Nothing replayed since it started: how old its data is cannot be told.
        let fresh = at(true, 1_000, None).lag_behind(&at(false, 9_192, None));
        assert_eq!((fresh.bytes, fresh.time), (8_192, None));
    }

    #[test]
    fn a_caught_up_standby_lags_by_nothing_however_old_its_last_commit() {
        // An idle primary: the last commit is an hour old, and nothing is left to replay.
        let lag = at(true, 5_000, Some(3_600_000)).lag_behind(&at(false, 5_000, None));
        assert_eq!(
            lag,
            Lag {
                bytes: 0,
                time: Some(Duration::ZERO)
            }
        );
        // Read after the primary: it may have replayed past the primary's earlier position.
        let ahead = at(true, 6_000, Some(10)).lag_behind(&at(false, 5_000, None));
        assert_eq!(ahead.bytes, 0);
    }

    #[test]
    fn bytes_still_in_flight_are_not_a_lag_in_time() {
        let primary = at(false, 9_000, None);
        let replayed_all_it_got = WalPosition {
            received: Some(5_000),
            ..at(true, 5_000, Some(60_000))
        };
        let lag = replayed_all_it_got.lag_behind(&primary);
        assert_eq!((lag.bytes, lag.time), (4_000, Some(Duration::ZERO)));
        // Replay paused (or slow) with WAL received: the last commit's age is the lag.
        let paused = WalPosition {
            received: Some(9_000),
            ..at(true, 5_000, Some(60_000))
        };
        assert_eq!(
            paused.lag_behind(&primary).time,
            Some(Duration::from_secs(60))
        );
    }
}
