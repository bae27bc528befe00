//! Training sets over a compacted log, read as a merge instead of loaded whole.
//!
//! `freshet compact` leaves each day in files sorted by the source's join key (then event time,
//! ingest time and position), marked so in their footers. In such files one entity's events are a
//! run in each file, so merging the files by key yields the entities one after another, each with
//! all its events: they go into a small batch, reused from one entity to the next, and the entity's
//! queries (the spine sorted by key, walked alongside) are answered at once by [`EntityAnswerer`].
//! Nothing is held for all ten million events: no index grouping them by entity and no gigabyte of
//! prepared values, whose memory the kernel had to fault in and zero (a third of the in-memory path's
//! time).
//!
//! The key space is cut into one range per thread from the key column's page index, so each thread
//! decodes its own rows and at most a page per file of another's. An integer key is cut inside pages
//! (each page's rows taken as spread over its key range), so the threads get the same number of
//! events to within a few; text keys are cut at page starts.
//!
//! The merge is used where the files of the source are marked sorted by the views' one join key (an
//! integer or text). Files appended since the last compaction are sorted for the run into one
//! more file when they are few beside the sorted ones ([`tail`]); anything else (a log never
//! compacted, a large tail, composite keys) is answered from events loaded in memory
//! ([`crate::views::load_events`]). Both prepare events with the same
//! preparer and answer through the same engine query, so they give the same answers.

mod cursor;
mod entity;
mod pages;
mod tail;

use crate::answers::ColumnSink;
use crate::compact::sort_mark;
use crate::log::SourceLog;
use crate::scan::read_footer;
use crate::views::{ServiceView, TrainingError};
use cursor::Cursor;
use entity::Merge;
use freshet_engine::DataType;
use freshet_project::Project;
use freshet_project::spec::Field;
use pages::{KeyPage, KeyRange, cuts, int_cuts, key_pages, key_ranges};

pub(crate) use pages::MergeKey;
use parquet::file::metadata::ParquetMetaData;
use std::path::PathBuf;
use std::sync::Arc;

/// A source whose log can be merged by key: its files with their footers, and the key field.
pub(crate) struct SortedLog {
    files: Vec<(PathBuf, Arc<ParquetMetaData>)>,
    fields: Vec<Field>,
    key_field: usize,
    /// The scratch file of the log's tail, sorted for this merge (one of `files`), and its events.
    tail: Option<(tempfile::TempPath, u64)>,
}

impl SortedLog {
    /// Events of files appended since the last compaction, sorted for this merge.
    pub(crate) fn tail_events(&self) -> u64 {
        self.tail.as_ref().map_or(0, |(_, events)| *events)
    }
}

/// The source's log, ready to merge, if a merge answers every one of `views` (all of `source`):
/// `None` when the in-memory path must.
pub(crate) async fn sorted_log(
    project: &Project,
    source_name: &str,
    views: &[&ServiceView],
) -> Result<Option<SortedLog>, TrainingError> {
    let Some(source) = project.spec.sources.iter().find(|s| s.name == source_name) else {
        return Ok(None);
    };
    let Some(key) = single_key(views) else {
        return Ok(None);
    };
    let root = crate::offline_root(project);
    if !crate::has_log(&root, source_name) {
        return Ok(None);
    }
    let log = SourceLog::open(&root, source_name, &source.schema, &source.timestamp_field).await?;
    // Files compaction sorted by this key, and by nothing else before the canonical order.
    let order = crate::compact::sort_order(project, source);
    if order.len() != 4 || order[0] != key {
        return Ok(None);
    }
    let marker = order.join(",");
    let mut files = Vec::new();
    let (mut unsorted, mut tail_events, mut sorted_events) = (Vec::new(), 0u64, 0u64);
    for path in log.files()? {
        let metadata = read_footer(&path, true)?;
        let events = metadata.file_metadata().num_rows().max(0) as u64;
        if sort_mark(&metadata) == Some(marker.as_str()) {
            sorted_events += events;
            files.push((path, Arc::new(metadata)));
        } else {
            tail_events += events;
            unsorted.push(path);
        }
    }
    if !tail::worth_sorting(tail_events, sorted_events) {
        return Ok(None);
    }
    let tail = if unsorted.is_empty() {
        None
    } else {
        let paths: Vec<&std::path::Path> = unsorted.iter().map(PathBuf::as_path).collect();
        let scratch = tail::sorted_tail(&root, log.schema(), &paths, &order, &marker)?;
        files.push((
            scratch.to_path_buf(),
            Arc::new(read_footer(&scratch, true)?),
        ));
        tracing::debug!(
            source = source_name,
            events = tail_events,
            files = unsorted.len(),
            "training set: the log's unsorted tail sorted for the merge"
        );
        Some((scratch, tail_events))
    };
    if files.is_empty() {
        // Nothing to merge: the in-memory path answers every query as not found at no cost.
        return Ok(None);
    }
    let fields = log.fields().to_vec();
    let Some(key_field) = fields.iter().position(|f| f.name == key) else {
        return Ok(None);
    };
    Ok(Some(SortedLog {
        files,
        fields,
        key_field,
        tail,
    }))
}

