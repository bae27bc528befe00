//! A real PostgreSQL server for the tests: a fresh cluster made by `initdb` in a temporary directory,
//! served by `postgres` on a free loopback port, and shut down when dropped. Each test gets its own, so
//! tests never see each other's tables and the machine's own server (if any) is never touched.
//!
//! `scripts/test.sh` installs Debian's `postgresql` when it is missing. PostgreSQL refuses to run as
//! root, so as root (CI) the cluster belongs to the `postgres` user that package creates.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory holding `initdb` and `postgres`: `$FRESHET_TEST_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian's layout).
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FRESHET_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/test.sh installs Debian's `postgresql`)")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            e.path().join("bin/postgres").is_file().then_some(version)
        })
        .max()
        .expect("a PostgreSQL server under /usr/lib/postgresql/<version>/bin");
    PathBuf::from(format!("/usr/lib/postgresql/{newest}/bin"))
}

/// The uid and gid to run as: the `postgres` user's when running as root, else none (stay as we are).
fn server_user() -> Option<(u32, u32)> {
    let me = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&me.stdout).trim() != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .expect("a `postgres` user (Debian's `postgresql` package creates it)");
    let parts: Vec<&str> = line.split(':').collect();
    Some((parts[2].parse().unwrap(), parts[3].parse().unwrap()))
}

fn command(program: &Path, user: Option<(u32, u32)>, dir: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir).env("LC_ALL", "C");
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    command
}

/// A running PostgreSQL server with trust authentication for the `postgres` user.
#[derive(Debug)]
pub struct PostgresServer {
    child: Option<Child>,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl PostgresServer {
    /// Makes a cluster and starts its server; waits until it accepts queries.
    pub fn start() -> PostgresServer {
        let bin = bin_dir();
        let user = server_user();
        let dir = tempfile::tempdir().unwrap();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let data = dir.path().join("data");
        let init = command(&bin.join("initdb"), user, dir.path())
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap();
        assert!(
            init.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        let port = crate::ports::reserve();
        let mut server = PostgresServer {
            child: None,
            port,
            dir,
        };
        server.serve();
        server
    }

    /// Starts the server process on the cluster (again, after [`PostgresServer::stop`]) and waits
    /// until it accepts queries.
    pub fn serve(&mut self) {
        let data = self.dir.path().join("data");
        let child = command(&bin_dir().join("postgres"), server_user(), self.dir.path())
            .arg("-D")
            .arg(&data)
            .args(["-p", &self.port.to_string(), "-h", "127.0.0.1"])
            // TCP only (no socket file to place), no fsync (the cluster dies with the test), and
            // logical WAL so change-data-capture tests can use the same server.
            .args(["-c", "unix_socket_directories=", "-F"])
            .args(["-c", "wal_level=logical", "-c", "max_connections=50"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kept in `self` at once, so that a failed start below still stops it when dropped.
        self.child = Some(child);
        // Wait until the server on the port is this one: were the port taken, another test's
        // server could answer while this one exits.
        let started = Instant::now();
        while !self.serves(&data) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("postgres exited ({status}): port {} taken?", self.port);
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "postgres did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the server answering on the port serves the cluster in `data`.
    fn serves(&self, data: &Path) -> bool {
        let out = self.psql("SHOW data_directory", &["-tA"]);
        out.status.success() && Path::new(String::from_utf8_lossy(&out.stdout).trim()) == data
    }

    /// Stops the server (a fast shutdown: clients are disconnected) and starts it again on the same
    /// port and data, as an operator's restart does.
    pub fn restart(&mut self) {
        self.stop();
        self.serve();
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `sql` through `psql` with `flags`.
    fn psql(&self, sql: &str, flags: &[&str]) -> std::process::Output {
        Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"])
            .args(flags)
            .args(["-c", sql])
            .output()
            .unwrap()
    }

    /// `psql`'s standard output for `sql`; panics with PostgreSQL's message if it fails.
    fn checked(&self, sql: &str, flags: &[&str]) -> String {
        let out = self.psql(sql, flags);
        assert!(
            out.status.success(),
            "psql failed on {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Runs `sql` (several statements allowed); panics with PostgreSQL's message if it fails.
    pub fn execute(&self, sql: &str) {
        self.checked(sql, &["-q"]);
    }

    /// The first column of the first row `sql` returns, as text.
    pub fn query(&self, sql: &str) -> String {
        self.checked(sql, &["-tA"])
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl PostgresServer {
    /// Stops the server (a fast shutdown); the cluster stays, for [`PostgresServer::serve`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT is PostgreSQL's fast shutdown: it stops its backends too, which SIGKILL would
            // leave running.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
    }
}
