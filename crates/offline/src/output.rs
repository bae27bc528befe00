//! Writing a training set (or any table of answers) as one Parquet file, encoded on several threads.
//!
//! Encoding and compressing a million rows of a dozen columns took a quarter of a second on one core,
//! a fifth of a training set's time once the answers themselves were fast. Parquet encodes each
//! column chunk independently, so the columns of each row group are dealt out to the caller's
//! threads and the finished chunks appended in schema order: the file is the one a single
//! [`ArrowWriter`] writes, with the Arrow schema embedded, whatever the number of threads (about
//! half the time on two).
//!
//! A column can be handed over unmade ([`OutputColumn::deferred`]): a training set's answers are put
//! in spine order by the thread that then encodes them, one queue for both, so that neither phase
//! waits for the slower thread of the other (ordering was a tenth of B3, encoding a fifth).
//!
//! A text column may be made as string views (Arrow's `Utf8View`) under a field of plain text: the
//! Parquet writer stores a view as the text it holds, so the file, its schema included, is the one
//! plain text would give ([`stored_type`]).
//!
//! The file is staged beside its destination and renamed into place: a failed write leaves nothing.

use crate::views::TrainingError;
use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, compute_leaves};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Rows per row group: the Parquet writer's default, so readers see the layout they would otherwise.
const ROW_GROUP_ROWS: usize = 1024 * 1024;

/// Makes rows `range` of a deferred column.
type MakeRows = Box<dyn Fn(Range<usize>) -> Result<ArrayRef, String> + Send + Sync>;

/// One column of an output file: its field and how to make any range of its rows.
pub(crate) struct OutputColumn {
    field: Field,
    rows: usize,
    /// Bytes in memory of what it is made from: its share of the encoding work.
    size: usize,
    make: MakeRows,
}

impl OutputColumn {
    /// A column already made.
    pub(crate) fn ready(field: Field, array: ArrayRef) -> OutputColumn {
        let (rows, size) = (array.len(), array.get_array_memory_size());
        OutputColumn {
            field,
            rows,
            size,
            make: Box::new(move |range| Ok(array.slice(range.start, range.len()))),
        }
    }

    /// A column of `rows` rows, made a row group at a time by `make` on the thread that encodes it;
    /// `size` estimates the bytes it is made from.
    pub(crate) fn deferred(field: Field, rows: usize, size: usize, make: MakeRows) -> OutputColumn {
        OutputColumn {
            field,
            rows,
            size,
            make,
        }
    }

    /// The column's field.
    pub(crate) fn field(&self) -> &Field {
        &self.field
    }

    /// Rows `range`, checked to be of the field's type and nullability.
    fn rows(&self, range: Range<usize>) -> Result<ArrayRef, String> {
        let len = range.len();
        let array = (self.make)(range)?;
        let name = self.field.name();
        if array.len() != len {
            return Err(format!(
                "column `{name}` made {} rows, not {len}",
                array.len()
            ));
        }
        if &stored_type(array.data_type()) != self.field.data_type() {
            return Err(format!(
                "column `{name}` is {}, not {}",
                array.data_type(),
                self.field.data_type()
            ));
        }
        if !self.field.is_nullable() && array.null_count() > 0 {
            return Err(format!("column `{name}` may not hold nulls"));
        }
        Ok(array)
    }
}

/// The type a column made as `made` has in the file: text and bytes made as views are stored as
/// plain text and bytes, the rest as made.
pub(crate) fn stored_type(made: &DataType) -> DataType {
    match made {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        other => other.clone(),
    }
}

/// Writes `columns` as one Parquet file at `out`, staged beside it and renamed into place.
pub fn write_parquet(out: &Path, columns: Vec<(Field, ArrayRef)>) -> Result<(), TrainingError> {
    let columns = columns
        .into_iter()
        .map(|(field, array)| OutputColumn::ready(field, array))
        .collect();
    write_columns(out, columns, crate::views::host_threads())
}

