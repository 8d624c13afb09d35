//! Settings resolved from layers: precedence, ranges, and the errors that name their key.

use super::*;

fn layer(pairs: &[(keys::Key, &str)]) -> Layer {
    let mut l = Layer::default();
    for (k, v) in pairs {
        l.set(*k, *v, Origin::Env(k.env));
    }
    l
}

#[test]
fn defaults_are_the_reference_systems() {
    let s = Settings::resolve(&Layer::default(), None).expect("defaults");
    assert!(s.database.is_embedded());
    assert_eq!(s.pool.max_connections, 20);
    assert_eq!(s.limits.user_max, 5);
    assert_eq!(s.limits.ip_max, 10);
    assert_eq!(s.limits.window, Duration::from_secs(60));
    assert_eq!(s.max_quantity, 10);
    assert_eq!(s.limits.on_unavailable, UnavailablePolicy::FailOpen);
    assert!(s.redis_url.is_none());
}

#[test]
fn malformed_number_names_the_key() {
    let err =
        Settings::resolve(&layer(&[(keys::DB_POOL_MAX, "lots")]), None).expect_err("malformed");
    let msg = err.to_string();
    assert!(msg.contains("DB_POOL_MAX"), "{msg}");
    assert!(msg.contains("'lots'"), "{msg}");
}

#[test]
fn zero_pool_is_out_of_range() {
    let err = Settings::resolve(&layer(&[(keys::DB_POOL_MAX, "0")]), None).expect_err("zero");
    assert!(err.to_string().contains("out of range"), "{err}");
}

#[test]
fn database_urls_parse_by_scheme() {
    let pg = DatabaseTarget::parse("postgres://u:p@127.0.0.1:5432/db").expect("pg");
    assert_eq!(pg.kind(), BackendKind::Postgres);
    let lite = DatabaseTarget::parse("sqlite:///tmp/x.db").expect("sqlite");
    assert_eq!(
        lite,
        DatabaseTarget::Sqlite {
            path: "/tmp/x.db".into(),
            embedded: false
        }
    );
    let err = DatabaseTarget::parse("mysql://h/db").expect_err("mysql");
    assert!(err.contains("unsupported scheme 'mysql'"), "{err}");
}

