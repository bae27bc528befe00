//! Serving through the binary: `backfill` materializes into the embedded store, `get` reads it from
//! the shell, `serve` answers over HTTP and stops cleanly on SIGTERM.

use super::{freshet, http, poll, stderr, stdout};
use freshet_testkit::ports;
use std::fs;
use std::process::Command;
use std::time::Duration;

const PROJECT: &str = r#"project: trips
entities:
  - {name: driver, join_keys: [driver_id]}
sources:
  - name: trips
    type: file
    path: data/trips.csv
    timestamp_field: event_time
    schema: {trip_id: int64, driver_id: int64, event_time: timestamp, fare: float64}
feature_views:
  - name: driver_trips
    entities: [driver]
    source: trips
    features:
      - {name: trips, aggregation: count}
      - {name: last_fare, aggregation: last, column: fare}
feature_services:
  - {name: activity, features: ["driver_trips:*"]}
"#;

#[test]
fn backfill_then_get_and_serve_until_sigterm() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("proj");
    fs::create_dir_all(dir.join("data")).unwrap();
    fs::write(dir.join("freshet.yaml"), PROJECT).unwrap();
    fs::write(
        dir.join("data/trips.csv"),
        "trip_id,driver_id,event_time,fare\n1,7,2026-01-01T10:00:00Z,12.5\n2,7,2026-01-01T11:00:00Z,8.0\n",
    )
    .unwrap();
    assert_eq!(
        freshet(root.path(), &["ingest", "-p", "proj"])
            .status
            .code(),
        Some(0)
    );
    let out = freshet(root.path(), &["backfill", "-p", "proj"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 records written to the online store"),
        "{}",
        stdout(&out)
    );

    let out = freshet(
        root.path(),
        &[
            "get",
            "-p",
            "proj",
            "--service",
            "activity",
            "--entity",
            "driver_id=7",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["results"][1]["values"], serde_json::json!([2]));
    assert_eq!(answer["results"][2]["values"], serde_json::json!([8.0]));
    let out = freshet(
        root.path(),
        &[
            "get",
            "-p",
            "proj",
            "--service",
            "nope",
            "--entity",
            "driver_id=7",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown feature service `nope`"),
        "{}",
        stderr(&out)
    );

    let port = ports::reserve();
    let mut server = Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args(["serve", "-p", "proj", "--port", &port.to_string()])
        .current_dir(root.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let health = poll(
        port,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        |a| !a.is_empty(),
        Duration::from_secs(20),
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let body = r#"{"feature_service": "activity", "entities": {"driver_id": [7, 8]}}"#;
    let request = format!(
        "POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let response = http(port, &request).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#""statuses":["PRESENT","NOT_FOUND"]"#),
        "{response}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a SIGTERM is a clean stop");
}

#[test]
fn serve_takes_its_port_and_tokens_from_the_project_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("proj");
    fs::create_dir_all(dir.join("data")).unwrap();
    let port = ports::reserve();
    fs::write(
        dir.join("freshet.yaml"),
        format!("{PROJECT}serving: {{port: {port}, auth_tokens: [\"${{FRESHET_TEST_TOKEN}}\"]}}\n"),
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args(["serve", "-p", "proj"])
        .env("FRESHET_TEST_TOKEN", "s3cret-token")
        .current_dir(root.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let body = r#"{"feature_service": "activity", "entities": {"driver_id": [7]}}"#;
    let request = |auth: &str| {
        format!(
            "POST /get-online-features HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let refused = poll(
        port,
        &request(""),
        |a| !a.is_empty(),
        Duration::from_secs(20),
    );
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let accepted = http(port, &request("Authorization: Bearer s3cret-token\r\n")).unwrap();
    assert!(accepted.starts_with("HTTP/1.1 200"), "{accepted}");
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn a_running_stream_shows_its_progress_in_metrics() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("live");
    fs::create_dir_all(&dir).unwrap();
    let port = ports::reserve();
    fs::write(
        dir.join("freshet.yaml"),
        format!(
            "project: live\nserving: {{port: {port}}}\nentities: [{{name: driver, join_keys: [driver_id]}}]\n\
             sources: [{{name: trips, type: generator, scenario: rides, rate: 1000, entities: 50, speedup: 60}}]\n\
             feature_views: [{{name: d, entities: [driver], source: trips, features: [{{name: n, aggregation: count, window: 1h}}]}}]\n"
        ),
    )
    .unwrap();
    let mut run = Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args([
            "run",
            "-p",
            "live",
            "--duration",
            "20",
            "--checkpoint-interval",
            "0.5",
        ])
        .current_dir(root.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let metrics = poll(
        port,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        |a| {
            // At least one checkpoint written (how many depends on how fast the run started).
            a.lines()
                .find_map(|l| l.strip_prefix("freshet_checkpoints_total "))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .is_some_and(|n| n >= 1)
        },
        Duration::from_secs(15),
    );
    assert!(
        metrics.contains(r#"freshet_stream_position{source="trips"}"#),
        "{metrics}"
    );
    assert!(
        !metrics.contains("freshet_stream_events_total 0\n"),
        "{metrics}"
    );
    assert!(metrics.contains("freshet_stream_time_seconds"), "{metrics}");
    assert!(
        metrics.contains(r#"freshet_event_log_pending_rows{source="trips"}"#),
        "{metrics}"
    );
    let stopped = Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert_eq!(
        run.wait().unwrap().code(),
        Some(0),
        "SIGTERM stops a run cleanly"
    );
}
