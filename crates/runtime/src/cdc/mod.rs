//! Change-data-capture streams (`postgres_cdc`): a PostgreSQL table's committed inserts and updates,
//! through the event log, into the views it feeds.
//!
//! Unlike a Kafka partition, a replication slot has one position for the whole table and no key to
//! split it by, and a row is known by its content rather than an offset. So a CDC stream does not
//! keep engine state of its own: its rows go into the event log (where [`ChangeLog`] makes every
//! row version land once), and the views are brought up to date from the log by the backfill that
//! scheduled sources use, which keeps each view's state with the log files it covers. Exactly-once
//! then rests on three facts:
//! - the slot is acknowledged only after the rows up to that commit are in the log, so a crash
//!   replays at least what was not logged;
//! - what it replays is known by content and adds nothing;
//! - the backfill reads each log file once into each view's state, and writes versioned records.
//!
//! The first start reads the table once in a snapshot (the `postgres` source's reader) after the slot
//! exists, so rows committed before the slot are logged too; rows in both are logged once. A marker
//! beside the checkpoints records that the snapshot finished, so a crash during it repeats it.
//!
//! A stream starts in a task of its own, so a database that is down when `freshet run` starts holds
//! up this source only: the task retries until the server answers, then prepares the slot and takes
//! the snapshot. A refusal that retrying cannot mend (no such table, no key) stops the run with
//! the fix.
//!
//! The replication connection lives in a task of its own, reconnecting after failures, and hands
//! whole transactions over a bounded channel: a table changing faster than the log takes its rows
//! waits in PostgreSQL's WAL, not in memory.

mod replication;
mod start;

use crate::RunError;
use crate::dead_letters::{PartitionDeadLetters, Refused};
use freshet_offline::backfill::{BackfillOptions, backfill_into};
use freshet_offline::ingest::cdc::ChangeLog;
use freshet_offline::{offline_root, views_of_source};
use freshet_online::OnlineStore;
use freshet_project::Project;
use freshet_project::spec::{Connector, SourceSpec};
use freshet_sources::postgres::cdc::Transaction;
use replication::replicate;
use start::start;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

/// Transactions waiting between the replication task and the loop.
const CHANNEL_TRANSACTIONS: usize = 64;

/// Transactions one turn of the loop takes at most.
const TURN_TRANSACTIONS: usize = 1_024;

/// One `postgres_cdc` source.
#[derive(Debug)]
pub(crate) struct CdcStream {
    pub(crate) source: String,
    spec: SourceSpec,
    phase: Phase,
    /// Wakes the run's loop: a transaction arrived, or a refresh finished.
    wake: Arc<Notify>,
    views: Vec<String>,
    refresh: Option<JoinHandle<Result<usize, String>>>,
    stale: bool,
    /// The end of the newest commit whose rows are logged (and acknowledged).
    pub(crate) position: u64,
    /// Rows refused by this run.
    pub(crate) refused: u64,
}

/// Where a stream is in its life.
#[derive(Debug)]
enum Phase {
    /// A task waits for the server, prepares the slot and takes the first snapshot. The run goes
    /// on meanwhile: a database that is down when `freshet run` starts delays this source only.
    Starting(JoinHandle<Result<Started, RunError>>),
    /// Transactions arrive from the replication task. (Boxed: it is large, and made once.)
    Following(Box<Following>),
    /// The start failed; the error went to the caller, which stops the run.
    Failed,
}

/// What a finished start hands over.
#[derive(Debug)]
struct Started {
    log: ChangeLog,
    dead_letters: PartitionDeadLetters,
    /// The slot's confirmed position: where the stream starts.
    confirmed: u64,
}

#[derive(Debug)]
struct Following {
    receiver: mpsc::Receiver<Transaction>,
    acknowledged: watch::Sender<u64>,
    replication: JoinHandle<()>,
    log: ChangeLog,
    dead_letters: PartitionDeadLetters,
}

fn fail(source: &SourceSpec) -> impl Fn(String) -> RunError + '_ {
    |reason| RunError::Source {
        source_name: source.name.clone(),
        reason,
    }
}

/// The marker saying the first snapshot of `source` finished.
fn snapshot_marker(project: &Project, source: &str) -> PathBuf {
    crate::checkpoint::directory(&project.dir)
        .join(source)
        .join("cdc-snapshot-taken")
}

impl CdcStream {
    /// Starts opening `source` in the background (see [`Phase::Starting`]); `None` if it is not a
    /// CDC source.
    pub(crate) fn open(
        project: &Project,
        source: &SourceSpec,
        wake: Arc<Notify>,
    ) -> Option<CdcStream> {
        let Connector::PostgresCdc { .. } = &source.connector else {
            return None;
        };
        let views = views_of_source(project, &source.name);
        let names = views.iter().map(|v| v.name.clone()).collect();
        let start = start(
            source.clone(),
            offline_root(project),
            views,
            snapshot_marker(project, &source.name),
        );
        Some(CdcStream {
            source: source.name.clone(),
            spec: source.clone(),
            phase: Phase::Starting(tokio::spawn(start)),
            wake,
            views: names,
            refresh: None,
            stale: true,
            position: 0,
            refused: 0,
        })
    }

