use arrow_array::{Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
use freshet_engine::Value;
use freshet_project::scenarios::Scenario;
use freshet_project::spec::FileFormat;
use freshet_sources::formats::{FormatError, write_rows};
use freshet_sources::generator::{GeneratorConfig, generator};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn rows(n: u64) -> Vec<Vec<Value>> {
    generator(
        Scenario::Rides,
        &GeneratorConfig {
            events: Some(n),
            ..GeneratorConfig::default()
        },
    )
    .unwrap()
    .collect()
}

#[test]
fn parquet_round_trips_with_utc_micros() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trips.parquet");
    let original = rows(70_000);
    let mut seen = Vec::new();
    let n = write_rows(
        &path,
        FileFormat::Parquet,
        &Scenario::Rides.schema(),
        original.clone().into_iter(),
        &mut |c| seen.push(c),
    )
    .unwrap();
    assert_eq!(n, 70_000);
    assert_eq!(seen, vec![65_536, 70_000]);
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let mut i = 0;
    for batch in reader {
        let batch = batch.unwrap();
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        let drivers = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let times = batch
            .column(2)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(times.timezone(), Some("UTC"));
        let fares = batch
            .column(3)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        for r in 0..batch.num_rows() {
            let row = &original[i];
            assert_eq!(row[0], Value::from(ids.value(r)));
            assert_eq!(row[1], Value::Int64(drivers.value(r)));
            assert_eq!(
                row[2],
                Value::Timestamp(freshet_engine::Timestamp(times.value(r)))
            );
            assert_eq!(row[3], Value::Float64(fares.value(r)));
            i += 1;
        }
    }
    assert_eq!(i, 70_000);
}

#[test]
fn json_lines_use_rfc3339_utc() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trips.jsonl");
    write_rows(
        &path,
        FileFormat::JsonLines,
        &Scenario::Rides.schema(),
        rows(3).into_iter(),
        &mut |_| {},
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let time = lines[0]["event_time"].as_str().unwrap();
    assert!(
        time.starts_with("2026-0") && time.len() == 27 && time.ends_with('Z'),
        "{time}"
    );
    assert!(lines[0]["driver_id"].is_i64() && lines[0]["fare"].is_f64());
}

#[test]
fn a_failed_write_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.parquet");
    let mut bad = rows(10);
    bad[7][1] = Value::from("not a driver id");
    let err = write_rows(
        &path,
        FileFormat::Parquet,
        &Scenario::Rides.schema(),
        bad.into_iter(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, FormatError::Mismatch { row: 8, ref column, .. } if column == "driver_id"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial or temporary file remains"
    );
}
