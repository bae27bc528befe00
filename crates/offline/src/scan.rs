//! Reading events back out of the event log, for training sets and backfills.
//!
//! A scan reads the Parquet files of one table version: a snapshot, so an ingest running at the same
//! time neither adds half a batch nor hides one. Each event comes back as its source row plus the
//! ingest time and position the log recorded, which is everything the engine needs to place it exactly
//! where streaming would have.
//!
//! The reader is columnar: it decodes only the columns the caller needs, fills one reused row per event
//! (columns not needed stay null), and shares repeated strings (a status, a country) instead of
//! allocating each. [`scan_parallel`] splits the files over threads, each with its own state.

use crate::layout::{INGEST_TIME, POSITION};
use crate::log::LogError;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use freshet_engine::{Cell, DataType, Value};
use freshet_project::spec::Field;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One event read from the log.
#[derive(Debug)]
pub struct LoggedEvent<'a> {
    /// The source row, in source-schema order (columns not asked for are null). Empty when the scan
    /// was asked for cells only.
    pub row: &'a [Value],
    /// The same row, read in place from the decoded columns.
    pub cells: CellRow<'a>,
    /// When freshet accepted it (microseconds).
    pub ingest_time: i64,
    /// Its source position.
    pub position: u64,
}

/// Reads every event of `files` (a table version's files, with the source's `fields`), in file order,
/// decoding every column. Returns the number of events read.
pub fn scan_files(
    files: &[PathBuf],
    fields: &[Field],
    mut each: impl FnMut(LoggedEvent<'_>),
) -> Result<u64, LogError> {
    let needed = vec![true; fields.len()];
    let mut count = 0;
    for file in files {
        count += scan_file(file, fields, &needed, true, &mut each)?;
    }
    Ok(count)
}

/// Reads `files` on `threads` threads. Each thread starts from `init()` and folds its events into it
/// with `each`; the states come back in no particular order, with the number of events read. Only the
/// columns marked in `needed` (one flag per field) are decoded. Without `rows`, events carry their
/// cells only: no value is built per cell.
pub fn scan_parallel<S: Send>(
    files: &[PathBuf],
    fields: &[Field],
    needed: &[bool],
    rows: bool,
    threads: usize,
    init: impl Fn() -> S + Sync,
    each: impl Fn(&mut S, LoggedEvent<'_>) + Sync,
) -> Result<(Vec<S>, u64), LogError> {
    let next = AtomicUsize::new(0);
    let results: Vec<Result<(S, u64), LogError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.clamp(1, files.len().max(1)))
            .map(|_| {
                scope.spawn(|| {
                    let mut state = init();
                    let mut count = 0;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(i) else { break };
                        count +=
                            scan_file(file, fields, needed, rows, &mut |e| each(&mut state, e))?;
                    }
                    Ok((state, count))
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|_| {
                    Err(LogError::Corrupt {
                        file: PathBuf::from("(scan thread)"),
                        reason: "a reader thread stopped unexpectedly".to_owned(),
                    })
                })
            })
            .collect()
    });
    let mut states = Vec::with_capacity(results.len());
    let mut total = 0;
    for result in results {
        let (state, count) = result?;
        states.push(state);
        total += count;
    }
    Ok((states, total))
}

/// The number of rows in `files`, from their footers (no data is read): to size buffers once.
pub fn count_rows(files: &[PathBuf]) -> Result<u64, LogError> {
    let mut rows = 0u64;
    for file in files {
        let reader = std::fs::File::open(file).map_err(|e| corrupt(file, e))?;
        let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&reader)
            .map_err(|e| corrupt(file, e))?;
        rows += metadata.file_metadata().num_rows().max(0) as u64;
    }
    Ok(rows)
}

