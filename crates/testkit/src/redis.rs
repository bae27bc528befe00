//! Real Redis servers for the tests: a standalone `redis-server` and a three-master Redis Cluster, each
//! on free loopback ports in a temporary directory, stopped when dropped. `scripts/test.sh` installs
//! Debian's `redis-server` (which brings `redis-cli`) when it is missing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The process id of the `redis-server` answering on `port`, if one answers.
fn serving_pid(port: u16) -> Option<u32> {
    let info = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "info", "server"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&info.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("process_id:")?.trim().parse().ok())
}

/// A `redis-server` process.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    cluster: bool,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::spawn(crate::ports::reserve(), tempfile::tempdir().unwrap(), false)
    }

    fn spawn(port: u16, dir: tempfile::TempDir, cluster: bool) -> RedisServer {
        let mut server = RedisServer {
            child: None,
            port,
            dir,
            cluster,
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.cluster {
            command.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                // A node a test pauses must not be voted failed (the cluster would then refuse
                // every slot for a while after it is back): no test waits this long.
                "--cluster-node-timeout",
                "60000",
            ]);
        }
        // Kept in `self` at once, so that a failed start below still kills it when dropped.
        let child = self.child.insert(
            command
                .spawn()
                .expect("redis-server is installed (scripts/test.sh)"),
        );
        // Wait until the server on the port is this one: were the port taken, another server
        // could answer while this one exits, and the test would talk to somebody else's data.
        let started = Instant::now();
        while serving_pid(self.port) != Some(child.id()) {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("redis-server exited ({status}): port {} taken?", self.port);
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL); its data is gone (nothing is persisted).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server answering (SIGSTOP) while it keeps its port and its data: a hung node. A
    /// killed server's port could be taken by another test's server before a restart.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server answer again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success(), "kill {signal} failed");
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Three masters joined with `redis-cli --cluster create`.
#[derive(Debug)]
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                let port = crate::ports::reserve_with_cluster_bus();
                RedisServer::spawn(port, tempfile::tempdir().unwrap(), true)
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let started = Instant::now();
        for node in &nodes {
            loop {
                let info = Command::new("redis-cli")
                    .args(["-p", &node.port.to_string(), "cluster", "info"])
                    .output()
                    .unwrap();
                if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "the cluster did not form"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(node.dir().exists());
        }
        RedisCluster { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_whose_port_is_taken_fails_loudly_instead_of_passing_for_the_other() {
        let first = RedisServer::start();
        let second = std::panic::catch_unwind(|| {
            RedisServer::spawn(first.port, tempfile::tempdir().unwrap(), false)
        });
        let message = second.expect_err("the second server cannot have the port");
        let message = message
            .downcast_ref::<String>()
            .map(String::as_str)
            .unwrap_or_default();
        assert!(message.contains("taken?"), "{message}");
        assert_eq!(serving_pid(first.port), first.child.as_ref().map(Child::id));
    }
}
