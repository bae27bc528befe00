//! A feature service resolved against the project and the event log: its views, the features it picks
//! from each, and every logged event of each view prepared for the engine.

use crate::log::{LogError, SourceLog};
use crate::scan::scan_parallel;
use crate::spine::SpineError;
use freshet_engine::{
    DataType, EventBatch, FeatureStatus, FeatureType, Timestamp, ViewDef, ViewRow,
};
use freshet_project::Project;
use freshet_project::spec::FeatureViewSpec;
use std::path::PathBuf;

/// Why a training set could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    /// No such feature service.
    #[error("unknown feature service `{name}`; {available}")]
    UnknownService {
        /// The name asked for.
        name: String,
        /// What exists.
        available: String,
    },
    /// A view's source has never been ingested.
    #[error(
        "the event log of source `{source_name}` (feature view `{view}`) does not exist yet; \
         run `freshet ingest --source {source_name}` first"
    )]
    NoLog {
        /// The source.
        source_name: String,
        /// The view.
        view: String,
    },
    /// The spine is unusable.
    #[error(transparent)]
    Spine(#[from] SpineError),
    /// The event log cannot be read.
    #[error(transparent)]
    Log(#[from] LogError),
    /// `--at` over views of different entities: there is no single list of entities.
    #[error(
        "feature views `{first}` and `{other}` have different join keys, so --at has no single list \
         of entities; pass a spine file with every join key instead"
    )]
    MixedEntities {
        /// One view.
        first: String,
        /// A view with other keys.
        other: String,
    },
    /// Two output columns would share a name.
    #[error("two output columns would be named `{column}`; {help}")]
    DuplicateColumn {
        /// The name.
        column: String,
        /// How to fix it.
        help: String,
    },
    /// A model's labels cannot be read.
    #[error("labels of source `{source_name}`: {reason}")]
    Labels {
        /// The label source.
        source_name: String,
        /// What is wrong, and how to fix it.
        reason: String,
    },
    /// A bug: something that cannot happen did.
    #[error("internal error: {0}; please report it")]
    Internal(String),
    /// The output cannot be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// One view of a service.
#[derive(Debug, Clone)]
pub struct ServiceView {
    /// View name.
    pub name: String,
    /// Its source.
    pub source: String,
    /// The engine definition.
    pub def: ViewDef,
    /// Join keys (names and types), in key order.
    pub join_keys: Vec<(String, DataType)>,
    /// The features the service picks: index in the view and output type, in service order.
    pub features: Vec<(usize, FeatureType)>,
}

/// A view's status for one row: Feast's statuses, per view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewStatus {
    /// The entity has events in the view, within its TTL.
    Present,
    /// No event of the entity as of the row's time and cutoff.
    NotFound,
    /// The entity's newest event is older than the view's TTL.
    OutsideMaxAge,
}

impl ViewStatus {
    /// The status of a view's answer.
    pub fn of(row: &ViewRow) -> ViewStatus {
        let status = row.statuses.first().copied();
        ViewStatus::of_entity(
            status.unwrap_or(FeatureStatus::Present),
            row.newest_event_time,
        )
    }

    /// The status of an answer whose entity has `status` (`Present` when its features were computed)
    /// and newest event time `newest`: [`ViewStatus::of`] without the row.
    pub fn of_entity(status: FeatureStatus, newest: Option<i64>) -> ViewStatus {
        match status {
            FeatureStatus::NotFound => ViewStatus::NotFound,
            FeatureStatus::OutsideMaxAge => ViewStatus::OutsideMaxAge,
            _ if newest.is_none() => ViewStatus::NotFound,
            _ => ViewStatus::Present,
        }
    }

    /// Feast's spelling.
    pub fn name(self) -> &'static str {
        match self {
            ViewStatus::Present => "PRESENT",
            ViewStatus::NotFound => "NOT_FOUND",
            ViewStatus::OutsideMaxAge => "OUTSIDE_MAX_AGE",
        }
    }
}

/// The views of `service`, in the order the service first names them.
pub fn service_views(project: &Project, service: &str) -> Result<Vec<ServiceView>, TrainingError> {
    let Some(spec) = project
        .spec
        .feature_services
        .iter()
        .find(|s| s.name == service)
    else {
        let names: Vec<&str> = project
            .spec
            .feature_services
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        return Err(TrainingError::UnknownService {
            name: service.to_owned(),
            available: if names.is_empty() {
                "the project declares no feature service".to_owned()
            } else {
                format!("feature services: {}", names.join(", "))
            },
        });
    };
    Ok(views_of_features(project, &spec.features))
}

/// The views holding `features`, each with the features picked from it, in first-named order.
/// References to views or features the project lacks are left out (callers check them first).
pub fn views_of_features(
    project: &Project,
    features: &[freshet_project::spec::FeatureRef],
) -> Vec<ServiceView> {
    let mut views: Vec<ServiceView> = Vec::new();
    for reference in features {
        let Some((index, view)) = project
            .spec
            .feature_views
            .iter()
            .enumerate()
            .find(|(_, v)| v.name == reference.view)
        else {
            continue;
        };
        let Some(feature) = view
            .features
            .iter()
            .position(|f| f.name == reference.feature)
        else {
            continue;
        };
        let output = view.features[feature].output_type;
        match views.iter_mut().find(|v| v.name == view.name) {
            Some(v) => v.features.push((feature, output)),
            None => views.push(ServiceView {
                name: view.name.clone(),
                source: view.source.clone(),
                def: project.views[index].def.clone(),
                join_keys: join_keys(project, view),
                features: vec![(feature, output)],
            }),
        }
    }
    views
}

