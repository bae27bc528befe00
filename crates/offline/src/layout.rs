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

use arrow_schema::{DataType as ArrowType, Field as ArrowField, Schema, TimeUnit};
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
    fn dates_are_utc() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(86_400_000_000 - 1), "1970-01-01");
        assert_eq!(date_of(-1), "1969-12-31");
    }
}
