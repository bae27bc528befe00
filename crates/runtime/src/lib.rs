//! freshet's streaming runtime: `freshet run` keeps every streaming source flowing through the event
//! log, the engine and the online store, with checkpoints, while the feature server answers.
//!
//! Today's sources are the built-in generator's live streams (Kafka and scheduled batch sources join in
//! the streaming issue). Each tick, every source releases the events its clock has reached; for each:
//! - the event log appends the batch with a Delta application transaction `freshet/stream/<source>` =
//!   the next position, skipping what an earlier run already logged;
//! - every view fed by the source ingests the events; the records of the entities they touched go to
//!   the online store (versioned writes: replays change nothing);
//! - the watermark follows the clock, so state stays bounded.
//!
//! A checkpoint (positions and every view's state, in one file; see [`checkpoint`]) is written
//! periodically and on shutdown. A restarted run restores the newest whole checkpoint and resumes each
//! source at its position. Generator events are known when they happen (ingest time = event time in
//! simulated time), so a replayed event is the same event: nothing is lost or counted twice.

pub mod checkpoint;

use checkpoint::SourcePosition;
use freshet_engine::{EntityKey, Timestamp, Value, ViewState};
use freshet_offline::{LogRows, SourceLog};
use freshet_online::OnlineStore;
use freshet_project::Project;
use freshet_project::scenarios::Scenario;
use freshet_project::spec::Connector;
use freshet_sources::generator::{LiveConfig, LiveGenerator};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// Why the runtime stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The event log refused.
    #[error(transparent)]
    Log(#[from] freshet_offline::LogError),
    /// The online store refused.
    #[error(transparent)]
    Store(#[from] freshet_online::StoreError),
    /// A checkpoint could not be written.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    /// A checkpoint holds state of another definition of a view.
    #[error(
        "the checkpoint's state of view `{view}` was made for another definition: {reason}; remove .freshet/checkpoints to start the streams over"
    )]
    Incompatible {
        /// The view.
        view: String,
        /// Why.
        reason: String,
    },
    /// A source's settings cannot make a stream.
    #[error("source `{source_name}`: {reason}")]
    Source {
        /// The source.
        source_name: String,
        /// Why.
        reason: String,
    },
}

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop by itself after this long.
    pub duration: Option<Duration>,
    /// Time between checkpoints.
    pub checkpoint_interval: Duration,
    /// Time between ticks (how often sources release events).
    pub tick: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            duration: None,
            checkpoint_interval: Duration::from_secs(10),
            tick: Duration::from_millis(100),
        }
    }
}

/// What a run reports on its status line and at the end.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Status {
    /// Events processed by this run.
    pub events: u64,
    /// Events per second over the last status interval.
    pub events_per_second: f64,
    /// The streams' simulated time, microseconds.
    pub simulated_now: i64,
    /// Checkpoints written by this run.
    pub checkpoints: u64,
    /// The checkpoint the run resumed from, if any.
    pub resumed_from: Option<u64>,
    /// Each source's next position.
    pub positions: Vec<(String, u64)>,
}

/// One live generator source and what the run knows about it.
struct Stream {
    name: String,
    stream: LiveGenerator,
    start_micros: i64,
    log: SourceLog,
    /// Positions below this are in the event log already.
    logged: u64,
    /// Indexes of the views it feeds.
    views: Vec<usize>,
}

fn app_id(source: &str) -> String {
    format!("freshet/stream/{source}")
}

fn wall_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Opens every generator source of `project` at its checkpointed position.
async fn open_streams(
    project: &Project,
    positions: &BTreeMap<String, SourcePosition>,
) -> Result<Vec<Stream>, RunError> {
    let root = freshet_offline::offline_root(project);
    let mut streams = Vec::new();
    for source in &project.spec.sources {
        let Connector::Generator {
            scenario,
            rate,
            entities,
            seed,
            speedup,
        } = &source.connector
        else {
            continue;
        };
        let fail = |reason: String| RunError::Source {
            source_name: source.name.clone(),
            reason,
        };
        let scenario = Scenario::from_name(scenario)
            .ok_or_else(|| fail(format!("unknown scenario `{scenario}`")))?;
        let at = positions
            .get(&source.name)
            .copied()
            .unwrap_or(SourcePosition {
                position: 0,
                // A new stream starts now, to the millisecond, in simulated and wall time alike.
                start_micros: wall_micros() / 1_000 * 1_000,
            });
        let mut stream = LiveGenerator::new(&LiveConfig {
            scenario,
            entities: *entities,
            seed: *seed,
            rate: *rate,
            speedup: *speedup,
            start_micros: at.start_micros,
            days: 30.0,
        })
        .map_err(|e| fail(e.to_string()))?;
        stream.skip_to(at.position);
        let log =
            SourceLog::open(&root, &source.name, &source.schema, &source.timestamp_field).await?;
        let logged = log
            .transaction_version(&app_id(&source.name))
            .await?
            .unwrap_or(0);
        let views = project
            .spec
            .feature_views
            .iter()
            .enumerate()
            .filter(|(_, v)| v.source == source.name)
            .map(|(i, _)| i)
            .collect();
        streams.push(Stream {
            name: source.name.clone(),
            stream,
            start_micros: at.start_micros,
            log,
            logged: u64::try_from(logged).unwrap_or(0),
            views,
        });
    }
    Ok(streams)
}