#[test]
fn bad_database_url_error_masks_password() {
    let err = Settings::resolve(
        &layer(&[(keys::DATABASE_URL, "mysql://u:hunter2@h/db")]),
        None,
    )
    .expect_err("mysql");
    let msg = err.to_string();
    assert!(msg.contains("DATABASE_URL"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn target_display_masks_password() {
    let pg = DatabaseTarget::parse("postgresql://admin:hunter2@db:5432/sale").expect("pg");
    assert!(!pg.to_string().contains("hunter2"));
    assert!(!format!("{pg:?}").contains("hunter2"));
}

#[test]
fn redis_url_must_be_redis() {
    let err =
        Settings::resolve(&layer(&[(keys::REDIS_URL, "http://h:6379")]), None).expect_err("http");
    assert!(err.to_string().contains("REDIS_URL"), "{err}");
    let ok = Settings::resolve(&layer(&[(keys::REDIS_URL, "redis://127.0.0.1:6379")]), None)
        .expect("redis");
    assert!(ok.redis_url.is_some());
}

#[test]
fn policy_and_strategy_parse() {
    let s = Settings::resolve(
        &layer(&[
            (keys::RATE_LIMIT_ON_REDIS_DOWN, "fail-closed"),
            (keys::STRATEGY, "row-lock"),
            (keys::RATE_LIMIT_WINDOW, "1500"),
        ]),
        None,
    )
    .expect("valid");
    assert_eq!(s.limits.on_unavailable, UnavailablePolicy::FailClosed);
    assert_eq!(s.strategy, Strategy::RowLock);
    assert_eq!(s.limits.window, Duration::from_millis(1500));
    let err = Settings::resolve(&layer(&[(keys::STRATEGY, "yolo")]), None).expect_err("bad");
    assert!(err.to_string().contains("FLASHSALE_STRATEGY"), "{err}");
}

#[test]
fn file_error_names_line_and_key() {
    let path = PathBuf::from("/home/u/.config/flashsale/config.toml");
    let file = Layer::from_toml(&path, "\n\nrate_limit_ip_max = -4\n").expect("parses");
    let err = Settings::resolve(&file, Some(&path)).expect_err("negative");
    let msg = err.to_string();
    assert!(msg.contains("config.toml:3"), "{msg}");
    assert!(msg.contains("rate_limit_ip_max"), "{msg}");
}

#[test]
fn trusted_proxies_and_admin_token_parse_and_the_token_never_shows() {
    let s = Settings::resolve(
        &layer(&[
            (keys::TRUSTED_PROXIES, "127.0.0.1,10.0.0.0/8"),
            (keys::ADMIN_TOKEN, "s3cret-admin-token-42"),
        ]),
        None,
    )
    .expect("valid");
    assert!(s.trusted_proxies.contains("10.4.4.4".parse().expect("ip")));
    assert_eq!(
        s.admin_token.as_ref().map(|t| t.expose()),
        Some("s3cret-admin-token-42")
    );
    assert!(!format!("{s:?}").contains("s3cret"));
    let err =
        Settings::resolve(&layer(&[(keys::ADMIN_TOKEN, "short-s3cret")]), None).expect_err("short");
    let msg = err.to_string();
    assert!(msg.contains("ADMIN_TOKEN") && msg.contains("16"), "{msg}");
    assert!(!msg.contains("s3cret"), "{msg}");
    let err = Settings::resolve(&layer(&[(keys::TRUSTED_PROXIES, "10.0.0.0/40")]), None)
        .expect_err("bad cidr");
    assert!(err.to_string().contains("TRUSTED_PROXIES"), "{err}");
}

fn pg_layer(extra: &[(keys::Key, &str)]) -> Layer {
    let mut pairs = vec![(keys::DATABASE_URL, "postgres://u@127.0.0.1:5432/sale")];
    pairs.extend_from_slice(extra);
    layer(&pairs)
}

#[test]
fn a_read_replica_is_a_postgres_url_beside_a_postgres_database() {
    let s = Settings::resolve(
        &pg_layer(&[(
            keys::DATABASE_REPLICA_URL,
            "postgres://u:hunter2@10.0.0.2:5432/sale",
        )]),
        None,
    )
    .expect("replica");
    let shown = s.read_replica.expect("set").to_string();
    assert!(
        shown.contains("10.0.0.2") && !shown.contains("hunter2"),
        "{shown}"
    );
    assert!(
        Settings::resolve(&pg_layer(&[]), None)
            .expect("none")
            .read_replica
            .is_none()
    );
}

#[test]
fn a_read_replica_that_cannot_be_one_names_its_key_and_masks_the_password() {
    let sqlite_replica = Settings::resolve(
        &pg_layer(&[(keys::DATABASE_REPLICA_URL, "sqlite:///tmp/r.db")]),
        None,
    )
    .expect_err("sqlite replica");
    let msg = sqlite_replica.to_string();
    assert!(
        msg.contains("DATABASE_REPLICA_URL") && msg.contains("postgres://"),
        "{msg}"
    );
    // The embedded database has nothing to replicate from.
    let beside_sqlite = Settings::resolve(
        &layer(&[(keys::DATABASE_REPLICA_URL, "postgres://u:hunter2@h/sale")]),
        None,
    )
    .expect_err("replica of sqlite");
    let msg = beside_sqlite.to_string();
    assert!(msg.contains("DATABASE_REPLICA_URL"), "{msg}");
    assert!(msg.contains("needs a PostgreSQL database"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn forward_listen_is_an_address_others_can_reach_or_off() {
    let on = Settings::resolve(&layer(&[(keys::FORWARD_LISTEN, "127.0.0.1:0")]), None)
        .expect("loopback, any port");
    assert_eq!(
        on.pool.forward_listen,
        Some("127.0.0.1:0".parse().expect("addr"))
    );
    let off = Settings::resolve(&layer(&[(keys::FORWARD_LISTEN, "off")]), None).expect("off");
    assert_eq!(off.pool.forward_listen, None);
    for (bad, says) in [
        ("0.0.0.0:7000", "no address another process can reach"),
        ("[::]:7000", "no address another process can reach"),
        ("localhost:7000", "expected IP:PORT"),
        ("127.0.0.1", "expected IP:PORT"),
    ] {
        let err = Settings::resolve(&layer(&[(keys::FORWARD_LISTEN, bad)]), None)
            .expect_err(bad)
            .to_string();
        assert!(
            err.contains("FLASHSALE_FORWARD_LISTEN") && err.contains(says),
            "{bad}: {err}"
        );
    }
}
