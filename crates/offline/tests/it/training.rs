//! Training sets agree with the engine's online answer and with the naive oracle, bit for bit, over
//! random events (late, duplicated, filtered, null) and random spines (window edges, unknown entities,
//! TTL expiry, duplicate rows), with k = t and in hindsight.

use crate::Fixture;
use crate::oracle::{self, Agg, Answer, Column, Feature, RawEvent, Scalar, Status};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType as Arrow;
use freshet_engine::{EntityKey, FeatureStatus, FeatureValue, Timestamp, Value, ViewState};
use freshet_offline::compact::{CompactOptions, compact};
use freshet_offline::ingest::IngestOptions;
use freshet_offline::layout::file_position;
use freshet_offline::training::{SpineInput, TrainingOptions, build_training_set};
use proptest::prelude::*;

const PROJECT: &str = r#"project: prop
entities:
  - {name: driver, join_keys: [driver_id]}
sources:
  - name: trips
    type: file
    path: data/events.jsonl
    timestamp_field: event_time
    ingest_time_field: ingested_at
    event_id_field: trip_id
    schema: {trip_id: int64, driver_id: int64, event_time: timestamp, ingested_at: timestamp, fare: float64, seats: int64, status: string, keep: bool}
feature_views:
  - name: v
    entities: [driver]
    source: trips
    filter: "keep = true"
    ttl: 90m
    features:
      - {name: n_1h, aggregation: count, window: 1h}
      - {name: fare_sum_1h, aggregation: sum, column: fare, window: 1h}
      - {name: fare_mean, aggregation: mean, column: fare}
      - {name: fare_max_30m, aggregation: max, column: fare, window: 30m}
      - {name: fare_std_2h, aggregation: stddev, column: fare, window: 2h}
      - {name: seats_sum, aggregation: sum, column: seats}
      - {name: seats_first_1h, aggregation: first, column: seats, window: 1h}
      - {name: last_status, aggregation: last, column: status}
      - {name: recent_status, aggregation: last_n, column: status, n: 3}
      - {name: distinct_status_2h, aggregation: count_distinct, column: status, window: 2h}
feature_services:
  - {name: all, features: ["v:*"]}
"#;

const MINUTE: i64 = 60_000_000;
const BASE: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

fn features() -> Vec<Feature> {
    let f = |agg, column, minutes: Option<i64>| Feature {
        agg,
        column,
        window: minutes.map(|m| m * MINUTE),
    };
    vec![
        f(Agg::Count, Column::Rows, Some(60)),
        f(Agg::Sum, Column::X, Some(60)),
        f(Agg::Mean, Column::X, None),
        f(Agg::Max, Column::X, Some(30)),
        f(Agg::Stddev, Column::X, Some(120)),
        f(Agg::Sum, Column::Y, None),
        f(Agg::First, Column::Y, Some(60)),
        f(Agg::Last, Column::S, None),
        f(Agg::LastN(3), Column::S, None),
        f(Agg::CountDistinct, Column::S, Some(120)),
    ]
}

/// (key, minute, delay minutes, trip id, fare, seats, status, keep)
type GeneratedEvent = (
    i64,
    i64,
    i64,
    i64,
    Option<f64>,
    Option<i64>,
    Option<u8>,
    Option<bool>,
);

#[derive(Clone, Debug)]
struct Generated {
    events: Vec<GeneratedEvent>,
    /// (key, how to pick t, minutes)
    spine: Vec<(i64, u8, i64)>,
    hindsight: bool,
    /// Threads the training set is built on: the answers must not depend on them.
    threads: usize,
}

fn generated() -> impl Strategy<Value = Generated> {
    let event = (
        1i64..=4,
        0i64..240,
        prop_oneof![Just(0i64), 0i64..90],
        0i64..40,
        proptest::option::weighted(0.85, (-500i64..5000).prop_map(|c| c as f64 / 100.0)),
        proptest::option::weighted(0.85, 0i64..6),
        proptest::option::weighted(0.9, 0u8..4),
        proptest::option::weighted(0.95, proptest::bool::weighted(0.85)),
    );
    (
        proptest::collection::vec(event, 0..60),
        proptest::collection::vec((1i64..=5, 0u8..4, 0i64..300), 1..30),
        any::<bool>(),
        1usize..=5,
    )
        .prop_map(|(events, spine, hindsight, threads)| Generated {
            events,
            spine,
            hindsight,
            threads,
        })
}

const STATUSES: [&str; 4] = ["completed", "cancelled", "no_show", "disputed"];

