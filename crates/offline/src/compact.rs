//! `freshet compact`: rewriting each day of a source's event log as one file sorted by entity.
//!
//! Appends leave many files per day: one per ingest chunk, one per streaming round. Every file costs a
//! reader an open, a footer and a row group of its own. Worse for training sets and backfills, one
//! entity's events end up spread over the whole day, so the batch path reads them from all over
//! memory (on W1, an entity's ~100 events lie in ~35 places in a 5M-event batch). Compaction puts a
//! day's events in one file sorted by the entity key, then event time, ingest time and position: the
//! canonical order within each entity. Days stay days, so the file list in day order still meets
//! each entity's events in canonical order, and now side by side within each day.
//!
//! It changes no event. Every rewrite is one Delta commit that removes the day's old files and adds
//! the new one, marked as no change of data (Delta's `OPTIMIZE`): a reader of any version sees each
//! event exactly once, a crash leaves either the old files or the new one, and a reader still using an
//! older version keeps its files (nothing is deleted from disk). A day already held in one file
//! sorted the same way is left alone, so running it twice commits nothing. A day larger than
//! [`CompactOptions::max_rows_per_file`] is rewritten in runs of consecutive files, each sorted on its
//! own.
//!
//! One compaction of a log runs at a time: each takes a lock file in the log's directory and leaves
//! a log whose lock is held to the compaction holding it (its report says so). Several workers of a
//! project with `--compact-every`, or a cron job beside them, would otherwise all read and sort the
//! same days, and all but one fail their commit.

use crate::layout::{DATE, INGEST_TIME, POSITION};
use crate::log::{DataFile, Listing, LogError, SourceLog};
use crate::scan::{corrupt, read_footer};
use crate::views::join_keys;
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_ord::sort::{SortColumn, lexsort_to_indices};
use arrow_schema::SchemaRef;
use freshet_project::Project;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::{KeyValue, ParquetMetaData};
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;

/// The Parquet footer key that records a compacted file's sort order (comma-separated columns).
pub const SORTED_BY: &str = "freshet.sorted_by";

/// Settings of a compaction.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// The most events a compacted file holds (a single larger input file is kept whole). A run is
    /// sorted in memory, so this bounds the memory a compaction needs.
    pub max_rows_per_file: u64,
}

impl Default for CompactOptions {
    /// 8,000,000 events: about 1 GB in memory for a dozen columns.
    fn default() -> Self {
        CompactOptions {
            max_rows_per_file: 8_000_000,
        }
    }
}

/// Why a compaction could not run.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// No such source.
    #[error(transparent)]
    UnknownSource(#[from] crate::UnknownSource),
    /// The event log cannot be read or written.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// What compacting one source did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CompactReport {
    /// The source.
    pub source: String,
    /// The sort order of its compacted files.
    pub sorted_by: Vec<String>,
    /// Days rewritten.
    pub days_rewritten: usize,
    /// Days already compacted, left alone.
    pub days_unchanged: usize,
    /// Files the rewritten days held before.
    pub files_removed: usize,
    /// Files written in their place.
    pub files_added: usize,
    /// Events rewritten.
    pub events: u64,
    /// The table version after the last rewrite (`None`: nothing committed).
    pub version: Option<u64>,
    /// Another compaction of this log was running (in this process or another): this one left the
    /// log to it and changed nothing.
    pub busy: bool,
}

/// Progress of a compaction: after each run of files is rewritten.
#[derive(Debug, Clone)]
pub struct CompactProgress {
    /// The source.
    pub source: String,
    /// Runs done and in all (a run is a day, or part of a large day).
    pub done: usize,
    /// Runs to do.
    pub runs: usize,
    /// Events rewritten so far.
    pub events: u64,
}

/// Compacts the logs of `sources` (every source with a log when empty; a named source without one is
/// left out of the reports, and no log is created for it).
pub async fn compact(
    project: &Project,
    sources: &[String],
    options: &CompactOptions,
    progress: &mut (dyn FnMut(CompactProgress) + Send),
) -> Result<Vec<CompactReport>, CompactError> {
    let root = crate::offline_root(project);
    let chosen = crate::logged_sources(project, sources)?;
    let mut reports = Vec::with_capacity(chosen.len());
    for source in chosen {
        let order = sort_order(project, source);
        // Taken before the log is opened, so a busy log costs no read of its table. Held until this
        // log is done; dropped (and so released) at the end of the iteration.
        let Some(_lock) = compaction_lock(&crate::layout::table_dir(&root, &source.name))? else {
            reports.push(CompactReport {
                source: source.name.clone(),
                sorted_by: order,
                busy: true,
                ..CompactReport::default()
            });
            continue;
        };
        let mut log =
            SourceLog::open(&root, &source.name, &source.schema, &source.timestamp_field).await?;
        reports.push(compact_log(&mut log, &source.name, order, options, progress).await?);
    }
    Ok(reports)
}

/// The lock file of a log's compactions, beside its `_delta_log`.
pub const COMPACTION_LOCK: &str = ".freshet-compact.lock";

