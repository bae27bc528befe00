//! `freshet run` killed with SIGKILL and restarted: the event log holds every generated event exactly
//! once, and the online store answers what the engine computes from the whole log.

use super::freshet;
use freshet_engine::{EntityKey, RecordReader, Timestamp, ViewState};
use freshet_online::OnlineStore;
use freshet_project::{ProcessEnv, load_project};
use std::process::Command;
use std::time::Duration;

const PROJECT: &str = r#"project: live
entities:
  - {name: driver, join_keys: [driver_id]}
sources:
  - {name: trips, type: generator, scenario: rides, rate: 3000, entities: 200, seed: 5, speedup: 120}
feature_views:
  - name: driver_trips
    entities: [driver]
    source: trips
    filter: "status = 'completed'"
    features:
      - {name: trips_1h, aggregation: count, window: 1h}
      - {name: fare_sum_24h, aggregation: sum, column: fare, window: 24h}
      - {name: last_fare, aggregation: last, column: fare}
"#;

/// A temporary directory holding the `live` project, its project directory, and a free port.
fn live_project() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("live");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("freshet.yaml"), PROJECT).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    (root, dir, port)
}

/// The project in `dir`, loaded, and a runtime to read its log and store with.
fn project_and_runtime(
    dir: &std::path::Path,
) -> (freshet_project::Project, tokio::runtime::Runtime) {
    let project = load_project(dir, &ProcessEnv).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (project, runtime)
}

/// Asserts that the generator's `positions`, as logged, are 0..n with each once (n over 3,000).
fn assert_each_generated_event_once(mut positions: Vec<u64>) {
    positions.sort_unstable();
    let expected: Vec<u64> = (0..positions.len() as u64).collect();
    assert!(positions.len() > 3_000, "only {} events", positions.len());
    assert_eq!(positions, expected, "an event was lost or logged twice");
    eprintln!("events in the log: {}, each exactly once", positions.len());
}