/// How far back from the clock queries must stay exact: online reads ask for "now"; a little slack
/// covers a server whose clock trails the run's.
const WATERMARK_LAG: i64 = 5 * 60 * 1_000_000;

/// Releases, logs and applies one tick of `stream`; returns the number of events.
async fn tick(
    stream: &mut Stream,
    states: &mut [ViewState],
    store: &OnlineStore,
    now: i64,
) -> Result<usize, RunError> {
    let batch = stream.stream.due(now, 200_000);
    if batch.is_empty() {
        return Ok(0);
    }
    let time_of = |row: &[Value]| match row.get(2) {
        Some(Value::Timestamp(t)) => t.micros(),
        _ => now,
    };
    // The log: only what an earlier run has not logged, tagged with the next position.
    let mut rows = LogRows::default();
    for (position, row) in batch.iter().filter(|(p, _)| *p >= stream.logged) {
        rows.push(row.clone(), time_of(row), *position);
    }
    if let Some(&(last, _)) = batch.last().filter(|_| !rows.is_empty()) {
        let next = last + 1;
        let txn = freshet_offline::Transaction::new(app_id(&stream.name), next as i64);
        stream.log.append(&rows, vec![txn]).await?;
        stream.logged = next;
    }
    for &v in &stream.views {
        let state = &mut states[v];
        let mut touched = BTreeSet::new();
        for (position, row) in &batch {
            // Generator events are known when they happen: ingest time = event time.
            if state
                .ingest(row, Timestamp(time_of(row)), *position)
                .is_ok()
                && let Ok(key) = state.def().key(row)
            {
                touched.insert(key);
            }
        }
        let records: Vec<(EntityKey, Vec<u8>)> = touched
            .into_iter()
            .filter_map(|k| state.entity_record(&k).map(|r| (k, r)))
            .collect();
        store.write(&state.def().name, &records).await?;
        state.advance_watermark(now - WATERMARK_LAG);
    }
    Ok(batch.len())
}

/// Runs until `shutdown` completes or `options.duration` passes; `clock` follows the streams'
/// simulated time (for a server answering as of it); `status` hears about progress once a second.
pub async fn run(
    project: &Project,
    store: &OnlineStore,
    clock: Arc<AtomicI64>,
    options: &RunOptions,
    shutdown: impl std::future::Future<Output = ()>,
    status: &mut (dyn FnMut(Status) + Send),
) -> Result<Status, RunError> {
    let dir = checkpoint::directory(&project.dir);
    let (restored, damaged) = checkpoint::read_newest(&dir);
    for path in damaged {
        tracing::warn!(
            "checkpoint {} is damaged; using an older one",
            path.display()
        );
    }
    let mut states: Vec<ViewState> = project
        .views
        .iter()
        .map(|v| ViewState::new(v.def.clone()))
        .collect();
    let mut report = Status::default();
    let mut sequence = 0;
    let mut positions = BTreeMap::new();
    if let Some(restored) = restored {
        for state in &mut states {
            if let Some(bytes) = restored.snapshots.get(&state.def().name) {
                state.restore(bytes).map_err(|e| RunError::Incompatible {
                    view: state.def().name.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        sequence = restored.sequence;
        report.resumed_from = Some(restored.sequence);
        positions = restored.sources;
    }
    let mut streams = open_streams(project, &positions).await?;
    let started = Instant::now();
    let mut last_checkpoint = Instant::now();
    let mut last_status = (Instant::now(), 0u64);
    tokio::pin!(shutdown);
    let mut ticker = tokio::time::interval(options.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stop = tokio::select! {
            () = &mut shutdown => true,
            _ = ticker.tick() => options.duration.is_some_and(|d| started.elapsed() >= d),
        };
        let wall = wall_micros();
        for stream in &mut streams {
            let elapsed =
                Duration::from_micros(u64::try_from(wall - stream.start_micros).unwrap_or(0));
            let now = stream.stream.simulated_now(elapsed);
            report.events += tick(stream, &mut states, store, now).await? as u64;
            report.simulated_now = report.simulated_now.max(now);
        }
        if streams.is_empty() {
            report.simulated_now = wall;
        }
        clock.store(report.simulated_now, Ordering::Relaxed);
        if stop || last_checkpoint.elapsed() >= options.checkpoint_interval {
            sequence += 1;
            let at: BTreeMap<String, SourcePosition> = streams
                .iter()
                .map(|s| {
                    let p = SourcePosition {
                        position: s.stream.position(),
                        start_micros: s.start_micros,
                    };
                    (s.name.clone(), p)
                })
                .collect();
            let views: Vec<&ViewState> = states.iter().collect();
            let path = checkpoint::write(&dir, sequence, &at, &views)?;
            tracing::info!("checkpoint {sequence} written to {}", path.display());
            report.checkpoints += 1;
            last_checkpoint = Instant::now();
        }
        if last_status.0.elapsed() >= Duration::from_secs(1) || stop {
            let seconds = last_status.0.elapsed().as_secs_f64().max(1e-9);
            report.events_per_second = (report.events - last_status.1) as f64 / seconds;
            last_status = (Instant::now(), report.events);
            report.positions = streams
                .iter()
                .map(|s| (s.name.clone(), s.stream.position()))
                .collect();
            status(report.clone());
        }
        if stop {
            return Ok(report);
        }
    }
}