/// The lock on compacting the log in `dir`, if no other compaction holds it; released when the
/// file is dropped, or when its process ends however it ends.
fn compaction_lock(dir: &Path) -> Result<Option<std::fs::File>, LogError> {
    let io = |source| LogError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    let file = freshet_project::files::lock_file(&dir.join(COMPACTION_LOCK)).map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

/// The columns a source's compacted files are sorted by: the join keys of its first feature view
/// (when they are source columns), then the event time and the log's ingest time and position.
pub fn sort_order(project: &Project, source: &freshet_project::spec::SourceSpec) -> Vec<String> {
    let keys: Vec<String> = project
        .spec
        .feature_views
        .iter()
        .find(|v| v.source == source.name)
        .map(|view| {
            join_keys(project, view)
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        })
        .unwrap_or_default();
    let mut order = if keys.iter().all(|k| source.field(k).is_some()) {
        keys
    } else {
        Vec::new()
    };
    order.extend([
        source.timestamp_field.clone(),
        INGEST_TIME.to_owned(),
        POSITION.to_owned(),
    ]);
    order
}

async fn compact_log(
    log: &mut SourceLog,
    source: &str,
    order: Vec<String>,
    options: &CompactOptions,
    progress: &mut (dyn FnMut(CompactProgress) + Send),
) -> Result<CompactReport, CompactError> {
    let marker = order.join(",");
    let runs = runs_to_rewrite(&log.data_files()?, &marker, options.max_rows_per_file)?;
    let mut listing = Listing::new(log.version(), runs.rewrite.iter().flatten());
    let mut report = CompactReport {
        source: source.to_owned(),
        sorted_by: order.clone(),
        ..CompactReport::default()
    };
    let total = runs.rewrite.len();
    let properties = writer_properties(log.schema(), &order, marker);
    // Reading and sorting run i + 1 (one core) overlaps encoding and committing run i (the other):
    // two runs are in memory at a time.
    let schema = Arc::new(log.schema().clone());
    let sort = |run: &Vec<DataFile>| {
        let (schema, run, order) = (schema.clone(), run.clone(), order.clone());
        tokio::task::spawn_blocking(move || sorted_day(&schema, &run, &order))
    };
    let mut next = runs.rewrite.first().map(sort);
    for (done, run) in runs.rewrite.iter().enumerate() {
        let Some(sorting) = next.take() else { break };
        let (batch, events) = sorting.await.map_err(|e| LogError::Io {
            dir: log.dir().to_path_buf(),
            source: std::io::Error::other(format!("a sorting thread stopped: {e}")),
        })??;
        next = runs.rewrite.get(done + 1).map(sort);
        let replaced = log.replace_files(run, &mut listing, batch, properties.clone());
        report.version = Some(replaced.await?);
        report.files_removed += run.len();
        report.files_added += 1;
        report.events += events;
        progress(CompactProgress {
            source: source.to_owned(),
            done: done + 1,
            runs: total,
            events: report.events,
        });
    }
    report.days_rewritten = runs.days_rewritten;
    report.days_unchanged = runs.days_unchanged;
    Ok(report)
}

/// How compacted files are written, for the training sets that merge them by key
/// ([`crate::merge`]), which decode every byte of every file:
///
/// - pages of at most 8,192 rows, because the merge splits the key space between its threads at page
///   boundaries and each thread decodes at most a page of another's rows per file;
/// - dictionaries for text only (each thread decodes every file's dictionaries, and a dictionary of
///   numbers, up to a megabyte a column, cost more to decode and fault in than the plain values it
///   replaced). A text column with many distinct values (an id) gives its dictionary up after 64 KiB;
/// - compression for text only, LZ4 (raw): Snappy took 16 % of B3's time, mostly on timestamps it
///   shrank by 13 %. Numbers stay plain and uncompressed, except the leading sort key (an integer
///   there is sorted, so delta encoding stores it in about a bit per row) and the position (delta
///   encoding keeps the bits its row numbers use). On W1 the files are 20 % larger than all-Snappy
///   and B3 over them takes a fifth less time (docs/benchmarks.md, session 17). Readers elsewhere
///   (Spark 3.3+, DuckDB, pyarrow, delta-rs) read both encodings and LZ4_RAW.
pub(crate) fn writer_properties(
    schema: &arrow_schema::Schema,
    order: &[String],
    marker: String,
) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_data_page_row_count_limit(8192)
        .set_dictionary_enabled(false)
        .set_dictionary_page_size_limit(64 * 1024)
        .set_key_value_metadata(Some(vec![KeyValue::new(SORTED_BY.to_owned(), marker)]));
    for field in schema.fields() {
        let column = parquet::schema::types::ColumnPath::from(field.name().as_str());
        let sorted_int = order.first() == Some(field.name())
            && field.data_type() == &arrow_schema::DataType::Int64;
        match field.data_type() {
            arrow_schema::DataType::Utf8 => {
                builder = builder
                    .set_column_dictionary_enabled(column.clone(), true)
                    .set_column_compression(column, Compression::LZ4_RAW);
            }
            _ if sorted_int || field.name() == POSITION => {
                builder = builder.set_column_encoding(column, Encoding::DELTA_BINARY_PACKED);
            }
            _ => {}
        }
    }
    builder.build()
}

