//! Compaction rewrites each day of the log as one file sorted by entity and changes no event: the
//! log holds the same events before and after, a training set comes out the same, and a second run
//! commits nothing.

use crate::{Fixture, TRIPS};
use arrow_array::RecordBatch;
use freshet_engine::Value;
use freshet_offline::LogError;
use freshet_offline::compact::{
    COMPACTION_LOCK, CompactOptions, CompactReport, SORTED_BY, compact,
};
use freshet_offline::ingest::IngestOptions;
use freshet_offline::log::{DataFile, Listing};
use freshet_offline::training::{SpineInput, TrainingOptions, TrainingReport, build_training_set};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use std::collections::BTreeMap;

/// Trips of 7 drivers over three days, out of order, in two files: with chunks of 5 records every
/// day ends up in several files.
fn fixture() -> Fixture {
    let fixture = Fixture::new(TRIPS);
    for (file, first) in [("a.csv", 0), ("b.csv", 40)] {
        let mut text = String::from("trip_id,driver_id,event_time,fare,status\n");
        for i in first..first + 40 {
            let driver = (i * 5) % 7;
            let day = 1 + (i * 11) % 3;
            let minute = (i * 37) % 1440;
            text.push_str(&format!(
                "{i},{driver},2026-01-0{day}T{:02}:{:02}:00Z,{}.5,done\n",
                minute / 60,
                minute % 60,
                i % 13
            ));
        }
        fixture.write(file, &text);
    }
    fixture
}

/// Each column of a file's first row group: its name, its compression, and whether its values are
/// stored other than plain (a dictionary for text, delta encoding for the sorted key and position).
fn column_layouts(metadata: &ParquetMetaData) -> Vec<(String, Compression, bool)> {
    metadata
        .row_group(0)
        .columns()
        .iter()
        .map(|c| {
            let encoded = c
                .encodings()
                .any(|e| matches!(e, Encoding::RLE_DICTIONARY | Encoding::DELTA_BINARY_PACKED));
            (c.column_path().string(), c.compression(), encoded)
        })
        .collect()
}

async fn run(fixture: &Fixture) -> CompactReport {
    run_with(fixture, &CompactOptions::default()).await
}

async fn run_with(fixture: &Fixture, options: &CompactOptions) -> CompactReport {
    let mut reports = compact(&fixture.project(), &[], options, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(reports.len(), 1);
    reports.remove(0)
}

/// Per day, the events of each file of the current version in file order.
async fn files_by_day(fixture: &Fixture) -> BTreeMap<String, Vec<Vec<Vec<Value>>>> {
    let log = fixture.open_log("trips").await;
    let mut days: BTreeMap<String, Vec<Vec<Vec<Value>>>> = BTreeMap::new();
    for file in log.data_files().unwrap() {
        let mut rows = Vec::new();
        freshet_offline::scan::scan_files(std::slice::from_ref(&file.path), log.fields(), |e| {
            let mut row = e.row.to_vec();
            row.push(Value::Int64(e.ingest_time));
            row.push(Value::Int64(e.position as i64));
            rows.push(row);
        })
        .unwrap();
        days.entry(file.day.clone()).or_default().push(rows);
    }
    days
}

#[tokio::test]
async fn compaction_keeps_every_event_once_and_sorts_each_day_by_entity() {
    let fixture = fixture();
    fixture
        .ingest("trips", &IngestOptions { chunk_records: 5 })
        .await;
    let before = fixture.logged("trips").await;
    let days = files_by_day(&fixture).await;
    assert!(days.values().any(|files| files.len() > 1), "{days:?}");
    let version = fixture.open_log("trips").await.version();

    let report = run(&fixture).await;
    assert_eq!(report.days_rewritten, 3);
    assert_eq!(report.files_added, 3);
    assert_eq!(report.events, 80);
    assert_eq!(
        report.sorted_by,
        [
            "driver_id",
            "event_time",
            "_freshet_ingest_time",
            "_freshet_position"
        ]
    );
    assert_eq!(report.version, Some(version + 3));
    // Each commit replaces files and changes no data, so readers following the table as a stream
    // skip it: every add and remove says so.
    let table = fixture.offline().join("events/trips/_delta_log");
    for v in version + 1..=version + 3 {
        let commit = std::fs::read_to_string(table.join(format!("{v:020}.json"))).unwrap();
        let actions: Vec<serde_json::Value> = commit
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let changes: Vec<&serde_json::Value> = actions
            .iter()
            .filter_map(|a| a.get("add").or_else(|| a.get("remove")))
            .collect();
        assert!(changes.len() >= 2, "{commit}");
        assert!(changes.iter().all(|c| c["dataChange"] == false), "{commit}");
    }

    assert_eq!(fixture.logged("trips").await, before);
    for (day, files) in files_by_day(&fixture).await {
        assert_eq!(files.len(), 1, "day {day}");
        // driver_id, event_time, ingest time, position: non-decreasing.
        let int = |v: &Value| match v {
            Value::Int64(i) => *i,
            Value::Timestamp(t) => t.micros(),
            other => panic!("not an integer or a time: {other:?}"),
        };
        let keys: Vec<[i64; 4]> = files[0]
            .iter()
            .map(|row| [int(&row[1]), int(&row[2]), int(&row[5]), int(&row[6])])
            .collect();
        assert!(keys.is_sorted(), "day {day}: {keys:?}");
    }
    let log = fixture.open_log("trips").await;
    for file in log.data_files().unwrap() {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file.path).unwrap())
                .unwrap();
        let marks = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .cloned()
            .unwrap_or_default();
        assert!(
            marks.iter().any(|k| k.key == SORTED_BY),
            "{}",
            file.path.display()
        );
        assert_eq!(
            column_layouts(reader.metadata()),
            [
                ("trip_id", Compression::UNCOMPRESSED, false),
                ("driver_id", Compression::UNCOMPRESSED, true),
                ("event_time", Compression::UNCOMPRESSED, false),
                ("fare", Compression::UNCOMPRESSED, false),
                ("status", Compression::LZ4_RAW, true),
                ("_freshet_ingest_time", Compression::UNCOMPRESSED, false),
                ("_freshet_position", Compression::UNCOMPRESSED, true),
            ]
            .map(|(name, compression, encoded)| (
                name.to_owned(),
                compression,
                encoded
            )),
            "{}",
            file.path.display()
        );
    }

    // A second run finds every day compacted and commits nothing.
    let again = run(&fixture).await;
    assert_eq!(
        (again.days_rewritten, again.days_unchanged, again.version),
        (0, 3, None)
    );
    assert_eq!(fixture.open_log("trips").await.version(), version + 3);
}

