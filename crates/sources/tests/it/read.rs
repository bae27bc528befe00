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
