//! `freshet run` killed with SIGKILL and restarted: the event log holds every generated event exactly
//! once, and the online store answers what the engine computes from the whole log.

use super::freshet;
use freshet_engine::{EntityKey, RecordReader, Timestamp, ViewState};
use freshet_offline::SourceLog;
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

#[test]
fn killed_runs_resume_with_nothing_lost_or_counted_twice() {
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

    let project = load_project(&dir, &ProcessEnv).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let source = &project.spec.sources[0];
        let log = SourceLog::open(
            &dir.join(".freshet/offline"),
            "trips",
            &source.schema,
            &source.timestamp_field,
        )
        .await
        .unwrap();
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
        positions.sort_unstable();
        let expected: Vec<u64> = (0..positions.len() as u64).collect();
        assert!(positions.len() > 3_000, "only {} events", positions.len());
        assert_eq!(positions, expected, "an event was lost or logged twice");
        eprintln!("events in the log: {}, each exactly once", positions.len());

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
