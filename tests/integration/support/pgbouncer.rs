//! A real PgBouncer (Debian's package) in transaction-pooling mode on a free port, in front of
//! the shared PostgreSQL: its defaults plus the one line most deployments carry,
//! `ignore_startup_parameters = extra_float_digits`. When the tests run as root it drops to the
//! `postgres` user (PgBouncer refuses to run as root), so its directory is readable by it.
//! [`PgBouncer::deployed`] runs `deploy/pgbouncer.ini` itself, password and all.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::deploy;
use super::pg_admin_url;
use super::redis_server::free_port;

pub struct PgBouncer {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
    /// The password clients give (`deploy/pgbouncer.ini` asks for one), if any.
    password: Option<String>,
}

/// What a client of [`PgBouncer::deployed`] logs in with; never printed by anything under test.
pub const DEPLOYED_PASSWORD: &str = "pgbouncer-test-password-5c1e";

/// Where the shared PostgreSQL is: host, port and admin user.
fn server() -> (String, u16, String) {
    let admin = url::Url::parse(&pg_admin_url()).expect("admin url");
    let user = if admin.username().is_empty() {
        "postgres".to_string()
    } else {
        admin.username().to_string()
    };
    (
        admin.host_str().unwrap_or("127.0.0.1").to_string(),
        admin.port().unwrap_or(5432),
        user,
    )
}

/// A directory the `postgres` user can read, for PgBouncer's files.
fn open_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
        .expect("open the directory to the postgres user");
    dir
}

/// Running as root, PgBouncer must be told whom to run as.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // `/proc/self` belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn executable() -> PathBuf {
    ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("pgbouncer installed (scripts/test installs Debian's package pgbouncer)")
}

impl PgBouncer {
    /// Starts it with `extra` lines appended to its `[pgbouncer]` section, waiting until it
    /// accepts connections.
    pub fn start_with(extra: &str) -> PgBouncer {
        let (host, pg_port, user) = server();
        let admin = url::Url::parse(&pg_admin_url()).expect("admin url");
        let dir = open_dir();
        let port = free_port();
        let auth = dir.path().join("users.txt");
        // PgBouncer logs in to PostgreSQL with the password it holds for the user.
        let password = admin.password().unwrap_or_default();
        std::fs::write(&auth, format!("\"{user}\" \"{password}\"\n")).expect("write auth file");
        let config = format!(
            "[databases]\n* = host={host} port={pg_port}\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {auth}\npool_mode = transaction\n\
             ignore_startup_parameters = extra_float_digits\n\
             max_client_conn = 1000\ndefault_pool_size = 20\nuser = postgres\n{extra}\n",
            auth = auth.display(),
        );
        PgBouncer::launch(dir, port, &config, None)
    }

    /// `deploy/pgbouncer.ini` on a free port, before the shared PostgreSQL: clients log in
    /// with [`DEPLOYED_PASSWORD`] (SCRAM, as the file says), which PgBouncer also hands
    /// PostgreSQL (trust auth in the tests: any password does).
    pub fn deployed() -> PgBouncer {
        let (host, pg_port, user) = server();
        let dir = open_dir();
        let port = free_port();
        let auth = dir.path().join("userlist.txt");
        std::fs::write(&auth, format!("\"{user}\" \"{DEPLOYED_PASSWORD}\"\n"))
            .expect("write auth file");
        let text = deploy::read("pgbouncer.ini");
        let mut config = deploy::swap(
            "pgbouncer.ini",
            &text,
            &[
                (
                    "* = host=10.0.0.10 port=5432",
                    format!("* = host={host} port={pg_port}"),
                ),
                ("listen_port = 6432", format!("listen_port = {port}")),
                (
                    "auth_file = /etc/pgbouncer/userlist.txt",
                    format!("auth_file = {}", auth.display()),
                ),
            ],
        );
        if running_as_root() {
            config.push_str("user = postgres\n");
        }
        PgBouncer::launch(dir, port, &config, Some(DEPLOYED_PASSWORD.to_string()))
    }

    fn launch(
        dir: tempfile::TempDir,
        port: u16,
        config_text: &str,
        password: Option<String>,
    ) -> PgBouncer {
        let config = dir.path().join("pgbouncer.ini");
        std::fs::write(&config, config_text).expect("write pgbouncer.ini");
        for entry in std::fs::read_dir(dir.path()).expect("list the directory") {
            let f = entry.expect("entry").path();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644))
                .expect("make readable");
        }
        let log = std::fs::File::create(dir.path().join("pgbouncer.log")).expect("log file");
        let child = Command::new(executable())
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start pgbouncer");
        let bouncer = PgBouncer {
            port,
            child,
            dir,
            password,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "pgbouncer did not start listening on {port}: {}",
                bouncer.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        bouncer
    }

    /// The settings almost every deployment runs: Debian's defaults, transaction pooling, and
    /// `extra_float_digits` ignored.
    pub fn start() -> PgBouncer {
        PgBouncer::start_with("")
    }

    /// A URL to `database` through the pooler, as the shared server's admin user.
    pub fn url(&self, database: &str) -> String {
        let mut url = url::Url::parse(&pg_admin_url()).expect("admin url");
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(self.port)).expect("port");
        url.set_path(database);
        if let Some(p) = &self.password {
            url.set_password(Some(p)).expect("password");
        }
        url.to_string()
    }

    /// What PgBouncer logged (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
