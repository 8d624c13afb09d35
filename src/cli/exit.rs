//! Exit codes, so scripts can tell an oversell from a refused purchase from a broken setup.

/// Everything worked (for `burst`: the audit is ok; for `buy`: purchased).
pub const OK: u8 = 0;
/// A runtime error: database unreachable, file unwritable, ...
pub const ERROR: u8 = 1;
/// Bad usage or configuration (clap uses 2 for its own usage errors too).
pub const USAGE: u8 = 2;
/// `buy`: the purchase was not made (sold out, not found, rate limited, busy).
pub const NOT_PURCHASED: u8 = 3;
/// `restock`: no product with that id, so nothing changed; `activity --cancel`/`--terminate`:
/// no such backend of this database to signal. The database answered no, as it does to a
/// `buy` of a product that does not exist (also 3).
pub const NOT_FOUND: u8 = 3;
/// `burst`: the audit found an oversell, lost updates, unacknowledged or phantom orders.
pub const AUDIT_FAILED: u8 = 4;

/// `buy`'s exit code: purchased 0; a request that could never succeed (out of range, malformed)
/// is bad usage, 2; a database or limiter that is unreachable or broken is a runtime error, 1;
/// any other refusal (sold out, not found, rate limited, busy) is "not purchased", 3.
pub fn of_purchase(outcome: &flashsale_core::purchase::Outcome) -> u8 {
    use flashsale_core::purchase::Outcome;
    match outcome {
        Outcome::Purchased(_) => OK,
        Outcome::Invalid(_) => USAGE,
        Outcome::Failed(_) => ERROR,
        _ => NOT_PURCHASED,
    }
}

/// The exit code for how the dashboard ended: 128 + the signal's number for a signal, as a
/// shell reports it. Prints the reason of a failure.
pub fn of_dashboard(ending: &flashsale_dashboard::Ending) -> u8 {
    use flashsale_dashboard::Ending;
    match ending {
        Ending::Quit => OK,
        Ending::Signal("SIGINT") => 130,
        Ending::Signal("SIGHUP") => 129,
        Ending::Signal(_) => 143,
        Ending::BadOptions(e) => {
            eprintln!("flashsale: error: {e}");
            USAGE
        }
        Ending::Failed(e) => {
            eprintln!("flashsale: error: {e}");
            ERROR
        }
        Ending::DrawFailed => ERROR,
    }
}
