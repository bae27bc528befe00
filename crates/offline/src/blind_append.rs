//! Commits of the event log's appends at a cost that does not grow with the log's history.
//!
//! delta-rs commits through a snapshot of the whole table, and after every commit it brings that
//! snapshot's list of live data files up to date: it lists the log directory and re-reads every
//! file's actions, statistics included. A stream commits many times a minute for as long as it
//! runs, so each append cost more than the one before (25 ms after one commit, 440 ms after
//! 2,250; see docs/benchmarks.md, B2k), and the log slowly ate the cores the stream needs.
//!
//! An append reads nothing, so it needs none of that. Only two things can conflict with it (the
//! Delta protocol's rules for a blind append): a commit that changes the table's schema or
//! protocol, and another writer recording the same application transaction (two processes
//! claiming one source position). So a commit here is the bytes delta-rs itself would write
//! ([`CommitData`]), put at the version after the newest one this writer knows through the log
//! store's put-if-absent. When another writer got there first, only the commit that won is read,
//! checked for those two conflicts, and the next version tried. Checkpoints are written every
//! `delta.checkpointInterval` versions, as delta-rs's own post-commit hook does, so a reader
//! opening the log replays at most that many commits.
//!
//! A compaction's commit, which replaces files with their rewrite, goes the same way with one more
//! conflict: a commit that removed any of the files it replaces. That is another compaction of the
//! same day, and landing on top of it would leave both rewrites live, every event twice. delta-rs
//! lets two such commits through (it treats removals that change no data as never conflicting), so
//! the check is made here, over every commit since the files were listed.

use deltalake::kernel::Action;
use deltalake::kernel::transaction::{CommitData, TransactionError};
use deltalake::logstore::{CommitOrBytes, LogStore, get_actions};
use deltalake::{DeltaResult, DeltaTableError};

/// How many commits of other writers one append steps over before it gives up: each one it steps
/// over means another writer made progress, so this bounds only a pathological pile-up.
const MAX_VERSIONS_STEPPED: u64 = 10_000;

/// Why an append cannot land on top of a commit another writer made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conflict {
    /// The winning commit's version.
    pub(crate) version: u64,
    /// What it did, in words for the error message.
    pub(crate) reason: String,
}

/// The outcome of [`commit`]: the version written, or the commit that conflicts with it.
pub(crate) type Committed = Result<u64, Conflict>;

