//! A stream's checkpoint, taken in the run loop and made durable in the background.
//!
//! Making a checkpoint durable takes hundreds of milliseconds: the online store's durable commit
//! writes out ten seconds of records and fsyncs them, the event log may still be committing the
//! newest rounds, and each partition's file is fsynced. Done in the loop, every record arriving
//! meanwhile would wait that long to be served, once per checkpoint interval. So only the step that
//! needs the state to stand still happens in the loop; the rest runs as a task of its own while
//! the loop goes on applying and serving:
//! 1. in the loop, between rounds: every owned task's state and position is encoded;
//! 2. in the task: the online store is made durable, covering every write of the rounds encoded
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
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A checkpoint on its way to disk.
#[derive(Debug)]
pub(crate) struct CheckpointInFlight {
    /// Offsets to commit to the group once it has landed, by partition.
    commits: BTreeMap<i32, i64>,
    landing: JoinHandle<Result<(), RunError>>,
    dir: PathBuf,
    started: std::time::Instant,
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
            started: std::time::Instant::now(),
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
