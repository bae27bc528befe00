//! A stream's event log, appended in the background.
//!
//! An append takes milliseconds (Parquet encoding, the data file, the commit file, each flushed to
//! disk), far longer than applying a round of records. Run in line, every record behind it would
//! wait for it before being applied and served. Here an append runs as a task of its own while later
//! rounds are applied and served; their rows gather in a buffer and go out together as the next
//! append, once the one in flight has landed and the pacing below allows. So the log never holds up
//! serving.
//!
//! At most one append is in flight, so appends land in order; the buffer is bounded, and a round that
//! would overfill it waits for the append in flight. Whatever needs the log to be complete waits for
//! it through [`BackgroundLog::settled`], which also writes out the buffer: a checkpoint (it must never
//! cover events the log could still lose), a revocation's answer, a refresh. A checkpoint written in
//! the background waits instead for [`BackgroundLog::landed`] to reach the round it covers. Exactly-once is
//! unchanged: a crash with rows in flight or buffered restarts from a checkpoint written before them,
//! and the log's application transactions skip whatever of the replay had already landed.
//!
//! Appends start at most once per interval, [`COMMIT_INTERVAL`] unless `freshet run
//! --log-commit-interval` says otherwise (and unless the buffer is full or something waits for the
//! log). An append costs a few milliseconds however long the log is, so unpaced a stream
//! under load committed about a hundred times a second, each commit a Parquet file per day it
//! touches and a file in `_delta_log`: millions of small files a day for readers, checkpoints and
//! compaction to go through. Nothing is served from the log, so pacing it delays no feature value.

use crate::RunError;
use freshet_offline::{LogError, LogRows, SourceLog, Transaction};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Rows buffered behind an append in flight before a round waits for it.
const MAX_BUFFERED_ROWS: usize = 1 << 20;

/// The least time between the starts of two appends that nothing waits for, by default (see the
/// module doc).
pub const COMMIT_INTERVAL: Duration = Duration::from_secs(1);

/// Why the log is missing: a failed append did not hand it back.
const GONE: &str = "the event log was lost by a failed append";

/// A problem with the log at `dir` that Delta did not report itself.
fn lost(dir: &Path, reason: &str) -> RunError {
    RunError::Log(LogError::Io {
        dir: dir.to_path_buf(),
        source: std::io::Error::other(reason.to_owned()),
    })
}

/// An append in flight, the number of rounds the log holds once it lands, and its rows.
type Landing = (JoinHandle<(SourceLog, Result<u64, LogError>)>, u64, usize);

/// The log, or the append that holds it, and the rows waiting for the next append.
#[derive(Debug)]
pub(crate) struct BackgroundLog {
    idle: Option<SourceLog>,
    appending: Option<Landing>,
    buffered: LogRows,
    /// The newest version per application id of the buffered rounds.
    transactions: BTreeMap<String, i64>,
    /// Rounds handed over so far.
    handed: u64,
    /// Rounds the log holds.
    landed: tokio::sync::watch::Sender<u64>,
    dir: PathBuf,
    /// The least time between the starts of two appends nothing waits for.
    interval: Duration,
    /// When the last append started.
    last_start: Option<Instant>,
}

