//! freshet's streaming runtime: `freshet run` keeps every streaming source flowing through the event
//! log, the engine and the online store, with checkpoints, while the feature server answers.
//!
//! Three kinds of source take part:
//! - Kafka topics (`kafka`): a consumer-group member whose partitions are tasks;
//! - the built-in generator's live streams (`generator`): one task each;
//! - file sources with `every:` (`scheduled`): ingested and backfilled on their schedule;
//! - PostgreSQL tables followed by change data capture (`postgres_cdc`, `cdc`): streamed into the
//!   event log and from it into the views.
//!
//! A task (`task`) is the state of one source partition: a `ViewState` per fed view, its position,
//! and its own checkpoints ([`checkpoint`]). Each round, a task's events go through the engine to the
//! online store (versioned writes) and into the event log (Delta application transactions record each
//! partition's next position, so nothing is logged twice); the watermark follows the newest event.
//! Checkpoints are written periodically, on revocation and on shutdown, after the store is synced;
//! a Kafka stream's periodic checkpoint lands in the background (`checkpoint_in_flight`), so serving
//! never pauses for the syncs. A task that starts restores its newest whole checkpoint and resumes at its position; replayed records
//! are the same records, so nothing is lost or counted twice.

mod background_log;
mod cdc;
pub mod checkpoint;
mod checkpoint_in_flight;
mod dead_letters;
pub mod generator;
mod kafka;
mod partition_claim;
mod scheduled;
mod task;

pub use background_log::COMMIT_INTERVAL;
pub use dead_letters::DeadLetterError;
pub use kafka::MAX_PAYLOAD_BYTES;

use cdc::CdcStream;
use freshet_online::OnlineStore;
use freshet_project::Project;
use generator::GeneratorStream;
use kafka::KafkaStream;
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
    /// A dead letter could not be written.
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
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

/// How long a turn of the loop may spend encoding a checkpoint's partitions: long enough to encode
/// a partition of a few hundred thousand entities, short enough not to be seen in latency.
const CHECKPOINT_ENCODING_BUDGET: Duration = Duration::from_millis(5);

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Stop by itself after this long.
    pub duration: Option<Duration>,
    /// Time between checkpoints.
    pub checkpoint_interval: Duration,
    /// Time between ticks (how often sources release events).
    pub tick: Duration,
    /// The least time between two event-log commits of a stream that nothing waits for: each
    /// commit is a Parquet file per day it touches and a `_delta_log` entry, so a longer interval
    /// leaves fewer, larger files (a checkpoint still writes out what is buffered at once).
    pub log_commit_interval: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            duration: None,
            checkpoint_interval: Duration::from_secs(10),
            tick: Duration::from_millis(100),
            log_commit_interval: background_log::COMMIT_INTERVAL,
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
    /// Each source's next position (`source/partition` for Kafka partitions this worker owns; for a
    /// `postgres_cdc` source, the end LSN of the newest commit it logged).
    pub positions: Vec<(String, u64)>,
    /// Each stream's events applied and served but not yet committed to its event log (the log
    /// commits at most once per `log_commit_interval`).
    pub log_pending: Vec<(String, u64)>,
    /// Records sent to dead-letter files by this run.
    pub dead_letters: u64,
    /// Runs of scheduled batch sources completed by this run.
    pub scheduled_runs: u64,
    /// Each generator source's simulated start (its `history` lies before it).
    pub generator_starts: Vec<(String, i64)>,
    /// The newest event time a generator released (simulated microseconds), if any yet.
    pub newest_event_time: Option<i64>,
    /// Whether every generator released all its due events in the last round (false while a
    /// stream's history is still pouring in).
    pub caught_up: bool,
}

/// Records a Kafka source applies per round at most, so one busy source cannot starve the others,
/// the checkpoints or the status line.
const ROUND_BUDGET: usize = 65_536;