/// The join keys of `view` (names and the source's types), in key order.
pub(crate) fn join_keys(project: &Project, view: &FeatureViewSpec) -> Vec<(String, DataType)> {
    let source = project.spec.sources.iter().find(|s| s.name == view.source);
    view.entities
        .iter()
        .filter_map(|e| project.spec.entities.iter().find(|x| &x.name == e))
        .flat_map(|e| e.join_keys.iter())
        .map(|k| {
            let data_type = source
                .and_then(|s| s.field(k))
                .map_or(DataType::String, |f| f.data_type);
            (k.clone(), data_type)
        })
        .collect()
}

/// The entity group (of `groups`) an entity's events and queries belong to.
pub fn entity_group(key: &freshet_engine::EntityKey, groups: usize) -> usize {
    use std::hash::BuildHasher;
    let hash = foldhash::fast::FixedState::default().hash_one(key);
    // The hash scaled onto 0..groups (Lemire's multiply-shift): a multiplication per event where a
    // remainder by a number known only at run time would be a division.
    ((u128::from(hash) * groups.max(1) as u128) >> 64) as usize
}

/// Every logged event of one view, prepared by the view: per entity group ([`entity_group`]), the
/// batches the reading threads filled (an entity's events may be in any of them).
pub type ViewEvents = Vec<Vec<EventBatch>>;

/// Every logged event of each view, prepared by the view (rows its filter rejects are left out) into
/// `threads` groups by [`entity_group`], and the number of events read. Each source's log is
/// read once, whatever the number of its views, on `threads` threads, decoding only the columns
/// the views read. The threads' batches are left as they are, never joined: joining would copy
/// hundreds of megabytes that the engine reads just as well where they are.
pub async fn load_events(
    project: &Project,
    views: &[ServiceView],
    threads: usize,
) -> Result<(Vec<ViewEvents>, u64), TrainingError> {
    let threads = threads.max(1);
    let route = |key: &freshet_engine::EntityKey| entity_group(key, threads);
    let root = crate::offline_root(project);
    let mut events: Vec<ViewEvents> = views
        .iter()
        .map(|_| (0..threads).map(|_| Vec::new()).collect())
        .collect();
    let mut read = 0u64;
    let mut sources: Vec<&str> = views.iter().map(|v| v.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    for source_name in sources {
        let Some(source) = project.spec.sources.iter().find(|s| s.name == source_name) else {
            continue;
        };
        if !crate::has_log(&root, source_name) {
            return Err(TrainingError::NoLog {
                source_name: source_name.to_owned(),
                view: views
                    .iter()
                    .find(|v| v.source == source_name)
                    .map(|v| v.name.clone())
                    .unwrap_or_default(),
            });
        }
        let log =
            SourceLog::open(&root, source_name, &source.schema, &source.timestamp_field).await?;
        let files = log.files()?;
        let mine: Vec<usize> = (0..views.len())
            .filter(|&i| views[i].source == source_name)
            .collect();
        let needed = columns_read(mine.iter().map(|&i| &views[i]), source.schema.len());
        // Views that read their inputs straight from source columns take them where the reader
        // decoded them; a row of values is built per event only if some view needs one.
        let rows = mine.iter().any(|&i| !views[i].def.preparer().takes_cells());
        let (parts, count) = scan_parallel(
            &files,
            log.fields(),
            &needed,
            rows,
            threads,
            |rows| {
                // Each of the thread's batches gets room for its share of the rows it reads, and a
                // tenth more, so growing it never copies events (untouched room costs no memory).
                let room = (rows as usize / threads) * 11 / 10 + 1024;
                mine.iter()
                    .map(|&i| {
                        let def = &views[i].def;
                        let batches = (0..threads)
                            .map(|_| EventBatch::with_capacity(def, room))
                            .collect::<Vec<_>>();
                        (def.preparer(), batches)
                    })
                    .collect::<Vec<_>>()
            },
            |state, event| {
                for (preparer, batches) in state.iter_mut() {
                    // The log holds only rows every view accepted at ingest; a row refused now (the
                    // project changed since) does not count, as it would not when streaming.
                    let (ingest, position) = (Timestamp(event.ingest_time), event.position);
                    let _ = if preparer.takes_cells() {
                        let cells = event.cells;
                        preparer.prepare_cells_routed(
                            batches,
                            route,
                            |c| cells.get(c),
                            ingest,
                            position,
                        )
                    } else {
                        preparer.prepare_routed(batches, route, event.row, ingest, position)
                    };
                }
            },
        )?;
        read += count;
        for part in parts {
            for ((_, batches), &i) in part.into_iter().zip(&mine) {
                for (batch, of_group) in batches.into_iter().zip(events[i].iter_mut()) {
                    of_group.push(batch);
                }
            }
        }
    }
    Ok((events, read))
}

/// Per source column (of `columns`), whether any of `views` reads it.
pub(crate) fn columns_read<'v>(
    views: impl Iterator<Item = &'v ServiceView>,
    columns: usize,
) -> Vec<bool> {
    let mut read = vec![false; columns];
    for view in views {
        for (r, reads) in read.iter_mut().zip(view.def.source_columns_read()) {
            *r |= reads;
        }
    }
    read
}

/// Threads a training set reads the log, answers and writes on unless told otherwise: one per core
/// this process may use (`available_parallelism` honours CPU affinity and cgroup quotas), and two
/// when that cannot be known.
pub fn host_threads() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}
