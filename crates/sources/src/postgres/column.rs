//! How each PostgreSQL column type becomes a declared freshet type.
//!
//! The mapping is decided once per column, from the type PostgreSQL reports for the statement, so a
//! row is decoded without looking types up again. It widens only where no value can change (`int4` to
//! `int64`, `float4` to `float64`, `int2`/`int4` to `float64`) and refuses the rest with the cast that
//! makes the choice explicit: `numeric` or `int8` as `float64` may round, and a zone-less `timestamp`
//! or `date` is read only with the source's `timezone`, the rule every source follows.

use crate::decode::DecodeError;
use crate::read::Record;
use freshet_engine::{DataType, Timestamp, Value};
use std::sync::Arc;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Type};

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Reads one column of a row as its declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ColumnReader {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Int2AsFloat,
    Int4AsFloat,
    Text,
    /// `timestamptz`: an instant.
    Instant,
    /// `timestamp`: wall-clock time at this offset (seconds east of UTC).
    LocalTime(i32),
    /// `date`: midnight at this offset.
    LocalDate(i32),
}

/// Why a column cannot be read as its declared type, and the fix.
#[derive(Debug)]
pub(super) struct Mismatch {
    pub(super) help: String,
}

fn mismatch(help: impl Into<String>) -> Mismatch {
    Mismatch { help: help.into() }
}

