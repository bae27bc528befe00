//! A task: the engine state of one partition of one source (a generator stream is one partition),
//! with its own checkpoints under `.freshet/checkpoints/<source>/p<partition>/`.
//!
//! Keeping partitions apart is what lets a partition move between workers: whoever owns it next loads
//! exactly its checkpoint and resumes at the position that checkpoint covers. It is correct because
//! every entity's events live in one partition (validation checks that Kafka sources are keyed by a
//! join key of every view they feed; see `freshet_project`'s partitioning rules).
//!
//! A task's effects are idempotent, which is what makes replaying from a checkpoint exactly-once:
//! the event log skips positions below its recorded transaction, and the online store keeps the
//! newest record version, so rewriting a record it already has changes nothing.

use crate::RunError;
use crate::checkpoint::{self, SourcePosition};
use freshet_engine::{EntityKey, Timestamp, Value, ViewState};
use freshet_online::OnlineStore;
use freshet_project::Project;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How far back from the newest event queries must stay exact: online reads ask for "now", and a
/// little slack covers events arriving slightly out of order and a server clock trailing the stream.
pub(crate) const WATERMARK_LAG: i64 = 5 * 60 * 1_000_000;

/// Each view's name and the records of the entities it touched, for the online store.
pub(crate) type TouchedRecords = Vec<(String, Vec<(EntityKey, Vec<u8>)>)>;

/// One event ready for the engine.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) row: Vec<Value>,
    pub(crate) event_time: i64,
    pub(crate) ingest_time: i64,
    /// The position in the source (the event log's `_freshet_position`).
    pub(crate) position: u64,
}

/// The state of one source partition.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) source: String,
    dir: PathBuf,
    /// One state per view fed by the source.
    pub(crate) states: Vec<ViewState>,
    /// Where the next event starts (an offset for Kafka, a position for a generator).
    pub(crate) next: u64,
    /// Generator streams: their simulated start.
    pub(crate) start_micros: i64,
    /// The checkpoint this task resumed from, and the newest written.
    pub(crate) sequence: u64,
    pub(crate) resumed_from: Option<u64>,
    newest_event: Option<i64>,
    /// Each view's snapshot size in the last checkpoint: the next reserves as much.
    snapshot_sizes: Vec<usize>,
}

impl Task {
    /// Opens the task of `partition` of `source`, restoring its newest whole checkpoint, if any.
    pub(crate) fn open(project: &Project, source: &str, partition: i32) -> Result<Task, RunError> {
        let dir = checkpoint::directory(&project.dir)
            .join(source)
            .join(format!("p{partition}"));
        let (restored, damaged) = checkpoint::read_newest(&dir);
        for path in damaged {
            tracing::warn!(
                "checkpoint {} is damaged; using an older one",
                path.display()
            );
        }
        let mut states: Vec<ViewState> = project
            .spec
            .feature_views
            .iter()
            .zip(&project.views)
            .filter(|(spec, _)| spec.source == source)
            .map(|(_, v)| ViewState::new(v.def.clone()))
            .collect();
        let mut task = Task {
            source: source.to_owned(),
            dir,
            states: Vec::new(),
            next: 0,
            start_micros: 0,
            sequence: 0,
            resumed_from: None,
            newest_event: None,
            snapshot_sizes: Vec::new(),
        };
        if let Some(restored) = restored {
            for state in &mut states {
                if let Some(bytes) = restored.snapshots.get(&state.def().name) {
                    state.restore(bytes).map_err(|e| RunError::Incompatible {
                        view: state.def().name.clone(),
                        reason: e.to_string(),
                    })?;
                }
            }
            if let Some(at) = restored.sources.get(source) {
                task.next = at.position;
                task.start_micros = at.start_micros;
            }
            task.sequence = restored.sequence;
            task.resumed_from = Some(restored.sequence);
            task.newest_event = states.iter().filter_map(ViewState::newest_event_time).max();
        }
        task.states = states;
        Ok(task)
    }

    /// Whether a checkpoint was restored.
    pub(crate) fn restored(&self) -> bool {
        self.resumed_from.is_some()
    }

    /// Ingests `events` (in position order, none below [`Task::next`]) into every view; returns each
    /// view's name and the records of the entities it touched, for the online store.
    pub(crate) fn apply(&mut self, events: &[Event]) -> TouchedRecords {
        let mut out = Vec::with_capacity(self.states.len());
        for state in &mut self.states {
            // A refused event (late, or one the view's own checks reject) changes nothing; the
            // sources send what they can recognise as bad to the dead letters before this.
            let records = state.ingest_each_records(events, |e| {
                (e.row.as_slice(), Timestamp(e.ingest_time), e.position)
            });
            out.push((state.def().name.clone(), records));
        }
        if let Some(newest) = events.iter().map(|e| e.event_time).max() {
            let newest = self.newest_event.map_or(newest, |n| n.max(newest));
            self.newest_event = Some(newest);
            for state in &mut self.states {
                state.advance_watermark(newest - WATERMARK_LAG);
            }
        }
        out
    }

    /// Writes a checkpoint of the state and position.
    pub(crate) fn checkpoint(&mut self) -> Result<PathBuf, RunError> {
        Ok(self.encode_checkpoint()?.write()?)
    }

    /// Encodes the next checkpoint of the state and position, for writing later.
    pub(crate) fn encode_checkpoint(&mut self) -> Result<checkpoint::Encoded, RunError> {
        self.sequence += 1;
        let mut at = BTreeMap::new();
        at.insert(
            self.source.clone(),
            SourcePosition {
                position: self.next,
                start_micros: self.start_micros,
            },
        );
        let views: Vec<&ViewState> = self.states.iter().collect();
        Ok(checkpoint::encode(
            &self.dir,
            self.sequence,
            &at,
            &views,
            &mut self.snapshot_sizes,
        )?)
    }
}

/// Writes records grouped by view to the store. The writes become durable at the next
/// [`OnlineStore::sync`], which the runtime calls before every checkpoint: a crash loses only writes
/// the replay from that checkpoint makes again.
pub(crate) async fn write_records(
    store: &OnlineStore,
    records: TouchedRecords,
) -> Result<(), RunError> {
    for (view, records) in records {
        if !records.is_empty() {
            store.write_replayable(&view, records).await?;
        }
    }
    Ok(())
}
