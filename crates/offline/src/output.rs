//! Writing a training set (or any table of answers) as one Parquet file, encoded on several threads.
//!
//! Encoding and compressing a million rows of a dozen columns took a quarter of a second on one core,
//! a fifth of a training set's time once the answers themselves were fast. Parquet encodes each
//! column chunk independently, so the columns of each row group are dealt out to
//! [`WRITE_THREADS`] threads and the finished chunks appended in schema order: the file is the one a
//! single [`ArrowWriter`] writes, with the Arrow schema embedded, in about half the time.
//!
//! The file is staged beside its destination and renamed into place: a failed write leaves nothing.

use crate::views::TrainingError;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn, compute_leaves,
};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Threads that encode columns: one per core of the machines freshet is sized for.
const WRITE_THREADS: usize = 2;

/// Rows per row group: the Parquet writer's default, so readers see the layout they would otherwise.
const ROW_GROUP_ROWS: usize = 1024 * 1024;

/// Writes `columns` as one Parquet file at `out`, staged beside it and renamed into place.
pub fn write_parquet(out: &Path, columns: Vec<(Field, ArrayRef)>) -> Result<(), TrainingError> {
    let fail = |reason: String| TrainingError::Write {
        path: out.to_path_buf(),
        reason,
    };
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns.into_iter().unzip();
    let schema = Arc::new(Schema::new(fields));
    // Checks the columns agree in length and type with the schema.
    let batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| fail(e.to_string()))?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staged = freshet_project::files::stage_file(&dir).map_err(|e| fail(e.to_string()))?;
    let file = staged.reopen().map_err(|e| fail(e.to_string()))?;
    write_batch(file, &batch).map_err(|e| fail(e.to_string()))?;
    staged.persist(out).map_err(|e| fail(e.error.to_string()))?;
    Ok(())
}

/// Writes `batch` to `file` in row groups of [`ROW_GROUP_ROWS`], each row group's columns encoded in
/// parallel.
fn write_batch(
    file: std::fs::File,
    batch: &RecordBatch,
) -> Result<(), parquet::errors::ParquetError> {
    // Numbers are written uncompressed: dictionary and plain encoding leave Snappy almost nothing
    // (B3's float columns shrank by 2 %, its spine's label grew), and compressing them cost a tenth
    // of the write. Text keeps Snappy, which halves a column of ids.
    let mut props = WriterProperties::builder().set_compression(Compression::UNCOMPRESSED);
    for field in batch.schema().fields() {
        let column = || parquet::schema::types::ColumnPath::from(field.name().as_str());
        match field.data_type() {
            // A timestamp column (a spine's times, a feature's newest time) rarely repeats a value:
            // its dictionary was filled to its megabyte limit and then dropped, a third of the
            // write's time.
            arrow_schema::DataType::Timestamp(..) => {
                props = props.set_column_dictionary_enabled(column(), false);
            }
            t if is_text(t) => props = props.set_column_compression(column(), Compression::SNAPPY),
            _ => {}
        }
    }
    let props = props.build();
    let writer = ArrowWriter::try_new(file, batch.schema(), Some(props))?;
    let (mut file_writer, factory) = writer.into_serialized_writer()?;
    let rows = batch.num_rows();
    for (group, start) in (0..rows).step_by(ROW_GROUP_ROWS).enumerate() {
        let slice = batch.slice(start, ROW_GROUP_ROWS.min(rows - start));
        // Each leaf with its column's size in memory: its share of the encoding work.
        let mut leaves = Vec::new();
        for (field, column) in slice.schema().fields().iter().zip(slice.columns()) {
            let size = column.get_array_memory_size();
            leaves.extend(
                compute_leaves(field, column)?
                    .into_iter()
                    .map(|l| (l, size)),
            );
        }
        let writers = factory.create_column_writers(group)?;
        let chunks = encode(writers, leaves)?;
        let mut row_group = file_writer.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
    }
    file_writer.close()?;
    Ok(())
}

/// Whether columns of type `t` hold text (compressed in the output).
fn is_text(t: &arrow_schema::DataType) -> bool {
    use arrow_schema::DataType as T;
    match t {
        T::Utf8 | T::LargeUtf8 | T::Utf8View | T::Binary | T::LargeBinary | T::BinaryView => true,
        T::Dictionary(_, values) => is_text(values),
        T::List(item) | T::LargeList(item) => is_text(item.data_type()),
        _ => false,
    }
}

/// Each leaf column encoded by its writer, on [`WRITE_THREADS`] threads; the chunks in leaf order.
fn encode(
    writers: Vec<ArrowColumnWriter>,
    leaves: Vec<(ArrowLeafColumn, usize)>,
) -> Result<Vec<ArrowColumnChunk>, parquet::errors::ParquetError> {
    if writers.len() != leaves.len() {
        return Err(parquet::errors::ParquetError::General(format!(
            "{} column writers for {} leaf columns",
            writers.len(),
            leaves.len()
        )));
    }
    // Columns are taken from one queue, largest first (text of unique ids costs several times a
    // number column): a fixed split left one thread working a quarter longer than the other.
    let mut queue: Vec<(usize, ArrowColumnWriter, ArrowLeafColumn, usize)> = writers
        .into_iter()
        .zip(leaves)
        .enumerate()
        .map(|(i, (writer, (leaf, size)))| (i, writer, leaf, size))
        .collect();
    queue.sort_by_key(|&(_, _, _, size)| size);
    let queue = std::sync::Mutex::new(queue);
    let next = || queue.lock().ok().and_then(|mut q| q.pop());
    let encoded: Vec<Result<Vec<(usize, ArrowColumnChunk)>, _>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WRITE_THREADS)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    while let Some((i, mut writer, leaf, _)) = next() {
                        writer.write(&leaf)?;
                        done.push((i, writer.close()?));
                    }
                    Ok::<_, parquet::errors::ParquetError>(done)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|_| {
                    Err(parquet::errors::ParquetError::General(
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
    Ok(chunks.into_iter().map(|(_, chunk)| chunk).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray};
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
