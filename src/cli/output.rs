//! How commands end on the terminal: an error as one line on stderr (and in the log), JSON
//! pretty-printed on stdout.

use crate::cli::exit;

/// Prints an error as one line and returns the code for it.
pub fn fail(e: impl std::fmt::Display) -> u8 {
    tracing::error!(error = %e, "command failed");
    eprintln!("flashsale: error: {e}");
    exit::ERROR
}

/// Pretty JSON on stdout. A reader that went away (`| head`, a closed terminal) is an error to
/// report, never a panic (`println!` panics on a failed write).
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    print_line(&text)
}

/// `text` and a newline on stdout, with the same care as [`print_json`].
pub fn print_line(text: &str) -> Result<(), String> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))
}