struct Case {
    raw: Vec<RawEvent>,
    rows: Vec<Vec<Value>>,
    jsonl: String,
    spine: Vec<(i64, i64)>,
}

fn build(g: &Generated) -> Case {
    let mut raw = Vec::new();
    let mut rows = Vec::new();
    let mut jsonl = String::new();
    for (i, &(key, minute, delay, trip, fare, seats, status, keep)) in g.events.iter().enumerate() {
        let event_time = BASE + minute * MINUTE;
        let ingest_time = event_time + delay * MINUTE;
        let status = status.map(|s| STATUSES[s as usize]);
        raw.push(RawEvent {
            key,
            event_time,
            ingest_time,
            position: file_position(1, i as u64 + 1),
            id: Some(trip),
            passes_filter: keep == Some(true),
            x: fare,
            y: seats,
            s: status.map(str::to_owned),
        });
        let row = vec![
            Value::Int64(trip),
            Value::Int64(key),
            Value::Timestamp(Timestamp(event_time)),
            Value::Timestamp(Timestamp(ingest_time)),
            fare.map_or(Value::Null, Value::Float64),
            seats.map_or(Value::Null, Value::Int64),
            status.map_or(Value::Null, Value::from),
            keep.map_or(Value::Null, Value::Bool),
        ];
        let object: serde_json::Map<String, serde_json::Value> = [
            "trip_id",
            "driver_id",
            "event_time",
            "ingested_at",
            "fare",
            "seats",
            "status",
            "keep",
        ]
        .iter()
        .zip(&row)
        .map(|(n, v)| ((*n).to_owned(), freshet_sources::formats::json_value(v)))
        .collect();
        jsonl.push_str(&serde_json::Value::Object(object).to_string());
        jsonl.push('\n');
        rows.push(row);
    }
    // Spine times hit event times exactly, window edges (t - W equal to an event time), TTL edges,
    // or anywhere.
    let spine = g
        .spine
        .iter()
        .map(|&(key, pick, minutes)| {
            let anchor = raw
                .get(minutes as usize % raw.len().max(1))
                .map_or(BASE, |e| e.event_time);
            let t = match pick {
                0 => anchor,
                1 => anchor + 60 * MINUTE,
                2 => anchor + 90 * MINUTE,
                _ => BASE + minutes * MINUTE,
            };
            (key, t)
        })
        .collect();
    Case {
        raw,
        rows,
        jsonl,
        spine,
    }
}

fn scalar_of(v: &Value) -> Scalar {
    match v {
        Value::Null => Scalar::Null,
        Value::Int64(i) => Scalar::Int(*i),
        Value::Float64(f) => Scalar::Float(*f),
        Value::String(s) => Scalar::Str(s.to_string()),
        other => panic!("unexpected {other:?}"),
    }
}

fn engine_answer(v: &FeatureValue) -> Answer {
    match v {
        FeatureValue::Scalar(s) => Answer::Scalar(scalar_of(s)),
        FeatureValue::List(l) => Answer::List(l.iter().map(scalar_of).collect()),
    }
}

fn cell(array: &ArrayRef, row: usize) -> Scalar {
    if array.is_null(row) {
        return Scalar::Null;
    }
    match array.data_type() {
        Arrow::Int64 => Scalar::Int(array.as_primitive::<Int64Type>().value(row)),
        Arrow::Float64 => Scalar::Float(array.as_primitive::<Float64Type>().value(row)),
        Arrow::Utf8 => Scalar::Str(array.as_string::<i32>().value(row).to_owned()),
        other => panic!("unexpected column type {other}"),
    }
}

fn output_answer(array: &ArrayRef, row: usize) -> Answer {
    match array.data_type() {
        Arrow::List(_) if array.is_null(row) => Answer::Scalar(Scalar::Null),
        Arrow::List(_) => {
            let items = array.as_list::<i32>().value(row);
            Answer::List((0..items.len()).map(|i| cell(&items, i)).collect())
        }
        _ => Answer::Scalar(cell(array, row)),
    }
}

fn view_status(statuses: &[Status]) -> &'static str {
    match statuses.first() {
        Some(Status::NotFound) => "NOT_FOUND",
        Some(Status::OutsideMaxAge) => "OUTSIDE_MAX_AGE",
        _ => "PRESENT",
    }
}

