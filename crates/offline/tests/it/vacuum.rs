//! A vacuum deletes the files no current version names once the retention has passed, and nothing
//! else: the log holds the same events before and after, a retention shorter than the table's is
//! refused unless forced, and appends go on after it.

use crate::{Fixture, TRIPS};
use freshet_engine::{Timestamp, Value};
use freshet_offline::compact::{CompactOptions, compact};
use freshet_offline::ingest::IngestOptions;
use freshet_offline::vacuum::{VacuumError, VacuumOptions, VacuumReport, vacuum};
use freshet_offline::{LogRows, Transaction};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Trips of 5 drivers over two days, ingested in chunks of 4 records (several files a day), then
/// compacted: the replaced files stay on disk.
async fn compacted() -> Fixture {
    let fixture = Fixture::new(TRIPS);
    let mut text = String::from("trip_id,driver_id,event_time,fare,status\n");
    for i in 0..20 {
        text.push_str(&format!(
            "{i},{},2026-01-0{}T{:02}:00:00Z,{i}.5,done\n",
            i % 5,
            1 + i % 2,
            i % 24
        ));
    }
    fixture.write("a.csv", &text);
    fixture
        .ingest("trips", &IngestOptions { chunk_records: 4 })
        .await;
    fixture.compact().await;
    fixture
}

/// Every `.parquet` file under the source's table, relative to it.
fn parquet_files(fixture: &Fixture) -> BTreeSet<PathBuf> {
    let table = fixture.offline().join("events/trips");
    let mut found = BTreeSet::new();
    let mut dirs = vec![table.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                found.insert(path.strip_prefix(&table).unwrap().to_path_buf());
            }
        }
    }
    found.retain(|p| !p.starts_with("_delta_log"));
    found
}

/// The current version's data files, relative to the table.
async fn current_files(fixture: &Fixture) -> BTreeSet<PathBuf> {
    let table = fixture.offline().join("events/trips");
    let log = fixture.open_log("trips").await;
    log.files()
        .unwrap()
        .into_iter()
        .map(|p| p.strip_prefix(&table).unwrap().to_path_buf())
        .collect()
}

async fn run(fixture: &Fixture, options: &VacuumOptions) -> VacuumReport {
    let mut reports = vacuum(&fixture.project(), &[], options).await.unwrap();
    assert_eq!(reports.len(), 1);
    reports.remove(0)
}

/// A retention every file written so far has outlived, allowed by `force`.
fn forced(dry_run: bool) -> VacuumOptions {
    std::thread::sleep(Duration::from_millis(20));
    VacuumOptions {
        retain: Some(Duration::from_millis(10)),
        force: true,
        dry_run,
    }
}

fn size(files: &BTreeSet<PathBuf>, table: &Path) -> u64 {
    files
        .iter()
        .map(|f| std::fs::metadata(table.join(f)).unwrap().len())
        .sum()
}

#[tokio::test]
async fn the_files_compaction_replaced_are_deleted_once_past_the_retention_and_no_event_changes() {
    let fixture = compacted().await;
    let table = fixture.offline().join("events/trips");
    let before = fixture.logged("trips").await;
    let current = current_files(&fixture).await;
    let replaced: BTreeSet<PathBuf> = parquet_files(&fixture)
        .difference(&current)
        .cloned()
        .collect();
    assert_eq!(current.len(), 2, "one compacted file a day");
    assert!(replaced.len() > 2, "{replaced:?}");

    // The table's own retention (7 days) keeps files replaced a moment ago.
    let kept = run(&fixture, &VacuumOptions::default()).await;
    assert_eq!(kept.retained_ms, 7 * 24 * 3600 * 1000);
    assert!(kept.files.is_empty(), "{:?}", kept.files);

    // A dry run lists exactly the replaced files, and deletes none of them.
    let listed = run(&fixture, &forced(true)).await;
    assert!(listed.dry_run);
    assert_eq!(
        listed.files.iter().cloned().collect::<BTreeSet<_>>(),
        replaced
    );
    assert_eq!(listed.bytes, size(&replaced, &table));
    assert_eq!(
        parquet_files(&fixture).len(),
        current.len() + replaced.len()
    );

    let deleted = run(&fixture, &forced(false)).await;
    assert_eq!(deleted.files, listed.files);
    assert_eq!(deleted.bytes, listed.bytes);
    assert_eq!(parquet_files(&fixture), current);
    assert_eq!(fixture.logged("trips").await, before);

    // Nothing is left to delete.
    let again = run(&fixture, &forced(false)).await;
    assert!(again.files.is_empty(), "{:?}", again.files);
}

