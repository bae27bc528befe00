//! A `tansu` broker: a Kafka-protocol broker in a process of its own, for what librdkafka's
//! in-process mock cluster cannot show. The mock's costs land in the measured process (its fetch
//! searches a partition's message sets linearly, a quarter of the CPU of a latency run), and its group
//! coordinator has no static membership. tansu 0.6.0 is installed with
//! `cargo install tansu@0.6.0 --locked --features dynostore,libsql` (PRODUCT.md section 6; about 25
//! minutes to build) and found on `PATH` or in `~/.cargo/bin`. It keeps its topics in memory, on a
//! free loopback port, and stops when dropped. tansu creates no topic by itself: create them first.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `tansu` broker.
#[derive(Debug)]
pub struct TansuBroker {
    child: Child,
    port: u16,
    binary: PathBuf,
}

impl TansuBroker {
    /// The `tansu` binary, if installed.
    pub fn binary() -> Option<PathBuf> {
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("tansu"))
                .find(|candidate| candidate.is_file())
        });
        let in_cargo_home = || {
            let home = std::env::var_os("CARGO_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
            Some(home.join("bin/tansu")).filter(|p| p.is_file())
        };
        on_path.or_else(in_cargo_home)
    }

    /// Starts a broker with memory storage on a free loopback port, and waits until it listens.
    pub fn start() -> TansuBroker {
        let binary = Self::binary().expect(
            "tansu is installed: cargo install tansu@0.6.0 --locked --features dynostore,libsql",
        );
        let port = crate::ports::reserve();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&binary)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        let broker = TansuBroker {
            child,
            port,
            binary,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "tansu did not listen on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }

    /// The bootstrap address for Kafka clients.
    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates `topic` with `partitions` partitions.
    pub fn create_topic(&self, topic: &str, partitions: i32) {
        let output = Command::new(&self.binary)
            .args(["topic", "create", topic])
            .args(["--partitions", &partitions.to_string()])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .output()
            .expect("tansu runs");
        assert!(
            output.status.success(),
            "tansu topic create {topic}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for TansuBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