fn check(g: &Generated) {
    let case = build(g);
    let fixture = Fixture::new(PROJECT);
    fixture.write("events.jsonl", &case.jsonl);
    let mut spine = String::from("driver_id,event_timestamp,label\n");
    for (i, (key, t)) in case.spine.iter().enumerate() {
        let time = freshet_sources::formats::format_timestamp(*t);
        spine.push_str(&format!("{key},{time},{}\n", i % 2));
    }
    let spine_path = fixture.write("spine.csv", &spine);
    let out = fixture.path().join("train.parquet");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let project = fixture.project();
    runtime.block_on(async {
        fixture
            .ingest("trips", &IngestOptions { chunk_records: 16 })
            .await;
        let options = TrainingOptions {
            hindsight: g.hindsight,
            bare_names: false,
            threads: g.threads,
        };
        let input = SpineInput::File {
            path: spine_path,
            timestamp_column: None,
        };
        let report = build_training_set(&project, "all", &input, &out, &options)
            .await
            .unwrap();
        assert!(report.merged.is_empty(), "an uncompacted log was merged");
        // Compacted, the log is merged by key instead of loaded: the same file comes out.
        compact(&project, &[], &CompactOptions::default(), &mut |_| {})
            .await
            .unwrap();
        let merged_out = fixture.path().join("merged.parquet");
        let report = build_training_set(&project, "all", &input, &merged_out, &options)
            .await
            .unwrap();
        if !case.raw.is_empty() {
            assert_eq!(report.merged, ["trips"]);
        }
        assert_eq!(
            read_all(&merged_out),
            read_all(&out),
            "merged and loaded differ"
        );
        // The same events in two files, the log compacted between them: merged with the second
        // file's events sorted for the run when they are few, loaded otherwise; the same file.
        let lines: Vec<&str> = case.jsonl.lines().collect();
        let cut = lines.len() * 6 / 7;
        let live = Fixture::new(&PROJECT.replace("data/events.jsonl", "data/*.jsonl"));
        live.write("a.jsonl", &format!("{}\n", lines[..cut].join("\n")));
        let chunks = IngestOptions { chunk_records: 16 };
        live.ingest("trips", &chunks).await;
        live.compact().await;
        live.write("b.jsonl", &format!("{}\n", lines[cut..].join("\n")));
        live.ingest("trips", &chunks).await;
        let live_out = live.path().join("live.parquet");
        build_training_set(&live.project(), "all", &input, &live_out, &options)
            .await
            .unwrap();
        assert_eq!(
            read_all(&live_out),
            read_all(&out),
            "merged with a sorted tail and loaded differ"
        );
    });
    let batch = read_all(&out);
    assert_eq!(batch.num_rows(), case.spine.len());
    // The online path: the same rows ingested one by one, in file order.
    let mut online = ViewState::new(project.views[0].def.clone());
    for (i, row) in case.rows.iter().enumerate() {
        online
            .ingest(row, Timestamp(0), file_position(1, i as u64 + 1))
            .unwrap();
    }
    let features = features();
    let status_column = batch
        .column_by_name("v__status")
        .unwrap()
        .as_string::<i32>();
    for (r, &(key, t)) in case.spine.iter().enumerate() {
        let k = if g.hindsight { i64::MAX } else { t };
        let (expected, statuses) =
            oracle::evaluate(&case.raw, &features, Some(90 * MINUTE), key, t, k);
        let online_row = online.read(&EntityKey::int(key), t, k).unwrap();
        for (f, feature) in project.views[0].def.features.iter().enumerate() {
            let column = batch
                .column_by_name(&format!("v__{}", feature.name))
                .unwrap();
            let got = output_answer(column, r);
            assert_eq!(
                got, expected[f],
                "row {r} feature {} vs oracle",
                feature.name
            );
            assert_eq!(
                got,
                engine_answer(&online_row.values[f]),
                "row {r} feature {} vs online",
                feature.name
            );
        }
        assert_eq!(
            status_column.value(r),
            view_status(&statuses),
            "row {r} status"
        );
        let online_status = match online_row.statuses.first() {
            Some(FeatureStatus::NotFound) => "NOT_FOUND",
            Some(FeatureStatus::OutsideMaxAge) => "OUTSIDE_MAX_AGE",
            _ => "PRESENT",
        };
        assert_eq!(status_column.value(r), online_status);
    }
    // The label passes through unchanged.
    let labels = batch
        .column_by_name("label")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert!((0..labels.len()).all(|i| labels.value(i) == (i % 2) as i64));
}

/// A Parquet file's rows in one batch.
fn read_all(path: &std::path::Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn training_set_equals_online_and_oracle(g in generated()) {
        check(&g);
    }
}

