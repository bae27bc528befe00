//! Reading files: real clickstream data (zone-less timestamps), JSON lines with bad records.

use freshet_engine::{DataType, Timestamp, Value};
use freshet_project::spec::Field;
use freshet_sources::decode::RowDecoder;
use freshet_sources::read::{ReadError, Record, TextFormat, read_records};
use std::path::{Path, PathBuf};

fn clickstream() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/clickstream/data/ecom.csv.gz")
}

fn clickstream_schema() -> Vec<Field> {
    let s = |name: &str| Field {
        name: name.into(),
        data_type: DataType::String,
    };
    vec![
        s("user_id"),
        s("session_id"),
        s("event"),
        Field {
            name: "timestamp".into(),
            data_type: DataType::Timestamp,
        },
        s("platform"),
    ]
}

#[test]
fn zone_less_clickstream_is_refused_without_a_timezone_and_read_with_one() {
    let mut first_bad = None;
    let summary = read_records(
        &clickstream(),
        TextFormat::Csv,
        &RowDecoder::new(&clickstream_schema(), None),
        |r| {
            if let (
                None,
                Record::Bad {
                    line,
                    error,
                    original,
                },
            ) = (&first_bad, &r)
            {
                first_bad = Some((*line, error.to_string(), original.clone()));
            }
        },
    )
    .unwrap();
    assert_eq!((summary.rows, summary.bad), (0, 31_106));
    let (line, message, original) = first_bad.unwrap();
    assert_eq!(line, 2);
    assert_eq!(
        message,
        "field `timestamp`: timestamp `2024-03-13 10:21:14` has no time zone"
    );
    assert!(original.starts_with("user_0000,sess_000001,home,2024-03-13 10:21:14"));

    let mut rows = Vec::new();
    let summary = read_records(
        &clickstream(),
        TextFormat::Csv,
        &RowDecoder::new(&clickstream_schema(), Some(0)),
        |r| {
            if let Record::Row { row, .. } = r {
                rows.push(row);
            }
        },
    )
    .unwrap();
    assert_eq!((summary.rows, summary.bad), (31_106, 0));
    assert_eq!(rows[0][0], Value::from("user_0000"));
    assert_eq!(
        rows[0][3],
        Value::Timestamp(Timestamp(1_710_325_274_000_000))
    );
}

#[test]
fn json_lines_keep_good_rows_and_explain_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    std::fs::write(
        &path,
        "{\"user_id\": \"u1\", \"timestamp\": \"2024-03-13T10:21:14Z\"}\n\
         \n\
         {\"user_id\": 5, \"timestamp\": \"2024-03-13T10:21:14Z\"}\r\n\
         not json\n\
         {\"user_id\": \"u2\", \"timestamp\": \"2024-03-13T10:21:15Z\", \"unknown\": true}\n",
    )
    .unwrap();
    let mut records = Vec::new();
    let summary = read_records(
        &path,
        TextFormat::JsonLines,
        &RowDecoder::new(&clickstream_schema(), None),
        |r| records.push(r),
    )
    .unwrap();
    assert_eq!((summary.rows, summary.bad), (2, 2));
    let lines: Vec<(u64, bool)> = records
        .iter()
        .map(|r| match r {
            Record::Row { line, .. } => (*line, true),
            Record::Bad { line, .. } => (*line, false),
        })
        .collect();
    assert_eq!(lines, vec![(1, true), (3, false), (4, false), (5, true)]);
    let Record::Bad {
        error, original, ..
    } = &records[1]
    else {
        panic!()
    };
    assert_eq!(
        error.to_string(),
        "field `user_id`: expected string, found a number"
    );
    assert_eq!(
        original,
        "{\"user_id\": 5, \"timestamp\": \"2024-03-13T10:21:14Z\"}"
    );
}

#[test]
fn a_csv_header_missing_a_schema_column_stops_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.csv");
    std::fs::write(&path, "user,timestamp\nu1,2024-03-13T10:21:14Z\n").unwrap();
    let err = read_records(
        &path,
        TextFormat::Csv,
        &RowDecoder::new(&clickstream_schema(), None),
        |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(&err, ReadError::Header { error, .. } if error.field.as_deref() == Some("user_id")),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("events.csv: field `user_id`: the header has no column `user_id`"),
        "{err}"
    );
    let missing = read_records(
        &dir.path().join("nope.csv"),
        TextFormat::Csv,
        &RowDecoder::new(&clickstream_schema(), None),
        |_| {},
    );
    assert!(matches!(missing, Err(ReadError::Io { .. })));
}

#[test]
fn the_clickstream_example_project_reads_its_data() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/clickstream");
    let project =
        freshet_project::load_project(&dir, &std::collections::HashMap::<String, String>::new())
            .unwrap();
    let source = &project.spec.sources[0];
    let freshet_project::spec::Connector::File { path, format, .. } = &source.connector else {
        panic!()
    };
    assert_eq!(*format, freshet_project::spec::FileFormat::Csv);
    let summary = read_records(
        &dir.join(path.resolved()),
        TextFormat::Csv,
        &RowDecoder::for_source(source),
        |_| {},
    )
    .unwrap();
    assert_eq!((summary.rows, summary.bad), (31_106, 0));
}