#[tokio::test]
async fn events_appended_after_a_compaction_are_folded_into_their_day_by_the_next() {
    let fixture = fixture();
    std::fs::remove_file(fixture.path().join("data/b.csv")).unwrap();
    fixture.ingest("trips", &IngestOptions::default()).await;
    run(&fixture).await;
    let mut text = String::from("trip_id,driver_id,event_time,fare,status\n");
    text.push_str("500,3,2026-01-02T08:00:00Z,9.5,done\n");
    fixture.write("c.csv", &text);
    fixture.ingest("trips", &IngestOptions::default()).await;
    let before = fixture.logged("trips").await;
    assert_eq!(files_by_day(&fixture).await["2026-01-02"].len(), 2);

    let report = run(&fixture).await;
    assert_eq!((report.days_rewritten, report.days_unchanged), (1, 2));
    assert_eq!(report.files_removed, 2);
    assert_eq!(fixture.logged("trips").await, before);
    assert!(
        files_by_day(&fixture)
            .await
            .values()
            .all(|files| files.len() == 1)
    );
}

/// The training set of service `activity` for the spine at `spine`, written to `out` in the fixture:
/// the report and the file's batches.
async fn training_set(
    fixture: &Fixture,
    spine: &std::path::Path,
    out: &str,
) -> (TrainingReport, Vec<arrow_array::RecordBatch>) {
    training_set_on(fixture, spine, out, &TrainingOptions::default()).await
}

/// [`training_set`] with `options`.
async fn training_set_on(
    fixture: &Fixture,
    spine: &std::path::Path,
    out: &str,
    options: &TrainingOptions,
) -> (TrainingReport, Vec<arrow_array::RecordBatch>) {
    let out = fixture.path().join(out);
    let input = SpineInput::File {
        path: spine.to_path_buf(),
        timestamp_column: None,
    };
    let report = build_training_set(&fixture.project(), "activity", &input, &out, options)
        .await
        .unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap())
        .unwrap()
        .build()
        .unwrap();
    (report, reader.map(Result::unwrap).collect())
}

#[tokio::test]
async fn a_training_set_is_the_same_before_and_after_compaction() {
    let fixture = fixture();
    fixture
        .ingest("trips", &IngestOptions { chunk_records: 7 })
        .await;
    let spine_path = spine_file(&fixture, 60, 9, 30, 7, true);
    let (_, before) = training_set(&fixture, &spine_path, "before.parquet").await;
    run(&fixture).await;
    let (_, after) = training_set(&fixture, &spine_path, "after.parquet").await;
    assert_eq!(before, after);
}

