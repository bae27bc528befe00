//! A fixed assignment's guard against two workers reading one partition.
//!
//! A consumer group never gives a partition to two members at once. With a fixed assignment the
//! deployer numbers the workers, and a slip (two workers started with the same number) would have
//! two tasks apply, log and checkpoint the same partition side by side. So a worker with a fixed
//! share holds an exclusive lock on one file per partition, beside the partition's checkpoints, for
//! as long as it owns the partition. The operating system drops the lock when the process dies,
//! SIGKILL included, so a restarted worker never trips over its own stale claim.
//!
//! The lock binds the workers that share the project directory, which is how several workers share
//! their checkpoints (docs/streaming.md); across machines it needs a shared file system that honours
//! `flock`.

use crate::RunError;
use std::fs::{File, TryLockError};
use std::path::Path;

/// This process's exclusive claim on a partition, held until dropped.
#[derive(Debug)]
pub(crate) struct PartitionClaim {
    _file: File,
}

impl PartitionClaim {
    /// Claims `partition` of `source`, whose checkpoints are under `checkpoints`; refused if another
    /// process holds it.
    pub(crate) fn take(
        checkpoints: &Path,
        source: &str,
        partition: i32,
    ) -> Result<PartitionClaim, RunError> {
        let failed = |reason: String| RunError::Source {
            source_name: source.to_owned(),
            reason,
        };
        std::fs::create_dir_all(checkpoints).map_err(|e| {
            failed(format!(
                "cannot create {} for the partition claims: {e}",
                checkpoints.display()
            ))
        })?;
        let path = checkpoints.join(format!("p{partition}.claim"));
        let file = freshet_project::files::lock_file(&path)
            .map_err(|e| failed(format!("cannot open {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(PartitionClaim { _file: file }),
            Err(TryLockError::WouldBlock) => Err(failed(format!(
                "partition {partition} is already read by another worker of this project (it holds {}); give each worker its own `assignment.worker`, or stop the other one",
                path.display()
            ))),
            Err(TryLockError::Error(e)) => {
                Err(failed(format!("cannot lock {}: {e}", path.display())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_claimed_once_until_its_claim_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = PartitionClaim::take(dir.path(), "trips", 3).unwrap();
        // Another partition is free.
        let other = PartitionClaim::take(dir.path(), "trips", 4).unwrap();
        let refused = PartitionClaim::take(dir.path(), "trips", 3).unwrap_err();
        let message = refused.to_string();
        assert!(
            message.starts_with("source `trips`: partition 3 is already read by another worker"),
            "{message}"
        );
        assert!(message.contains("assignment.worker"), "{message}");
        drop(first);
        drop(other);
        PartitionClaim::take(dir.path(), "trips", 3).unwrap();
    }
}