/// Writes `data` as the first free version after `known_version`, stepping over commits of other
/// writers that do not conflict with it (see the module documentation). `replaced` says whether a
/// path is one of the files a compaction listed and has not replaced yet (never, for an append).
pub(crate) async fn commit(
    log_store: &dyn LogStore,
    known_version: u64,
    data: &CommitData,
    replaced: &(dyn Fn(&str) -> bool + Sync),
) -> DeltaResult<Committed> {
    let bytes = data.get_bytes()?;
    let operation_id = uuid::Uuid::new_v4();
    // The event log is on a local file system, whose store puts conditionally: it takes the bytes.
    // (Stores without conditional puts rename a temporary file into place instead; none is used.)
    let store = log_store.name();
    if !["DefaultLogStore", "LakeFSLogStore"].contains(&store.as_str()) {
        return Err(DeltaTableError::Generic(format!(
            "appends to a table in a {store} are not supported"
        )));
    }
    let entry = CommitOrBytes::LogBytes(bytes);
    let ours: Vec<&str> = data
        .app_transactions
        .iter()
        .map(|t| t.app_id.as_str())
        .collect();
    let mut version = known_version + 1;
    loop {
        match log_store
            .write_commit_entry(version, entry.clone(), operation_id)
            .await
        {
            Ok(()) => return Ok(Ok(version)),
            Err(TransactionError::VersionAlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let winning = log_store
            .read_commit_entry(version)
            .await?
            .ok_or(DeltaTableError::InvalidVersion(version))?;
        if let Some(reason) = conflict(&get_actions(version, &winning)?, &ours, replaced) {
            return Ok(Err(Conflict { version, reason }));
        }
        if version - known_version >= MAX_VERSIONS_STEPPED {
            return Err(DeltaTableError::Generic(format!(
                "gave up after stepping over {MAX_VERSIONS_STEPPED} commits of other writers"
            )));
        }
        version += 1;
    }
}

/// What in another writer's commit (`winning`) a commit carrying the application transactions
/// `ours`, from a writer replacing the files `replaced` says, cannot land on top of; `None` when
/// nothing.
pub(crate) fn conflict(
    winning: &[Action],
    ours: &[&str],
    replaced: &(dyn Fn(&str) -> bool + Sync),
) -> Option<String> {
    winning.iter().find_map(|action| match action {
        Action::Metadata(_) => Some("it changed the table's schema or properties".to_owned()),
        Action::Protocol(_) => Some("it changed the table's protocol".to_owned()),
        Action::Txn(txn) if ours.contains(&txn.app_id.as_str()) => Some(format!(
            "it recorded progress of `{}` too, so two processes are writing the same source \
             position",
            txn.app_id
        )),
        Action::Remove(removed) if replaced(&removed.path) => Some(format!(
            "it replaced `{}` too, so another compaction rewrote the same day",
            removed.path
        )),
        _ => None,
    })
}

/// Whether version `version` is one a checkpoint follows, every `interval` versions counting the
/// first as 0, as delta-rs's post-commit hook decides.
pub(crate) fn checkpoint_due(version: u64, interval: u64) -> bool {
    interval > 0 && (version + 1).is_multiple_of(interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::kernel::{Add, Transaction};

    /// An append's: it replaces no file.
    fn none(_: &str) -> bool {
        false
    }

    fn add() -> Action {
        Action::Add(Add {
            path: "a.parquet".into(),
            ..Default::default()
        })
    }

    #[test]
    fn appends_of_other_sources_positions_do_not_conflict() {
        let winning = [add(), Action::Txn(Transaction::new("kafka-trips-1", 7))];
        assert_eq!(conflict(&winning, &["kafka-trips-0"], &none), None);
        assert_eq!(conflict(&[add()], &[], &none), None);
    }

    #[test]
    fn the_same_position_a_schema_change_or_a_protocol_change_conflict() {
        let winning = [add(), Action::Txn(Transaction::new("kafka-trips-0", 7))];
        let reason = conflict(&winning, &["kafka-trips-0"], &none).unwrap();
        assert!(reason.contains("`kafka-trips-0`"), "{reason}");
        let metadata = Action::Metadata(
            deltalake::kernel::new_metadata(
                &deltalake::kernel::StructType::try_new([]).unwrap(),
                Vec::<String>::new(),
                std::iter::empty::<(String, String)>(),
            )
            .unwrap(),
        );
        assert!(
            conflict(&[metadata], &[], &none)
                .unwrap()
                .contains("schema")
        );
        let protocol = Action::Protocol(deltalake::kernel::Protocol::default());
        assert!(
            conflict(&[protocol], &[], &none)
                .unwrap()
                .contains("protocol")
        );
    }

    #[test]
    fn a_commit_removing_a_file_a_compaction_replaces_conflicts_with_it_and_no_other() {
        let remove = |path: &str| {
            Action::Remove(deltalake::kernel::Remove {
                path: path.into(),
                data_change: false,
                ..Default::default()
            })
        };
        let winning = [add(), remove("day=1/a.parquet")];
        let day_1 = |path: &str| ["day=1/b.parquet", "day=1/a.parquet"].contains(&path);
        let reason = conflict(&winning, &[], &day_1).unwrap();
        assert!(reason.contains("`day=1/a.parquet`"), "{reason}");
        assert_eq!(conflict(&winning, &[], &|p| p == "day=2/c.parquet"), None);
        // An append's commit removes nothing: it never conflicts with a compaction.
        assert_eq!(conflict(&[add()], &[], &day_1), None);
    }

    #[test]
    fn checkpoints_follow_every_interval_th_version() {
        let due: Vec<u64> = (0..300).filter(|v| checkpoint_due(*v, 100)).collect();
        assert_eq!(due, [99, 199, 299]);
        assert!(!checkpoint_due(99, 0));
    }
}