/// Trips appended after a compaction: a few, at times among the compacted ones, one of them at the
/// same instant as a compacted trip of the same driver.
const APPENDED: &str = "trip_id,driver_id,event_time,fare,status
900,0,2026-01-02T06:10:00Z,3.5,done
901,5,2026-01-01T00:00:00Z,4.5,done
902,3,2026-01-03T23:59:00Z,5.5,done
903,3,2026-01-02T12:00:00Z,6.5,done
904,6,2026-01-01T12:34:00Z,7.5,done
";

/// Writes `spine.csv`: `rows` rows over drivers `0..drivers` and the fixture's four days, row i at
/// hour `i * hour_step` (mod 24) and `minute`, with i as a `label` column when `labelled`.
fn spine_file(
    fixture: &Fixture,
    rows: usize,
    drivers: usize,
    minute: usize,
    hour_step: usize,
    labelled: bool,
) -> std::path::PathBuf {
    let mut spine = String::from("driver_id,event_timestamp");
    spine.push_str(if labelled { ",label\n" } else { "\n" });
    for i in 0..rows {
        let (day, hour) = (1 + i % 4, (i * hour_step) % 24);
        spine.push_str(&format!(
            "{},2026-01-0{day}T{hour:02}:{minute:02}:00Z",
            i % drivers
        ));
        spine.push_str(&if labelled {
            format!(",{i}\n")
        } else {
            "\n".to_owned()
        });
    }
    let path = fixture.path().join("spine.csv");
    std::fs::write(&path, spine).unwrap();
    path
}

#[tokio::test]
async fn a_log_appended_to_since_its_compaction_is_merged_with_its_tail_sorted_for_the_run() {
    // The same events, never compacted: loaded into memory.
    let loaded = fixture();
    loaded.write("c.csv", APPENDED);
    loaded
        .ingest("trips", &IngestOptions { chunk_records: 7 })
        .await;
    let spine = spine_file(&loaded, 90, 8, 20, 7, false);
    let (report, expected) = training_set(&loaded, &spine, "loaded.parquet").await;
    assert!(report.merged.is_empty());

    // Compacted after its first two files, then appended to.
    let live = fixture();
    live.ingest("trips", &IngestOptions { chunk_records: 7 })
        .await;
    run(&live).await;
    live.write("c.csv", APPENDED);
    live.ingest("trips", &IngestOptions { chunk_records: 7 })
        .await;
    let spine = spine_file(&live, 90, 8, 20, 7, false);
    let (report, merged) = training_set(&live, &spine, "merged.parquet").await;
    assert_eq!(report.merged, ["trips"]);
    assert_eq!(report.tail_events, 5);
    assert_eq!(merged, expected);
    // The sorted tail was the run's own: no scratch file is left, and the log did not change.
    let scratch = live.offline().join("scratch");
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
    assert_eq!(live.logged("trips").await, loaded.logged("trips").await);

    // A tail that is not small beside the compacted part: the log is loaded instead.
    let mut more = String::from("trip_id,driver_id,event_time,fare,status\n");
    for i in 1000..1040 {
        more.push_str(&format!(
            "{i},{},2026-01-02T{:02}:00:00Z,1.0,done\n",
            i % 7,
            i % 24
        ));
    }
    live.write("d.csv", &more);
    live.ingest("trips", &IngestOptions { chunk_records: 7 })
        .await;
    let (report, _) = training_set(&live, &spine, "loaded-again.parquet").await;
    assert!(report.merged.is_empty());
}

/// Two workers of one project may each compact on a timer (`freshet run --compact-every`). Whatever
/// their interleaving, no event is lost or doubled, and no day is rewritten twice: one compaction
/// of a log runs at a time, and the other leaves the log to it.
#[test]
fn two_compactions_of_the_same_days_at_once_keep_every_event_once() {
    for round in 0..4 {
        let fixture = fixture();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(fixture.ingest("trips", &IngestOptions { chunk_records: 3 }));
        let before = runtime.block_on(fixture.logged("trips"));
        let start = std::sync::Barrier::new(2);
        let outcomes: Vec<Result<Vec<CompactReport>, String>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .unwrap();
                        start.wait();
                        let project = fixture.project();
                        runtime
                            .block_on(compact(
                                &project,
                                &[],
                                &CompactOptions::default(),
                                &mut |_| {},
                            ))
                            .map_err(|e| e.to_string())
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let reports: Vec<&CompactReport> = outcomes
            .iter()
            .flat_map(|o| o.as_ref().expect("neither compaction fails"))
            .collect();
        let rewritten: usize = reports.iter().map(|r| r.days_rewritten).sum();
        assert_eq!(rewritten, 3, "round {round}: {reports:?}");
        assert_eq!(
            runtime.block_on(fixture.logged("trips")),
            before,
            "round {round}"
        );
        // Whatever the two left undone, a third compaction finishes, and no event changes.
        runtime.block_on(run(&fixture));
        assert_eq!(runtime.block_on(run(&fixture)).files_removed, 0);
        assert_eq!(
            runtime.block_on(fixture.logged("trips")),
            before,
            "round {round}"
        );
    }
}

