//! Where the event log lives on disk and what its tables look like. Nothing here does I/O.
//!
//! One Delta Lake table per source, at `<offline store>/events/<source>/`, so any Delta reader (pandas
//! via `deltalake`, Polars, DuckDB, Spark) opens it directly. Each row is one accepted event: the
//! source's declared columns, in schema order, with their declared types, followed by three columns of
//! the log's own, which a source schema can never declare (its names must start with a letter):
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `_freshet_ingest_time` | timestamp (UTC, µs) | when freshet accepted the event (the event time, for historical files without an ingest-time column) |
//! | `_freshet_position` | int64 | where the event came from in its source: the final tie-breaker of the canonical order |
//! | `_freshet_date` | string `YYYY-MM-DD` | the event time's UTC date: the table's partition column |
//!
//! Positions are unique within a source. A file's rows get `file_number << 36 | row`, where the log
//! numbers each distinct file (by content) in the order it was first ingested; so positions survive
//! renames, and re-ingesting a file reproduces them exactly.
//!
//! A PostgreSQL table has neither files nor offsets, so its rows are known by content: a row's
//! position is [`content_position`], 63 bits of the XXH3 digest of its values (of its event id alone
//! when the source declares one). The same row gets the same position in every run and in any order,
//! which is what lets a run skip the rows the log already holds. Two different rows share a position
//! with probability about n²/2⁶⁴ for n rows (one in 180,000 for ten million rows); identical rows
//! are one event, so a table whose identical rows are distinct events must declare `event_id_field`.

use arrow_schema::{DataType as ArrowType, Field as ArrowField, Schema, TimeUnit};
use freshet_engine::Value;
use freshet_project::spec::Field;
use std::path::{Path, PathBuf};

/// Ingest-time column.
pub const INGEST_TIME: &str = "_freshet_ingest_time";
/// Source-position column.
pub const POSITION: &str = "_freshet_position";
/// Partition column: the event time's UTC date.
pub const DATE: &str = "_freshet_date";

/// Bits of a file position that hold the row number: 2^36 (68 billion) rows per file.
const ROW_BITS: u32 = 36;

/// The largest file number a position can hold.
pub const MAX_FILE_NUMBER: u64 = (1 << (63 - ROW_BITS)) - 1;

/// The directory of a source's table under the offline store's root.
pub fn table_dir(offline_root: &Path, source: &str) -> PathBuf {
    offline_root.join("events").join(source)
}

/// The position of row `row` (1-based) of the file numbered `file`. Always below 2^63, so it also fits
/// the table's int64 column.
pub fn file_position(file: u64, row: u64) -> u64 {
    (file.min(MAX_FILE_NUMBER) << ROW_BITS) | (row & ((1 << ROW_BITS) - 1))
}

/// The position of a row known by its content: its values, or only the value at `identity` (the event
/// id column) when there is one. Each value is written with a type tag and, for text, its length, so
/// different rows never encode alike.
pub fn content_position(row: &[Value], identity: Option<usize>) -> u64 {
    let mut bytes = Vec::with_capacity(64);
    let values = match identity {
        Some(i) => row.get(i..=i).unwrap_or_default(),
        None => row,
    };
    for value in values {
        match value {
            Value::Null => bytes.push(0),
            Value::Bool(b) => bytes.extend([1, u8::from(*b)]),
            Value::Int64(v) => {
                bytes.push(2);
                bytes.extend(v.to_le_bytes());
            }
            Value::Float64(v) => {
                bytes.push(3);
                bytes.extend(v.to_bits().to_le_bytes());
            }
            Value::String(s) => {
                bytes.push(4);
                bytes.extend((s.len() as u64).to_le_bytes());
                bytes.extend(s.as_bytes());
            }
            Value::Timestamp(t) => {
                bytes.push(5);
                bytes.extend(t.micros().to_le_bytes());
            }
        }
    }
    xxhash_rust::xxh3::xxh3_64(&bytes) >> 1
}

fn timestamp() -> ArrowType {
    ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The Arrow schema of a source's table: its columns, then the log's own.
pub fn table_schema(fields: &[Field]) -> Schema {
    let declared = freshet_sources::formats::arrow_schema(fields);
    let mut columns: Vec<ArrowField> = declared
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    columns.push(ArrowField::new(INGEST_TIME, timestamp(), false));
    columns.push(ArrowField::new(POSITION, ArrowType::Int64, false));
    columns.push(ArrowField::new(DATE, ArrowType::Utf8, false));
    Schema::new(columns)
}

/// The partition value for an event time: its UTC date.
pub fn date_of(event_time_micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(event_time_micros).map_or_else(
        || "invalid".to_owned(),
        |t| t.format("%Y-%m-%d").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_file_then_row() {
        assert!(file_position(1, 1_000_000) < file_position(2, 1));
        assert!(file_position(2, 1) < file_position(2, 2));
        assert!(file_position(MAX_FILE_NUMBER, (1 << ROW_BITS) - 1) <= i64::MAX as u64);
    }

    #[test]
    fn content_positions_depend_on_every_value_and_fit_int64() {
        let row = |user: &str, amount: i64| {
            vec![
                Value::String(user.into()),
                Value::Int64(amount),
                Value::Null,
            ]
        };
        let a = content_position(&row("ann", 5), None);
        assert_eq!(a, content_position(&row("ann", 5), None));
        assert_ne!(a, content_position(&row("ann", 6), None));
        assert_ne!(a, content_position(&row("bob", 5), None));
        assert!(a <= i64::MAX as u64);
        // With an event id, only the id counts.
        assert_eq!(
            content_position(&row("ann", 5), Some(0)),
            content_position(&row("ann", 6), Some(0))
        );
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        let pair = |x: &str, y: &str| vec![Value::String(x.into()), Value::String(y.into())];
        assert_ne!(
            content_position(&pair("ab", "c"), None),
            content_position(&pair("a", "bc"), None)
        );
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(86_400_000_000 - 1), "1970-01-01");
        assert_eq!(date_of(-1), "1969-12-31");
    }
}