#[tokio::test]
async fn files_no_commit_names_are_deleted_and_hidden_files_are_kept() {
    let fixture = compacted().await;
    let table = fixture.offline().join("events/trips");
    let day = table.join("_freshet_date=2026-01-01");
    // What a crash between an append's files and its commit leaves behind.
    std::fs::write(day.join("part-orphan.parquet"), b"PAR1 not committed").unwrap();
    std::fs::write(table.join(".freshet-keep"), b"hidden").unwrap();

    let report = run(&fixture, &forced(false)).await;
    let orphan = PathBuf::from("_freshet_date=2026-01-01/part-orphan.parquet");
    assert!(report.files.contains(&orphan), "{:?}", report.files);
    assert!(!day.join("part-orphan.parquet").exists());
    assert!(table.join(".freshet-keep").exists());
    assert!(table.join("_delta_log").is_dir());
}

#[tokio::test]
async fn a_retention_shorter_than_the_tables_is_refused_unless_forced() {
    let fixture = compacted().await;
    let files = parquet_files(&fixture);
    let short = VacuumOptions {
        retain: Some(Duration::from_secs(3600)),
        force: false,
        dry_run: false,
    };
    let refused = vacuum(&fixture.project(), &[], &short).await.unwrap_err();
    assert!(
        matches!(refused, VacuumError::RetentionTooShort { .. }),
        "{refused}"
    );
    let message = refused.to_string();
    assert!(
        message.contains("source `trips`") && message.contains("1h") && message.contains("7d"),
        "{message}"
    );
    assert_eq!(parquet_files(&fixture), files, "nothing deleted");

    let unknown = vacuum(&fixture.project(), &["nope".to_owned()], &short)
        .await
        .unwrap_err();
    assert_eq!(unknown.to_string(), "unknown source `nope`; sources: trips");
}

#[tokio::test]
async fn a_source_never_logged_is_left_alone_and_gets_no_log() {
    let fixture = Fixture::new(TRIPS);
    let reports = vacuum(&fixture.project(), &["trips".to_owned()], &forced(false))
        .await
        .unwrap();
    assert!(reports.is_empty());
    assert!(!fixture.offline().join("events/trips").exists());
}

#[tokio::test]
async fn appends_go_on_after_a_vacuum_commits() {
    let fixture = compacted().await;
    // A writer that opened the log before the vacuum, as a running `freshet run` has.
    let mut writer = fixture.open_log("trips").await;
    let version = writer.version();
    let deleted = run(&fixture, &forced(false)).await;
    assert!(!deleted.files.is_empty());
    // The vacuum recorded itself as two commits that change no data.
    assert_eq!(fixture.open_log("trips").await.version(), version + 2);

    fixture.write(
        "b.csv",
        "trip_id,driver_id,event_time,fare,status\n100,9,2026-01-02T05:00:00Z,1.5,done\n",
    );
    let reports = fixture.ingest("trips", &IngestOptions::default()).await;
    assert_eq!(reports.iter().map(|r| r.added).sum::<u64>(), 1);
    assert_eq!(fixture.logged("trips").await.len(), 21);

    // The earlier writer's next version is the vacuum's: it steps over both commits and the ingest's.
    let mut rows = LogRows::default();
    let at = 1_767_340_800_000_000; // 2026-01-02T08:00:00Z
    rows.push(
        vec![
            Value::Int64(200),
            Value::Int64(9),
            Value::Timestamp(Timestamp(at)),
            Value::Float64(2.5),
            Value::String("done".into()),
        ],
        at,
        1 << 40,
    );
    let appended = writer
        .append(&rows, vec![Transaction::new("stream", 1)])
        .await
        .unwrap();
    assert_eq!(appended, version + 4);
    assert_eq!(fixture.logged("trips").await.len(), 22);
}