/// A compaction that finds another holding the log's lock (another worker, a cron job) leaves the
/// log to it and says so; once the lock is free, the next one compacts.
#[tokio::test]
async fn a_log_another_compaction_holds_is_left_to_it() {
    let fixture = fixture();
    fixture
        .ingest("trips", &IngestOptions { chunk_records: 5 })
        .await;
    let log = fixture.open_log("trips").await;
    let (dir, version) = (log.dir().to_path_buf(), log.version());
    let held = std::fs::File::create(dir.join(COMPACTION_LOCK)).unwrap();
    held.lock().unwrap();

    let report = run(&fixture).await;
    assert!(report.busy, "{report:?}");
    assert_eq!((report.days_rewritten, report.version), (0, None));
    assert_eq!(fixture.open_log("trips").await.version(), version);

    drop(held);
    let report = run(&fixture).await;
    assert!(!report.busy);
    assert_eq!(report.days_rewritten, 3);
}

/// Under the lock, the commit itself still refuses a second rewrite of the same files (two hosts
/// sharing a log over a filesystem whose locks do not reach across them): a replacement whose files
/// another replacement removed since its listing fails and commits nothing.
#[tokio::test]
async fn a_replacement_of_files_replaced_since_its_listing_commits_nothing() {
    let fixture = fixture();
    fixture
        .ingest("trips", &IngestOptions { chunk_records: 5 })
        .await;
    let mut log = fixture.open_log("trips").await;
    let files = log.data_files().unwrap();
    let day: Vec<DataFile> = files
        .iter()
        .filter(|f| f.day == files[0].day)
        .cloned()
        .collect();
    let mut first = Listing::new(log.version(), &day);
    let mut second = Listing::new(log.version(), &day);
    let nothing = RecordBatch::new_empty(std::sync::Arc::new(log.schema().clone()));
    let properties = WriterProperties::default();
    log.replace_files(&day, &mut first, nothing.clone(), properties.clone())
        .await
        .unwrap();
    let version = log.version();

    let refused = log
        .replace_files(&day, &mut second, nothing, properties)
        .await;
    assert!(
        matches!(refused, Err(LogError::Replaced { .. })),
        "{refused:?}"
    );
    assert_eq!(fixture.open_log("trips").await.version(), version);
}

#[tokio::test]
async fn a_training_set_is_the_same_file_on_any_number_of_threads() {
    let fixture = fixture();
    fixture
        .ingest("trips", &IngestOptions { chunk_records: 7 })
        .await;
    let spine_path = spine_file(&fixture, 80, 11, 10, 5, false);
    let file = |name: &str| std::fs::read(fixture.path().join(name)).unwrap();
    let on = |threads: usize| TrainingOptions {
        threads,
        ..TrainingOptions::default()
    };
    // Loaded into memory (the log as ingested), then merged by key (compacted).
    let (_, loaded) = training_set_on(&fixture, &spine_path, "loaded-2.parquet", &on(2)).await;
    for threads in [1, 3, 7] {
        let name = format!("loaded-{threads}.parquet");
        let (report, _) = training_set_on(&fixture, &spine_path, &name, &on(threads)).await;
        assert!(report.merged.is_empty());
        assert_eq!(file(&name), file("loaded-2.parquet"), "{threads} threads");
    }
    run(&fixture).await;
    let (_, merged) = training_set_on(&fixture, &spine_path, "merged-2.parquet", &on(2)).await;
    assert_eq!(merged, loaded);
    for threads in [1, 3, 7] {
        let name = format!("merged-{threads}.parquet");
        let (report, _) = training_set_on(&fixture, &spine_path, &name, &on(threads)).await;
        assert_eq!(report.merged, ["trips"]);
        assert_eq!(file(&name), file("merged-2.parquet"), "{threads} threads");
    }
}

