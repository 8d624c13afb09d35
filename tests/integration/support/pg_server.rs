//! A private PostgreSQL cluster on a free port, for tests that stop and start the database
//! without disturbing the shared one. Built with the installed server's initdb and pg_ctl; run
//! as the `postgres` user when the tests run as root (PostgreSQL refuses to run as root).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::certs::TestCa;

pub struct PgServer {
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
}

fn bin_dir() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect(
        "PostgreSQL server binaries under /usr/lib/postgresql (scripts/test installs them)",
    );
    let mut dirs: Vec<PathBuf> = versions
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PgServer {
    pub fn start() -> PgServer {
        let server = PgServer::unstarted();
        let data = server.data();
        server.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "--no-sync"],
        );
        server.pg_ctl_start();
        server
    }

    /// A streaming replica of `primary` on a port of its own: `pg_basebackup -R` (which writes
    /// `standby.signal` and the connection back to the primary) into a private directory,
    /// started with `pg_ctl`. `initdb --auth=trust` already lets 127.0.0.1 replicate.
    pub fn replica_of(primary: &PgServer) -> PgServer {
        let server = PgServer::unstarted();
        let (data, port) = (server.data(), primary.port.to_string());
        server.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &data,
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        server.pg_ctl_start();
        server
    }

    /// A temporary directory the server may own, and a free port; nothing in it yet.
    fn unstarted() -> PgServer {
        let dir = tempfile::tempdir().expect("temp dir");
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .map(|s| s.success());
            assert!(
                matches!(ok, Ok(true)),
                "chown the private cluster's directory to postgres"
            );
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        PgServer {
            port,
            dir,
            bin: bin_dir(),
        }
    }

    /// A private cluster that accepts only TLS connections (`hostssl` in `pg_hba.conf`, plain
    /// TCP rejected), serving `ca`'s certificate for 127.0.0.1.
    pub fn start_tls(ca: &TestCa) -> PgServer {
        let server = PgServer::start();
        server.stop();
        let data = PathBuf::from(server.data());
        std::fs::copy(ca.server_cert(), data.join("server.crt")).expect("copy the certificate");
        std::fs::copy(ca.server_key(), data.join("server.key")).expect("copy the key");
        let mut conf = std::fs::read_to_string(data.join("postgresql.conf")).expect("conf");
        conf.push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(data.join("postgresql.conf"), conf).expect("conf");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 trust\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .expect("pg_hba.conf");
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&data)
                .status()
                .map(|s| s.success());
            assert!(matches!(ok, Ok(true)), "chown the data directory");
        }
        // PostgreSQL refuses a key others may read.
        std::fs::set_permissions(
            data.join("server.key"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod the key");
        server.start_again();
        server
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// One of the server's tools, as the postgres user when we are root.
    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .command(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server (fast shutdown: open connections are cut, as in a restart).
    pub fn stop(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// Stops the server as a crash would (`immediate`: no checkpoint, connections cut).
    pub fn kill(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    /// Starts it again on the same port and data.
    pub fn start_again(&self) {
        self.pg_ctl_start();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
