//! File formats for events: writing rows of `Value`s as Parquet or JSON lines.
//!
//! Files are written to a temporary name in the target directory and moved into place only when
//! complete, so a failed or interrupted write never leaves a partial file behind. Timestamps are UTC with
//! microsecond precision: Parquet `TIMESTAMP(MICROS, UTC)` and RFC 3339 strings (`...Z`) in JSON, which
//! pandas, Polars, DuckDB and Spark all read as instants.

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType as ArrowType, Field as ArrowField, Schema, TimeUnit};
use freshet_engine::{DataType, Value};
use freshet_project::spec::{Field, FileFormat};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per Parquet row group and per progress report.
const BATCH_ROWS: usize = 65_536;

/// Why rows could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file could not be created or written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The output path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Parquet or Arrow refused the data.
    #[error("cannot encode {path} as Parquet: {reason}")]
    Parquet {
        /// The output path.
        path: PathBuf,
        /// The cause.
        reason: String,
    },
    /// A row does not match the schema.
    #[error("row {row}: column `{column}` should be {expected}, found {found}")]
    Mismatch {
        /// Row number, from 1.
        row: u64,
        /// The column.
        column: String,
        /// Its declared type.
        expected: DataType,
        /// What the row held.
        found: String,
    },
    /// The format cannot be written.
    #[error(
        "writing {0:?} files is not supported; write Parquet (.parquet) or JSON lines (.jsonl)"
    )]
    Unsupported(FileFormat),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> FormatError + '_ {
    move |source| FormatError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `rows` (each in `schema` order) to `path`; `progress` is told the running row count.
pub fn write_rows(
    path: &Path,
    format: FileFormat,
    schema: &[Field],
    rows: impl Iterator<Item = Vec<Value>>,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, FormatError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staged = freshet_project::files::stage_file(&dir).map_err(io(&dir))?;
    let file = staged.reopen().map_err(io(path))?;
    let written = match format {
        FileFormat::Parquet => write_parquet(path, file, schema, rows, progress)?,
        FileFormat::JsonLines => write_jsonl(path, file, schema, rows, progress)?,
        other => return Err(FormatError::Unsupported(other)),
    };
    staged.persist(path).map_err(|e| FormatError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(written)
}

fn check(row_number: u64, schema: &[Field], row: &[Value]) -> Result<(), FormatError> {
    for (i, field) in schema.iter().enumerate() {
        let value = row.get(i).unwrap_or(&Value::Null);
        if !value.fits(field.data_type) {
            return Err(FormatError::Mismatch {
                row: row_number,
                column: field.name.clone(),
                expected: field.data_type,
                found: format!("{value:?}"),
            });
        }
    }
    Ok(())
}

/// The Arrow type of a freshet type (timestamps: UTC microseconds).
pub fn arrow_type(data_type: DataType) -> ArrowType {
    match data_type {
        DataType::Bool => ArrowType::Boolean,
        DataType::Int64 => ArrowType::Int64,
        DataType::Float64 => ArrowType::Float64,
        DataType::String => ArrowType::Utf8,
        DataType::Timestamp => ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

/// The Arrow schema for a freshet schema.
pub fn arrow_schema(schema: &[Field]) -> Schema {
    Schema::new(
        schema
            .iter()
            .map(|f| ArrowField::new(&f.name, arrow_type(f.data_type), true))
            .collect::<Vec<_>>(),
    )
}

/// Appends each row's value (or null, for a null or a value of another variant) to an Arrow builder.
macro_rules! build {
    ($builder:expr, $values:expr, $variant:ident($x:ident) => $out:expr) => {{
        let mut builder = $builder;
        for v in $values {
            builder.append_option(match v {
                Value::$variant($x) => Some($out),
                _ => None,
            });
        }
        Arc::new(builder.finish()) as ArrayRef
    }};
}

/// One Arrow column per schema field from rows in schema order (a value of another type becomes null:
/// check rows first where that matters).
pub fn rows_to_columns(schema: &[Field], rows: &[Vec<Value>]) -> Vec<ArrayRef> {
    schema
        .iter()
        .enumerate()
        .map(|(i, f)| column(f.data_type, rows, i))
        .collect()
}

fn column(data_type: DataType, rows: &[Vec<Value>], i: usize) -> ArrayRef {
    scalar_array(
        data_type,
        rows.iter().map(|r| r.get(i).unwrap_or(&Value::Null)),
    )
}

/// An Arrow column of `data_type` from values (null for `Null` or a value of another type).
pub fn scalar_array<'v>(
    data_type: DataType,
    values: impl ExactSizeIterator<Item = &'v Value>,
) -> ArrayRef {
    let n = values.len();
    match data_type {
        DataType::Bool => build!(BooleanBuilder::with_capacity(n), values, Bool(x) => *x),
        DataType::Int64 => build!(Int64Builder::with_capacity(n), values, Int64(x) => *x),
        DataType::Float64 => build!(Float64Builder::with_capacity(n), values, Float64(x) => *x),
        DataType::String => {
            build!(StringBuilder::with_capacity(n, n * 16), values, String(x) => &**x)
        }
        DataType::Timestamp => build!(
            TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
            values,
            Timestamp(x) => x.micros()
        ),
    }
}

fn write_parquet(
    path: &Path,
    file: std::fs::File,
    schema: &[Field],
    rows: impl Iterator<Item = Vec<Value>>,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, FormatError> {
    let parquet_err = |e: &dyn std::fmt::Display| FormatError::Parquet {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let arrow = Arc::new(arrow_schema(schema));
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(BATCH_ROWS))
        .build();
    let mut writer =
        ArrowWriter::try_new(file, arrow.clone(), Some(props)).map_err(|e| parquet_err(&e))?;
    let mut count = 0u64;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        batch.clear();
        for row in rows.by_ref().take(BATCH_ROWS) {
            count += 1;
            check(count, schema, &row)?;
            batch.push(row);
        }
        let columns = rows_to_columns(schema, &batch);
        let record = RecordBatch::try_new(arrow.clone(), columns).map_err(|e| parquet_err(&e))?;
        writer.write(&record).map_err(|e| parquet_err(&e))?;
        progress(count);
    }
    writer.close().map_err(|e| parquet_err(&e))?;
    Ok(count)
}

/// RFC 3339 in UTC with microseconds, e.g. `2026-01-01T00:00:00.250000Z`.
pub fn format_timestamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map_or_else(
        || micros.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    )
}

/// A value as JSON: timestamps as RFC 3339 text, non-finite floats as null.
pub fn json_value(v: &Value) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int64(i) => (*i).into(),
        Value::Float64(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::Timestamp(t) => serde_json::Value::String(format_timestamp(t.micros())),
    }
}

fn write_jsonl(
    path: &Path,
    file: std::fs::File,
    schema: &[Field],
    rows: impl Iterator<Item = Vec<Value>>,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, FormatError> {
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut count = 0u64;
    for row in rows {
        count += 1;
        check(count, schema, &row)?;
        let object: serde_json::Map<String, serde_json::Value> = schema
            .iter()
            .zip(&row)
            .map(|(f, v)| (f.name.clone(), json_value(v)))
            .collect();
        serde_json::to_writer(&mut out, &object).map_err(|e| io(path)(e.into()))?;
        out.write_all(b"\n").map_err(io(path))?;
        if count.is_multiple_of(BATCH_ROWS as u64) {
            progress(count);
        }
    }
    out.flush().map_err(io(path))?;
    progress(count);
    Ok(count)
}
