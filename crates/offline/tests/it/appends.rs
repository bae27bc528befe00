//! Appends to the event log: several writers on one table, conflicts, checkpoints, and the rule
//! that a log appended to is refreshed before its files are listed.

use crate::{Fixture, TRIPS};
use freshet_engine::{Timestamp, Value};
use freshet_offline::{LogError, LogRows, Transaction};

/// `n` trips from position `first` on, a minute apart from 2026-01-15.
fn trips(first: u64, n: u64) -> LogRows {
    let mut rows = LogRows::default();
    for position in first..first + n {
        let at = 1_768_435_200_000_000 + i64::try_from(position).unwrap() * 60_000_000;
        rows.push(
            vec![
                Value::Int64(i64::try_from(position).unwrap()),
                Value::Int64(i64::try_from(position % 7).unwrap()),
                Value::Timestamp(Timestamp(at)),
                Value::Float64(10.0),
                Value::String("done".into()),
            ],
            at,
            position,
        );
    }
    rows
}

#[tokio::test]
async fn writers_of_different_positions_step_over_each_other_s_commits() {
    let fixture = Fixture::new(TRIPS);
    let mut first = fixture.open_log("trips").await;
    let mut second = fixture.open_log("trips").await;
    for round in 0..5u64 {
        // Each writer's next version is taken by the other one's commit every time.
        let a = first
            .append(
                &trips(round * 20, 10),
                vec![Transaction::new("p0", i64::try_from(round).unwrap())],
            )
            .await
            .unwrap();
        let b = second
            .append(
                &trips(round * 20 + 10, 10),
                vec![Transaction::new("p1", i64::try_from(round).unwrap())],
            )
            .await
            .unwrap();
        assert_eq!((a, b), (2 * round + 1, 2 * round + 2));
    }
    let logged = fixture.logged("trips").await;
    let positions: Vec<u64> = logged.iter().map(|e| e.2).collect();
    assert_eq!(positions, (0..100).collect::<Vec<u64>>());
    let mut log = fixture.open_log("trips").await;
    assert_eq!(log.transaction_version("p0").await.unwrap(), Some(4));
    assert_eq!(log.transaction_version("p1").await.unwrap(), Some(4));
}

#[tokio::test]
async fn two_writers_of_one_position_conflict_and_the_second_adds_nothing() {
    let fixture = Fixture::new(TRIPS);
    let mut first = fixture.open_log("trips").await;
    let mut second = fixture.open_log("trips").await;
    first
        .append(&trips(0, 10), vec![Transaction::new("p0", 1)])
        .await
        .unwrap();
    let error = second
        .append(&trips(0, 10), vec![Transaction::new("p0", 1)])
        .await
        .unwrap_err();
    assert!(
        matches!(error, LogError::Conflict { version: 1, .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("`p0`") && message.contains("restart freshet"),
        "{message}"
    );
    // The losing writer's files were written but never committed: no reader sees them.
    assert_eq!(fixture.logged("trips").await.len(), 10);
}

#[tokio::test]
async fn the_log_is_checkpointed_every_hundred_versions_and_reopens_whole() {
    let fixture = Fixture::new(TRIPS);
    let mut log = fixture.open_log("trips").await;
    for commit in 0..120u64 {
        log.append(
            &trips(commit * 2, 2),
            vec![Transaction::new("p0", i64::try_from(commit).unwrap())],
        )
        .await
        .unwrap();
    }
    assert_eq!(log.version(), 120);
    let checkpoint = log
        .dir()
        .join("_delta_log/00000000000000000099.checkpoint.parquet");
    assert!(
        checkpoint.exists(),
        "no checkpoint at {}",
        checkpoint.display()
    );
    assert_eq!(fixture.logged("trips").await.len(), 240);
    let mut reopened = fixture.open_log("trips").await;
    assert_eq!(reopened.version(), 120);
    assert_eq!(reopened.transaction_version("p0").await.unwrap(), Some(119));
}

#[tokio::test]
async fn a_log_appended_to_lists_its_files_only_once_refreshed() {
    let fixture = Fixture::new(TRIPS);
    let mut log = fixture.open_log("trips").await;
    log.append(&trips(0, 3), vec![Transaction::new("p0", 1)])
        .await
        .unwrap();
    let error = log.files().unwrap_err();
    assert!(
        matches!(
            error,
            LogError::Unrefreshed {
                loaded: 0,
                version: 1,
                ..
            }
        ),
        "{error}"
    );
    // Its application transactions are read at the version it appended, without a refresh.
    assert_eq!(log.transaction_version("p0").await.unwrap(), Some(1));
    log.refresh().await.unwrap();
    assert_eq!(log.files().unwrap().len(), 1);
}
