//! A stream's checkpoint, taken in the run loop and made durable in the background.
//!
//! Making a checkpoint durable takes hundreds of milliseconds: the online store's durable commit
//! writes out ten seconds of records and fsyncs them, the event log may still be committing the
//! newest rounds, and each partition's file is fsynced. Done in the loop, every record arriving
//! meanwhile would wait that long to be served, once per checkpoint interval. So only the step that
//! needs the state to stand still happens in the loop; the rest runs as a task of its own while
//! the loop goes on applying and serving:
//! 1. in the loop, between rounds: every owned task's state and position is encoded, a few tasks
//!    per turn of the loop ([`TakingCheckpoint`]), so no round waits for all of them;
//! 2. in a task: the online store is made durable, covering every write of the rounds encoded
//!    (writes made meanwhile are held in memory, readable, and need not be covered);
//! 3. the task waits until the event log holds every round handed to it before step 1;
//! 4. the task writes and fsyncs the files;
//! 5. back in the loop: the offsets the checkpoint covers are committed to the group.
//!
//! So a checkpoint on disk never covers a store write or a log row a crash could still lose, the
//! invariant exactly-once rests on. A crash before step 4 restarts from the previous checkpoint,
//! as it would have before. At most one checkpoint of a stream is in flight, and revocations and
//! shutdown land it before writing their own, so a partition's checkpoints land in sequence order.

use crate::RunError;
use crate::checkpoint::{CheckpointError, Encoded};
use freshet_online::OnlineStore;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A checkpoint being taken: its partitions are encoded a few per turn of the loop. Each is encoded
/// at a round boundary; the store's sync and the log's wait start after the last, so they cover
/// every partition's rounds.
#[derive(Debug)]
pub(crate) struct TakingCheckpoint {
    remaining: VecDeque<i32>,
    encoded: Vec<Encoded>,
    commits: BTreeMap<i32, i64>,
    started: Instant,
}

impl TakingCheckpoint {
    /// Starts taking a checkpoint of `partitions`.
    pub(crate) fn new(partitions: impl IntoIterator<Item = i32>) -> TakingCheckpoint {
        TakingCheckpoint {
            remaining: partitions.into_iter().collect(),
            encoded: Vec::new(),
            commits: BTreeMap::new(),
            started: Instant::now(),
        }
    }

    /// Encodes partitions with `encode` (its checkpoint and the offset it covers; `None`: the
    /// partition is gone) until `budget` is spent or none is left; whether all are encoded.
    pub(crate) fn step(
        &mut self,
        budget: Duration,
        mut encode: impl FnMut(i32) -> Result<Option<(Encoded, i64)>, RunError>,
    ) -> Result<bool, RunError> {
        // No deadline when the budget reaches past the clock's range (`Duration::MAX`: finish now).
        let until = Instant::now().checked_add(budget);
        while let Some(p) = self.remaining.pop_front() {
            if let Some((encoded, offset)) = encode(p)? {
                self.encoded.push(encoded);
                self.commits.insert(p, offset);
            }
            if until.is_some_and(|until| Instant::now() >= until) {
                break;
            }
        }
        Ok(self.remaining.is_empty())
    }

    /// Lands the encoded checkpoint in the background (see [`CheckpointInFlight::start`]).
    pub(crate) fn land(
        self,
        dir: &Path,
        store: &OnlineStore,
        landed: watch::Receiver<u64>,
        round: u64,
    ) -> CheckpointInFlight {
        tracing::debug!(
            "{} partitions encoded for a checkpoint in {}, {} ms after it began",
            self.encoded.len(),
            dir.display(),
            self.started.elapsed().as_millis()
        );
        CheckpointInFlight::start(dir, store, self.encoded, landed, round, self.commits)
    }
}

/// A checkpoint on its way to disk.
#[derive(Debug)]
pub(crate) struct CheckpointInFlight {
    /// Offsets to commit to the group once it has landed, by partition.
    commits: BTreeMap<i32, i64>,
    landing: JoinHandle<Result<(), RunError>>,
    dir: PathBuf,
    started: Instant,
}

fn failed(dir: &Path, reason: String) -> RunError {
    RunError::Checkpoint(CheckpointError {
        path: dir.to_path_buf(),
        reason,
    })
}

impl CheckpointInFlight {
    /// Starts landing `encoded` (checkpoints under `dir`) once the store is durable and the log
    /// has reached `round` in `landed`; `commits` are the offsets they cover.
    pub(crate) fn start(
        dir: &Path,
        store: &OnlineStore,
        encoded: Vec<Encoded>,
        mut landed: watch::Receiver<u64>,
        round: u64,
        commits: BTreeMap<i32, i64>,
    ) -> CheckpointInFlight {
        let store = store.clone();
        let task_dir = dir.to_path_buf();
        let landing = tokio::spawn(async move {
            store.sync().await?;
            landed.wait_for(|r| *r >= round).await.map_err(|_| {
                failed(
                    &task_dir,
                    "the event log closed before it held what the checkpoint covers".into(),
                )
            })?;
            tokio::task::spawn_blocking(move || {
                encoded.iter().try_for_each(|e| e.write().map(drop))
            })
            .await
            .map_err(|e| failed(&task_dir, format!("the writing task failed: {e}")))??;
            Ok(())
        });
        CheckpointInFlight {
            commits,
            landing,
            dir: dir.to_path_buf(),
            started: Instant::now(),
        }
    }

    /// Whether it has landed (or failed): [`CheckpointInFlight::land`] will not wait.
    pub(crate) fn is_landed(&self) -> bool {
        self.landing.is_finished()
    }

    /// Waits until it has landed; the offsets it covers, to commit.
    pub(crate) async fn land(self) -> Result<BTreeMap<i32, i64>, RunError> {
        self.landing
            .await
            .map_err(|e| failed(&self.dir, format!("the landing task failed: {e}")))??;
        tracing::info!(
            "checkpoint of {} partitions landed in {}, {} ms after it was taken",
            self.commits.len(),
            self.dir.display(),
            self.started.elapsed().as_millis()
        );
        Ok(self.commits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taking_encodes_within_its_budget_and_skips_partitions_gone() {
        let dir = tempfile::tempdir().unwrap();
        let encode = |p: i32| {
            let sources = BTreeMap::new();
            let encoded =
                crate::checkpoint::encode(dir.path(), 1, &sources, &[], &mut Vec::new()).unwrap();
            Ok((p != 2).then_some((encoded, i64::from(p) * 10)))
        };
        let mut taking = TakingCheckpoint::new([0, 1, 2, 3]);
        assert!(
            !taking.step(Duration::ZERO, encode).unwrap(),
            "one per zero budget"
        );
        assert_eq!(taking.remaining.len(), 3);
        assert!(
            taking.step(Duration::MAX, encode).unwrap(),
            "all without a deadline"
        );
        assert_eq!(taking.encoded.len(), 3);
        assert_eq!(
            taking.commits,
            BTreeMap::from([(0, 0), (1, 10), (3, 30)]),
            "partition 2 was given up"
        );
    }
}
