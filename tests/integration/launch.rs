//! How the tests launch the binary: from a cleared environment, in a home with no `.env`, so
//! neither a `.env` in the developer's working directory nor a variable in the test process's
//! own environment reaches it.

use std::process::Command;

use serde_json::Value;

use crate::support::bin::{BIN, run};
use crate::support::flashsale;

/// This file's first test, by the name the test harness knows it by.
const LEAK_TEST: &str =
    "launch::a_launch_sees_neither_the_developers_dotenv_nor_the_test_process_environment";
/// Set in the copy of this test binary that runs [`LEAK_TEST`] with a leaky environment.
const LEAKY: &str = "FLASHSALE_TEST_LEAKY_ENVIRONMENT";
/// In that copy's own environment.
const LEAKED_DATABASE: &str = "postgres://leak:s3cret@env-leak.invalid/sale";
/// In the `.env` of that copy's working directory.
const LEAKED_REDIS: &str = "redis://dotenv-leak.invalid:6379";

/// `flashsale config --json`: every setting with its value and where it came from.
fn config_of(cmd: &mut Command) -> Value {
    let (out, stdout, stderr) = run(cmd.args(["config", "--json"]));
    assert!(out.status.success(), "{stderr}");
    serde_json::from_str(&stdout).expect("config JSON")
}

/// A variable the test process has and a `.env` where it runs, as in a developer's shell: a
/// launch through `support::flashsale` sees the defaults, where a plain launch of the binary
/// (checked first, so that this test can fail) sees both.
///
/// No test may change its own process's environment (`set_var` is unsafe, and unsafe code is
/// forbidden here), so the test runs itself again: a copy of this test binary, started with the
/// leak in its environment and a `.env` in its working directory, runs this same test, which
/// then does the checking.
#[test]
fn a_launch_sees_neither_the_developers_dotenv_nor_the_test_process_environment() {
    if std::env::var_os(LEAKY).is_some() {
        return checks_inside_a_leaky_test_process();
    }
    let developer = tempfile::tempdir().expect("tmp");
    let dir = developer.path();
    std::fs::write(
        dir.join(".env"),
        format!("REDIS_URL={LEAKED_REDIS}\nMAX_QUANTITY=7\n"),
    )
    .expect("write .env");
    let out = Command::new(std::env::current_exe().expect("this test binary"))
        .args([LEAK_TEST, "--exact", "--nocapture", "--test-threads", "1"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // The plain launch inside writes its log and looks for its files here, nowhere real.
        .env("HOME", dir)
        .env("FLASHSALE_DATA_DIR", dir.join("data"))
        .env("FLASHSALE_CONFIG_DIR", dir.join("config"))
        .env("FLASHSALE_STATE_DIR", dir.join("state"))
        .env("DATABASE_URL", LEAKED_DATABASE)
        .env(LEAKY, "1")
        .current_dir(dir)
        .output()
        .expect("run this test binary again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the copy ran the test: {stdout}\n{stderr}"
    );
}

fn checks_inside_a_leaky_test_process() {
    // The leaks are real: a launch that inherits (as 7 of the 10 launches once did) sees both.
    let leaky = config_of(&mut Command::new(BIN));
    assert_eq!(
        leaky["database_url"]["value"], "postgres://leak:***@env-leak.invalid/sale",
        "{leaky}"
    );
    assert_eq!(leaky["redis_url"]["value"], LEAKED_REDIS, "{leaky}");
    assert_eq!(leaky["max_quantity"]["value"], 7, "{leaky}");

    let home = tempfile::tempdir().expect("tmp");
    let clean = config_of(&mut flashsale(home.path()));
    let home = std::fs::canonicalize(home.path()).expect("home");
    assert_eq!(
        clean["database_url"],
        serde_json::json!({
            "from": "default",
            "value": format!("sqlite://{}/data/flashsale.db (embedded)", home.display()),
        }),
        "the embedded default in the launch's own home"
    );
    assert_eq!(clean["redis_url"]["from"], "default", "{clean}");
    assert_eq!(
        clean["max_quantity"],
        serde_json::json!({"from": "default", "value": 10})
    );
    assert!(!clean.to_string().contains("leak"), "{clean}");
}

/// The binary's dotenv reads the first `.env` at or above its working directory: a launch from
/// under one is refused before it runs, naming the file.
#[test]
fn a_launch_from_below_a_dotenv_is_refused_naming_the_file() {
    let above = tempfile::tempdir().expect("tmp");
    std::fs::write(
        above.path().join(".env"),
        "DATABASE_URL=postgres://x@h/db\n",
    )
    .expect("write");
    let home = above.path().join("home");
    let refused = std::panic::catch_unwind(|| flashsale(&home)).expect_err("refused");
    let message = refused
        .downcast_ref::<String>()
        .expect("a formatted message");
    let env = std::fs::canonicalize(above.path().join(".env")).expect(".env");
    assert!(
        message.contains(&format!(
            "{} would reach the launched flashsale",
            env.display()
        )),
        "{message}"
    );
}
