//! One file of a merge, read in key order: the rows of one thread's key range, a batch at a time,
//! checked to be sorted as the file's footer says.

use super::pages::{KeyRange, MergeKey, selection};
use crate::log::LogError;
use crate::scan::{Cells, DecodedBatch, corrupt, projection};
use arrow_array::{Array, Int64Array, StringArray};
use arrow_schema::{DataType, Schema, SchemaRef};
use freshet_project::spec::Field;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::basic::Encoding;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A file read in key order, positioned at its next row with a key in the thread's range.
pub(super) struct Cursor<'a> {
    path: &'a Path,
    reader: ParquetRecordBatchReader,
    fields: &'a [Field],
    needed: &'a [bool],
    key_field: usize,
    range: KeyRange,
    /// The current batch, shared with the merge while it holds rows of it.
    pub(super) decoded: Option<Arc<DecodedBatch>>,
    keys: KeyColumn,
    /// Per field read as words, the dictionary of its current batch and the id it was given.
    dictionaries: Vec<Option<(StringArray, u64)>>,
    pub(super) row: usize,
    /// The current row's key; `None` once the file has no more rows in range.
    pub(super) key: Option<MergeKey>,
    /// The last key seen, to check the file is sorted as its footer says.
    last: Option<MergeKey>,
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
        let mut reader_metadata = ArrowReaderMetadata::try_new(metadata.clone(), options.clone())
            .map_err(|e| corrupt(path, e))?;
        let text_types = text_read_types(metadata, fields, needed, key_field);
        if text_types.iter().any(Option::is_some) {
            let schema = read_schema(reader_metadata.schema(), fields, &text_types);
            reader_metadata =
                ArrowReaderMetadata::try_new(metadata.clone(), options.with_schema(schema))
                    .map_err(|e| corrupt(path, e))?;
        }
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, reader_metadata);
        let mask = projection(path, &builder, fields, needed)?;
        let mut builder = builder.with_projection(mask).with_batch_size(8192);
        if let Some(rows) = selection(metadata, &fields[key_field].name, &range) {
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
            keys: KeyColumn::Int(Int64Array::from(Vec::<i64>::new())),
            dictionaries: fields.iter().map(|_| None).collect(),
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
        if let Some(key) = &self.key {
            while end < self.keys.len() && self.keys.is(end, key) {
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
            let Some(key) = self.keys.get(self.row) else {
                // A row without a key is no entity's event.
                self.row += 1;
                continue;
            };
            if let Some(after) = self.last.as_ref().filter(|&last| &key < last) {
                return Err(LogError::MisSorted {
                    file: self.path.to_path_buf(),
                    key: self.fields[self.key_field].name.clone(),
                    found: key.to_string(),
                    after: after.to_string(),
                });
            }
            if self.range.low.as_ref().is_some_and(|low| &key < low) {
                self.last = Some(key);
                self.row += 1;
                continue;
            }
            let in_range = self.range.high.as_ref().is_none_or(|high| &key < high);
            self.last = Some(key.clone());
            self.key = in_range.then_some(key);
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
        let mut decoded = DecodedBatch::of(self.path, self.fields, self.needed, &batch)?;
        for (column, known) in decoded.columns.iter_mut().zip(&mut self.dictionaries) {
            if let Some(Cells::Words { values, id, .. }) = column
                && let Cells::Text(values) = &**values
            {
                *id = Some(dictionary_id(known, values));
            }
        }
        self.keys = match decoded.columns.get(self.key_field) {
            Some(Some(Cells::Int(keys))) => KeyColumn::Int(keys.clone()),
            Some(Some(Cells::Text(keys))) => KeyColumn::Text(keys.clone()),
            _ => {
                return Err(corrupt(
                    self.path,
                    format!(
                        "its join key column `{}` is neither int64 nor string",
                        self.fields[self.key_field].name
                    ),
                ));
            }
        };
        self.decoded = Some(Arc::new(decoded));
        self.row = 0;
        Ok(true)
    }
}

/// The Arrow type each field's text is read as (`None`: as the file says), for the text fields the
/// merge reads other than the key:
/// - a dictionary of text where every page of the column, in every row group, is dictionary-encoded:
///   the keys reach the engine as a dictionary run
///   ([`ColumnRun::Dictionary`](freshet_engine::run::ColumnRun)) instead of a text per row;
/// - text views otherwise (a column whose dictionary overflowed, an id): the reader keeps a short
///   value inside its 16-byte view instead of copying each into one buffer (B3, with a trip id per
///   event: 2 to 3 % of its time).
fn text_read_types(
    metadata: &ParquetMetaData,
    fields: &[Field],
    needed: &[bool],
    key_field: usize,
) -> Vec<Option<DataType>> {
    let schema = metadata.file_metadata().schema_descr();
    let all_dictionary = |c: usize| {
        metadata.row_groups().iter().all(|group| {
            let chunk = group.column(c);
            chunk.dictionary_page_offset().is_some()
                && chunk.page_encoding_stats_mask().is_some_and(|mask| {
                    mask.is_only(Encoding::RLE_DICTIONARY)
                        || mask.is_only(Encoding::PLAIN_DICTIONARY)
                })
        })
    };
    fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let read_text = needed.get(i).copied().unwrap_or(false)
                && i != key_field
                && field.data_type == freshet_engine::DataType::String;
            if !read_text {
                return None;
            }
            let column = (0..schema.num_columns()).find(|&c| schema.column(c).name() == field.name);
            Some(if column.is_some_and(all_dictionary) {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            } else {
                DataType::Utf8View
            })
        })
        .collect()
}

