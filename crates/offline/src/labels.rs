//! A model's labelled rows: the spine its training set is built on.
//!
//! Labels are events like any other, so a label source is an ordinary source. A file source is read
//! straight from its files, and a PostgreSQL source straight from its table or query (labels usually
//! live in a table or its export, and re-reading them means a retrain sees the newest labels without
//! an ingest step). Any other source (a stream, a push source, a generator) is read from its event
//! log, where `freshet run` or `freshet ingest` put it. Either way the rows carry the join keys, the
//! source's timestamp (when the label was observed) and the label.

use crate::spine::Spine;
use crate::views::TrainingError;
use arrow_array::RecordBatch;
use freshet_project::Project;
use freshet_project::spec::{Connector, SourceSpec};
use freshet_sources::formats::{arrow_schema, rows_to_columns};
use freshet_sources::read::Record;
use std::path::PathBuf;
use std::sync::Arc;

/// The label rows of `source_name`, and the name of their timestamp column.
pub async fn label_spine(
    project: &Project,
    source_name: &str,
    key_columns: &[&str],
) -> Result<(Spine, String), TrainingError> {
    let fail = |reason: String| TrainingError::Labels {
        source_name: source_name.to_owned(),
        reason,
    };
    let Some(source) = project.spec.sources.iter().find(|s| s.name == source_name) else {
        return Err(fail("no such source in the project".to_owned()));
    };
    if matches!(source.connector, Connector::Postgres { .. }) {
        return Ok((
            relation_spine(source).await?,
            source.timestamp_field.clone(),
        ));
    }
    let files = label_files(project, source).await?;
    let mut text: Vec<&str> = key_columns.to_vec();
    text.push(&source.timestamp_field);
    let mut spine: Option<Spine> = None;
    for file in &files {
        let part = Spine::read(file, &text)?;
        match &mut spine {
            None => spine = Some(part),
            Some(all) => {
                if part.schema.fields() != all.schema.fields() {
                    return Err(fail(format!(
                        "{} has other columns than {}; every label file must have the same columns",
                        file.display(),
                        all.path.display()
                    )));
                }
                all.batches.extend(part.batches);
            }
        }
    }
    let spine = spine.ok_or_else(|| fail("there are no label rows".to_owned()))?;
    Ok((spine, source.timestamp_field.clone()))
}

async fn label_files(
    project: &Project,
    source: &SourceSpec,
) -> Result<Vec<PathBuf>, TrainingError> {
    if matches!(source.connector, Connector::File { .. }) {
        return crate::ingest::source_files(&project.dir, source).map_err(|e| {
            TrainingError::Labels {
                source_name: source.name.clone(),
                reason: format!("{e}; write the labels file, or fix the source's `path`"),
            }
        });
    }
    let root = crate::offline_root(project);
    if !crate::has_log(&root, &source.name) {
        return Err(TrainingError::Labels {
            source_name: source.name.clone(),
            reason: "its event log does not exist yet; stream it with `freshet run` or load it with `freshet ingest`".to_owned(),
        });
    }
    let log = crate::SourceLog::open(&root, &source.name, &source.schema, &source.timestamp_field)
        .await?;
    Ok(log.files()?)
}

/// The rows of a PostgreSQL label source, read in one snapshot. A row that cannot be decoded stops the
/// read, as a bad cell of a label file does: a model must not train on a silently shortened spine.
async fn relation_spine(source: &SourceSpec) -> Result<Spine, TrainingError> {
    let fail = |reason: String| TrainingError::Labels {
        source_name: source.name.clone(),
        reason,
    };
    let relation = freshet_sources::postgres::describe_relation(source);
    let records = freshet_sources::postgres::read_all(source)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut rows = Vec::with_capacity(records.len());
    for record in records {
        match record {
            Record::Row { row, .. } => rows.push(row),
            Record::Bad { line, error, .. } => {
                return Err(fail(format!("row {line} of {relation}: {error}")));
            }
        }
    }
    if rows.is_empty() {
        return Err(fail(format!("{relation} has no rows")));
    }
    let schema = Arc::new(arrow_schema(&source.schema));
    let columns = rows_to_columns(&source.schema, &rows);
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| TrainingError::Internal(e.to_string()))?;
    Ok(Spine {
        path: PathBuf::from(relation),
        batches: vec![batch],
        schema,
    })
}