/// Two views alike but for a filter that keeps every row: `plain` takes its events as cells where the
/// log's reader decoded them, `filtered` as rows of values. Their training-set columns must be equal,
/// over nulls, a text column with few values and one with more than the engine shares (an id).
/// `picks`, whose features each pick one value, is answered in place by a merge
/// ([`freshet_engine::in_place`]).
fn cells_and_rows_project() -> String {
    let features = "
      - {name: n_1h, aggregation: count, window: 1h}
      - {name: fare_sum, aggregation: sum, column: fare}
      - {name: fare_last_2h, aggregation: last, column: fare, window: 2h}
      - {name: last_status, aggregation: last, column: status}
      - {name: statuses, aggregation: last_n, column: status, n: 3}
      - {name: last_trip, aggregation: last, column: trip_code}
      - {name: trips_distinct_1d, aggregation: count_distinct, column: trip_code, window: 1d}";
    format!(
        r#"project: cells
entities:
  - {{name: driver, join_keys: [driver_id]}}
sources:
  - name: trips
    type: file
    path: data/trips.csv
    timestamp_field: event_time
    schema: {{trip_code: string, driver_id: int64, event_time: timestamp, fare: float64, status: string}}
feature_views:
  - name: plain
    entities: [driver]
    source: trips
    features:{features}
  - name: filtered
    entities: [driver]
    source: trips
    filter: "driver_id = driver_id"
    features:{features}
  - name: picks
    entities: [driver]
    source: trips
    features:
      - {{name: fare_last_2h, aggregation: last, column: fare, window: 2h}}
      - {{name: fare_first_1d, aggregation: first, column: fare, window: 1d}}
      - {{name: last_status, aggregation: last, column: status}}
      - {{name: first_status, aggregation: first, column: status}}
      - {{name: last_trip, aggregation: last, column: trip_code}}
feature_services:
  - {{name: both, features: ["plain:*", "filtered:*", "picks:*"]}}
"#
    )
}

/// The next number of a fixed pseudo-random sequence (xorshift64).
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The project of [`cells_and_rows_project`] over 30,000 trips of 40 drivers in two days.
fn cells_and_rows_fixture() -> Fixture {
    let fixture = Fixture::new(&cells_and_rows_project());
    let mut csv = String::from("trip_code,driver_id,event_time,fare,status\n");
    // A fixed pseudo-random sequence: 30,000 trips of 40 drivers over two days, some fares missing;
    // each batch the reading threads fill gets more distinct trip codes than the engine shares.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..20_000u64 {
        let x = xorshift(&mut state);
        let minute = x % 2_880;
        let fare = if x.is_multiple_of(11) {
            String::new()
        } else {
            format!("{}.{}", x % 90, x % 10)
        };
        let status = ["completed", "cancelled", "no_show"][(x % 3) as usize];
        csv.push_str(&format!(
            "t-{i},{},2026-01-01T{:02}:{:02}:00Z,{fare},{status}\n",
            x % 40,
            (minute / 60) % 24,
            minute % 60,
        ));
        // The second day's trips.
        if i.is_multiple_of(2) {
            csv.push_str(&format!(
                "u-{i},{},2026-01-02T{:02}:{:02}:00Z,{fare},{status}\n",
                (x >> 8) % 40,
                (minute / 60) % 24,
                minute % 60,
            ));
        }
    }
    fixture.write("trips.csv", &csv);
    fixture
}

#[test]
fn cells_and_rows_give_the_same_training_set() {
    let fixture = cells_and_rows_fixture();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        fixture.ingest("trips", &IngestOptions::default()).await;
        let project = fixture.project();
        for at in ["2026-01-01T12:30:00Z", "2026-01-02T23:59:00Z"] {
            let at = chrono::DateTime::parse_from_rfc3339(at)
                .unwrap()
                .timestamp_micros();
            let out = fixture.path().join("both.parquet");
            build_training_set(
                &project,
                "both",
                &SpineInput::At(at),
                &out,
                &TrainingOptions::default(),
            )
            .await
            .unwrap();
            let file = std::fs::File::open(&out).unwrap();
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap();
            let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
            let batch =
                arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
            assert_eq!(batch.num_rows(), 40);
            for feature in [
                "n_1h",
                "fare_sum",
                "fare_last_2h",
                "last_status",
                "statuses",
                "last_trip",
                "trips_distinct_1d",
                "status",
            ] {
                let plain = batch.column_by_name(&format!("plain__{feature}")).unwrap();
                let filtered = batch
                    .column_by_name(&format!("filtered__{feature}"))
                    .unwrap();
                assert_eq!(plain.to_data(), filtered.to_data(), "{feature} at {at}");
                assert!(
                    plain.null_count() < plain.len(),
                    "{feature} at {at} is all null"
                );
            }
        }
    });
}

