//! Reading Parquet files into decoded rows.
//!
//! Each schema field is matched to a Parquet column by name, and each column is first normalised with
//! Arrow's cast kernels to one of five canonical Arrow types (Int64, Float64, Utf8, Boolean, UTC
//! microsecond timestamps); then values are read row by row. A column whose type cannot represent its
//! field is a problem with the file, reported once before any row is read. Timestamps stored without a
//! zone follow the same rule as text: read only with the source's `timezone`.

use super::{ReadError, ReadSummary, Record};
use crate::decode::{DecodeError, RowDecoder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType as Arrow, TimeUnit};
use freshet_engine::{DataType, Timestamp, Value};
use freshet_project::spec::Field;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;
use std::sync::Arc;

fn file_error(path: &Path, field: &Field, reason: String, help: &str) -> ReadError {
    ReadError::Header {
        path: path.to_path_buf(),
        error: DecodeError {
            field: Some(field.name.clone()),
            reason,
            help: Some(help.to_owned()),
        },
    }
}

/// The canonical Arrow type for a field, or why the file's column cannot hold it.
fn target(
    field: &Field,
    found: &Arrow,
    timezone: Option<i32>,
) -> Result<Arrow, (String, &'static str)> {
    let numeric_int = matches!(
        found,
        Arrow::Int8
            | Arrow::Int16
            | Arrow::Int32
            | Arrow::Int64
            | Arrow::UInt8
            | Arrow::UInt16
            | Arrow::UInt32
            | Arrow::UInt64
    );
    let numeric = numeric_int || matches!(found, Arrow::Float16 | Arrow::Float32 | Arrow::Float64);
    let text = matches!(found, Arrow::Utf8 | Arrow::LargeUtf8 | Arrow::Utf8View);
    let ok = match field.data_type {
        DataType::Int64 => numeric_int,
        DataType::Float64 => numeric,
        DataType::String => text,
        DataType::Bool => matches!(found, Arrow::Boolean),
        DataType::Timestamp => match found {
            Arrow::Timestamp(_, Some(_)) => true,
            Arrow::Timestamp(_, None) | Arrow::Date32 | Arrow::Date64 if timezone.is_none() => {
                return Err((
                    format!(
                        "column `{}` holds timestamps without a time zone",
                        field.name
                    ),
                    "add `timezone: UTC` (or the offset the data was recorded in) to the source in freshet.yaml",
                ));
            }
            Arrow::Timestamp(_, None) | Arrow::Date32 | Arrow::Date64 => true,
            _ => false,
        },
    };
    if !ok {
        return Err((
            format!(
                "column `{}` is {found} in the file, which cannot hold {}",
                field.name, field.data_type
            ),
            "change the field's type in the source schema, or convert the column",
        ));
    }
    Ok(match field.data_type {
        DataType::Int64 => Arrow::Int64,
        DataType::Float64 => Arrow::Float64,
        DataType::String => Arrow::Utf8,
        DataType::Bool => Arrow::Boolean,
        DataType::Timestamp => Arrow::Timestamp(TimeUnit::Microsecond, None),
    })
}

/// Reads every row of a Parquet file, handing each to `each` in file order (`line` is the row number).
pub fn read_parquet(
    path: &Path,
    decoder: &RowDecoder,
    mut each: impl FnMut(Record),
) -> Result<ReadSummary, ReadError> {
    let io = |source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let parquet = |e: parquet::errors::ParquetError| io(std::io::Error::other(e.to_string()));
    let file = std::fs::File::open(path).map_err(io)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet)?;
    let schema = builder.schema().clone();
    let mut plan = Vec::with_capacity(decoder.fields().len());
    for field in decoder.fields() {
        let Some((index, column)) = schema.column_with_name(&field.name) else {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(file_error(
                path,
                field,
                format!(
                    "the file has no column `{}` (it has: {})",
                    field.name,
                    names.join(", ")
                ),
                "rename the column in the file, or the field in the source schema",
            ));
        };
        let target = target(field, column.data_type(), decoder.timezone())
            .map_err(|(reason, help)| file_error(path, field, reason, help))?;
        plan.push((
            index,
            target,
            matches!(column.data_type(), Arrow::Timestamp(_, Some(_))),
        ));
    }
    let mut summary = ReadSummary::default();
    let mut row_number = 0u64;
    for batch in builder.with_batch_size(8192).build().map_err(parquet)? {
        let batch: RecordBatch = batch.map_err(|e| io(std::io::Error::other(e.to_string())))?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(plan.len());
        for (index, target, _) in &plan {
            let column = batch.column(*index);
            // A zoned timestamp column is cast to naive UTC micros; a zone-less one keeps its wall time.
            let cast = match (column.data_type(), target) {
                (Arrow::Timestamp(_, Some(_)), Arrow::Timestamp(unit, None)) => {
                    arrow_cast::cast(column, &Arrow::Timestamp(*unit, Some("UTC".into())))
                        .and_then(|c| arrow_cast::cast(&c, &Arrow::Timestamp(*unit, None)))
                }
                _ => arrow_cast::cast(column, target),
            };
            columns.push(cast.map_err(|e| io(std::io::Error::other(e.to_string())))?);
        }
        for r in 0..batch.num_rows() {
            row_number += 1;
            let mut row = Vec::with_capacity(plan.len());
            let mut bad = None;
            for ((column, (_, _, zoned)), field) in columns.iter().zip(&plan).zip(decoder.fields())
            {
                match value(column, r, *zoned, decoder.timezone()) {
                    Ok(v) => row.push(v),
                    Err(reason) => {
                        bad = Some(DecodeError {
                            field: Some(field.name.clone()),
                            reason,
                            help: None,
                        });
                        break;
                    }
                }
            }
            let record = match bad {
                None => Record::Row {
                    line: row_number,
                    row,
                },
                Some(error) => Record::Bad {
                    line: row_number,
                    error,
                    original: String::new(),
                },
            };
            summary.count(&record);
            each(record);
        }
    }
    Ok(summary)
}

/// One cell of a normalised column.
fn value(
    column: &ArrayRef,
    row: usize,
    zoned: bool,
    timezone: Option<i32>,
) -> Result<Value, String> {
    if column.is_null(row) {
        return Ok(Value::Null);
    }
    Ok(match column.data_type() {
        Arrow::Int64 => Value::Int64(column.as_primitive::<Int64Type>().value(row)),
        Arrow::Float64 => Value::Float64(column.as_primitive::<Float64Type>().value(row)),
        Arrow::Utf8 => Value::String(Arc::from(column.as_string::<i32>().value(row))),
        Arrow::Boolean => Value::Bool(column.as_boolean().value(row)),
        Arrow::Timestamp(TimeUnit::Microsecond, None) => {
            let micros = column.as_primitive::<TimestampMicrosecondType>().value(row);
            // Zone-less wall time: shift by the source's offset to get UTC.
            let offset = if zoned {
                0
            } else {
                i64::from(timezone.unwrap_or(0)) * 1_000_000
            };
            Value::Timestamp(Timestamp(micros - offset))
        }
        other => {
            return Err(format!(
                "unexpected column type {other} after normalisation"
            ));
        }
    })
}