impl BackgroundLog {
    /// Appends to `log`, starting one at most every `interval` unless something waits for the log
    /// ([`RunOptions::log_commit_interval`](crate::RunOptions::log_commit_interval) in a stream).
    pub(crate) fn new(log: SourceLog, interval: Duration) -> BackgroundLog {
        BackgroundLog {
            interval,
            last_start: None,
            dir: log.dir().to_path_buf(),
            idle: Some(log),
            appending: None,
            buffered: LogRows::default(),
            transactions: BTreeMap::new(),
            handed: 0,
            landed: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Waits for the append in flight, if any; its error if it failed.
    async fn land(&mut self) -> Result<(), RunError> {
        if let Some((landing, rounds, _)) = self.appending.take() {
            let (log, result) = landing
                .await
                .map_err(|e| lost(&self.dir, &format!("the append task failed: {e}")))?;
            self.idle = Some(log);
            result?;
            self.landed.send_replace(rounds);
        }
        Ok(())
    }

    /// Rounds handed over so far: the log holds them all once [`BackgroundLog::landed`] reaches it.
    pub(crate) fn handed(&self) -> u64 {
        self.handed
    }

    /// Rows handed over and served but not yet committed to the log: buffered, or in an append
    /// that has not landed. How far the log lags the stream.
    pub(crate) fn pending_rows(&self) -> usize {
        self.buffered.len() + self.appending.as_ref().map_or(0, |(_, _, rows)| *rows)
    }

    /// Follows the number of rounds the log holds.
    pub(crate) fn landed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.landed.subscribe()
    }

    /// Without waiting: lands a finished append and starts the next from the buffer, so buffered
    /// rounds do not wait for the next round to come along. Call it whenever the loop comes round.
    pub(crate) async fn progress(&mut self) -> Result<(), RunError> {
        if self
            .appending
            .as_ref()
            .is_some_and(|(a, _, _)| a.is_finished())
        {
            self.land().await?;
        }
        if self.appending.is_none() && (self.due() || self.full()) {
            self.start()?;
        }
        Ok(())
    }

    /// Whether an append may start as far as pacing goes.
    fn due(&self) -> bool {
        self.last_start
            .is_none_or(|started| started.elapsed() >= self.interval)
    }

    /// Whether the buffer holds as many rows as it may before rounds wait for the log.
    fn full(&self) -> bool {
        self.buffered.len() >= MAX_BUFFERED_ROWS
    }

    /// Starts appending the buffer (the log must be idle).
    fn start(&mut self) -> Result<(), RunError> {
        if self.transactions.is_empty() {
            return Ok(());
        }
        let Some(mut log) = self.idle.take() else {
            return Err(lost(&self.dir, GONE));
        };
        self.last_start = Some(Instant::now());
        let rows = std::mem::take(&mut self.buffered);
        let row_count = rows.len();
        let transactions: Vec<Transaction> = std::mem::take(&mut self.transactions)
            .into_iter()
            .map(|(app, version)| Transaction::new(app, version))
            .collect();
        // Off the runtime's workers: Parquet encoding holds a thread for tens of milliseconds, which
        // on a worker would hold up the run loop or the server's requests queued behind it. (B2k's
        // latency runs did not move with this: their spikes come from elsewhere.)
        let runtime = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let result = runtime.block_on(log.append(&rows, transactions));
            (log, result)
        });
        self.appending = Some((task, self.handed, row_count));
        Ok(())
    }

    /// The log once every round given so far has landed in it.
    pub(crate) async fn settled(&mut self) -> Result<&mut SourceLog, RunError> {
        self.land().await?;
        self.start()?;
        self.land().await?;
        let dir = &self.dir;
        self.idle.as_mut().ok_or_else(|| lost(dir, GONE))
    }

    /// Hands over a round's `rows` and `transactions`: appended now if the log is idle, else with the
    /// next append.
    pub(crate) async fn append(
        &mut self,
        rows: LogRows,
        transactions: Vec<Transaction>,
    ) -> Result<(), RunError> {
        self.buffered.rows.extend(rows.rows);
        self.buffered.ingest_times.extend(rows.ingest_times);
        self.buffered.positions.extend(rows.positions);
        for t in transactions {
            let version = self.transactions.entry(t.app_id).or_insert(t.version);
            *version = (*version).max(t.version);
        }
        self.handed += 1;
        let in_flight = self
            .appending
            .as_ref()
            .is_some_and(|(a, _, _)| !a.is_finished());
        if (in_flight || !self.due()) && !self.full() {
            return Ok(());
        }
        self.land().await?;
        self.start()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use freshet_engine::{DataType, Timestamp, Value};
    use freshet_project::spec::Field;

    fn round(first: i64, count: i64) -> LogRows {
        let mut rows = LogRows::default();
        for i in first..first + count {
            let t = 1_767_225_600_000_000 + i;
            rows.push(
                vec![Value::Int64(i), Value::Timestamp(Timestamp(t))],
                t,
                i as u64,
            );
        }
        rows
    }

    async fn open(dir: &Path) -> SourceLog {
        let fields = [
            Field {
                name: "id".to_owned(),
                data_type: DataType::Int64,
            },
            Field {
                name: "ts".to_owned(),
                data_type: DataType::Timestamp,
            },
        ];
        SourceLog::open(dir, "s", &fields, "ts").await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn appends_start_at_most_once_an_interval_unless_the_log_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let mut background = BackgroundLog::new(open(dir.path()).await, Duration::from_secs(3600));
        let mut landed = background.landed();
        background
            .append(round(0, 10), vec![Transaction::new("p0", 1)])
            .await
            .unwrap();
        // The first append starts at once; the loop coming round lands it.
        while *landed.borrow_and_update() < 1 {
            background.progress().await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for r in 1..3 {
            let transactions = vec![Transaction::new("p0", r + 1)];
            background
                .append(round(r * 10, 10), transactions)
                .await
                .unwrap();
        }
        for _ in 0..20 {
            background.progress().await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            *landed.borrow(),
            1,
            "the next append waits for the interval"
        );
        assert_eq!(background.handed(), 3);
        assert_eq!(background.pending_rows(), 20, "two rounds wait");
        // Waiting for the log writes the buffer out at once, in one commit.
        background.settled().await.unwrap();
        assert_eq!(background.pending_rows(), 0);
        let log = background.settled().await.unwrap();
        assert_eq!(log.version(), 2);
        assert_eq!(*landed.borrow(), 3);
        assert_eq!(log.transaction_version("p0").await.unwrap(), Some(3));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rounds_behind_an_append_land_once_in_order_with_their_newest_versions() {
        let dir = tempfile::tempdir().unwrap();
        let mut background = BackgroundLog::new(open(dir.path()).await, Duration::ZERO);
        // Rounds come faster than commits: most wait in the buffer behind the append in flight.
        for r in 0..20 {
            let transactions = vec![
                Transaction::new("p0", r + 1),
                Transaction::new("p1", 2 * (r + 1)),
            ];
            background
                .append(round(r * 10, 10), transactions)
                .await
                .unwrap();
        }
        let log = background.settled().await.unwrap();
        assert!(log.version() >= 2, "at least two appends");
        assert_eq!(log.transaction_version("p0").await.unwrap(), Some(20));
        assert_eq!(log.transaction_version("p1").await.unwrap(), Some(40));
        log.refresh().await.unwrap();
        let mut ids = Vec::new();
        freshet_offline::scan::scan_files(&log.files().unwrap(), log.fields(), |e| {
            ids.push(e.position);
        })
        .unwrap();
        ids.sort_unstable();
        assert_eq!(ids, (0..200).collect::<Vec<u64>>());
    }
}