/// The one join key all `views` share, if it is an integer or text.
fn single_key<'v>(views: &[&'v ServiceView]) -> Option<&'v str> {
    let first = views.first()?;
    let [(key, DataType::Int64 | DataType::String)] = first.join_keys.as_slice() else {
        return None;
    };
    let shared = views.iter().all(|v| v.join_keys == first.join_keys);
    shared.then_some(key.as_str())
}

/// The spine's queries as a merge reads them: each row's key, time and knowledge cutoff.
pub(crate) struct SortedQueries<'a> {
    /// Each spine row's key.
    pub(crate) keys: &'a [MergeKey],
    /// Each spine row's time.
    pub(crate) times: &'a [i64],
    /// Knowledge cutoff +infinity instead of each row's time.
    pub(crate) hindsight: bool,
}

impl SortedLog {
    /// Answers every query for each of `views` (in the same order) on `threads` threads: per view, the
    /// threads' sinks; and the number of events read.
    pub(crate) fn answer(
        &self,
        views: &[&ServiceView],
        queries: &SortedQueries<'_>,
        threads: usize,
    ) -> Result<(Vec<Vec<ColumnSink>>, u64), TrainingError> {
        let ranges = key_ranges(&self.split_keys(threads.max(1)));
        let mut needed = crate::views::columns_read(views.iter().copied(), self.fields.len());
        needed[self.key_field] = true;
        let results: Vec<Result<(Vec<ColumnSink>, u64), TrainingError>> =
            std::thread::scope(|scope| {
                let workers: Vec<_> = ranges
                    .iter()
                    .map(|range| {
                        let needed = &needed;
                        scope.spawn(move || self.answer_range(views, queries, range, needed))
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|w| {
                        w.join().unwrap_or_else(|_| {
                            Err(TrainingError::Internal(
                                "a thread merging the event log stopped".to_owned(),
                            ))
                        })
                    })
                    .collect()
            });
        let mut sinks: Vec<Vec<ColumnSink>> = views.iter().map(|_| Vec::new()).collect();
        let mut events = 0;
        for result in results {
            let (thread_sinks, read) = result?;
            events += read;
            for (of_view, sink) in sinks.iter_mut().zip(thread_sinks) {
                of_view.push(sink);
            }
        }
        Ok((sinks, events))
    }

    /// Keys cutting the files' rows into `parts` ranges about equal in rows, from the bounds of each
    /// page of the key column (no data is read). Fewer cuts when the files have no page index.
    fn split_keys(&self, parts: usize) -> Vec<MergeKey> {
        let key = &self.fields[self.key_field].name;
        let pages: Vec<KeyPage> = self
            .files
            .iter()
            .flat_map(|(_, metadata)| key_pages(metadata, key))
            .collect();
        let rows = |page: &KeyPage| page.rows.end - page.rows.start;
        let ints: Option<Vec<(i64, i64, u64)>> = pages
            .iter()
            .filter(|page| page.min.is_some() || page.max.is_some())
            .map(|page| match (&page.min, &page.max) {
                (Some(MergeKey::Int(min)), Some(MergeKey::Int(max))) => {
                    Some((*min, *max, rows(page)))
                }
                _ => None,
            })
            .collect();
        if let Some(ints) = ints {
            return int_cuts(&ints, parts)
                .into_iter()
                .map(MergeKey::Int)
                .collect();
        }
        let starts = pages
            .into_iter()
            .filter_map(|page| {
                let rows = rows(&page);
                Some((page.min?, rows))
            })
            .collect();
        cuts(starts, parts)
    }

    /// One thread's work: every entity with a key in `range`, merged from all files, and the queries
    /// of those keys (and, for the first range, the queries of keys with no events anywhere below it).
    fn answer_range(
        &self,
        views: &[&ServiceView],
        queries: &SortedQueries<'_>,
        range: &KeyRange,
        needed: &[bool],
    ) -> Result<(Vec<ColumnSink>, u64), TrainingError> {
        let started = std::time::Instant::now();
        // Keys and times copied beside their rows: sorting through references reached into the whole
        // spine at every comparison, and reading each row's time from the spine once sorted by key
        // was a cache miss per query (6 % of B3w).
        // Counted first, so the vector is made once at its size: collected as it grew, it was
        // reallocated and copied at each doubling on the way to half a million queries.
        let count = queries.keys.iter().filter(|k| range.holds(k)).count();
        let mut mine: Vec<Asked> = Vec::with_capacity(count);
        mine.extend(
            queries
                .keys
                .iter()
                .zip(queries.times)
                .enumerate()
                .filter(|(_, (k, _))| range.holds(k))
                .map(|(q, (k, &t))| Asked {
                    key: k.clone(),
                    q,
                    t,
                }),
        );
        mine.sort_unstable();
        let mut cursors = self
            .files
            .iter()
            .map(|(path, metadata)| {
                Cursor::open(
                    path,
                    metadata,
                    &self.fields,
                    needed,
                    self.key_field,
                    range.clone(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut merge = Merge::new(views, mine.len());
        let mut next_query = 0;
        let mut events = 0u64;
        while let Some(key) = cursors.iter().filter_map(|c| c.key.as_ref()).min().cloned() {
            for cursor in &mut cursors {
                while cursor.key.as_ref() == Some(&key) {
                    let rows = cursor.run();
                    // A cursor has a key only while its batch is loaded.
                    if let Some(decoded) = &cursor.decoded {
                        merge.take(decoded, rows.clone());
                    }
                    events += rows.len() as u64;
                    cursor.skip_to(rows.end)?;
                }
            }
            // Queries of keys between the previous entity and this one have no event. The queries are
            // walked, not searched: a binary search over all that remain missed the cache at every
            // step, once per entity (6 % of B3w), where the walk reads each query once, in order.
            let start = next_query;
            next_query += mine[next_query..]
                .iter()
                .take_while(|a| a.key < key)
                .count();
            merge.not_found(&mine[start..next_query]);
            let start = next_query;
            next_query += mine[next_query..]
                .iter()
                .take_while(|a| a.key == key)
                .count();
            merge.answer(&mine[start..next_query], queries.hindsight);
        }
        merge.not_found(&mine[next_query..]);
        tracing::debug!(events, queries = mine.len(), elapsed = ?started.elapsed(), "training set: one thread's key range merged");
        Ok((merge.sinks, events))
    }
}

/// One spine row a thread answers: its key, its index in the spine and its time. Sorted by key, then
/// index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Asked {
    key: MergeKey,
    q: usize,
    t: i64,
}
