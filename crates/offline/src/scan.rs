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
use arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, StringViewArray, TimestampMicrosecondArray,
};
use freshet_engine::run::{CellColumn, ColumnRun};
use freshet_engine::{Cell, DataType, Value};
use freshet_project::spec::Field;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// Reads `files` on `threads` threads. Each thread starts from `init(rows)`, with the number of rows
/// it will read (from the files' footers), and folds its events into it with `each`; the states come back in thread order, with the number of events read. Only the
/// columns marked in `needed` (one flag per field) are decoded. Without `rows`, events carry their
/// cells only: no value is built per cell.
///
/// Thread `i` reads the `i`-th of `threads` runs of consecutive files, runs about equal in rows
/// (`split_by_rows`). So the states, in order, hold the events in file order, and a log written in
/// time order hands each entity's events over already in canonical order: the engine checks that
/// before it pays for a sort (with files dealt out one at a time, every entity's events came in two
/// interleaved runs, and every entity was sorted).
pub fn scan_parallel<S: Send>(
    files: &[PathBuf],
    fields: &[Field],
    needed: &[bool],
    rows: bool,
    threads: usize,
    init: impl Fn(u64) -> S + Sync,
    each: impl Fn(&mut S, LoggedEvent<'_>) + Sync,
) -> Result<(Vec<S>, u64), LogError> {
    let rows_of = file_rows(files)?;
    let runs = split_by_rows(&rows_of, threads.max(1));
    let results: Vec<Result<(S, u64), LogError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = runs
            .into_iter()
            .map(|run| {
                let (init, each) = (&init, &each);
                let run_rows = rows_of[run.clone()].iter().sum();
                scope.spawn(move || {
                    let mut state = init(run_rows);
                    let mut count = 0;
                    for file in &files[run] {
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

/// Splits files with `rows` rows each into at most `parts` non-empty runs of consecutive files, as
/// equal in rows as whole files allow: run `i` ends at the first file that takes the running total to
/// `(i + 1) / parts` of all rows. No files, no runs.
fn split_by_rows(rows: &[u64], parts: usize) -> Vec<std::ops::Range<usize>> {
    let total: u64 = rows.iter().sum();
    let mut runs = Vec::with_capacity(parts);
    let (mut start, mut seen) = (0, 0u64);
    for (i, &r) in rows.iter().enumerate() {
        seen += r;
        let share = (total as u128 * (runs.len() as u128 + 1) / parts as u128) as u64;
        let last = i + 1 == rows.len();
        if (seen >= share && runs.len() + 1 < parts) || last {
            runs.push(start..i + 1);
            start = i + 1;
        }
    }
    runs
}

/// The number of rows in each of `files`, from their footers (no data is read).
fn file_rows(files: &[PathBuf]) -> Result<Vec<u64>, LogError> {
    files
        .iter()
        .map(|file| {
            let metadata = read_footer(file, false)?;
            Ok(metadata.file_metadata().num_rows().max(0) as u64)
        })
        .collect()
}

/// A log file's footer (no data is read), with its page index if `page_index` and the file has one.
pub(crate) fn read_footer(file: &Path, page_index: bool) -> Result<ParquetMetaData, LogError> {
    let reader = std::fs::File::open(file).map_err(|e| corrupt(file, e))?;
    let policy = if page_index {
        PageIndexPolicy::Optional
    } else {
        PageIndexPolicy::Skip
    };
    ParquetMetaDataReader::new()
        .with_page_index_policy(policy)
        .parse_and_finish(&reader)
        .map_err(|e| corrupt(file, e))
}

pub(crate) fn corrupt(file: &Path, reason: impl ToString) -> LogError {
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
    let mask = projection(file, &builder, fields, needed)?;
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
        let decoded = DecodedBatch::of(file, fields, needed, &batch)?;
        for r in 0..decoded.rows {
            if rows {
                for (i, cells) in decoded.columns.iter().enumerate() {
                    if let Some(cells) = cells {
                        row[i] = cells.value(r, &mut interners[i]);
                    }
                }
            }
            count += 1;
            each(LoggedEvent {
                row: &row,
                cells: decoded.cells(r),
                ingest_time: decoded.ingest.value(r),
                position: decoded.position.value(r) as u64,
            });
        }
    }
    Ok(count)
}

/// The columns a reader of `file` decodes: the fields marked in `needed`, then the log's ingest time
/// and position.
pub(crate) fn projection<T>(
    file: &Path,
    builder: &parquet::arrow::arrow_reader::ArrowReaderBuilder<T>,
    fields: &[Field],
    needed: &[bool],
) -> Result<ProjectionMask, LogError> {
    let schema = builder.schema();
    let index = |name: &str| {
        schema
            .index_of(name)
            .map_err(|_| corrupt(file, format!("the file has no column `{name}`")))
    };
    let mut roots = Vec::new();
    for (field, _) in fields.iter().zip(needed).filter(|(_, n)| **n) {
        roots.push(index(&field.name)?);
    }
    roots.push(index(INGEST_TIME)?);
    roots.push(index(POSITION)?);
    Ok(ProjectionMask::roots(builder.parquet_schema(), roots))
}

/// One batch of a log file as the engine reads it: each needed field downcast once to its Arrow type,
/// and the log's ingest time and position.
pub(crate) struct DecodedBatch {
    /// Per field, its cells (`None`: not decoded).
    pub(crate) columns: Vec<Option<Cells>>,
    /// When each event was accepted.
    pub(crate) ingest: TimestampMicrosecondArray,
    /// Each event's source position.
    pub(crate) position: Int64Array,
    /// Number of events.
    pub(crate) rows: usize,
}

impl DecodedBatch {
    /// `batch` (read from `file`, with the `needed` of `fields` and the log's columns) decoded.
    pub(crate) fn of(
        file: &Path,
        fields: &[Field],
        needed: &[bool],
        batch: &RecordBatch,
    ) -> Result<DecodedBatch, LogError> {
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
            .ok_or_else(|| corrupt(file, "the ingest-time column is not a timestamp"))?
            .clone();
        let position = column(POSITION)?;
        let position = position
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| corrupt(file, "the position column is not int64"))?
            .clone();
        Ok(DecodedBatch {
            columns,
            ingest,
            position,
            rows: batch.num_rows(),
        })
    }

    /// Row `r`'s cells, read in place.
    pub(crate) fn cells(&self, r: usize) -> CellRow<'_> {
        CellRow {
            columns: &self.columns,
            row: r,
        }
    }
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
pub(crate) enum Cells {
    Int(Int64Array),
    Float(Float64Array),
    Text(StringArray),
    /// Text read as views (short values inline), as the merge reads text without a dictionary.
    TextView(StringViewArray),
    /// Text read as keys into a file's dictionary (asked for by [`crate::merge`] where every page of
    /// a column is dictionary-encoded), with the id the merge gave that dictionary, if any.
    Words {
        keys: Int32Array,
        values: Box<Cells>,
        id: Option<u64>,
    },
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
            DataType::String => {
                if let Some(text) = any.downcast_ref::<StringArray>() {
                    Cells::Text(text.clone())
                } else if let Some(views) = any.downcast_ref::<StringViewArray>() {
                    Cells::TextView(views.clone())
                } else {
                    let words = any.downcast_ref::<DictionaryArray<Int32Type>>()?;
                    let values = words.values().as_any().downcast_ref::<StringArray>()?;
                    Cells::Words {
                        keys: words.keys().clone(),
                        values: Box::new(Cells::Text(values.clone())),
                        id: None,
                    }
                }
            }
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
            // Bounded: a dictionary's keys index its values.
            Cells::Text(a) if row < a.len() && a.is_valid(row) => Cell::Str(a.value(row)),
            Cells::TextView(a) if a.is_valid(row) => Cell::Str(a.value(row)),
            Cells::Words { keys, values, .. } if keys.is_valid(row) => {
                usize::try_from(keys.value(row)).map_or(Cell::Null, |k| values.cell(k))
            }
            Cells::Bool(a) if a.is_valid(row) => Cell::Bool(a.value(row)),
            Cells::Time(a) if a.is_valid(row) => Cell::Timestamp(a.value(row)),
            _ => Cell::Null,
        }
    }

    /// Rows `start..end` as a run for the engine: plain numbers with no null as a slice, anything
    /// else cell by cell.
    pub(crate) fn run(&self, start: usize, end: usize) -> ColumnRun<'_> {
        match self {
            Cells::Int(a) if a.null_count() == 0 => ColumnRun::Int64(&a.values()[start..end]),
            Cells::Float(a) if a.null_count() == 0 => ColumnRun::Float64(&a.values()[start..end]),
            Cells::Time(a) if a.null_count() == 0 => ColumnRun::Timestamp(&a.values()[start..end]),
            Cells::Words {
                keys,
                values,
                id: Some(id),
            } if keys.null_count() == 0 => ColumnRun::Dictionary {
                keys: &keys.values()[start..end],
                values: &**values,
                id: *id,
            },
            other => ColumnRun::Cells {
                column: other,
                start,
            },
        }
    }

    fn value(&self, row: usize, interner: &mut Interner) -> Value {
        match self.cell(row) {
            Cell::Str(text) => Value::String(interner.get(text)),
            other => other.to_value(),
        }
    }
}

impl CellColumn for Cells {
    fn cell(&self, row: usize) -> Cell<'_> {
        Cells::cell(self, row)
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

#[cfg(test)]
mod tests {
    use super::split_by_rows;
    use proptest::prelude::*;

    #[test]
    fn runs_are_equal_in_rows_as_whole_files_allow() {
        assert_eq!(split_by_rows(&[300; 35], 2), [0..18, 18..35]);
        assert_eq!(
            split_by_rows(&[10, 10, 10, 10], 4),
            [0..1, 1..2, 2..3, 3..4]
        );
        assert_eq!(split_by_rows(&[100, 1, 1, 1], 2), [0..1, 1..4]);
        assert_eq!(split_by_rows(&[5], 2), vec![0..1_usize]);
        assert!(split_by_rows(&[], 2).is_empty());
        assert_eq!(split_by_rows(&[0, 0, 0], 2), [0..1, 1..3]);
    }

    proptest! {
        #[test]
        fn every_file_is_read_once_in_order_by_at_most_the_threads_asked_for(
            rows in proptest::collection::vec(0u64..1_000, 0..40),
            parts in 1usize..5,
        ) {
            let runs = split_by_rows(&rows, parts);
            prop_assert!(runs.len() <= parts);
            let covered: Vec<usize> = runs.iter().flat_map(|r| r.clone()).collect();
            prop_assert_eq!(covered, (0..rows.len()).collect::<Vec<_>>());
            prop_assert!(runs.iter().all(|r| !r.is_empty()));
            // No run but the last holds more than its share plus one file.
            let total: u64 = rows.iter().sum();
            let biggest = rows.iter().copied().max().unwrap_or(0);
            for run in runs.iter().take(runs.len().saturating_sub(1)) {
                let held: u64 = rows[run.clone()].iter().sum();
                prop_assert!(held <= total / parts as u64 + biggest + 1);
            }
        }
    }
}