    /// Once the start task is done, starts following (or reports why the source cannot be
    /// followed); `None` while it runs.
    async fn following(&mut self) -> Result<Option<&mut Following>, RunError> {
        if let Phase::Starting(task) = &mut self.phase {
            if !task.is_finished() {
                return Ok(None);
            }
            // A finished task cannot be awaited again: a failure is remembered as such.
            let started = match task.await {
                Ok(Ok(started)) => started,
                Ok(Err(e)) => {
                    self.phase = Phase::Failed;
                    return Err(e);
                }
                Err(e) => {
                    self.phase = Phase::Failed;
                    return Err(fail(&self.spec)(e.to_string()));
                }
            };
            let (sender, receiver) = mpsc::channel(CHANNEL_TRANSACTIONS);
            let (acknowledged, acks) = watch::channel(started.confirmed);
            let replication = tokio::spawn(replicate(
                self.spec.clone(),
                started.confirmed,
                sender,
                acks,
                self.wake.clone(),
            ));
            self.position = started.confirmed;
            self.phase = Phase::Following(Box::new(Following {
                receiver,
                acknowledged,
                replication,
                log: started.log,
                dead_letters: started.dead_letters,
            }));
        }
        match &mut self.phase {
            Phase::Following(following) => Ok(Some(following)),
            Phase::Starting(_) | Phase::Failed => Ok(None),
        }
    }

    /// Logs the transactions that arrived, acknowledges them, and starts bringing the views up to
    /// date when rows were added; returns the rows added.
    pub(crate) async fn tick(
        &mut self,
        project: &Arc<Project>,
        store: &OnlineStore,
    ) -> Result<usize, RunError> {
        self.reap_refresh().await;
        let Some(following) = self.following().await? else {
            return Ok(0);
        };
        let mut records = Vec::new();
        let mut keys = Vec::new();
        let mut end = None;
        for _ in 0..TURN_TRANSACTIONS {
            let Ok(transaction) = following.receiver.try_recv() else {
                break;
            };
            for record in &transaction.records {
                keys.push((transaction.end_lsn, record_line(record)));
            }
            records.extend(transaction.records);
            end = Some(transaction.end_lsn);
        }
        let Some(end) = end else {
            self.start_refresh(project, store);
            return Ok(0);
        };
        let appended = following.log.append(records).await?;
        let refused: Vec<Refused> = appended
            .refused
            .iter()
            .map(|(_, letter)| Refused {
                reason: letter.reason.clone(),
                field: letter.field.clone(),
                key: None,
                payload: letter.original.clone().into_bytes(),
                timestamp_millis: None,
            })
            .collect();
        let keyed: Vec<((i64, Option<u64>), &Refused)> = appended
            .refused
            .iter()
            .zip(&refused)
            .map(|((index, _), r)| {
                let (lsn, line) = keys[*index];
                ((i64::try_from(lsn).unwrap_or(i64::MAX), Some(line)), r)
            })
            .collect();
        let refused = following.dead_letters.append_keyed(&keyed)? as u64;
        // Everything up to `end` is in the log and the dead letters: the slot may let it go.
        following.acknowledged.send_replace(end);
        self.refused += refused;
        self.position = end;
        if appended.added > 0 {
            self.stale = true;
        }
        self.start_refresh(project, store);
        Ok(usize::try_from(appended.added).unwrap_or(usize::MAX))
    }

    /// Starts bringing the views up to date from the log, unless a refresh is running or nothing
    /// new was logged.
    fn start_refresh(&mut self, project: &Arc<Project>, store: &OnlineStore) {
        if !self.stale || self.refresh.is_some() || self.views.is_empty() {
            return;
        }
        self.stale = false;
        let (project, store, views) = (project.clone(), store.clone(), self.views.clone());
        let wake = self.wake.clone();
        self.refresh = Some(tokio::spawn(async move {
            let done = backfill_into(
                &project,
                &views,
                &BackfillOptions::default(),
                &store,
                &mut |_| {},
            )
            .await
            .map(|done| done.iter().map(|d| d.materialized).sum())
            .map_err(|e| e.to_string());
            // Rows logged meanwhile wait for the next refresh: start it now, not at the next tick.
            wake.notify_one();
            done
        }));
    }

    async fn reap_refresh(&mut self) {
        if self.refresh.as_ref().is_some_and(JoinHandle::is_finished)
            && let Some(handle) = self.refresh.take()
        {
            self.report(handle.await);
        }
    }

    fn report(&mut self, outcome: Result<Result<usize, String>, tokio::task::JoinError>) {
        match outcome {
            Ok(Ok(records)) => {
                tracing::debug!(
                    "source `{}`: {records} records brought up to date",
                    self.source
                );
            }
            Ok(Err(e)) => {
                // The rows are logged; the next refresh picks them up.
                self.stale = true;
                tracing::error!(
                    "source `{}`: bringing its views up to date: {e}",
                    self.source
                );
            }
            Err(e) => tracing::error!("source `{}`: {e}", self.source),
        }
    }

    /// Finishes: logs what arrived, lets the views catch up, and ends the replication connection.
    /// A start still under way is abandoned: a snapshot cut short is taken again by the next run,
    /// and what it logged is not logged twice.
    pub(crate) async fn close(
        mut self,
        project: &Arc<Project>,
        store: &OnlineStore,
    ) -> Result<(), RunError> {
        if let Phase::Starting(task) = &self.phase
            && !task.is_finished()
        {
            task.abort();
            tracing::warn!(
                "source `{}`: stopped before it could start following its table",
                self.source
            );
            return Ok(());
        }
        self.tick(project, store).await?;
        if let Some(handle) = self.refresh.take() {
            self.report(handle.await);
        }
        self.start_refresh(project, store);
        if let Some(handle) = self.refresh.take() {
            self.report(handle.await);
        }
        if let Phase::Following(following) = self.phase {
            drop(following.receiver);
            drop(following.acknowledged);
            let _ = following.replication.await;
        }
        Ok(())
    }
}

fn record_line(record: &freshet_sources::read::Record) -> u64 {
    match record {
        freshet_sources::read::Record::Row { line, .. }
        | freshet_sources::read::Record::Bad { line, .. } => *line,
    }
}