fn wall_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Runs until `shutdown` completes or `options.duration` passes; `clock` follows the streams' time
/// (simulated for generator sources, for a server answering as of it); `status` hears about
/// progress once a second.
pub async fn run(
    project: &Project,
    store: &OnlineStore,
    clock: Arc<AtomicI64>,
    options: &RunOptions,
    shutdown: impl std::future::Future<Output = ()>,
    status: &mut (dyn FnMut(Status) + Send),
) -> Result<Status, RunError> {
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut generators = Vec::new();
    let mut kafka = Vec::new();
    let mut changes = Vec::new();
    let log_interval = options.log_commit_interval;
    for source in &project.spec.sources {
        if let Some(g) = GeneratorStream::open(project, source, wall_micros(), log_interval).await?
        {
            generators.push(g);
        } else if let Some(k) =
            KafkaStream::open(project, source, wake.clone(), log_interval).await?
        {
            kafka.push(k);
        } else if let Some(c) = CdcStream::open(project, source, wake.clone()) {
            changes.push(c);
        }
    }
    let mut scheduled = scheduled::Scheduled::all(project);
    let shared = Arc::new(project.clone());
    let mut report = Status {
        resumed_from: generators.iter().filter_map(|g| g.task.resumed_from).max(),
        generator_starts: generators.iter().map(GeneratorStream::start).collect(),
        ..Status::default()
    };
    let started = Instant::now();
    let mut last_checkpoint = Instant::now();
    let mut last_status = (Instant::now(), 0u64);
    tokio::pin!(shutdown);
    let mut ticker = tokio::time::interval(options.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stop = tokio::select! {
            () = &mut shutdown => true,
            _ = ticker.tick() => false,
            () = wake.notified() => false,
        } || options.duration.is_some_and(|d| started.elapsed() >= d);
        let wall = wall_micros();
        report.simulated_now = if generators.is_empty() {
            wall
        } else {
            i64::MIN
        };
        report.caught_up = true;
        for g in &mut generators {
            let now = g.simulated_now(wall);
            let released = g.tick(store, now).await?;
            if released > 0 {
                report.newest_event_time = report.newest_event_time.max(g.newest_event_time());
            }
            report.caught_up &= released < generator::TICK_EVENTS;
            report.events += released as u64;
            report.simulated_now = report.simulated_now.max(now);
        }
        for k in &mut kafka {
            let applied = k.pump(project, store, ROUND_BUDGET).await?;
            report.events += applied as u64;
            if applied >= ROUND_BUDGET {
                // More may be waiting: come straight back.
                wake.notify_one();
            }
        }
        for s in &mut scheduled {
            s.poll(&shared, store).await;
        }
        for c in &mut changes {
            report.events += c.tick(&shared, store).await? as u64;
        }
        clock.store(report.simulated_now, Ordering::Relaxed);
        if stop || last_checkpoint.elapsed() >= options.checkpoint_interval {
            if !generators.is_empty() {
                // The store first: a checkpoint must never cover writes a crash could still lose.
                store.sync().await?;
            }
            for g in &mut generators {
                let path = g.checkpoint().await?;
                tracing::info!("checkpoint written to {}", path.display());
            }
            for k in &mut kafka {
                if stop {
                    k.checkpoint(store).await?;
                } else {
                    // Taken over the next turns and landed in the background; see
                    // `checkpoint_in_flight`.
                    k.begin_checkpoint();
                }
            }
            report.checkpoints += 1;
            last_checkpoint = Instant::now();
        }
        for k in &mut kafka {
            k.progress(store, CHECKPOINT_ENCODING_BUDGET).await?;
        }
        if last_status.0.elapsed() >= Duration::from_secs(1) || stop {
            let seconds = last_status.0.elapsed().as_secs_f64().max(1e-9);
            report.events_per_second = (report.events - last_status.1) as f64 / seconds;
            last_status = (Instant::now(), report.events);
            report.positions = generators
                .iter()
                .map(|g| (g.task.source.clone(), g.task.next))
                .chain(kafka.iter().flat_map(KafkaStream::positions))
                .chain(changes.iter().map(|c| (c.source.clone(), c.position)))
                .collect();
            report.log_pending = generators
                .iter()
                .map(GeneratorStream::log_pending)
                .chain(kafka.iter().map(KafkaStream::log_pending))
                .collect();
            report.dead_letters = kafka.iter().map(|k| k.dead_letters).sum::<u64>()
                + changes.iter().map(|c| c.refused).sum::<u64>();
            report.scheduled_runs = scheduled.iter().map(|s| s.runs).sum();
            status(report.clone());
        }
        if stop {
            for k in kafka {
                k.close();
            }
            for s in &mut scheduled {
                s.finish().await;
            }
            for c in changes {
                c.close(&shared, store).await?;
            }
            return Ok(report);
        }
    }
}