/// `n` trips from position `first` on, spread over 2026-01-01 and 2026-01-02 (the fixture's days).
fn stream_rows(first: u64, n: u64) -> LogRows {
    let mut rows = LogRows::default();
    for position in first..first + n {
        let at = 1_767_225_600_000_000 + i64::try_from(position % 48).unwrap() * 3_600_000_000;
        rows.push(
            vec![
                Value::Int64(1000 + i64::try_from(position).unwrap()),
                Value::Int64(i64::try_from(position % 5).unwrap()),
                Value::Timestamp(Timestamp(at)),
                Value::Float64(1.5),
                Value::String("done".into()),
            ],
            at,
            (1 << 40) + position,
        );
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_and_vacuum_while_a_stream_appends_keep_every_event_once() {
    let fixture = compacted().await;
    let before = fixture.logged("trips").await.len();
    let mut writer = fixture.open_log("trips").await;
    let rounds = 30u64;
    let (go, started) = tokio::sync::oneshot::channel::<()>();
    // Partway, the stream waits for a compaction to commit over its appends, so that at least one
    // does whatever the machine's timing; before and after, the two race freely.
    let rewrote = std::sync::Arc::new(tokio::sync::Notify::new());
    let compacted_once = rewrote.clone();
    let appending = tokio::spawn(async move {
        started.await.unwrap();
        for round in 0..rounds {
            if round == 5 {
                compacted_once.notified().await;
            }
            writer
                .append(
                    &stream_rows(round * 10, 10),
                    vec![Transaction::new("stream", i64::try_from(round).unwrap())],
                )
                .await
                .unwrap();
        }
    });
    // Compactions and vacuums (at the table's retention, as safe beside a running stream) race the
    // appends into the same days.
    let project = fixture.project();
    go.send(()).unwrap();
    let mut rewrites = 0;
    loop {
        let report = compact(&project, &[], &CompactOptions::default(), &mut |_| {})
            .await
            .unwrap();
        let rewritten = report.iter().filter(|r| r.version.is_some()).count();
        if rewritten > 0 {
            rewrites += rewritten;
            rewrote.notify_one();
        }
        vacuum(&project, &[], &VacuumOptions::default())
            .await
            .unwrap();
        if appending.is_finished() {
            break;
        }
    }
    appending.await.unwrap();
    assert!(
        rewrites > 0,
        "no compaction committed while the stream appended"
    );
    compact(&project, &[], &CompactOptions::default(), &mut |_| {})
        .await
        .unwrap();
    run(&fixture, &forced(false)).await;

    let logged = fixture.logged("trips").await;
    let positions: BTreeSet<u64> = logged.iter().map(|e| e.2).collect();
    assert_eq!(positions.len(), logged.len(), "an event twice");
    assert_eq!(logged.len(), before + 300);
    assert_eq!(parquet_files(&fixture), current_files(&fixture).await);
    assert_eq!(current_files(&fixture).await.len(), 2, "one file a day");
}

#[tokio::test]
async fn a_tables_own_retention_is_the_default_and_the_floor() {
    let fixture = compacted().await;
    let table = fixture.offline().join("events/trips");
    let url = url::Url::from_directory_path(&table).unwrap();
    deltalake::open_table(url)
        .await
        .unwrap()
        .set_tbl_properties()
        .with_properties(
            [(
                "delta.deletedFileRetentionDuration".to_owned(),
                "interval 30 days".to_owned(),
            )]
            .into(),
        )
        .await
        .unwrap();

    let kept = run(&fixture, &VacuumOptions::default()).await;
    assert_eq!(kept.retained_ms, 30 * 24 * 3600 * 1000);
    let week = VacuumOptions {
        retain: Some(Duration::from_secs(7 * 24 * 3600)),
        force: false,
        dry_run: true,
    };
    let refused = vacuum(&fixture.project(), &[], &week).await.unwrap_err();
    assert!(refused.to_string().contains("(30d)"), "{refused}");
}

#[tokio::test]
async fn a_handle_opened_before_another_writers_commit_keeps_that_writers_files() {
    let fixture = compacted().await;
    let mut stale = fixture.open_log("trips").await;
    let before = fixture.logged("trips").await.len();
    let mut other = fixture.open_log("trips").await;
    other
        .append(&stream_rows(0, 5), vec![Transaction::new("stream", 0)])
        .await
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));

    let vacuumed = stale
        .vacuum(Duration::from_millis(10), false)
        .await
        .unwrap();
    assert!(!vacuumed.files.is_empty());
    assert_eq!(fixture.logged("trips").await.len(), before + 5);
    assert_eq!(parquet_files(&fixture), current_files(&fixture).await);
}