fn corrupt(file: &Path, reason: impl ToString) -> LogError {
    LogError::Corrupt {
        file: file.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Reads one file, calling `each` per event (with its row of values filled if `rows`); returns the
/// number of events.
fn scan_file(
    file: &Path,
    fields: &[Field],
    needed: &[bool],
    rows: bool,
    each: &mut dyn FnMut(LoggedEvent<'_>),
) -> Result<u64, LogError> {
    let reader = std::fs::File::open(file).map_err(|e| corrupt(file, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(reader).map_err(|e| corrupt(file, e))?;
    let schema = builder.schema().clone();
    let index = |name: &str| {
        schema
            .index_of(name)
            .map_err(|_| corrupt(file, format!("the file has no column `{name}`")))
    };
    // Root columns to decode: the needed fields, then ingest time and position.
    let mut roots = Vec::new();
    for (field, _) in fields.iter().zip(needed).filter(|(_, n)| **n) {
        roots.push(index(&field.name)?);
    }
    roots.push(index(INGEST_TIME)?);
    roots.push(index(POSITION)?);
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let batches = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(|e| corrupt(file, e))?;
    let mut row = vec![Value::Null; if rows { fields.len() } else { 0 }];
    let mut interners: Vec<Interner> = fields.iter().map(|_| Interner::default()).collect();
    let mut count = 0u64;
    for batch in batches {
        let batch: RecordBatch = batch.map_err(|e| corrupt(file, e))?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| corrupt(file, format!("the file has no column `{name}`")))
        };
        let mut columns: Vec<Option<Cells>> = fields.iter().map(|_| None).collect();
        for (i, field) in fields.iter().enumerate().filter(|(i, _)| needed[*i]) {
            let array = column(&field.name)?;
            // The log writes each field with one Arrow type; anything else means the file is not
            // ours.
            let found = array.data_type().clone();
            let cells = Cells::of(array, field.data_type).ok_or_else(|| {
                corrupt(
                    file,
                    format!(
                        "column `{}` is {found}, not {}",
                        field.name, field.data_type
                    ),
                )
            })?;
            columns[i] = Some(cells);
        }
        let ingest = column(INGEST_TIME)?;
        let ingest = ingest
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| corrupt(file, "the ingest-time column is not a timestamp"))?;
        let position = column(POSITION)?;
        let position = position
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| corrupt(file, "the position column is not int64"))?;
        for r in 0..batch.num_rows() {
            if rows {
                for (i, cells) in columns.iter().enumerate() {
                    if let Some(cells) = cells {
                        row[i] = cells.value(r, &mut interners[i]);
                    }
                }
            }
            count += 1;
            each(LoggedEvent {
                row: &row,
                cells: CellRow {
                    columns: &columns,
                    row: r,
                },
                ingest_time: ingest.value(r),
                position: position.value(r) as u64,
            });
        }
    }
    Ok(count)
}

/// One row of a decoded batch, read in place: [`CellRow::get`] borrows each cell where the reader
/// decoded it.
#[derive(Clone, Copy)]
pub struct CellRow<'a> {
    columns: &'a [Option<Cells>],
    row: usize,
}

impl std::fmt::Debug for CellRow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries((0..self.columns.len()).map(|i| self.get(i)))
            .finish()
    }
}

impl<'a> CellRow<'a> {
    /// Field `field`'s cell (null for a field not decoded).
    pub fn get(&self, field: usize) -> Cell<'a> {
        match self.columns.get(field) {
            Some(Some(cells)) => cells.cell(self.row),
            _ => Cell::Null,
        }
    }
}

/// One decoded column, downcast once per batch to its Arrow type, so reading a cell is a direct,
/// inlined access rather than a dynamic type check per cell.
enum Cells {
    Int(Int64Array),
    Float(Float64Array),
    Text(StringArray),
    Bool(BooleanArray),
    Time(TimestampMicrosecondArray),
}

impl Cells {
    /// `array` as the Arrow type the log writes for `data_type`; `None` if it has another.
    fn of(array: ArrayRef, data_type: DataType) -> Option<Cells> {
        let any = array.as_any();
        Some(match data_type {
            DataType::Int64 => Cells::Int(any.downcast_ref::<Int64Array>()?.clone()),
            DataType::Float64 => Cells::Float(any.downcast_ref::<Float64Array>()?.clone()),
            DataType::String => Cells::Text(any.downcast_ref::<StringArray>()?.clone()),
            DataType::Bool => Cells::Bool(any.downcast_ref::<BooleanArray>()?.clone()),
            DataType::Timestamp => {
                Cells::Time(any.downcast_ref::<TimestampMicrosecondArray>()?.clone())
            }
        })
    }

    #[inline]
    fn cell(&self, row: usize) -> Cell<'_> {
        match self {
            Cells::Int(a) if a.is_valid(row) => Cell::Int64(a.value(row)),
            Cells::Float(a) if a.is_valid(row) => Cell::Float64(a.value(row)),
            Cells::Text(a) if a.is_valid(row) => Cell::Str(a.value(row)),
            Cells::Bool(a) if a.is_valid(row) => Cell::Bool(a.value(row)),
            Cells::Time(a) if a.is_valid(row) => Cell::Timestamp(a.value(row)),
            _ => Cell::Null,
        }
    }

    fn value(&self, row: usize, interner: &mut Interner) -> Value {
        match self.cell(row) {
            Cell::Str(text) => Value::String(interner.get(text)),
            other => other.to_value(),
        }
    }
}

/// Shares the strings of a low-cardinality column (a status, a country code) so each distinct value is
/// allocated once per file. A column with many distinct values (an id) turns it off after a while, so
/// it costs nothing there.
#[derive(Default)]
struct Interner {
    seen: HashMap<Box<str>, Arc<str>, foldhash::fast::RandomState>,
    off: bool,
}

impl Interner {
    const LIMIT: usize = 4096;

    fn get(&mut self, s: &str) -> Arc<str> {
        if self.off {
            return Arc::from(s);
        }
        if let Some(shared) = self.seen.get(s) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(s);
        if self.seen.len() >= Self::LIMIT {
            self.off = true;
            self.seen = HashMap::default();
        } else {
            self.seen.insert(Box::from(s), shared.clone());
        }
        shared
    }
}
