//! Reading a training-set spine: the rows (entity keys, a timestamp, any labels) a training set is built
//! for.
//!
//! A spine is Parquet or CSV. Its batches are kept as read, so every column other than the keys and the
//! timestamp passes through to the output unchanged (CSV columns get Arrow's inferred types: labels come
//! out as numbers, not text). Keys and the timestamp are checked strictly, row by row, with the same
//! timestamp rule as every source: a time without a zone is refused, never guessed.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType as Arrow, Field, Schema, TimeUnit};
use freshet_engine::{DataType, KeyPart};
use freshet_sources::decode::time::parse_timestamp;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What is wrong with a spine. Each names the file, and the column and row where there is one.
#[derive(Debug, thiserror::Error)]
pub enum SpineError {
    /// The file cannot be read at all.
    #[error("cannot read spine {path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A needed column is absent.
    #[error("spine {path} has no column `{column}` (it has: {available}); {help}")]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The file's columns.
        available: String,
        /// How to fix it.
        help: String,
    },
    /// No timestamp column was named and none could be chosen.
    #[error("spine {path}: {reason}; name it with --timestamp-column")]
    NoTimestampColumn {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A cell of a key or the timestamp column is unusable.
    #[error("spine {path}, row {row}, column `{column}`: {reason}")]
    BadCell {
        /// The file.
        path: PathBuf,
        /// 1-based data row.
        row: usize,
        /// The column.
        column: String,
        /// Why, and how to fix it.
        reason: String,
    },
    /// A column has a type that cannot hold what it must.
    #[error("spine {path}, column `{column}`: {reason}")]
    BadColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// Why, and how to fix it.
        reason: String,
    },
}

/// A spine as read: its batches, and the row count.
#[derive(Debug)]
pub struct Spine {
    /// The file.
    pub path: PathBuf,
    /// Its rows, in file order.
    pub batches: Vec<RecordBatch>,
    /// Its schema.
    pub schema: Arc<Schema>,
}

/// Names that a spine's timestamp column is recognised by when none is given.
const TIMESTAMP_NAMES: [&str; 3] = ["event_timestamp", "event_time", "timestamp"];

impl Spine {
    /// Reads a Parquet or CSV spine (by extension; `.csv.gz` too). `text_columns` are read as text from
    /// CSV (keys and the timestamp, which are parsed strictly here, not by type inference).
    pub fn read(path: &Path, text_columns: &[&str]) -> Result<Spine, SpineError> {
        let unreadable = |reason: String| SpineError::Unreadable {
            path: path.to_path_buf(),
            reason,
        };
        let name = path.to_string_lossy().to_ascii_lowercase();
        let batches = if name.ends_with(".parquet") {
            let file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .and_then(|b| b.with_batch_size(65_536).build())
                .map_err(|e| unreadable(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| unreadable(e.to_string()))?
        } else if name.ends_with(".csv") || name.ends_with(".csv.gz") {
            read_csv(path, text_columns).map_err(unreadable)?
        } else {
            return Err(unreadable(
                "unknown format: name the spine *.parquet, *.csv or *.csv.gz".to_owned(),
            ));
        };
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => return Err(unreadable("the file has no rows".to_owned())),
        };
        Ok(Spine {
            path: path.to_path_buf(),
            batches,
            schema,
        })
    }