/// `schema` with each field of `fields` that `types` gives a type read as that type.
fn read_schema(schema: &SchemaRef, fields: &[Field], types: &[Option<DataType>]) -> SchemaRef {
    let read: Vec<arrow_schema::FieldRef> = schema
        .fields()
        .iter()
        .map(|f| {
            let read_as = fields
                .iter()
                .zip(types)
                .find_map(|(field, t)| t.as_ref().filter(|_| &field.name == f.name()));
            match read_as {
                Some(t) => Arc::new(f.as_ref().clone().with_data_type(t.clone())),
                None => f.clone(),
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(read, schema.metadata().clone()))
}

/// The id of dictionary `values`: `known`'s if it is the same dictionary (the reader hands the same
/// one to every batch of a column chunk), else a new one, never given before in this process, so
/// that no two dictionaries share an id (the engine caches its translation of each by id).
fn dictionary_id(known: &mut Option<(StringArray, u64)>, values: &StringArray) -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    if let Some((previous, id)) = known.as_ref()
        && previous.len() == values.len()
        && previous.values().as_ptr() == values.values().as_ptr()
        && previous.offsets().as_ptr() == values.offsets().as_ptr()
    {
        // Held in `known`, the previous dictionary's buffers cannot have been freed and reused.
        return *id;
    }
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    *known = Some((values.clone(), id));
    id
}

/// The join key column of the current batch.
enum KeyColumn {
    Int(Int64Array),
    Text(StringArray),
}

impl KeyColumn {
    fn len(&self) -> usize {
        match self {
            KeyColumn::Int(a) => a.len(),
            KeyColumn::Text(a) => a.len(),
        }
    }

    /// Row `row`'s key (`None`: null).
    fn get(&self, row: usize) -> Option<MergeKey> {
        match self {
            KeyColumn::Int(a) => a.is_valid(row).then(|| MergeKey::Int(a.value(row))),
            KeyColumn::Text(a) => a
                .is_valid(row)
                .then(|| MergeKey::Text(a.value(row).as_bytes().into())),
        }
    }

    /// Whether row `row`'s key is `key`, without building it.
    fn is(&self, row: usize, key: &MergeKey) -> bool {
        match (self, key) {
            (KeyColumn::Int(a), MergeKey::Int(k)) => a.is_valid(row) && a.value(row) == *k,
            (KeyColumn::Text(a), MergeKey::Text(k)) => {
                a.is_valid(row) && a.value(row).as_bytes() == &**k
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{INGEST_TIME, POSITION};
    use arrow_array::{ArrayRef, RecordBatch, TimestampMicrosecondArray};
    use freshet_engine::DataType;

    /// A log file whose join key column holds `keys`, in that order.
    fn file_with_keys(dir: &Path, keys: &[i64]) -> std::path::PathBuf {
        file_with_keys_in(dir, keys, None)
    }

    /// The same, written with `props` (small row groups and pages, say).
    fn file_with_keys_in(
        dir: &Path,
        keys: &[i64],
        props: Option<parquet::file::properties::WriterProperties>,
    ) -> std::path::PathBuf {
        let n = keys.len() as i64;
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("driver_id", Arc::new(Int64Array::from(keys.to_vec()))),
            (
                INGEST_TIME,
                Arc::new(TimestampMicrosecondArray::from_iter_values(0..n).with_timezone("UTC")),
            ),
            (POSITION, Arc::new(Int64Array::from_iter_values(0..n))),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let path = dir.join("day.parquet");
        let file = std::fs::File::create(&path).unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), props).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        path
    }

    fn fields() -> Vec<Field> {
        vec![Field {
            name: "driver_id".to_owned(),
            data_type: DataType::Int64,
        }]
    }

    /// Every (key, rows) run the cursor yields over `range`, or its error.
    fn runs(path: &Path, range: KeyRange) -> Result<Vec<(i64, usize)>, LogError> {
        let int = |k: &MergeKey| match k {
            MergeKey::Int(x) => *x,
            MergeKey::Text(_) => unreachable!("integer keys only"),
        };
        let metadata = Arc::new(crate::scan::read_footer(path, true)?);
        let fields = fields();
        let needed = [true];
        let mut cursor = Cursor::open(path, &metadata, &fields, &needed, 0, range)?;
        let mut seen = Vec::new();
        while let Some(key) = cursor.key.clone() {
            let rows = cursor.run();
            seen.push((int(&key), rows.len()));
            cursor.skip_to(rows.end)?;
        }
        Ok(seen)
    }

    #[test]
    fn a_cursor_yields_each_key_of_its_range_once_with_all_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with_keys(dir.path(), &[1, 1, 2, 3, 3, 3, 5, 8]);
        let all = KeyRange {
            low: None,
            high: None,
        };
        assert_eq!(
            runs(&path, all).unwrap(),
            [(1, 2), (2, 1), (3, 3), (5, 1), (8, 1)]
        );
        let middle = KeyRange {
            low: Some(MergeKey::Int(2)),
            high: Some(MergeKey::Int(5)),
        };
        assert_eq!(runs(&path, middle).unwrap(), [(2, 1), (3, 3)]);
    }

    #[test]
    fn a_file_not_sorted_as_its_footer_says_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = file_with_keys(dir.path(), &[1, 3, 2, 4]);
        let all = KeyRange {
            low: None,
            high: None,
        };
        let error = runs(&path, all).unwrap_err().to_string();
        assert!(error.contains("day.parquet"), "{error}");
        assert!(error.contains("marked sorted by `driver_id`"), "{error}");
        assert!(error.contains("key 2 follows 3"), "{error}");
    }

    #[test]
    fn ranges_read_through_the_page_index_across_row_groups_miss_no_row() {
        let dir = tempfile::tempdir().unwrap();
        // Keys 0..30, each two or three times, in row groups of 7 rows and pages of 2.
        let keys: Vec<i64> = (0..30i64)
            .flat_map(|k| std::iter::repeat_n(k, 2 + (k % 2) as usize))
            .collect();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(7))
            .set_data_page_row_count_limit(2)
            .set_write_batch_size(1)
            .build();
        let path = file_with_keys_in(dir.path(), &keys, Some(props));
        let metadata = crate::scan::read_footer(&path, true).unwrap();
        assert!(metadata.num_row_groups() > 1);
        let pages = super::super::pages::key_pages(&metadata, "driver_id");
        assert!(pages.len() > metadata.num_row_groups(), "no page index");
        for (low, high) in [
            (None, Some(11)),
            (Some(11), Some(12)),
            (Some(12), None),
            (Some(-5), Some(3)),
            (Some(29), Some(40)),
        ] {
            let expected: Vec<(i64, usize)> = (0..30i64)
                .filter(|k| low.is_none_or(|l| *k >= l) && high.is_none_or(|h| *k < h))
                .map(|k| (k, 2 + (k % 2) as usize))
                .collect();
            let range = KeyRange {
                low: low.map(MergeKey::Int),
                high: high.map(MergeKey::Int),
            };
            assert_eq!(runs(&path, range).unwrap(), expected, "{low:?}..{high:?}");
        }
    }
}