/// [`write_parquet`] for columns that may be deferred: each is made as its turn to be encoded comes.
pub(crate) fn write_columns(
    out: &Path,
    columns: Vec<OutputColumn>,
    threads: usize,
) -> Result<(), TrainingError> {
    let fail = |reason: String| TrainingError::Write {
        path: out.to_path_buf(),
        reason,
    };
    let rows = columns.first().map_or(0, |c| c.rows);
    if let Some(c) = columns.iter().find(|c| c.rows != rows) {
        return Err(fail(format!(
            "column `{}` has {} rows where the first has {rows}",
            c.field.name(),
            c.rows
        )));
    }
    let schema = Arc::new(Schema::new(
        columns.iter().map(|c| c.field.clone()).collect::<Vec<_>>(),
    ));
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staged = freshet_project::files::stage_file(&dir).map_err(|e| fail(e.to_string()))?;
    let file = staged.reopen().map_err(|e| fail(e.to_string()))?;
    write_groups(file, schema, &columns, rows, threads).map_err(|e| fail(e.to_string()))?;
    staged.persist(out).map_err(|e| fail(e.error.to_string()))?;
    Ok(())
}

/// Writes `columns` (`rows` each) to `file` in row groups of [`ROW_GROUP_ROWS`], each row group's
/// columns made and encoded on `threads` threads.
fn write_groups(
    file: std::fs::File,
    schema: SchemaRef,
    columns: &[OutputColumn],
    rows: usize,
    threads: usize,
) -> Result<(), parquet::errors::ParquetError> {
    let props = properties(&schema);
    let writer = ArrowWriter::try_new(file, schema, Some(props))?;
    let (mut file_writer, factory) = writer.into_serialized_writer()?;
    // Each leaf column's writer goes to the column it belongs to, as the file's schema says.
    let roots: Vec<usize> = {
        let schema = file_writer.schema_descr();
        (0..schema.num_columns())
            .map(|leaf| schema.get_column_root_idx(leaf))
            .collect()
    };
    for (group, start) in (0..rows).step_by(ROW_GROUP_ROWS).enumerate() {
        let range = start..(start + ROW_GROUP_ROWS).min(rows);
        let mut tasks: Vec<_> = columns
            .iter()
            .enumerate()
            .map(|(i, column)| (i, column, Vec::new()))
            .collect();
        for (writer, &root) in factory
            .create_column_writers(group)?
            .into_iter()
            .zip(&roots)
        {
            if let Some((_, _, writers)) = tasks.get_mut(root) {
                writers.push(writer);
            }
        }
        let chunks = encode(tasks, range, threads)?;
        let mut row_group = file_writer.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
    }
    file_writer.close()?;
    Ok(())
}

/// The writer's settings for `schema`'s columns.
fn properties(schema: &Schema) -> WriterProperties {
    // Numbers are written uncompressed: dictionary and plain encoding leave Snappy almost nothing
    // (B3's float columns shrank by 2 %, its spine's label grew), and compressing them cost a tenth
    // of the write. Text keeps Snappy, which halves a column of ids.
    let mut props = WriterProperties::builder().set_compression(Compression::UNCOMPRESSED);
    for field in schema.fields() {
        let column = || parquet::schema::types::ColumnPath::from(field.name().as_str());
        match field.data_type() {
            // A timestamp column (a spine's times, a feature's newest time) rarely repeats a value:
            // its dictionary was filled to its megabyte limit and then dropped, a third of the
            // write's time.
            DataType::Timestamp(..) => {
                props = props.set_column_dictionary_enabled(column(), false);
            }
            t if is_text(t) => props = props.set_column_compression(column(), Compression::SNAPPY),
            _ => {}
        }
    }
    props.build()
}

/// Whether columns of type `t` hold text (compressed in the output).
fn is_text(t: &DataType) -> bool {
    use arrow_schema::DataType as T;
    match t {
        T::Utf8 | T::LargeUtf8 | T::Utf8View | T::Binary | T::LargeBinary | T::BinaryView => true,
        T::Dictionary(_, values) => is_text(values),
        T::List(item) | T::LargeList(item) => is_text(item.data_type()),
        _ => false,
    }
}

/// A column's index and its leaves' chunks.
type Encoded = (usize, Vec<ArrowColumnChunk>);