/// The runs of files a compaction rewrites, and how many days it rewrites and leaves alone.
struct Runs {
    rewrite: Vec<Vec<DataFile>>,
    days_rewritten: usize,
    days_unchanged: usize,
}

/// Splits each day's files (consecutive in `files`) into runs of at most `max_rows` events (a larger
/// file is a run of its own); a run that is one file already sorted as `marker` says is left out.
fn runs_to_rewrite(files: &[DataFile], marker: &str, max_rows: u64) -> Result<Runs, LogError> {
    let mut runs = Runs {
        rewrite: Vec::new(),
        days_rewritten: 0,
        days_unchanged: 0,
    };
    for day in files.chunk_by(|a, b| a.day == b.day) {
        let footers = day
            .iter()
            .map(|file| footer(&file.path))
            .collect::<Result<Vec<_>, _>>()?;
        let before = runs.rewrite.len();
        let mut start = 0;
        while start < day.len() {
            let mut end = start + 1;
            let mut held = footers[start].0;
            while end < day.len() && held + footers[end].0 <= max_rows {
                held += footers[end].0;
                end += 1;
            }
            let sorted = end == start + 1 && footers[start].1.as_deref() == Some(marker);
            if !sorted {
                runs.rewrite.push(day[start..end].to_vec());
            }
            start = end;
        }
        if runs.rewrite.len() > before {
            runs.days_rewritten += 1;
        } else {
            runs.days_unchanged += 1;
        }
    }
    Ok(runs)
}

/// A file's row count and its [`SORTED_BY`] mark, from its footer.
fn footer(path: &Path) -> Result<(u64, Option<String>), LogError> {
    let metadata = read_footer(path, false)?;
    let rows = metadata.file_metadata().num_rows().max(0) as u64;
    Ok((rows, sort_mark(&metadata).map(str::to_owned)))
}

/// The sort order a compacted file's footer records ([`SORTED_BY`]), if any.
pub(crate) fn sort_mark(metadata: &ParquetMetaData) -> Option<&str> {
    metadata
        .file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|k| k.key == SORTED_BY)?
        .value
        .as_deref()
}

/// Every event of `run` (one day's files) in one batch of the table's `schema`, sorted by `order`.
fn sorted_day(
    schema: &SchemaRef,
    run: &[DataFile],
    order: &[String],
) -> Result<(RecordBatch, u64), LogError> {
    let paths: Vec<&Path> = run.iter().map(|f| f.path.as_path()).collect();
    let sorted = sorted_events(schema, &paths, order)?;
    let events = sorted.num_rows();
    let mut columns = sorted.columns().to_vec();
    let day = StringArray::from(vec![run[0].day.as_str(); events]);
    columns.push(Arc::new(day));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| corrupt(paths[0], e))?;
    Ok((batch, events as u64))
}

/// Every event of the data `files` (at least one) in one batch of the columns they store (the
/// table's `schema` without its partition column), sorted by `order`.
pub(crate) fn sorted_events(
    schema: &arrow_schema::Schema,
    files: &[&Path],
    order: &[String],
) -> Result<RecordBatch, LogError> {
    let stored = Arc::new(arrow_schema::Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| f.name() != DATE)
            .cloned()
            .collect::<Vec<_>>(),
    ));
    let mut batches = Vec::new();
    for &file in files {
        let reader = std::fs::File::open(file).map_err(|e| corrupt(file, e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(reader)
            .and_then(|b| b.with_batch_size(65_536).build())
            .map_err(|e| corrupt(file, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| corrupt(file, e))?;
            // Files store the source's columns and the log's own, but not the partition column.
            let columns = stored
                .fields()
                .iter()
                .map(|f| {
                    batch
                        .column_by_name(f.name())
                        .cloned()
                        .ok_or_else(|| corrupt(file, format!("it has no column `{}`", f.name())))
                })
                .collect::<Result<Vec<ArrayRef>, _>>()?;
            batches
                .push(RecordBatch::try_new(stored.clone(), columns).map_err(|e| corrupt(file, e))?);
        }
    }
    let first = files.first().copied().unwrap_or(Path::new("."));
    let all =
        arrow_select::concat::concat_batches(&stored, &batches).map_err(|e| corrupt(first, e))?;
    drop(batches);
    let keys: Vec<SortColumn> = order
        .iter()
        .filter_map(|name| all.column_by_name(name))
        .map(|values| SortColumn {
            values: values.clone(),
            options: None,
        })
        .collect();
    let indices = lexsort_to_indices(&keys, None).map_err(|e| corrupt(first, e))?;
    arrow_select::take::take_record_batch(&all, &indices).map_err(|e| corrupt(first, e))
}