#[test]
fn killed_runs_resume_with_nothing_lost_or_counted_twice() {
    let (root, dir, port) = live_project();
    for kill_after in [1.5, 2.5] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_freshet"))
            .args([
                "run",
                "-p",
                "live",
                "--checkpoint-interval",
                "0.4",
                "--port",
                &port,
            ])
            .current_dir(root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs_f64(kill_after));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let out = freshet(
        root.path(),
        &[
            "run",
            "-p",
            "live",
            "--duration",
            "1.5",
            "--port",
            &port,
            "--json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["run"]["resumed_from"].as_u64().is_some(), "{report}");
    let now = report["run"]["simulated_now"].as_i64().unwrap();

    let (project, runtime) = project_and_runtime(&dir);
    runtime.block_on(async {
        let log = super::first_source_log(&dir, &project).await;
        let mut positions = Vec::new();
        let def = project.views[0].def.clone();
        let mut replayed = ViewState::new(def.clone());
        freshet_offline::scan::scan_files(&log.files().unwrap(), log.fields(), |e| {
            positions.push(e.position);
            replayed
                .ingest(e.row, Timestamp(e.ingest_time), e.position)
                .unwrap();
        })
        .unwrap();
        assert_each_generated_event_once(positions);

        let store = OnlineStore::open(&project).await.unwrap();
        let reader = RecordReader::new(&def);
        let drivers: Vec<EntityKey> = (1..=200).map(EntityKey::int).collect();
        let records = store.read(&def.name, &drivers).await.unwrap();
        for (driver, record) in drivers.iter().zip(&records) {
            assert_eq!(
                reader.read(record.as_deref(), now, i64::MAX).unwrap(),
                replayed.read(driver, now, i64::MAX).unwrap(),
                "driver {driver}"
            );
        }
    });
}

#[test]
fn upkeep_compacts_the_log_while_the_stream_appends_and_loses_nothing() {
    let (root, dir, port) = live_project();
    let child = Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args([
            "run",
            "-p",
            "live",
            "--duration",
            "4",
            "--log-commit-interval",
            "0",
            "--compact-every",
            "1s",
            "--vacuum-every",
            "1s",
            "--port",
            &port,
        ])
        .current_dir(root.path())
        .env("FRESHET_LOG", "freshet=info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Each turn shows in the server's metrics while the run goes on.
    let port_number: u16 = port.parse().unwrap();
    let scrape = || {
        super::http(
            port_number,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    let mut metrics = scrape();
    while !metrics.contains(r#"freshet_event_log_upkeep_total{kind="vacuum",outcome="ok"}"#)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
        metrics = scrape();
    }
    for counted in [
        r#"freshet_event_log_upkeep_total{kind="compaction",outcome="ok"}"#,
        r#"freshet_event_log_upkeep_last_success_seconds{kind="compaction"}"#,
        r#"freshet_event_log_upkeep_total{kind="vacuum",outcome="ok"}"#,
    ] {
        assert!(metrics.contains(counted), "{counted} not in {metrics}");
    }
    assert!(!metrics.contains(r#"outcome="failed""#), "{metrics}");
    let out = child.wait_with_output().unwrap();
    let logged = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{logged}");
    assert!(logged.contains("upkeep: event log compacted"), "{logged}");
    assert!(!logged.contains("WARN"), "{logged}");

    let (project, runtime) = project_and_runtime(&dir);
    runtime.block_on(async {
        let log = super::first_source_log(&dir, &project).await;
        // Compactions committed during the run, between the stream's appends.
        let compactions = std::fs::read_dir(log.dir().join("_delta_log"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter(|p| {
                std::fs::read_to_string(p)
                    .unwrap()
                    .contains(r#""operation":"OPTIMIZE""#)
            })
            .count();
        assert!(compactions > 0, "no compaction in the log's history");
        let mut positions = Vec::new();
        freshet_offline::scan::scan_files(&log.files().unwrap(), log.fields(), |e| {
            positions.push(e.position);
        })
        .unwrap();
        assert_each_generated_event_once(positions);
    });
}

#[test]
fn an_upkeep_interval_of_nothing_is_refused_with_the_flag_named() {
    let (root, _dir, _port) = live_project();
    for (flag, value, says) in [
        ("--compact-every", "0s", "longer than zero"),
        ("--vacuum-every", "soon", "invalid duration"),
    ] {
        let out = freshet(
            root.path(),
            &["run", "-p", "live", &format!("{flag}={value}")],
        );
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}={value}: {text}");
        assert!(
            text.contains(flag) && text.contains(says),
            "{flag}={value}: {text}"
        );
    }
}

/// The versions of the generator's event log after a 2.5 s run with `--log-commit-interval`
/// `seconds` (no periodic checkpoint within the run).
fn log_versions_after_a_run(seconds: &str) -> u64 {
    let (root, dir, port) = live_project();
    let args = [
        "run",
        "-p",
        "live",
        "--duration",
        "2.5",
        "--checkpoint-interval",
        "600",
        "--log-commit-interval",
        seconds,
        "--port",
        &port,
    ];
    let out = freshet(root.path(), &args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (project, runtime) = project_and_runtime(&dir);
    runtime.block_on(async { super::first_source_log(&dir, &project).await.version() })
}

#[test]
fn the_log_commit_interval_sets_how_often_a_stream_commits() {
    // Ticks come ten times a second: unpaced, nearly each is a commit.
    let unpaced = log_versions_after_a_run("0");
    assert!(unpaced >= 10, "{unpaced} versions without pacing");
    // Paced by a minute: the table's creation, the first append, and the one the stop waits for.
    let paced = log_versions_after_a_run("60");
    assert!(paced <= 3, "{paced} versions with a minute between commits");
}

#[test]
fn a_number_of_seconds_no_duration_holds_is_refused_with_the_flag_named() {
    let (root, _dir, _port) = live_project();
    for (flag, value) in [
        ("--duration", "-1"),
        ("--checkpoint-interval", "inf"),
        ("--log-commit-interval", "NaN"),
        ("--log-commit-interval", "soon"),
    ] {
        let out = freshet(
            root.path(),
            &["run", "-p", "live", &format!("{flag}={value}")],
        );
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag}={value}: {text}");
        assert!(text.contains(flag), "{flag}={value}: {text}");
        assert!(text.contains("like 1.5"), "{flag}={value}: {text}");
    }
}

const SCHEDULED: &str = r#"project: batch
entities:
  - {name: driver, join_keys: [driver_id]}
sources:
  - name: trips
    type: file
    path: data/*.csv
    every: 1s
    timestamp_field: event_time
    schema: {driver_id: int64, fare: float64, event_time: timestamp}
feature_views:
  - name: driver_totals
    entities: [driver]
    source: trips
    features:
      - {name: trips, aggregation: count}
      - {name: fare_sum, aggregation: sum, column: fare}
"#;

#[test]
fn a_file_source_on_a_schedule_picks_up_new_files_while_running() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("batch");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("freshet.yaml"), SCHEDULED).unwrap();
    let csv = |rows: &[(i64, f64)]| {
        let mut text = String::from("driver_id,fare,event_time\n");
        for (i, (driver, fare)) in rows.iter().enumerate() {
            text.push_str(&format!(
                "{driver},{fare},2026-01-01T00:{:02}:00Z\n",
                i % 60
            ));
        }
        text
    };
    std::fs::write(
        dir.join("data/a.csv"),
        csv(&[(1, 10.0), (1, 5.0), (2, 7.5)]),
    )
    .unwrap();
    let mut run = super::spawn_run(root.path(), "batch", 6);
    std::thread::sleep(Duration::from_millis(2_500));
    // A new file lands while the run goes on (written beside, then renamed in, as a job should).
    std::fs::write(dir.join("data/.b.tmp"), csv(&[(1, 1.0), (3, 4.0)])).unwrap();
    std::fs::rename(dir.join("data/.b.tmp"), dir.join("data/b.csv")).unwrap();
    assert_eq!(run.wait().unwrap().code(), Some(0));

    assert_eq!(
        super::final_online_values(&dir, &[1, 2, 3]),
        [
            "[Scalar(Int64(3)), Scalar(Float64(16.0))]",
            "[Scalar(Int64(1)), Scalar(Float64(7.5))]",
            "[Scalar(Int64(1)), Scalar(Float64(4.0))]",
        ],
        "both files, each once"
    );
}
