//! The offline path through the binary: `ingest` into the Delta event log (checked by an independent
//! reader, the Python `deltalake` package), interrupted ingests, and `training-set` with its bad inputs.

use super::{freshet, stderr, stdout};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const PROJECT: &str = r#"project: trips
entities:
  - {name: driver, join_keys: [driver_id]}
sources:
  - name: trips
    type: file
    path: data/*.csv
    timestamp_field: event_time
    schema: {trip_id: int64, driver_id: int64, event_time: timestamp, fare: float64, status: string}
feature_views:
  - name: driver_trips
    entities: [driver]
    source: trips
    filter: "status = 'completed'"
    ttl: 7d
    features:
      - {name: trips_24h, aggregation: count, window: 24h}
      - {name: fare_sum_24h, aggregation: sum, column: fare, window: 24h}
      - {name: last_fare, aggregation: last, column: fare}
feature_services:
  - {name: activity, features: ["driver_trips:*"]}
"#;

const TRIPS: &str = "trip_id,driver_id,event_time,fare,status
1,7,2026-01-01T10:00:00Z,12.5,completed
2,7,2026-01-01T11:00:00Z,8.0,cancelled
3,8,2026-01-02T09:30:00Z,20.25,completed
4,7,2026-01-02T09:00:00Z,not-a-number,completed
5,7,2026-01-02T09:45:00Z,5.0,completed
";

/// The project with its source reading the generator's rides file (`freshet generate` output).
fn generated_project() -> String {
    PROJECT.replace("data/*.csv", "data/trips.jsonl").replace(
        "schema: {trip_id: int64, driver_id: int64, event_time: timestamp, fare: float64, status: string}",
        "schema: {trip_id: string, driver_id: int64, event_time: timestamp, fare: float64, distance: float64, status: string}",
    )
}

fn project(root: &Path, yaml: &str) -> PathBuf {
    let dir = root.join("proj");
    fs::create_dir_all(dir.join("data")).unwrap();
    fs::write(dir.join("freshet.yaml"), yaml).unwrap();
    dir
}

/// A Python with `deltalake` and `pyarrow`: the test command's (FRESHET_TEST_PYTHON), or a virtual
/// environment made once under the target directory.
/// The reader's versions, pinned so that every run checks against the same independent reader;
/// scripts/test.sh installs the same ones.
const PYTHON_DELTALAKE: &str = "deltalake==1.6.6";
const PYTHON_PYARROW: &str = "pyarrow==26.0.1";

fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("FRESHET_TEST_PYTHON") {
                return PathBuf::from(p);
            }
            let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyenv");
            let python = venv.join("bin/python");
            if !python.exists() {
                let ok = Command::new("python3")
                    .args(["-m", "venv"])
                    .arg(&venv)
                    .status()
                    .unwrap()
                    .success()
                    && Command::new(&python)
                        .args([
                            "-m",
                            "pip",
                            "install",
                            "-q",
                            PYTHON_DELTALAKE,
                            PYTHON_PYARROW,
                        ])
                        .status()
                        .unwrap()
                        .success();
                assert!(
                    ok,
                    "cannot set up Python with deltalake; run scripts/test.sh"
                );
            }
            python
        })
        .clone()
}

/// Reads a Delta table with the Python `deltalake` package; returns (rows, distinct positions, the
/// sorted values of `column`).
fn read_with_python(table: &Path, column: &str) -> (u64, u64, Vec<serde_json::Value>) {
    let script = format!(
        "import json, sys\nfrom deltalake import DeltaTable\nt = DeltaTable(sys.argv[1]).to_pyarrow_table()\n\
         print(json.dumps([t.num_rows, len(set(t.column('_freshet_position').to_pylist())), sorted(t.column('{column}').to_pylist())]))"
    );
    serde_json::from_slice(&run_python(&script, table)).unwrap()
}

/// Runs a Python `script` on `arg`; returns its standard output.
///
/// The script leaves through `os._exit` once its output is flushed: the `deltalake` wheel aborts
/// now and then in interpreter teardown ("terminate called without an active exception", a C++
/// thread destroyed while joinable), after the answer is printed. Skipping teardown removes that
/// failure without hiding any failure of the read itself.
fn run_python(script: &str, arg: &Path) -> Vec<u8> {
    let script = format!("{script}\nimport os, sys\nsys.stdout.flush()\nos._exit(0)");
    let out = Command::new(python())
        .args(["-c", &script])
        .arg(arg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Python reader failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn ingest_is_exactly_once_and_readable_by_an_independent_reader() {
    let root = tempfile::tempdir().unwrap();
    let dir = project(root.path(), PROJECT);
    fs::write(dir.join("data/trips.csv"), TRIPS).unwrap();

    let out = freshet(root.path(), &["ingest", "-p", "proj"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    insta::assert_snapshot!("ingest", stdout(&out));
    let dead = fs::read_to_string(
        dir.join(".freshet/offline/dead-letter/trips")
            .read_dir()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    assert!(
        dead.contains(r#""row":5"#) && dead.contains("not-a-number"),
        "{dead}"
    );

    let out = freshet(root.path(), &["ingest", "-p", "proj", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sources"][0]["files"][0]["already_logged"], true);
    assert_eq!(report["sources"][0]["files"][0]["added"], 0);

    let table = dir.join(".freshet/offline/events/trips");
    assert_eq!(
        read_with_python(&table, "trip_id"),
        (4, 4, vec![1.into(), 2.into(), 3.into(), 5.into()])
    );
}

#[test]
fn an_interrupted_ingest_resumes_without_losing_or_doubling_events() {
    let root = tempfile::tempdir().unwrap();
    let dir = project(root.path(), &generated_project());
    let events = 200_000;
    let out = freshet(
        root.path(),
        &[
            "generate",
            "--events",
            &events.to_string(),
            "--out",
            "proj/data/trips.jsonl",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let mut child = Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args(["ingest", "-p", "proj", "--chunk-records", "10000"])
        .current_dir(root.path())
        .spawn()
        .unwrap();
    let log = dir.join(".freshet/offline/events/trips/_delta_log");
    // Kill it (SIGKILL: no cleanup) once a few chunks have been committed.
    let commits = || {
        fs::read_dir(&log).map_or(0, |d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
    };
    while commits() < 4 && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        None,
        "the first ingest ended before it was killed"
    );

    // Resumed with another chunk size: it keeps the killed run's chunks of 10,000.
    let out = freshet(
        root.path(),
        &["ingest", "-p", "proj", "--chunk-records", "25000", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let file = &report["sources"][0]["files"][0];
    let resumed = file["resumed_after"].as_u64().unwrap();
    assert!(
        resumed >= 30_000 && resumed.is_multiple_of(10_000),
        "the second run resumed after {resumed} records: {file}"
    );
    assert_eq!(file["added"].as_u64().unwrap() + resumed, events);

    let (rows, positions, ids) =
        read_with_python(&dir.join(".freshet/offline/events/trips"), "trip_id");
    assert_eq!((rows, positions), (events, events));
    let ids: Vec<&str> = ids.iter().map(|v| v.as_str().unwrap()).collect();
    ids.windows(2)
        .for_each(|w| assert!(w[0] != w[1], "trip {} twice", w[0]));
    assert_eq!(ids.len(), events as usize);

    let (_, _, drivers) = read_with_python(&dir.join(".freshet/offline/events/trips"), "driver_id");

    // Compaction rewrites the days of the log; the independent reader still finds every event once,
    // through the compacted files' encodings (LZ4 text, delta-encoded key and position).
    let out = freshet(root.path(), &["compact", "-p", "proj", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let compacted = &report["sources"][0];
    assert_eq!(compacted["events"].as_u64(), Some(events), "{compacted}");
    assert!(compacted["files_removed"].as_u64() > compacted["files_added"].as_u64());
    let (rows, positions, after) =
        read_with_python(&dir.join(".freshet/offline/events/trips"), "trip_id");
    assert_eq!((rows, positions), (events, events));
    let after: Vec<&str> = after.iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(after, ids);
    let (_, _, drivers_after) =
        read_with_python(&dir.join(".freshet/offline/events/trips"), "driver_id");
    assert_eq!(drivers_after, drivers);
    let out = freshet(root.path(), &["compact", "-p", "proj"]);
    assert!(
        stdout(&out).contains("already compacted"),
        "{}",
        stdout(&out)
    );
    // While another compaction (another worker, a cron job) holds the log, this one leaves it alone.
    let held = std::fs::File::create(
        dir.join(".freshet/offline/events/trips")
            .join(freshet_offline::compact::COMPACTION_LOCK),
    )
    .unwrap();
    held.lock().unwrap();
    let out = freshet(root.path(), &["compact", "-p", "proj"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "trips: another compaction of this log is running; left to it, nothing changed\n"
    );
    drop(held);

    // Vacuum keeps the replaced files within the table's retention, refuses a shorter one unless
    // forced, and then deletes them (and whatever the killed ingest left uncommitted); the
    // independent reader still finds every event once.
    let table = dir.join(".freshet/offline/events/trips");
    let files = || count_parquet(&table);
    let before = files();
    let out = freshet(root.path(), &["vacuum", "-p", "proj", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["sources"][0]["files"].as_array().map(Vec::len),
        Some(0)
    );
    let out = freshet(root.path(), &["vacuum", "-p", "proj", "--retain", "1h"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: source `trips`: a retention of 1h is shorter than its event log's delta.deletedFileRetentionDuration (7d)"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("help: omit --retain"),
        "{}",
        stderr(&out)
    );
    let out = freshet(root.path(), &["vacuum", "-p", "proj", "--retain", "5x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid duration `5x`: units are ms, s, m, h and d"),
        "{}",
        stderr(&out)
    );
    let out = freshet(
        root.path(),
        &[
            "vacuum",
            "-p",
            "proj",
            "--retain",
            "1ms",
            "--force",
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("trips: would delete "),
        "{}",
        stdout(&out)
    );
    assert_eq!(files(), before);
    let out = freshet(
        root.path(),
        &[
            "vacuum", "-p", "proj", "--retain", "1ms", "--force", "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let deleted = report["sources"][0]["files"].as_array().map_or(0, Vec::len);
    assert!(
        deleted as u64 >= compacted["files_removed"].as_u64().unwrap(),
        "{report}"
    );
    assert_eq!(files(), before - deleted);
    // The compaction lock is no data file: a vacuum leaves it, even past a 1 ms retention.
    assert!(
        table
            .join(freshet_offline::compact::COMPACTION_LOCK)
            .exists()
    );
    let (rows, positions, vacuumed) = read_with_python(&table, "trip_id");
    assert_eq!((rows, positions), (events, events));
    let vacuumed: Vec<&str> = vacuumed.iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(vacuumed, ids);
}

/// Parquet data files under a table directory (its log aside).
fn count_parquet(table: &Path) -> usize {
    fs::read_dir(table)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|day| day.file_name() != "_delta_log" && day.path().is_dir())
        .flat_map(|day| fs::read_dir(day.path()).unwrap().filter_map(Result::ok))
        .filter(|f| f.path().extension().is_some_and(|e| e == "parquet"))
        .count()
}

#[test]
fn training_set_from_a_spine_and_at_an_instant() {
    let root = tempfile::tempdir().unwrap();
    let dir = project(root.path(), PROJECT);
    fs::write(dir.join("data/trips.csv"), TRIPS).unwrap();
    assert_eq!(
        freshet(root.path(), &["ingest", "-p", "proj"])
            .status
            .code(),
        Some(0)
    );
    fs::write(
        root.path().join("spine.csv"),
        "driver_id,event_timestamp,label\n7,2026-01-01T10:30:00Z,1\n7,2026-01-02T10:00:00Z,0\n8,2026-01-02T09:30:00Z,1\n9,2026-01-02T00:00:00Z,0\n",
    )
    .unwrap();
    // The spine's training set, into `out`, with `more` arguments.
    let spine_set = |out: &str, more: &[&str]| {
        let mut args = vec![
            "training-set",
            "-p",
            "proj",
            "--service",
            "activity",
            "--spine",
            "spine.csv",
            "--out",
            out,
        ];
        args.extend_from_slice(more);
        freshet(root.path(), &args)
    };
    let out = spine_set("train.parquet", &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["training_set"]["rows"], 4);
    assert_eq!(
        report["training_set"]["columns"],
        serde_json::json!([
            "driver_id",
            "event_timestamp",
            "label",
            "driver_trips__trips_24h",
            "driver_trips__fare_sum_24h",
            "driver_trips__last_fare",
            "driver_trips__status"
        ])
    );
    let table = read_parquet(&root.path().join("train.parquet"));
    assert_eq!(table[3], "driver_trips__trips_24h: [1, 1, 1, null]");
    // The 2026-01-02 09:00 trip is in the dead-letter file, so 5.0 (09:45) is the last fare at 10:00.
    assert_eq!(
        table[5],
        "driver_trips__last_fare: [12.5, 5.0, 20.25, null]"
    );
    assert_eq!(
        table[6],
        "driver_trips__status: [PRESENT, PRESENT, PRESENT, NOT_FOUND]"
    );
    // On another number of threads, the same file; none is refused.
    let out = spine_set("three.parquet", &["--threads", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        fs::read(root.path().join("three.parquet")).unwrap(),
        fs::read(root.path().join("train.parquet")).unwrap()
    );
    let refused = spine_set("none.parquet", &["--threads", "0"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("--threads"),
        "{}",
        stderr(&refused)
    );

    // Compacted, then a trip appended: merged by key with the new trip sorted for the run.
    let out = freshet(root.path(), &["compact", "-p", "proj"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    fs::write(
        dir.join("data/later.csv"),
        "trip_id,driver_id,event_time,fare,status\n6,7,2026-01-02T09:50:00Z,6.0,completed\n",
    )
    .unwrap();
    let out = freshet(root.path(), &["ingest", "-p", "proj"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = spine_set("later.parquet", &[]);
    assert!(
        stdout(&out).contains(
            "merged by key from the compacted log of trips, its 1 event since the last compaction sorted for the run"
        ),
        "{}",
        stdout(&out)
    );
    let table = read_parquet(&root.path().join("later.parquet"));
    assert_eq!(
        table[5],
        "driver_trips__last_fare: [12.5, 6.0, 20.25, null]"
    );

    let out = freshet(
        root.path(),
        &[
            "training-set",
            "-p",
            "proj",
            "--service",
            "activity",
            "--at",
            "2026-01-02T10:00:00Z",
            "--out",
            "at.parquet",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let table = read_parquet(&root.path().join("at.parquet"));
    assert_eq!(table[0], "driver_id: [7, 8]");
    // Driver 7's 09:45 trip and the one appended at 09:50.
    assert_eq!(table[2], "driver_trips__trips_24h: [2, 1]");
}

/// Each column of a Parquet file as `name: [values]`.
fn read_parquet(path: &Path) -> Vec<String> {
    let script = "import sys, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1])\n\
                  [print(f'{n}: [' + ', '.join('null' if v is None else str(v) for v in t.column(n).to_pylist()) + ']') for n in t.column_names]";
    String::from_utf8(run_python(script, path))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bad_training_set_inputs_are_refused_and_leave_no_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = project(root.path(), PROJECT);
    fs::write(dir.join("data/trips.csv"), TRIPS).unwrap();
    let run = |spine: &str, service: &str| {
        fs::write(root.path().join("spine.csv"), spine).unwrap();
        let out = freshet(
            root.path(),
            &[
                "training-set",
                "-p",
                "proj",
                "--service",
                service,
                "--spine",
                "spine.csv",
                "--out",
                "train.parquet",
            ],
        );
        assert!(
            !root.path().join("train.parquet").exists(),
            "a partial file was left"
        );
        (out.status.code(), stderr(&out))
    };
    let good = "driver_id,event_timestamp\n7,2026-01-01T10:30:00Z\n";
    let (code, message) = run(good, "activity");
    assert_eq!(code, Some(2));
    assert!(
        message.contains("run `freshet ingest --source trips` first"),
        "{message}"
    );

    assert_eq!(
        freshet(root.path(), &["ingest", "-p", "proj"])
            .status
            .code(),
        Some(0)
    );
    let cases = [
        (
            good,
            "nope",
            "unknown feature service `nope`; feature services: activity",
        ),
        (
            "driver,event_timestamp\n7,2026-01-01T10:30:00Z\n",
            "activity",
            "spine spine.csv has no column `driver_id` (it has: driver, event_timestamp)",
        ),
        (
            "driver_id,when\n7,2026-01-01T10:30:00Z\n",
            "activity",
            "no column is named event_timestamp, event_time, timestamp; name it with --timestamp-column",
        ),
        (
            "driver_id,event_timestamp\n7,2026-01-01T10:30:00Z\n7,2026-01-01 10:30:00\n",
            "activity",
            "spine spine.csv, row 2, column `event_timestamp`: timestamp `2026-01-01 10:30:00` has no time zone",
        ),
        (
            "driver_id,event_timestamp\nseven,2026-01-01T10:30:00Z\n",
            "activity",
            "spine spine.csv, row 1, column `driver_id`: `seven` is not a valid int64",
        ),
    ];
    for (spine, service, expected) in cases {
        let (code, message) = run(spine, service);
        assert_eq!(code, Some(2), "{message}");
        assert!(
            message.contains(expected),
            "expected `{expected}` in:\n{message}"
        );
        assert!(message.contains("help:"), "{message}");
    }
}

#[test]
fn a_file_without_a_schema_column_is_refused_by_name() {
    let root = tempfile::tempdir().unwrap();
    let dir = project(root.path(), PROJECT);
    fs::write(
        dir.join("data/trips.csv"),
        "trip_id,driver_id,event_time,status\n1,7,2026-01-01T10:00:00Z,completed\n",
    )
    .unwrap();
    let out = freshet(root.path(), &["ingest", "-p", "proj"]);
    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert!(
        message.contains("proj/data/trips.csv") && message.contains("fare"),
        "{message}"
    );
    let out = freshet(root.path(), &["ingest", "-p", "proj", "--source", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("ingest_unknown_source", stderr(&out));
}

#[test]
fn an_interrupted_backfill_continues_and_ends_in_the_same_state() {
    let root = tempfile::tempdir().unwrap();
    let dir = project(root.path(), &generated_project());
    let out = freshet(
        root.path(),
        &[
            "generate",
            "--events",
            "100000",
            "--out",
            "proj/data/trips.jsonl",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = freshet(
        root.path(),
        &["ingest", "-p", "proj", "--chunk-records", "2000"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // Checkpoint after every file, and kill the backfill (SIGKILL) once a checkpoint exists.
    let state = dir.join(".freshet/state/driver_trips.state");
    let mut child = Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args(["backfill", "-p", "proj", "--checkpoint-interval", "0"])
        .current_dir(root.path())
        .spawn()
        .unwrap();
    while !state.exists() && child.try_wait().unwrap().is_none() {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let out = freshet(root.path(), &["backfill", "-p", "proj", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let view = &report["views"][0];
    assert!(
        view["files_skipped"].as_u64().unwrap() > 0,
        "did not continue: {view}"
    );
    assert!(view["files_read"].as_u64().unwrap() > 0, "{view}");
    let resumed = fs::read(&state).unwrap();

    // The same backfill, uninterrupted, from scratch.
    fs::remove_file(&state).unwrap();
    let out = freshet(root.path(), &["backfill", "-p", "proj"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        fs::read(&state).unwrap() == resumed,
        "the resumed state differs"
    );

    let out = freshet(root.path(), &["backfill", "-p", "proj"]);
    assert!(stdout(&out).contains("up to date"), "{}", stdout(&out));
    assert!(
        fs::read(&state).unwrap() == resumed,
        "a second run changed the state"
    );
}