/// Rows `range` of each column made and encoded by its leaves' writers, on `threads` threads (no
/// more than there are columns); the chunks in column (and leaf) order.
fn encode(
    tasks: Vec<(usize, &OutputColumn, Vec<ArrowColumnWriter>)>,
    range: Range<usize>,
    threads: usize,
) -> Result<Vec<ArrowColumnChunk>, parquet::errors::ParquetError> {
    let threads = threads.clamp(1, tasks.len().max(1));
    use parquet::errors::ParquetError;
    // Columns are taken from one queue, largest first (text of unique ids costs several times a
    // number column): a fixed split left one thread working a quarter longer than the other.
    let mut queue = tasks;
    queue.sort_by_key(|&(_, column, _)| column.size);
    let queue = std::sync::Mutex::new(queue);
    let next = || queue.lock().ok().and_then(|mut q| q.pop());
    let one = |column: &OutputColumn, writers: Vec<ArrowColumnWriter>| {
        let array = column.rows(range.clone()).map_err(ParquetError::General)?;
        let leaves = compute_leaves(&column.field, &array)?;
        if leaves.len() != writers.len() {
            return Err(ParquetError::General(format!(
                "{} column writers for {} leaf columns of `{}`",
                writers.len(),
                leaves.len(),
                column.field.name()
            )));
        }
        let mut chunks = Vec::with_capacity(leaves.len());
        for (mut writer, leaf) in writers.into_iter().zip(leaves) {
            writer.write(&leaf)?;
            chunks.push(writer.close()?);
        }
        Ok::<_, ParquetError>(chunks)
    };
    let encoded: Vec<Result<Vec<Encoded>, _>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some((i, column, writers)) = next() {
                        done.push((i, one(column, writers)?));
                    }
                    Ok::<_, ParquetError>(done)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|_| {
                    Err(ParquetError::General(
                        "a thread encoding columns stopped".to_owned(),
                    ))
                })
            })
            .collect()
    });
    let mut chunks = Vec::new();
    for share in encoded {
        chunks.extend(share?);
    }
    chunks.sort_unstable_by_key(|(i, _)| *i);
    Ok(chunks.into_iter().flat_map(|(_, c)| c).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn read(path: &Path) -> (Vec<RecordBatch>, usize) {
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap()).unwrap();
        let groups = builder.metadata().num_row_groups();
        let batches = builder.build().unwrap().map(Result::unwrap).collect();
        (batches, groups)
    }

    #[test]
    fn the_parallel_file_reads_back_as_written_with_its_schema() {
        let dir = tempfile::tempdir().unwrap();
        let rows = ROW_GROUP_ROWS + 5;
        let columns: Vec<(Field, ArrayRef)> = vec![
            (
                Field::new("id", arrow_schema::DataType::Int64, false),
                Arc::new(Int64Array::from_iter_values(0..rows as i64)),
            ),
            (
                Field::new(
                    "at",
                    arrow_schema::DataType::Timestamp(
                        arrow_schema::TimeUnit::Microsecond,
                        Some("UTC".into()),
                    ),
                    false,
                ),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(0..rows as i64)
                        .with_timezone("UTC"),
                ),
            ),
            (
                Field::new("x", arrow_schema::DataType::Float64, true),
                Arc::new(Float64Array::from_iter(
                    (0..rows).map(|i| (i % 3 != 0).then_some(i as f64 / 2.0)),
                )),
            ),
            (
                Field::new("s", arrow_schema::DataType::Utf8, true),
                Arc::new(StringArray::from_iter(
                    (0..rows).map(|i| (i % 5 != 0).then(|| format!("v{}", i % 7))),
                )),
            ),
        ];
        let expected: Vec<ArrayRef> = columns.iter().map(|(_, a)| a.clone()).collect();
        let out = dir.path().join("out.parquet");
        write_parquet(&out, columns).unwrap();
        let (batches, groups) = read(&out);
        assert_eq!(groups, 2);
        let schema = batches[0].schema();
        assert_eq!(
            schema.field(1).data_type(),
            expected[1].data_type(),
            "the Arrow schema (and its time zone) is embedded"
        );
        let all = arrow_select::concat::concat_batches(&schema, &batches).unwrap();
        for (got, want) in all.columns().iter().zip(&expected) {
            assert_eq!(got.to_data(), want.to_data());
        }
    }

    #[test]
    fn deferred_columns_are_made_a_row_group_at_a_time_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let rows = ROW_GROUP_ROWS + 7;
        // Made from the rows asked for, in reverse: a row group made from the wrong range reads
        // back wrong.
        let reversed = || -> MakeRows {
            Box::new(move |range: Range<usize>| {
                Ok(Arc::new(Int64Array::from_iter_values(
                    range.map(|i| (rows - 1 - i) as i64),
                )) as ArrayRef)
            })
        };
        let field = || Field::new("down", arrow_schema::DataType::Int64, false);
        let out = dir.path().join("deferred.parquet");
        let columns = vec![
            OutputColumn::ready(
                Field::new("up", arrow_schema::DataType::Int64, false),
                Arc::new(Int64Array::from_iter_values(0..rows as i64)),
            ),
            OutputColumn::deferred(field(), rows, 8 * rows, reversed()),
        ];
        write_columns(&out, columns, 2).unwrap();
        let (batches, groups) = read(&out);
        assert_eq!(groups, 2);
        let all = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
        let up = all.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let down = all.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(down.len(), rows);
        assert!((0..rows).all(|i| up.value(i) == i as i64));
        assert!((0..rows).all(|i| down.value(i) == (rows - 1 - i) as i64));

        // A deferred column that makes another type than its field's: refused, nothing left.
        let bad = dir.path().join("bad.parquet");
        let wrong = OutputColumn::deferred(
            Field::new("text", arrow_schema::DataType::Utf8, true),
            rows,
            0,
            reversed(),
        );
        let error = write_columns(&bad, vec![wrong], 2).unwrap_err().to_string();
        assert!(
            error.contains("column `text` is Int64, not Utf8"),
            "{error}"
        );
        assert!(!bad.exists());
    }

    #[test]
    fn text_made_as_views_is_written_as_the_plain_text_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        // Short texts lie inside their views, long ones in a buffer: both kinds, and nulls.
        let texts: Vec<Option<String>> = (0..5000)
            .map(|i| (i % 7 != 0).then(|| format!("v{i}{}", "x".repeat(i % 20))))
            .collect();
        let field = || Field::new("s", DataType::Utf8, true);
        let plain = dir.path().join("plain.parquet");
        let plain_array: ArrayRef = Arc::new(StringArray::from(texts.clone()));
        write_parquet(&plain, vec![(field(), plain_array)]).unwrap();
        let viewed = dir.path().join("viewed.parquet");
        let views: ArrayRef = Arc::new(arrow_array::StringViewArray::from(texts.clone()));
        let column = OutputColumn::deferred(
            field(),
            texts.len(),
            0,
            Box::new(move |range| Ok(views.slice(range.start, range.len()))),
        );
        write_columns(&viewed, vec![column], 1).unwrap();
        assert_eq!(
            std::fs::read(&viewed).unwrap(),
            std::fs::read(&plain).unwrap(),
            "the same file, its schema saying plain text"
        );
        let (batches, _) = read(&viewed);
        assert_eq!(batches[0].schema().field(0).data_type(), &DataType::Utf8);
    }

    #[test]
    fn an_empty_table_still_has_its_columns() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("empty.parquet");
        let columns: Vec<(Field, ArrayRef)> = vec![(
            Field::new("id", arrow_schema::DataType::Int64, false),
            Arc::new(Int64Array::from_iter_values(0..0)),
        )];
        write_parquet(&out, columns).unwrap();
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&out).unwrap()).unwrap();
        assert_eq!(builder.schema().field(0).name(), "id");
        assert_eq!(builder.metadata().file_metadata().num_rows(), 0);
    }

    #[test]
    fn columns_of_different_lengths_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bad.parquet");
        let columns: Vec<(Field, ArrayRef)> = vec![
            (
                Field::new("a", arrow_schema::DataType::Int64, false),
                Arc::new(Int64Array::from_iter_values(0..3)),
            ),
            (
                Field::new("b", arrow_schema::DataType::Int64, false),
                Arc::new(Int64Array::from_iter_values(0..2)),
            ),
        ];
        assert!(write_parquet(&out, columns).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
