//! End-to-end tests of the `freshet` binary: real processes, real files, golden outputs.

// Test helpers may fail loudly: a panic is how a test reports a broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod demo;
mod golden;
mod kafka;
mod offline;
mod postgres;
mod serving;
mod streaming;
mod workflow;

use freshet_testkit::ports;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Runs `freshet args...` in `cwd` with a clean environment for freshet's own variables.
pub(crate) fn freshet(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args(args)
        .current_dir(cwd)
        .env_remove("FRESHET_TEST_UNSET_PASSWORD")
        .output()
        .expect("the freshet binary runs")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub(crate) fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub(crate) fn http(port: u16, request: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// Sends `request` until an answer satisfies `ready` (the server may still be starting), for at most
/// `limit`.
pub(crate) fn poll(
    port: u16,
    request: &str,
    ready: impl Fn(&str) -> bool,
    limit: Duration,
) -> String {
    let started = Instant::now();
    loop {
        let answer = http(port, request).unwrap_or_default();
        if ready(&answer) {
            return answer;
        }
        assert!(
            started.elapsed() < limit,
            "no answer on port {port}:\n{answer}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The event log of the project's first source (the tests' projects have one, `trips`).
pub(crate) async fn first_source_log(
    dir: &Path,
    project: &freshet_project::Project,
) -> freshet_offline::SourceLog {
    let source = &project.spec.sources[0];
    freshet_offline::SourceLog::open(
        &dir.join(".freshet/offline"),
        &source.name,
        &source.schema,
        &source.timestamp_field,
    )
    .await
    .unwrap()
}

/// Starts `freshet run -p <project>` in `cwd` for `seconds` on a free port, quietly.
pub(crate) fn spawn_run(cwd: &Path, project: &str, seconds: u32) -> std::process::Child {
    let port = ports::reserve().to_string();
    Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args([
            "run",
            "-p",
            project,
            "--duration",
            &seconds.to_string(),
            "--port",
            &port,
        ])
        .current_dir(cwd)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the freshet binary runs")
}

/// The values of the first feature view of the project in `dir` for each of `keys` (an int64 join
/// key), read from its online store as of the far future, as debug text: what a finished `freshet run`
/// left to serve.
pub(crate) fn final_online_values(dir: &Path, keys: &[i64]) -> Vec<String> {
    let project = freshet_project::load_project(dir, &freshet_project::ProcessEnv).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = freshet_online::OnlineStore::open(&project).await.unwrap();
        let def = project.views[0].def.clone();
        let reader = freshet_engine::RecordReader::new(&def);
        let entities: Vec<freshet_engine::EntityKey> = keys
            .iter()
            .map(|&k| freshet_engine::EntityKey::int(k))
            .collect();
        let records = store.read(&def.name, &entities).await.unwrap();
        records
            .iter()
            .map(|r| {
                let row = reader.read(r.as_deref(), i64::MAX / 2, i64::MAX).unwrap();
                format!("{:?}", row.values)
            })
            .collect()
    })
}
