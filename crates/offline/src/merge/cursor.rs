//! One file of a merge, read in key order: the rows of one thread's key range, a batch at a time,
//! checked to be sorted as the file's footer says.

use super::pages::{KeyRange, selection};
use crate::log::LogError;
use crate::scan::{Cells, DecodedBatch, corrupt, projection};
use arrow_array::{Array, Int64Array};
use freshet_project::spec::Field;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use std::path::Path;
use std::sync::Arc;

/// A file read in key order, positioned at its next row with a key in the thread's range.
pub(super) struct Cursor<'a> {
    path: &'a Path,
    reader: ParquetRecordBatchReader,
    fields: &'a [Field],
    needed: &'a [bool],
    key_field: usize,
    range: KeyRange,
    pub(super) decoded: Option<DecodedBatch>,
    keys: Int64Array,
    pub(super) row: usize,
    /// The current row's key; `None` once the file has no more rows in range.
    pub(super) key: Option<i64>,
    /// The last key seen, to check the file is sorted as its footer says.
    last: Option<i64>,
}

impl<'a> Cursor<'a> {
    pub(super) fn open(
        path: &'a Path,
        metadata: &Arc<ParquetMetaData>,
        fields: &'a [Field],
        needed: &'a [bool],
        key_field: usize,
        range: KeyRange,
    ) -> Result<Cursor<'a>, LogError> {
        let file = std::fs::File::open(path).map_err(|e| corrupt(path, e))?;
        let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
        let reader_metadata = ArrowReaderMetadata::try_new(metadata.clone(), options)
            .map_err(|e| corrupt(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, reader_metadata);
        let mask = projection(path, &builder, fields, needed)?;
        let mut builder = builder.with_projection(mask).with_batch_size(8192);
        if let Some(rows) = selection(metadata, &fields[key_field].name, range) {
            builder = builder.with_row_selection(rows);
        }
        let reader = builder.build().map_err(|e| corrupt(path, e))?;
        let mut cursor = Cursor {
            path,
            reader,
            fields,
            needed,
            key_field,
            range,
            decoded: None,
            keys: Int64Array::from(Vec::<i64>::new()),
            row: 0,
            key: None,
            last: None,
        };
        cursor.settle()?;
        Ok(cursor)
    }

    /// The rows of the current batch, from the current one, that share its key.
    pub(super) fn run(&self) -> std::ops::Range<usize> {
        let mut end = self.row + 1;
        if let Some(key) = self.key {
            while end < self.keys.len() && self.keys.is_valid(end) && self.keys.value(end) == key {
                end += 1;
            }
        }
        self.row..end
    }

    /// Moves to row `row` of the current batch (past the current one).
    pub(super) fn skip_to(&mut self, row: usize) -> Result<(), LogError> {
        self.row = row.max(self.row + 1);
        self.settle()
    }

    /// Moves to the first row at or after the current one whose key is in range, or marks the file
    /// done at the first key past it.
    fn settle(&mut self) -> Result<(), LogError> {
        loop {
            if self.decoded.is_none() || self.row >= self.keys.len() {
                if !self.next_batch()? {
                    self.key = None;
                    return Ok(());
                }
                continue;
            }
            if self.keys.is_null(self.row) {
                // A row without a key is no entity's event.
                self.row += 1;
                continue;
            }
            let key = self.keys.value(self.row);
            if self.last.is_some_and(|last| key < last) {
                return Err(corrupt(
                    self.path,
                    format!(
                        "its footer says it is sorted by `{}`, but key {key} follows {}; run \
                         `freshet compact` again to rewrite it",
                        self.fields[self.key_field].name,
                        self.last.unwrap_or(key)
                    ),
                ));
            }
            self.last = Some(key);
            if self.range.low.is_some_and(|low| key < low) {
                self.row += 1;
                continue;
            }
            self.key = self.range.high.is_none_or(|high| key < high).then_some(key);
            return Ok(());
        }
    }

    /// Loads the next batch; `false` at the end of the file.
    fn next_batch(&mut self) -> Result<bool, LogError> {
        let Some(batch) = self.reader.next() else {
            self.decoded = None;
            return Ok(false);
        };
        let batch = batch.map_err(|e| corrupt(self.path, e))?;
        let decoded = DecodedBatch::of(self.path, self.fields, self.needed, &batch)?;
        let Some(Some(Cells::Int(keys))) = decoded.columns.get(self.key_field) else {
            return Err(corrupt(
                self.path,
                format!(
                    "its join key column `{}` is not int64",
                    self.fields[self.key_field].name
                ),
            ));
        };
        self.keys = keys.clone();
        self.decoded = Some(decoded);
        self.row = 0;
        Ok(true)
    }
}