#[tokio::test]
async fn a_file_not_sorted_as_marked_is_read_into_memory_with_a_warning() {
    let fixture = fixture();
    fixture
        .ingest("trips", &IngestOptions { chunk_records: 7 })
        .await;
    let spine_path = fixture.path().join("spine.csv");
    let mut spine = String::from("driver_id,event_timestamp\n");
    for i in 0..30 {
        spine.push_str(&format!("{},2026-01-0{}T12:00:00Z\n", i % 8, 1 + i % 3));
    }
    std::fs::write(&spine_path, spine).unwrap();
    let (_, before) = training_set(&fixture, &spine_path, "before.parquet").await;
    run(&fixture).await;
    let (report, _) = training_set(&fixture, &spine_path, "merged.parquet").await;
    assert_eq!(report.merged, ["trips"]);
    // One day's file rewritten in reverse order, still marked sorted.
    let log = fixture.open_log("trips").await;
    let file = log
        .data_files()
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .find(|p| {
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(p).unwrap())
                .unwrap()
                .metadata()
                .file_metadata()
                .num_rows()
                > 1
        })
        .unwrap();
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap()).unwrap();
    let metadata = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned();
    let batches: Vec<_> = builder.build().unwrap().map(Result::unwrap).collect();
    let schema = batches[0].schema();
    let all = arrow_select::concat::concat_batches(&schema, &batches).unwrap();
    let reversed: Vec<u32> = (0..all.num_rows() as u32).rev().collect();
    let reversed =
        arrow_select::take::take_record_batch(&all, &arrow_array::UInt32Array::from(reversed))
            .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(metadata)
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&file).unwrap(),
        schema,
        Some(props),
    )
    .unwrap();
    writer.write(&reversed).unwrap();
    writer.close().unwrap();

    let (report, after) = training_set(&fixture, &spine_path, "after.parquet").await;
    assert!(report.merged.is_empty());
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(
        report.warnings[0].contains("is marked sorted by `driver_id`"),
        "{}",
        report.warnings[0]
    );
    assert_eq!(before, after);
}

#[tokio::test]
async fn an_unknown_source_is_named_with_the_ones_that_exist() {
    let fixture = fixture();
    let error = compact(
        &fixture.project(),
        &["trip".to_owned()],
        &CompactOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(error.to_string(), "unknown source `trip`; sources: trips");
}

#[tokio::test]
async fn a_source_never_logged_is_left_alone_and_gets_no_log() {
    let fixture = fixture();
    let reports = compact(
        &fixture.project(),
        &["trips".to_owned()],
        &CompactOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert!(reports.is_empty());
    assert!(!fixture.offline().join("events/trips").exists());
}

#[tokio::test]
async fn a_day_over_the_file_limit_becomes_several_sorted_files_and_stays_so() {
    let fixture = fixture();
    fixture
        .ingest("trips", &IngestOptions { chunk_records: 5 })
        .await;
    let before = fixture.logged("trips").await;
    let options = CompactOptions {
        max_rows_per_file: 12,
    };
    let report = run_with(&fixture, &options).await;
    assert_eq!(report.days_rewritten, 3);
    assert!(report.files_added > 3, "{report:?}");
    assert_eq!(fixture.logged("trips").await, before);
    let log = fixture.open_log("trips").await;
    for file in log.data_files().unwrap() {
        let rows =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file.path).unwrap())
                .unwrap()
                .metadata()
                .file_metadata()
                .num_rows();
        assert!(rows <= 12, "{} holds {rows} events", file.path.display());
    }
    // Every run is one sorted file now, so nothing is left to do.
    let again = run_with(&fixture, &options).await;
    assert_eq!((again.days_rewritten, again.version), (0, None));
}

#[tokio::test]
async fn an_unreadable_file_is_named_and_its_day_is_left_as_it_was() {
    let fixture = fixture();
    fixture
        .ingest("trips", &IngestOptions { chunk_records: 5 })
        .await;
    let log = fixture.open_log("trips").await;
    let files = log.data_files().unwrap();
    let broken = files.last().unwrap().path.clone();
    std::fs::write(&broken, b"not parquet").unwrap();

    let error = compact(
        &fixture.project(),
        &[],
        &CompactOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains(&broken.display().to_string()), "{error}");
    assert!(error.contains("restore it from a backup"), "{error}");
    // The broken file's day was not rewritten: the file is still part of the table.
    let after = fixture.open_log("trips").await.data_files().unwrap();
    assert!(after.iter().any(|f| f.path == broken));
}
