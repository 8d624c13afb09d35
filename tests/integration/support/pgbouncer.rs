//! A real PgBouncer (Debian's package) in transaction-pooling mode on a free port, in front of
//! the shared PostgreSQL: its defaults plus the one line most deployments carry,
//! `ignore_startup_parameters = extra_float_digits`. When the tests run as root it drops to the
//! `postgres` user (PgBouncer refuses to run as root), so its directory is readable by it.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pg_admin_url;
use super::redis_server::free_port;

pub struct PgBouncer {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
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
        let admin = url::Url::parse(&pg_admin_url()).expect("admin url");
        let (host, pg_port) = (
            admin.host_str().unwrap_or("127.0.0.1").to_string(),
            admin.port().unwrap_or(5432),
        );
        let user = if admin.username().is_empty() {
            "postgres"
        } else {
            admin.username()
        };
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("open the directory to the postgres user");
        let port = free_port();
        let auth = dir.path().join("users.txt");
        // PgBouncer logs in to PostgreSQL with the password it holds for the user.
        let password = admin.password().unwrap_or_default();
        std::fs::write(&auth, format!("\"{user}\" \"{password}\"\n")).expect("write auth file");
        let config = dir.path().join("pgbouncer.ini");
        std::fs::write(
            &config,
            format!(
                "[databases]\n* = host={host} port={pg_port}\n\n[pgbouncer]\n\
                 listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
                 auth_type = trust\nauth_file = {auth}\npool_mode = transaction\n\
                 ignore_startup_parameters = extra_float_digits\n\
                 max_client_conn = 1000\ndefault_pool_size = 20\nuser = postgres\n{extra}\n",
                auth = auth.display(),
            ),
        )
        .expect("write pgbouncer.ini");
        for f in [&auth, &config] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644))
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
        let bouncer = PgBouncer { port, child, dir };
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