/// Compacted, the log of [`cells_and_rows_fixture`] has several pages per day, so the merge splits
/// the drivers between its threads; both views (one prepared from cells, one from rows) read in one
/// pass give the file the in-memory path gives, for a spine with unknown drivers and duplicate rows.
#[test]
fn a_merge_split_between_threads_gives_the_in_memory_answers() {
    let fixture = cells_and_rows_fixture();
    let mut spine = String::from("driver_id,event_timestamp,label\n");
    for i in 0..3_000i64 {
        let driver = (i * 7) % 45 - 2;
        let minute = (i * 13) % 2_880;
        spine.push_str(&format!(
            "{driver},2026-01-0{}T{:02}:{:02}:00Z,{i}\n",
            1 + minute / 1_440,
            (minute / 60) % 24,
            minute % 60
        ));
    }
    let spine_path = fixture.write("spine.csv", &spine);
    let input = SpineInput::File {
        path: spine_path,
        timestamp_column: None,
    };
    let (report, merged) = loaded_then_merged(&fixture, "both", &input);
    assert_eq!(report.events, 30_000);
    let present = merged
        .column_by_name("plain__status")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .filter(|s| *s == Some("PRESENT"))
        .count();
    assert!(present > 2_000 && present < 3_000, "{present} rows present");
}

/// A text join key merges in byte order ("d10" before "d2"), as compaction sorts it: the merged
/// training set equals the one built in memory, for drivers known and unknown.
#[test]
fn a_text_key_merges_in_the_order_compaction_sorts() {
    let fixture = Fixture::new(
        r#"project: codes
entities:
  - {name: driver, join_keys: [driver_code]}
sources:
  - name: trips
    type: file
    path: data/trips.csv
    timestamp_field: event_time
    schema: {driver_code: string, event_time: timestamp, fare: float64, status: string}
feature_views:
  - name: driver_stats
    entities: [driver]
    source: trips
    features:
      - {name: n_1h, aggregation: count, window: 1h}
      - {name: fare_sum_1d, aggregation: sum, column: fare, window: 1d}
      - {name: last_status, aggregation: last, column: status}
feature_services:
  - {name: stats, features: ["driver_stats:*"]}
"#,
    );
    let mut csv = String::from("driver_code,event_time,fare,status\n");
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..24_000u64 {
        let x = xorshift(&mut state);
        let minute = x % 2_880;
        csv.push_str(&format!(
            "d{},2026-01-0{}T{:02}:{:02}:00Z,{}.{},{}\n",
            x % 37,
            1 + minute / 1_440,
            (minute / 60) % 24,
            minute % 60,
            x % 50,
            x % 10,
            ["completed", "cancelled"][(x % 2) as usize],
        ));
    }
    fixture.write("trips.csv", &csv);
    let mut spine = String::from("driver_code,event_timestamp\n");
    for i in 0..2_000u64 {
        let minute = (i * 17) % 2_880;
        let code = match i % 41 {
            40 => "x".to_owned(),
            n => format!("d{n}"),
        };
        spine.push_str(&format!(
            "{code},2026-01-0{}T{:02}:{:02}:00Z\n",
            1 + minute / 1_440,
            (minute / 60) % 24,
            minute % 60
        ));
    }
    let input = SpineInput::File {
        path: fixture.write("spine.csv", &spine),
        timestamp_column: None,
    };
    loaded_then_merged(&fixture, "stats", &input);
}

/// Ingests the fixture's `trips`, builds `service`'s training set for `input` from the log loaded
/// into memory, compacts the log and builds it again, merged: checks the merge was taken and both
/// files are equal, and returns the merged build's report and rows.
fn loaded_then_merged(
    fixture: &Fixture,
    service: &str,
    input: &SpineInput,
) -> (freshet_offline::training::TrainingReport, RecordBatch) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        fixture.ingest("trips", &IngestOptions::default()).await;
        let project = fixture.project();
        let options = TrainingOptions::default();
        let loaded = fixture.path().join("loaded.parquet");
        build_training_set(&project, service, input, &loaded, &options)
            .await
            .unwrap();
        compact(&project, &[], &CompactOptions::default(), &mut |_| {})
            .await
            .unwrap();
        let merged = fixture.path().join("merged.parquet");
        let report = build_training_set(&project, service, input, &merged, &options)
            .await
            .unwrap();
        assert_eq!(report.merged, ["trips"]);
        let merged = read_all(&merged);
        assert_eq!(merged, read_all(&loaded));
        (report, merged)
    })
}
