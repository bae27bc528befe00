//! Backfill: the rebuilt state equals ingesting the same events online; re-running changes nothing;
//! new log files continue a complete state, or rebuild it when they reach below its evicted history.

use crate::{Fixture, TRIPS};
use freshet_engine::{Timestamp, Value, ViewState};
use freshet_offline::backfill::{BackfillOptions, backfill, load_state, state_path};
use freshet_offline::ingest::IngestOptions;

fn csv(rows: impl Iterator<Item = (i64, i64, i64, f64)>) -> String {
    let mut text = String::from("trip_id,driver_id,event_time,fare,status\n");
    for (trip, driver, minute, fare) in rows {
        let time =
            freshet_sources::formats::format_timestamp(1_767_225_600_000_000 + minute * 60_000_000);
        text.push_str(&format!("{trip},{driver},{time},{fare},completed\n"));
    }
    text
}

async fn run(fixture: &Fixture) -> Vec<freshet_offline::backfill::ViewBackfill> {
    backfill(
        &fixture.project(),
        &[],
        &BackfillOptions::default(),
        &mut |_| {},
    )
    .await
    .unwrap()
}

/// The state of `driver_trips` built online from every logged event, evicted like a backfill.
async fn online_state(fixture: &Fixture) -> Vec<u8> {
    let project = fixture.project();
    let mut state = ViewState::new(project.views[0].def.clone());
    for (row, ingest_time, position) in fixture.logged("trips").await {
        state
            .ingest(&row, Timestamp(ingest_time), position)
            .unwrap();
    }
    if let Some(newest) = state.newest_event_time() {
        state.evict(newest);
    }
    state.snapshot()
}

#[tokio::test]
async fn backfill_equals_online_ingestion_and_a_second_run_changes_nothing() {
    let fixture = Fixture::new(TRIPS);
    fixture.write(
        "a.csv",
        &csv((0..500).map(|i| (i, i % 13, i * 7, i as f64 / 4.0))),
    );
    fixture
        .ingest("trips", &IngestOptions { chunk_records: 50 })
        .await;
    let first = run(&fixture).await;
    assert!(
        first[0].files_read > 10 && !first[0].up_to_date,
        "{first:?}"
    );
    let project = fixture.project();
    let state = load_state(&project, 0).expect("a complete state");
    assert_eq!(state.snapshot(), online_state(&fixture).await);
    assert_eq!(state.entities(), 13);

    let path = state_path(&project, "driver_trips");
    let before = std::fs::read(&path).unwrap();
    let second = run(&fixture).await;
    assert!(
        second[0].up_to_date && second[0].files_read == 0,
        "{second:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // Driver 3's last trip is trip 497 (fare 124.25); read as of the newest event, within the TTL.
    let newest = state.newest_event_time().unwrap();
    let read = state
        .read(&freshet_engine::EntityKey::int(3), newest, i64::MAX)
        .unwrap();
    assert_eq!(
        read.values[2],
        freshet_engine::FeatureValue::Scalar(Value::Float64(124.25))
    );
}

#[tokio::test]
async fn new_files_continue_the_state_and_old_history_forces_a_rebuild() {
    let fixture = Fixture::new(TRIPS);
    fixture.write(
        "a.csv",
        &csv((0..200).map(|i| (i, i % 5, 20_000 + i * 30, 1.0))),
    );
    fixture.ingest("trips", &IngestOptions::default()).await;
    run(&fixture).await;

    // Newer events: added to the saved state.
    fixture.write(
        "b.csv",
        &csv((200..260).map(|i| (i, i % 7, 40_000 + i, 2.0))),
    );
    fixture.ingest("trips", &IngestOptions::default()).await;
    let report = run(&fixture).await;
    assert!(
        report[0].files_skipped > 0 && report[0].files_read > 0,
        "{report:?}"
    );
    assert_eq!(report[0].rebuilt, None);
    let project = fixture.project();
    assert_eq!(
        load_state(&project, 0).unwrap().snapshot(),
        online_state(&fixture).await
    );

    // Events from before the evicted history: only a rebuild is exact.
    fixture.write("c.csv", &csv((300..310).map(|i| (i, 1, i, 3.0))));
    fixture.ingest("trips", &IngestOptions::default()).await;
    let report = run(&fixture).await;
    assert!(
        report[0].rebuilt.as_deref().unwrap().contains("older"),
        "{report:?}"
    );
    assert_eq!(
        load_state(&project, 0).unwrap().snapshot(),
        online_state(&fixture).await
    );
}

#[tokio::test]
async fn a_damaged_state_file_is_rebuilt_not_trusted() {
    let fixture = Fixture::new(TRIPS);
    fixture.write("a.csv", &csv((0..50).map(|i| (i, i % 3, i, 1.5))));
    fixture.ingest("trips", &IngestOptions::default()).await;
    run(&fixture).await;
    let path = state_path(&fixture.project(), "driver_trips");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    assert!(load_state(&fixture.project(), 0).is_none());
    let report = run(&fixture).await;
    assert!(
        report[0].rebuilt.as_deref().unwrap().contains("unreadable"),
        "{report:?}"
    );
    assert_eq!(
        load_state(&fixture.project(), 0).unwrap().snapshot(),
        online_state(&fixture).await
    );
}