mod parquet_files {
    use super::*;
    use arrow_array::{Int64Array, RecordBatch, TimestampMicrosecondArray};
    use freshet_project::scenarios::Scenario;
    use freshet_project::spec::FileFormat;
    use freshet_sources::formats::write_rows;
    use freshet_sources::generator::{GeneratorConfig, generator};
    use freshet_sources::read::read_parquet;
    use std::sync::Arc;

    fn loans() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/loans/data/loan_table.parquet")
    }

    fn field(name: &str, data_type: DataType) -> Field {
        Field {
            name: name.into(),
            data_type,
        }
    }

    #[test]
    fn real_loans_table_reads_every_row() {
        let schema = vec![
            field("loan_id", DataType::Int64),
            field("person_income", DataType::Int64),
            field("loan_int_rate", DataType::Float64),
            field("loan_intent", DataType::String),
            field("loan_status", DataType::Int64),
            field("event_timestamp", DataType::Timestamp),
        ];
        let mut first = None;
        let summary = read_parquet(&loans(), &RowDecoder::new(&schema, None), |r| {
            if first.is_none()
                && let Record::Row { row, .. } = r
            {
                first = Some(row);
            }
        })
        .unwrap();
        assert_eq!((summary.rows, summary.bad), (28_638, 0));
        let row = first.unwrap();
        assert!(matches!(row[0], Value::Int64(_)) && matches!(row[3], Value::String(_)));
        assert!(
            matches!(row[5], Value::Timestamp(t) if t.micros() > 1_500_000_000_000_000),
            "{row:?}"
        );
    }

    #[test]
    fn the_loans_example_project_reads_its_data() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/loans");
        let project = freshet_project::load_project(
            &dir,
            &std::collections::HashMap::<String, String>::new(),
        )
        .unwrap();
        let source = &project.spec.sources[0];
        let freshet_project::spec::Connector::File { path, .. } = &source.connector else {
            panic!()
        };
        let summary = read_parquet(
            &dir.join(path.resolved()),
            &RowDecoder::for_source(source),
            |_| {},
        )
        .unwrap();
        assert_eq!((summary.rows, summary.bad), (28_638, 0));
    }

    #[test]
    fn mistyped_or_missing_columns_are_file_errors() {
        let err = read_parquet(
            &loans(),
            &RowDecoder::new(&[field("loan_intent", DataType::Int64)], None),
            |_| {},
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("column `loan_intent` is Utf8 in the file, which cannot hold int64"),
            "{err}"
        );
        let err = read_parquet(
            &loans(),
            &RowDecoder::new(&[field("loan_idx", DataType::Int64)], None),
            |_| {},
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("the file has no column `loan_idx`"),
            "{err}"
        );
    }

    #[test]
    fn generated_parquet_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trips.parquet");
        let rows: Vec<Vec<Value>> = generator(
            Scenario::Rides,
            &GeneratorConfig {
                events: Some(20_000),
                ..GeneratorConfig::default()
            },
        )
        .unwrap()
        .collect();
        write_rows(
            &path,
            FileFormat::Parquet,
            &Scenario::Rides.schema(),
            rows.clone().into_iter(),
            &mut |_| {},
        )
        .unwrap();
        let mut back = Vec::new();
        read_parquet(
            &path,
            &RowDecoder::new(&Scenario::Rides.schema(), None),
            |r| {
                if let Record::Row { row, .. } = r {
                    back.push(row);
                }
            },
        )
        .unwrap();
        assert_eq!(back, rows);
    }

    #[test]
    fn zone_less_parquet_timestamps_need_a_timezone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("naive.parquet");
        let ids = Arc::new(Int64Array::from(vec![1, 2]));
        // 2024-03-13T12:21:14 wall time, no zone.
        let times = Arc::new(TimestampMicrosecondArray::from(vec![
            1_710_332_474_000_000,
            1_710_332_475_000_000,
        ]));
        let batch = RecordBatch::try_from_iter(vec![("id", ids as _), ("at", times as _)]).unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            batch.schema(),
            None,
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let schema = vec![
            field("id", DataType::Int64),
            field("at", DataType::Timestamp),
        ];
        let err = read_parquet(&path, &RowDecoder::new(&schema, None), |_| {}).unwrap_err();
        assert!(
            err.to_string()
                .contains("holds timestamps without a time zone"),
            "{err}"
        );
        let mut rows = Vec::new();
        read_parquet(&path, &RowDecoder::new(&schema, Some(7200)), |r| {
            rows.push(r)
        })
        .unwrap();
        let Record::Row { row, .. } = &rows[0] else {
            panic!()
        };
        assert_eq!(
            row[1],
            Value::Timestamp(Timestamp(1_710_325_274_000_000)),
            "+02:00 wall time read as UTC"
        );
    }
}
