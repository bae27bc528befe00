//! The event-log half of change data capture (`postgres_cdc`): streamed row versions appended to the
//! source's log, each at most once.
//!
//! A streamed row is known by its content, exactly as a `postgres` source's rows are
//! ([`content_position`]: its declared values, or its `event_id_field` alone), and the log's
//! positions are collected once when the [`ChangeLog`] opens. That one rule makes every path
//! idempotent together:
//! - the snapshot that reads the rows committed before the replication slot existed, and the stream
//!   of rows committed after, may overlap; the overlap is logged once;
//! - after a crash the slot replays every change since its last acknowledgement; the changes already
//!   logged add nothing;
//! - an update that leaves the declared columns as they were is not a new event.
//!
//! Rows are checked by the rule every batch source follows (a set event time, the checks of each
//! view fed); refused rows are returned for the caller's dead-letter sink.

use super::{field_index, ingest_time_of, original_text, refusal};
use crate::dead_letter::DeadLetter;
use crate::layout::content_position;
use crate::log::{LogError, LogRows, SourceLog};
use freshet_engine::ViewDef;
use freshet_project::spec::SourceSpec;
use freshet_sources::read::Record;
use std::collections::HashSet;

/// A source's log, ready for streamed rows.
#[derive(Debug)]
pub struct ChangeLog {
    log: SourceLog,
    seen: HashSet<u64>,
    source: SourceSpec,
    views: Vec<ViewDef>,
    identity: Option<usize>,
    timestamp_column: usize,
    ingest_time_column: Option<usize>,
}

/// What one append did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Rows added to the log.
    pub added: u64,
    /// Rows the log held already.
    pub already_logged: u64,
    /// Records refused, by their index in the appended records.
    pub refused: Vec<(usize, DeadLetter)>,
}

impl ChangeLog {
    /// Opens `log` for `source` (whose fed views are `views`), collecting the positions it holds.
    pub async fn open(
        mut log: SourceLog,
        source: &SourceSpec,
        views: Vec<ViewDef>,
    ) -> Result<ChangeLog, LogError> {
        log.refresh().await?;
        let seen = super::postgres::logged_positions(&log).await?;
        Ok(ChangeLog {
            log,
            seen,
            identity: source
                .event_id_field
                .as_deref()
                .map(|f| field_index(source, f)),
            timestamp_column: field_index(source, &source.timestamp_field),
            ingest_time_column: source
                .ingest_time_field
                .as_deref()
                .map(|f| field_index(source, f)),
            source: source.clone(),
            views,
        })
    }

    /// Events the log holds.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether the log holds no event.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Appends the rows of `records` the log does not hold, in one commit. Nothing is marked as
    /// logged unless the commit succeeds, so a failed append can be retried whole.
    pub async fn append(&mut self, records: Vec<Record>) -> Result<Appended, LogError> {
        let mut done = Appended::default();
        let mut rows = LogRows::default();
        let mut new = HashSet::new();
        for (index, record) in records.into_iter().enumerate() {
            match record {
                Record::Row { line, row } => {
                    if let Some(letter) = refusal(&self.source, &self.views, &row) {
                        let original = original_text(&self.source.schema, &row);
                        done.refused.push((
                            index,
                            DeadLetter {
                                row: line,
                                original,
                                ..letter
                            },
                        ));
                        continue;
                    }
                    let position = content_position(&row, self.identity);
                    if self.seen.contains(&position) || !new.insert(position) {
                        done.already_logged += 1;
                        continue;
                    }
                    let ingest_time =
                        ingest_time_of(&row, self.timestamp_column, self.ingest_time_column);
                    rows.push(row, ingest_time, position);
                }
                Record::Bad {
                    line,
                    error,
                    original,
                } => done
                    .refused
                    .push((index, DeadLetter::undecodable(line, &error, original))),
            }
        }
        if !rows.is_empty() {
            self.log.append(&rows, Vec::new()).await?;
            done.added = rows.len() as u64;
            self.seen.extend(new);
        }
        Ok(done)
    }
}
