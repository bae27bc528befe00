//! A stream's start, in a task of its own: wait for the server (retrying while it cannot be
//! reached), make sure the publication and slot exist, and take the first snapshot when it has not
//! been taken (the marker beside the checkpoints says it has).

use super::replication::Backoff;
use super::{Started, fail};
use crate::RunError;
use crate::dead_letters::PartitionDeadLetters;
use freshet_offline::SourceLog;
use freshet_offline::ingest::cdc::ChangeLog;
use freshet_offline::ingest::{IngestOptions, ingest_postgres};
use freshet_project::spec::{Connector, PostgresRelation, SourceSpec};
use freshet_sources::postgres::PostgresError;
use freshet_sources::postgres::cdc;
use std::path::PathBuf;

/// The start of a stream: waits for the server (retrying while it cannot be reached), makes sure
/// the publication and slot exist, and takes the first snapshot when it has not been taken.
pub(super) async fn start(
    source: SourceSpec,
    root: PathBuf,
    views: Vec<freshet_engine::ViewDef>,
    marker: PathBuf,
) -> Result<Started, RunError> {
    let Connector::PostgresCdc { url, table, .. } = &source.connector else {
        return Err(fail(&source)("not a postgres_cdc source".to_owned()));
    };
    let follow = prepare_when_reachable(&source).await?;
    let fail = fail(&source);
    let mut log =
        SourceLog::open(&root, &source.name, &source.schema, &source.timestamp_field).await?;
    if follow.slot_created || !marker.exists() {
        let snapshot = SourceSpec {
            connector: Connector::Postgres {
                url: url.clone(),
                relation: PostgresRelation::Table(table.clone()),
                every: None,
            },
            ..source.clone()
        };
        let report = ingest_postgres(
            &mut log,
            &root,
            &snapshot,
            &views,
            &IngestOptions::default(),
            &mut |_| {},
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
        tracing::info!(
            "source `{}`: snapshot of {}: {} rows, {} added",
            source.name,
            report.relation,
            report.records,
            report.added
        );
        write_marker(&marker)
            .map_err(|e| fail(format!("cannot write {}: {e}", marker.display())))?;
    }
    let log = ChangeLog::open(log, &source, views).await?;
    let dead_letters = PartitionDeadLetters::open(&root, &source.name, table.resolved(), 0)?;
    Ok(Started {
        log,
        dead_letters,
        confirmed: follow.confirmed,
    })
}

/// [`cdc::prepare`], retried with backoff while the server cannot be reached (it may be starting,
/// or restarting); any other refusal (no such table, no key, `wal_level`) is final and says the fix.
async fn prepare_when_reachable(source: &SourceSpec) -> Result<cdc::Follow, RunError> {
    let mut backoff = Backoff::new();
    loop {
        match cdc::prepare(source).await {
            Ok(follow) => return Ok(follow),
            Err(e @ PostgresError::Connect { .. }) => {
                tracing::warn!("{e}; retrying in {:?}", backoff.next());
                backoff.wait().await;
            }
            Err(e) => return Err(fail(source)(e.to_string())),
        }
    }
}

fn write_marker(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        path,
        b"the first snapshot of this source's table is in the event log\n",
    )
}