fn is_text(t: &Type) -> bool {
    [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(t)
}

impl ColumnReader {
    /// The reader for a column of type `found` declared as `declared`; `timezone` is the source's.
    pub(super) fn for_column(
        found: &Type,
        declared: DataType,
        timezone: Option<i32>,
    ) -> Result<ColumnReader, Mismatch> {
        let cast = |to: &str| {
            format!(
                "cast it in a query (`SELECT ..., column::{to} AS column`) or declare the column's type to match"
            )
        };
        match declared {
            DataType::Bool if *found == Type::BOOL => Ok(ColumnReader::Bool),
            DataType::Int64 if *found == Type::INT2 => Ok(ColumnReader::Int2),
            DataType::Int64 if *found == Type::INT4 => Ok(ColumnReader::Int4),
            DataType::Int64 if *found == Type::INT8 => Ok(ColumnReader::Int8),
            DataType::Float64 if *found == Type::FLOAT4 => Ok(ColumnReader::Float4),
            DataType::Float64 if *found == Type::FLOAT8 => Ok(ColumnReader::Float8),
            DataType::Float64 if *found == Type::INT2 => Ok(ColumnReader::Int2AsFloat),
            DataType::Float64 if *found == Type::INT4 => Ok(ColumnReader::Int4AsFloat),
            DataType::Float64 if [Type::INT8, Type::NUMERIC].contains(found) => Err(mismatch(
                format!("its values may round as float64: {}", cast("float8")),
            )),
            DataType::String if is_text(found) => Ok(ColumnReader::Text),
            DataType::Timestamp if *found == Type::TIMESTAMPTZ => Ok(ColumnReader::Instant),
            DataType::Timestamp if [Type::TIMESTAMP, Type::DATE].contains(found) => {
                match (timezone, *found == Type::DATE) {
                    (Some(offset), false) => Ok(ColumnReader::LocalTime(offset)),
                    (Some(offset), true) => Ok(ColumnReader::LocalDate(offset)),
                    (None, _) => Err(mismatch(
                        "it has no time zone: add `timezone: UTC` (or the offset the table is written in) to the source, or make the column `timestamptz`",
                    )),
                }
            }
            DataType::Bool => Err(mismatch(cast("boolean"))),
            DataType::Int64 => Err(mismatch(cast("bigint"))),
            DataType::Float64 => Err(mismatch(cast("float8"))),
            DataType::String => Err(mismatch(cast("text"))),
            DataType::Timestamp => Err(mismatch(cast("timestamptz"))),
        }
    }

    /// The value of column `index` of `row`.
    fn read(self, row: &Row, index: usize) -> Result<Value, String> {
        let raw = row
            .try_get::<_, Option<Raw<'_>>>(index)
            .map_err(|e| e.to_string())?;
        self.decode(raw.map(|r| r.0))
    }

    /// The value of a cell in PostgreSQL's binary form (`None` for SQL NULL): what a query's row holds
    /// and what logical replication sends in binary mode, so both paths give the same values.
    pub(crate) fn decode(self, raw: Option<&[u8]>) -> Result<Value, String> {
        let value = match self {
            ColumnReader::Bool => cell::<bool>(&Type::BOOL, raw)?.map(Value::Bool),
            ColumnReader::Int2 => cell::<i16>(&Type::INT2, raw)?.map(|v| Value::Int64(v.into())),
            ColumnReader::Int4 => cell::<i32>(&Type::INT4, raw)?.map(|v| Value::Int64(v.into())),
            ColumnReader::Int8 => cell::<i64>(&Type::INT8, raw)?.map(Value::Int64),
            ColumnReader::Float4 => {
                cell::<f32>(&Type::FLOAT4, raw)?.map(|v| Value::Float64(v.into()))
            }
            ColumnReader::Float8 => cell::<f64>(&Type::FLOAT8, raw)?.map(Value::Float64),
            ColumnReader::Int2AsFloat => {
                cell::<i16>(&Type::INT2, raw)?.map(|v| Value::Float64(v.into()))
            }
            ColumnReader::Int4AsFloat => {
                cell::<i32>(&Type::INT4, raw)?.map(|v| Value::Float64(v.into()))
            }
            ColumnReader::Text => {
                cell::<&str>(&Type::TEXT, raw)?.map(|v| Value::String(Arc::from(v)))
            }
            ColumnReader::Instant => cell::<Micros>(&Type::TIMESTAMPTZ, raw)?
                .map(|m| timestamp(m.0, 0))
                .transpose()?,
            ColumnReader::LocalTime(offset) => cell::<Micros>(&Type::TIMESTAMP, raw)?
                .map(|m| timestamp(m.0, offset))
                .transpose()?,
            ColumnReader::LocalDate(offset) => match cell::<Days>(&Type::DATE, raw)? {
                Some(Days(days)) if days == i32::MAX || days == i32::MIN => {
                    return Err("the date is infinite".to_owned());
                }
                Some(Days(days)) => Some(timestamp(
                    i64::from(days) * Timestamp::MICROS_PER_DAY,
                    offset,
                )?),
                None => None,
            },
        };
        Ok(value.unwrap_or(Value::Null))
    }
}

/// A cell in binary form, `None` for SQL NULL, as a `T`.
fn cell<'a, T: FromSql<'a>>(ty: &Type, raw: Option<&'a [u8]>) -> Result<Option<T>, String> {
    raw.map(|raw| T::from_sql(ty, raw).map_err(|e| e.to_string()))
        .transpose()
}

/// A cell's bytes as the server sent them; the column's reader decodes them.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> Result<Raw<'a>, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A PostgreSQL timestamp (µs since 2000-01-01, wall clock at `offset` seconds east of UTC) as an instant.
fn timestamp(pg_micros: i64, offset: i32) -> Result<Value, String> {
    if pg_micros == i64::MAX || pg_micros == i64::MIN {
        return Err("the timestamp is infinite".to_owned());
    }
    pg_micros
        .checked_add(PG_EPOCH_MICROS)
        .and_then(|m| m.checked_sub(i64::from(offset) * 1_000_000))
        .map(|m| Value::Timestamp(Timestamp(m)))
        .ok_or_else(|| "the timestamp is out of range".to_owned())
}

/// The raw binary form of `timestamp` and `timestamptz`: microseconds since 2000-01-01. Read raw so that
/// `infinity` becomes a clear per-row refusal instead of a driver error.
struct Micros(i64);

impl<'a> FromSql<'a> for Micros {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> Result<Micros, Box<dyn std::error::Error + Sync + Send>> {
        let bytes: [u8; 8] = raw.try_into()?;
        Ok(Micros(i64::from_be_bytes(bytes)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMP || *ty == Type::TIMESTAMPTZ
    }
}

/// The raw binary form of `date`: days since 2000-01-01.
struct Days(i32);

impl<'a> FromSql<'a> for Days {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Days, Box<dyn std::error::Error + Sync + Send>> {
        let bytes: [u8; 4] = raw.try_into()?;
        Ok(Days(i32::from_be_bytes(bytes)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }
}

/// Decodes one row; a cell that cannot be read makes the whole row a bad record naming that column.
pub(super) fn decode_row(
    row: &Row,
    columns: &[ColumnReader],
    names: &[String],
    number: u64,
) -> Record {
    assemble(
        columns.iter().enumerate().map(|(i, r)| r.read(row, i)),
        names,
        number,
        "fix the row in PostgreSQL; the next ingest picks it up",
    )
}

/// A row from its decoded cells, in declared order: a [`Record::Row`], or a [`Record::Bad`] naming the
/// first cell that failed, with `help` and the row's other values as its original.
pub(super) fn assemble(
    cells: impl Iterator<Item = Result<Value, String>>,
    names: &[String],
    number: u64,
    help: &str,
) -> Record {
    let mut values = Vec::with_capacity(names.len());
    let mut failure = None;
    for (index, cell) in cells.enumerate() {
        match cell {
            Ok(v) => values.push(v),
            Err(reason) => {
                failure.get_or_insert((index, reason));
                values.push(Value::Null);
            }
        }
    }
    match failure {
        None => Record::Row {
            line: number,
            row: values,
        },
        Some((index, reason)) => {
            let original: serde_json::Map<String, serde_json::Value> = names
                .iter()
                .zip(&values)
                .map(|(name, v)| (name.clone(), crate::formats::json_value(v)))
                .collect();
            Record::Bad {
                line: number,
                error: DecodeError {
                    field: names.get(index).cloned(),
                    reason,
                    help: Some(help.to_owned()),
                },
                original: serde_json::Value::Object(original).to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_is_allowed_and_rounding_is_refused() {
        assert_eq!(
            ColumnReader::for_column(&Type::INT4, DataType::Int64, None).unwrap(),
            ColumnReader::Int4
        );
        assert_eq!(
            ColumnReader::for_column(&Type::INT4, DataType::Float64, None).unwrap(),
            ColumnReader::Int4AsFloat
        );
        let numeric =
            ColumnReader::for_column(&Type::NUMERIC, DataType::Float64, None).unwrap_err();
        assert!(numeric.help.contains("::float8"), "{}", numeric.help);
        let text = ColumnReader::for_column(&Type::INT8, DataType::String, None).unwrap_err();
        assert!(text.help.contains("::text"), "{}", text.help);
    }

    #[test]
    fn zoneless_times_need_the_source_timezone() {
        let refused =
            ColumnReader::for_column(&Type::TIMESTAMP, DataType::Timestamp, None).unwrap_err();
        assert!(refused.help.contains("timezone: UTC"), "{}", refused.help);
        assert_eq!(
            ColumnReader::for_column(&Type::TIMESTAMP, DataType::Timestamp, Some(3600)).unwrap(),
            ColumnReader::LocalTime(3600)
        );
        assert_eq!(
            ColumnReader::for_column(&Type::DATE, DataType::Timestamp, Some(0)).unwrap(),
            ColumnReader::LocalDate(0)
        );
    }

    #[test]
    fn timestamps_convert_from_the_postgres_epoch() {
        // 2000-01-01T00:00:00Z
        assert_eq!(
            timestamp(0, 0),
            Ok(Value::Timestamp(Timestamp(PG_EPOCH_MICROS)))
        );
        // 01:00 at +01:00 is midnight UTC.
        assert_eq!(
            timestamp(3_600_000_000, 3600),
            Ok(Value::Timestamp(Timestamp(PG_EPOCH_MICROS)))
        );
        assert!(timestamp(i64::MAX, 0).unwrap_err().contains("infinite"));
        assert!(
            timestamp(i64::MAX - 1, 0)
                .unwrap_err()
                .contains("out of range")
        );
    }
}