    /// Reads a spine and finds its timestamp column: `named`, or the one recognised name. The key
    /// columns and the timestamp are read as text from CSV, to be parsed strictly.
    pub fn read_timed(
        path: &Path,
        key_columns: &[&str],
        named: Option<&str>,
    ) -> Result<(Spine, String), SpineError> {
        let mut text = key_columns.to_vec();
        text.extend(named);
        text.extend(TIMESTAMP_NAMES);
        let spine = Spine::read(path, &text)?;
        let column = spine.timestamp_column(named)?;
        Ok((spine, column))
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    fn column_index(&self, column: &str, help: &str) -> Result<usize, SpineError> {
        self.schema
            .index_of(column)
            .map_err(|_| SpineError::MissingColumn {
                path: self.path.clone(),
                column: column.to_owned(),
                available: self
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                help: help.to_owned(),
            })
    }

    /// The timestamp column: `named`, or the one recognised column.
    pub fn timestamp_column(&self, named: Option<&str>) -> Result<String, SpineError> {
        if let Some(name) = named {
            self.column_index(
                name,
                "pass the spine's timestamp column to --timestamp-column",
            )?;
            return Ok(name.to_owned());
        }
        let found: Vec<&str> = TIMESTAMP_NAMES
            .into_iter()
            .filter(|n| self.schema.index_of(n).is_ok())
            .collect();
        match found.as_slice() {
            [one] => Ok((*one).to_owned()),
            [] => Err(SpineError::NoTimestampColumn {
                path: self.path.clone(),
                reason: format!("no column is named {}", TIMESTAMP_NAMES.join(", ")),
            }),
            many => Err(SpineError::NoTimestampColumn {
                path: self.path.clone(),
                reason: format!("several could be the timestamp ({})", many.join(", ")),
            }),
        }
    }

    /// Every row's timestamp in UTC microseconds.
    pub fn timestamps(&self, column: &str) -> Result<Vec<i64>, SpineError> {
        let index = self.column_index(
            column,
            "pass the spine's timestamp column to --timestamp-column",
        )?;
        let mut out = Vec::with_capacity(self.rows());
        for batch in &self.batches {
            let array = batch.column(index);
            let base = out.len();
            let bad = |i: usize, reason: String| SpineError::BadCell {
                path: self.path.clone(),
                row: base + i + 1,
                column: column.to_owned(),
                reason,
            };
            match array.data_type() {
                Arrow::Utf8 | Arrow::LargeUtf8 | Arrow::Utf8View => {
                    let text =
                        arrow_cast::cast(array, &Arrow::Utf8).map_err(|e| bad(0, e.to_string()))?;
                    let text = text.as_string::<i32>();
                    for i in 0..text.len() {
                        if text.is_null(i) {
                            return Err(bad(i, "the timestamp is empty".to_owned()));
                        }
                        let t = parse_timestamp(text.value(i), None)
                            .map_err(|e| bad(i, format!("{}; {}", e.reason, e.help)))?;
                        out.push(t);
                    }
                }
                Arrow::Timestamp(_, Some(_)) => {
                    let utc = Arrow::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
                    let micros =
                        arrow_cast::cast(array, &utc).map_err(|e| bad(0, e.to_string()))?;
                    let micros = micros.as_primitive::<TimestampMicrosecondType>();
                    for i in 0..micros.len() {
                        if micros.is_null(i) {
                            return Err(bad(i, "the timestamp is empty".to_owned()));
                        }
                        out.push(micros.value(i));
                    }
                }
                other => {
                    return Err(SpineError::BadColumn {
                        path: self.path.clone(),
                        column: column.to_owned(),
                        reason: format!(
                            "type {other} holds no time zone; store UTC timestamps (e.g. pandas \
                             `tz_localize(\"UTC\")`) or RFC 3339 text such as 2026-01-01T00:00:00Z"
                        ),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Every row's value of a numeric or boolean `column` as `f64` (booleans 0 and 1, text parsed as a
    /// number or `true`/`false`), `NaN` where empty: a model's labels.
    pub fn numbers(&self, column: &str) -> Result<Vec<f64>, SpineError> {
        let index = self.column_index(column, "name the label column in the model's `label`")?;
        let mut out = Vec::with_capacity(self.rows());
        for batch in &self.batches {
            let array = batch.column(index);
            let base = out.len();
            if let Arrow::Utf8 | Arrow::LargeUtf8 | Arrow::Utf8View = array.data_type() {
                let text =
                    arrow_cast::cast(array, &Arrow::Utf8).map_err(|e| SpineError::BadColumn {
                        path: self.path.clone(),
                        column: column.to_owned(),
                        reason: e.to_string(),
                    })?;
                let text = text.as_string::<i32>();
                for i in 0..text.len() {
                    let cell = text.value(i).trim();
                    let value = match cell.to_ascii_lowercase().as_str() {
                        _ if text.is_null(i) || cell.is_empty() => f64::NAN,
                        "true" => 1.0,
                        "false" => 0.0,
                        lower => lower.parse().map_err(|_| SpineError::BadCell {
                            path: self.path.clone(),
                            row: base + i + 1,
                            column: column.to_owned(),
                            reason: format!("`{cell}` is not a number or true/false"),
                        })?,
                    };
                    out.push(value);
                }
                continue;
            }
            let target = if *array.data_type() == Arrow::Boolean {
                Arrow::UInt8
            } else {
                Arrow::Float64
            };
            let cast = arrow_cast::cast(array, &target)
                .and_then(|a| arrow_cast::cast(&a, &Arrow::Float64))
                .map_err(|_| SpineError::BadColumn {
                    path: self.path.clone(),
                    column: column.to_owned(),
                    reason: format!(
                        "type {} is not numeric or boolean; labels must be numbers or booleans",
                        array.data_type()
                    ),
                })?;
            let values = cast.as_primitive::<arrow_array::types::Float64Type>();
            out.extend((0..values.len()).map(|i| {
                if values.is_null(i) {
                    f64::NAN
                } else {
                    values.value(i)
                }
            }));
        }
        Ok(out)
    }

    /// Every row's value of join key `column`, as a key part of type `data_type` (int64 or string).
    pub fn key_parts(&self, column: &str, data_type: DataType) -> Result<Vec<KeyPart>, SpineError> {
        self.keys_as(column, data_type, KeyPart::Int, |s| {
            KeyPart::Str(Arc::from(s))
        })
    }

    /// [`Spine::key_parts`], each key made by `int` or `text` straight from the column: a caller
    /// with a key type of its own (a merge's) builds a million keys once instead of twice.
    pub(crate) fn keys_as<T>(
        &self,
        column: &str,
        data_type: DataType,
        int: impl Fn(i64) -> T,
        text: impl Fn(&str) -> T,
    ) -> Result<Vec<T>, SpineError> {
        let index = self.column_index(
            column,
            "the spine needs every join key of the service's entities",
        )?;
        let mut out = Vec::with_capacity(self.rows());
        for batch in &self.batches {
            let base = out.len();
            let array = batch.column(index);
            let target = match data_type {
                DataType::Int64 => Arrow::Int64,
                _ => Arrow::Utf8,
            };
            let cast = arrow_cast::cast(array, &target).map_err(|e| SpineError::BadColumn {
                path: self.path.clone(),
                column: column.to_owned(),
                reason: format!("cannot read it as {data_type}: {e}"),
            })?;
            let first_null = cast
                .nulls()
                .filter(|nulls| nulls.null_count() > 0)
                .and_then(|nulls| nulls.iter().position(|valid| !valid));
            if let Some(i) = first_null {
                let reason = if array.is_null(i) {
                    "the join key is empty".to_owned()
                } else {
                    let shown = arrow_cast::display::ArrayFormatter::try_new(
                        array.as_ref(),
                        &arrow_cast::display::FormatOptions::default(),
                    )
                    .map(|f| f.value(i).to_string())
                    .unwrap_or_default();
                    format!("`{shown}` is not a valid {data_type}")
                };
                return Err(SpineError::BadCell {
                    path: self.path.clone(),
                    row: base + i + 1,
                    column: column.to_owned(),
                    reason,
                });
            }
            match data_type {
                DataType::Int64 => out.extend(
                    cast.as_primitive::<Int64Type>()
                        .values()
                        .iter()
                        .map(|&x| int(x)),
                ),
                _ => out.extend(
                    cast.as_string::<i32>()
                        .iter()
                        .map(|s| text(s.unwrap_or_default())),
                ),
            }
        }
        Ok(out)
    }
}

/// Reads a CSV spine with inferred column types, except `text_columns`, kept as text.
fn read_csv(path: &Path, text_columns: &[&str]) -> Result<Vec<RecordBatch>, String> {
    let open = || -> Result<Box<dyn std::io::Read>, String> {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        Ok(if path.to_string_lossy().ends_with(".gz") {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        })
    };
    let format = arrow_csv::reader::Format::default().with_header(true);
    let (inferred, _) = format
        .infer_schema(open()?, Some(100_000))
        .map_err(|e| e.to_string())?;
    let fields: Vec<Field> = inferred
        .fields()
        .iter()
        .map(|f| {
            // Keys and the timestamp are parsed strictly here; inference would guess zones.
            let text = text_columns.contains(&f.name().as_str())
                || matches!(
                    f.data_type(),
                    Arrow::Timestamp(..) | Arrow::Date32 | Arrow::Date64
                );
            if text {
                Field::new(f.name(), Arrow::Utf8, true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let reader = arrow_csv::ReaderBuilder::new(Arc::new(Schema::new(fields)))
        .with_format(format)
        .with_batch_size(65_536)
        .build(open()?)
        .map_err(|e| e.to_string())?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}
