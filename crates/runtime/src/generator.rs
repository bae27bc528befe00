//! Live generator sources: the scenario generator releasing events as its (possibly accelerated)
//! clock reaches them. A generator stream is one partition (task `p0`).
//!
//! Generator events are known when they happen (ingest time = event time, in simulated time), and
//! the stream is a pure function of its seed and start, so an event replayed after a restart is the
//! same event at the same position.
//!
//! A tick's events go to the event log through a `BackgroundLog`, paced like a Kafka stream's:
//! appended in line, a stream ticking ten times a second committed ten Parquet files and ten
//! `_delta_log` entries a second. A checkpoint waits for the log to hold every event it covers, since
//! a restart skips what the checkpoint covers and would never log it again.

use crate::RunError;
use crate::background_log::BackgroundLog;
use crate::task::{Event, Task, write_records};
use freshet_engine::Value;
use freshet_offline::{LogRows, SourceLog, Transaction};
use freshet_online::OnlineStore;
use freshet_project::Project;
use freshet_project::scenarios::Scenario;
use freshet_project::spec::{Connector, SourceSpec};
use freshet_sources::generator::{LiveConfig, LiveGenerator};
use std::path::PathBuf;
use std::time::Duration;

/// One live generator source.
#[derive(Debug)]
pub(crate) struct GeneratorStream {
    pub(crate) task: Task,
    stream: LiveGenerator,
    log: BackgroundLog,
    /// Positions below this are in the event log or handed to it.
    logged: u64,
    /// The schema column holding the event time.
    time_column: usize,
    /// The newest event time released.
    newest: Option<i64>,
}

/// The application id a generator stream's log commits carry, with the next position as version:
/// what to read to learn how far the log holds the stream.
pub fn app_id(source: &str) -> String {
    format!("freshet/stream/{source}")
}

/// Events a generator releases per tick at most; a tick that releases this many is catching up.
pub(crate) const TICK_EVENTS: usize = 200_000;

/// The live stream of generator `source`, started (in simulated time) at `start_micros`: what
/// `freshet run` streams, and what a caller needs to recompute its ground truth (the demo's labels).
pub fn live_config(source: &SourceSpec, start_micros: i64) -> Result<LiveConfig, String> {
    let Connector::Generator {
        scenario,
        rate,
        entities,
        seed,
        speedup,
        history,
    } = &source.connector
    else {
        return Err(format!("source `{}` is not a generator", source.name));
    };
    let scenario =
        Scenario::from_name(scenario).ok_or_else(|| format!("unknown scenario `{scenario}`"))?;
    Ok(LiveConfig {
        scenario,
        entities: *entities,
        seed: *seed,
        rate: *rate,
        speedup: *speedup,
        start_micros,
        days: 30.0,
        history_micros: history.map_or(0, |h| h.micros()),
    })
}

impl GeneratorStream {
    /// Opens `source` at its checkpointed position, its log committing at most once every
    /// `log_interval` unless waited for; `None` if it is not a generator source.
    pub(crate) async fn open(
        project: &Project,
        source: &SourceSpec,
        wall_micros: i64,
        log_interval: Duration,
    ) -> Result<Option<GeneratorStream>, RunError> {
        if !matches!(source.connector, Connector::Generator { .. }) {
            return Ok(None);
        }
        let fail = |reason: String| RunError::Source {
            source_name: source.name.clone(),
            reason,
        };
        let mut task = Task::open(project, &source.name, 0)?;
        if !task.restored() {
            // A new stream starts now, to the millisecond, in simulated and wall time alike.
            task.start_micros = wall_micros / 1_000 * 1_000;
        }
        let config = live_config(source, task.start_micros).map_err(fail)?;
        let mut stream = LiveGenerator::new(&config).map_err(|e| fail(e.to_string()))?;
        stream.skip_to(task.next);
        let root = freshet_offline::offline_root(project);
        let mut log =
            SourceLog::open(&root, &source.name, &source.schema, &source.timestamp_field).await?;
        let logged = log
            .transaction_version(&app_id(&source.name))
            .await?
            .unwrap_or(0);
        Ok(Some(GeneratorStream {
            task,
            stream,
            log: BackgroundLog::new(log, log_interval),
            logged: u64::try_from(logged).unwrap_or(0),
            newest: None,
            time_column: source
                .schema
                .iter()
                .position(|f| f.name == source.timestamp_field)
                .unwrap_or(0),
        }))
    }

    /// The event time of the newest event released.
    pub(crate) fn newest_event_time(&self) -> Option<i64> {
        self.newest
    }

    /// Its source and the simulated instant it started at (its history lies before).
    pub(crate) fn start(&self) -> (String, i64) {
        (self.task.source.clone(), self.task.start_micros)
    }

    /// The stream's simulated time at `wall_micros`.
    pub(crate) fn simulated_now(&self, wall_micros: i64) -> i64 {
        let elapsed =
            Duration::from_micros(u64::try_from(wall_micros - self.task.start_micros).unwrap_or(0));
        self.stream.simulated_now(elapsed)
    }

    /// Releases, logs and applies the events due at simulated time `now`; returns how many.
    pub(crate) async fn tick(&mut self, store: &OnlineStore, now: i64) -> Result<usize, RunError> {
        // Buffered events go out once the pacing allows, even in a tick that releases none.
        self.log.progress().await?;
        let batch = self.stream.due(now, TICK_EVENTS);
        let Some(&(last, _)) = batch.last() else {
            return Ok(0);
        };
        let time_of = |row: &[Value]| match row.get(self.time_column) {
            Some(Value::Timestamp(t)) => t.micros(),
            _ => now,
        };
        let events: Vec<Event> = batch
            .into_iter()
            .map(|(position, row)| Event {
                event_time: time_of(&row),
                ingest_time: time_of(&row),
                position,
                row,
            })
            .collect();
        // The log: only what an earlier run has not logged, tagged with the next position.
        let mut rows = LogRows::default();
        for e in events.iter().filter(|e| e.position >= self.logged) {
            rows.push(e.row.clone(), e.ingest_time, e.position);
        }
        if !rows.is_empty() {
            let txn = Transaction::new(app_id(&self.task.source), (last + 1) as i64);
            self.log.append(rows, vec![txn]).await?;
            self.logged = last + 1;
        }
        self.newest = events.iter().map(|e| e.event_time).max().max(self.newest);
        let records = self.task.apply(&events);
        write_records(store, records).await?;
        self.task.next = last + 1;
        Ok(events.len())
    }

    /// The source and the events it has applied and served but not yet committed to its log.
    pub(crate) fn log_pending(&self) -> (String, u64) {
        (self.task.source.clone(), self.log.pending_rows() as u64)
    }

    /// Writes a checkpoint of the stream once the event log holds every event it covers; returns
    /// its path.
    pub(crate) async fn checkpoint(&mut self) -> Result<PathBuf, RunError> {
        self.log.settled().await?;
        self.task.checkpoint()
    }
}
