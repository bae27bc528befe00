//! Batch sources on a schedule (`every: 1h` on a file or PostgreSQL source): each due run ingests the
//! source into the event log, then brings the views it feeds up to date in the online store.
//!
//! Both steps are the batch commands' own, so their guarantees carry over: ingest knows files by their
//! SHA-256 (a file already logged adds nothing, a new or grown directory adds only what is new) and a
//! table's rows by their content (only rows the log does not hold are added), and
//! the backfill keeps each view's state file with the log files it covers, so a run reads only new
//! files and writes versioned records. A run happens on a task of its own, so streams keep flowing
//! while a large file loads, and a failing run (an unreadable file, say) is logged and retried at the
//! next due time instead of stopping the streams.

use freshet_offline::backfill::{BackfillOptions, backfill_into};
use freshet_offline::ingest::{IngestError, IngestOptions, ingest_batch_source};
use freshet_offline::{SourceLog, offline_root, views_of_source};
use freshet_online::OnlineStore;
use freshet_project::Project;
use freshet_project::spec::Connector;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// What one run did.
#[derive(Debug, Clone, Copy, Default)]
struct Refresh {
    /// Events newly logged.
    logged: u64,
    /// Records written to the online store.
    materialized: usize,
}

/// One scheduled source.
#[derive(Debug)]
pub(crate) struct Scheduled {
    source: String,
    every: Duration,
    next: Instant,
    running: Option<JoinHandle<Result<Refresh, String>>>,
    /// Runs completed by this process.
    pub(crate) runs: u64,
}

impl Scheduled {
    /// The project's batch sources that declare `every`; the first run is due at once.
    pub(crate) fn all(project: &Project) -> Vec<Scheduled> {
        project
            .spec
            .sources
            .iter()
            .filter_map(|s| match &s.connector {
                Connector::File {
                    every: Some(every), ..
                }
                | Connector::Postgres {
                    every: Some(every), ..
                } => Some(Scheduled {
                    source: s.name.clone(),
                    every: Duration::from_micros(u64::try_from(every.micros()).unwrap_or(0))
                        .max(Duration::from_secs(1)),
                    next: Instant::now(),
                    running: None,
                    runs: 0,
                }),
                _ => None,
            })
            .collect()
    }

    /// Reaps a finished run and starts one when due.
    pub(crate) async fn poll(&mut self, project: &Arc<Project>, store: &OnlineStore) {
        if self.running.as_ref().is_some_and(JoinHandle::is_finished)
            && let Some(handle) = self.running.take()
        {
            self.runs += 1;
            match handle.await {
                Ok(Ok(r)) => tracing::info!(
                    "scheduled source `{}`: {} events logged, {} records materialized",
                    self.source,
                    r.logged,
                    r.materialized
                ),
                Ok(Err(e)) => tracing::error!(
                    "scheduled source `{}`: {e}; retrying at the next due time",
                    self.source
                ),
                Err(e) => tracing::error!("scheduled source `{}`: {e}", self.source),
            }
        }
        if self.running.is_none() && Instant::now() >= self.next {
            self.next = Instant::now() + self.every;
            let (project, store, source) = (project.clone(), store.clone(), self.source.clone());
            self.running = Some(tokio::spawn(async move {
                refresh(&project, &store, &source)
                    .await
                    .map_err(|e| e.to_string())
            }));
        }
    }

    /// Waits for a run in progress (on stop, so a run is never cut off mid-commit by the process
    /// exiting; both of its steps would resume anyway).
    pub(crate) async fn finish(&mut self) {
        if let Some(handle) = self.running.take() {
            let _ = handle.await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RefreshError {
    #[error(transparent)]
    Log(#[from] freshet_offline::LogError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Backfill(#[from] freshet_offline::backfill::BackfillError),
}

async fn refresh(
    project: &Project,
    store: &OnlineStore,
    name: &str,
) -> Result<Refresh, RefreshError> {
    let Some(source) = project.spec.sources.iter().find(|s| s.name == name) else {
        return Ok(Refresh::default());
    };
    let root = offline_root(project);
    let mut log =
        SourceLog::open(&root, &source.name, &source.schema, &source.timestamp_field).await?;
    let views = views_of_source(project, &source.name);
    let logged = match ingest_batch_source(
        &mut log,
        &project.dir,
        &root,
        source,
        &views,
        &IngestOptions::default(),
        &mut |_| {},
    )
    .await
    {
        Ok(report) => report.added(),
        // Nothing to read yet is a normal state for a directory a job fills later.
        Err(IngestError::NoFiles { .. }) => 0,
        Err(e) => return Err(e.into()),
    };
    let names: Vec<String> = views.iter().map(|v| v.name.clone()).collect();
    let mut materialized = 0;
    if !names.is_empty() {
        let done = backfill_into(
            project,
            &names,
            &BackfillOptions::default(),
            store,
            &mut |_| {},
        )
        .await?;
        materialized = done.iter().map(|d| d.materialized).sum();
    }
    Ok(Refresh {
        logged,
        materialized,
    })
}
