//! A feature service resolved against the project and the event log: its views, the features it picks
//! from each, and every logged event of each view prepared for the engine.

use crate::log::{LogError, SourceLog};
use crate::scan::scan_files;
use crate::spine::SpineError;
use freshet_engine::{
    DataType, FeatureStatus, FeatureType, PreparedEvent, Timestamp, ViewDef, ViewRow,
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
        match row.statuses.first() {
            Some(FeatureStatus::NotFound) => ViewStatus::NotFound,
            Some(FeatureStatus::OutsideMaxAge) => ViewStatus::OutsideMaxAge,
            _ if row.newest_event_time.is_none() => ViewStatus::NotFound,
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
    let mut views: Vec<ServiceView> = Vec::new();
    for reference in &spec.features {
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
    Ok(views)
}

fn join_keys(project: &Project, view: &FeatureViewSpec) -> Vec<(String, DataType)> {
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

/// Every logged event of each view, prepared by the view (rows its filter rejects are left out), and
/// the number of events read. Each source's log is read once, whatever the number of its views.
pub async fn load_events(
    project: &Project,
    views: &[ServiceView],
) -> Result<(Vec<Vec<PreparedEvent>>, u64), TrainingError> {
    let root = crate::offline_root(project);
    let mut events: Vec<Vec<PreparedEvent>> = views.iter().map(|_| Vec::new()).collect();
    let mut read = 0u64;
    let mut sources: Vec<&str> = views.iter().map(|v| v.source.as_str()).collect();
    sources.dedup();
    sources.sort_unstable();
    sources.dedup();
    for source_name in sources {
        let Some(source) = project.spec.sources.iter().find(|s| s.name == source_name) else {
            continue;
        };
        let first_view = views.iter().find(|v| v.source == source_name);
        let dir = crate::layout::table_dir(&root, source_name);
        if !dir.join("_delta_log").is_dir() {
            return Err(TrainingError::NoLog {
                source_name: source_name.to_owned(),
                view: first_view.map(|v| v.name.clone()).unwrap_or_default(),
            });
        }
        let log =
            SourceLog::open(&root, source_name, &source.schema, &source.timestamp_field).await?;
        let files = log.files()?;
        let mut preparers: Vec<(usize, freshet_engine::Preparer<'_>)> = views
            .iter()
            .enumerate()
            .filter(|(_, v)| v.source == source_name)
            .map(|(i, v)| (i, v.def.preparer()))
            .collect();
        read += scan_files(&files, log.fields(), |event| {
            for (i, preparer) in &mut preparers {
                // The log holds only rows every view accepted at ingest; a row refused now (the
                // project changed since) does not count, as it would not when streaming.
                if let Ok(Some(e)) =
                    preparer.prepare(event.row, Timestamp(event.ingest_time), event.position)
                {
                    events[*i].push(e);
                }
            }
        })?;
    }
    Ok((events, read))
}
