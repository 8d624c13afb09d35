//! Launching the `flashsale` binary: every launch starts from a cleared environment, in a
//! throwaway home with no `.env`, plus only what the test itself sets.

use std::path::Path;
use std::process::Command;

/// The binary under test. Launch it through [`flashsale`], never directly.
pub const BIN: &str = env!("CARGO_BIN_EXE_flashsale");

/// `flashsale`, seeing nothing of the developer's environment, files or working directory.
///
/// `env_clear()`, then only:
/// - `PATH`, the test process's own (for the tools the binary runs: pgbench, redis-benchmark);
/// - `HOME` = `home`, and `XDG_CONFIG_HOME`, `XDG_DATA_HOME`, `XDG_STATE_HOME` and
///   `XDG_CACHE_HOME` below it, so no user configuration or state is found;
/// - `FLASHSALE_DATA_DIR` = `home/data` (the embedded database), `FLASHSALE_CONFIG_DIR` =
///   `home/config` (`config.toml`, themes), `FLASHSALE_STATE_DIR` = `home/state` (the log);
///
/// and `current_dir(home)`. `home` is created if missing, and must have no `.env` in it or in
/// any folder above it (the binary's dotenv looks upwards): that is checked here and fails the
/// test, naming the file. The test adds what it needs with `.env(..)` and `.args(..)`; `TERM`
/// only [`crate::support::terminal::Tmux`] sets. Where a test needs async,
/// `tokio::process::Command::from(flashsale(home))`.
pub fn flashsale(home: &Path) -> Command {
    std::fs::create_dir_all(home).expect("create the launch's home");
    let home = std::fs::canonicalize(home).expect("the launch's home");
    if let Some(found) = home
        .ancestors()
        .map(|dir| dir.join(".env"))
        .find(|env| env.exists())
    {
        panic!(
            "{} would reach the launched flashsale (dotenv reads the first .env at or above its \
             working directory {}): remove it, or put TMPDIR somewhere without one",
            found.display(),
            home.display()
        );
    }
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("FLASHSALE_DATA_DIR", home.join("data"))
        .env("FLASHSALE_CONFIG_DIR", home.join("config"))
        .env("FLASHSALE_STATE_DIR", home.join("state"))
        .current_dir(&home);
    cmd
}

/// Runs `cmd` to the end: its output, stdout and stderr as text.
pub fn run(cmd: &mut Command) -> (std::process::Output, String, String) {
    let out = cmd.output().expect("run flashsale");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// Runs `cmd`, which must succeed (else its stderr is the failure), and reads its stdout as JSON.
pub fn json_of(cmd: &mut Command) -> serde_json::Value {
    let (out, stdout, stderr) = run(cmd);
    assert!(out.status.success(), "{stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}
