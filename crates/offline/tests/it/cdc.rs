//! The event-log half of change data capture: streamed rows land once whatever replays them, and rows
//! the views would refuse come back for the dead letters.

use crate::{Fixture, TRIPS};
use freshet_engine::{Timestamp, Value};
use freshet_offline::ingest::cdc::ChangeLog;
use freshet_sources::read::Record;
use std::sync::Arc;

fn trip(id: i64, driver: i64, fare: f64) -> Record {
    Record::Row {
        line: u64::try_from(id).unwrap(),
        row: vec![
            Value::Int64(id),
            Value::Int64(driver),
            Value::Timestamp(Timestamp(1_767_225_600_000_000 + id * 60_000_000)),
            Value::Float64(fare),
            Value::String(Arc::from("done")),
        ],
    }
}

async fn open(fixture: &Fixture) -> ChangeLog {
    let project = fixture.project();
    let source = project.spec.sources[0].clone();
    let views = freshet_offline::views_of_source(&project, &source.name);
    ChangeLog::open(fixture.open_log(&source.name).await, &source, views)
        .await
        .unwrap()
}

#[tokio::test]
async fn replayed_rows_add_nothing_and_refused_rows_come_back() {
    let fixture = Fixture::new(TRIPS);
    let mut log = open(&fixture).await;
    let mut no_time = trip(9, 1, 1.0);
    if let Record::Row { row, .. } = &mut no_time {
        row[2] = Value::Null;
    }
    let first = log
        .append(vec![
            trip(1, 1, 10.0),
            trip(2, 1, 12.0),
            trip(1, 1, 10.0),
            no_time,
        ])
        .await
        .unwrap();
    assert_eq!((first.added, first.already_logged), (2, 1));
    assert_eq!(first.refused.len(), 1);
    assert_eq!(first.refused[0].0, 3);
    assert_eq!(first.refused[0].1.field.as_deref(), Some("event_time"));

    // The source declares `event_id_field: trip_id`: a later version of trip 1 is the same event.
    let second = log
        .append(vec![trip(1, 1, 99.0), trip(3, 2, 7.0)])
        .await
        .unwrap();
    assert_eq!((second.added, second.already_logged), (1, 1));

    // A restart (a new handle on the same log) replays everything: nothing is added.
    let mut reopened = open(&fixture).await;
    assert_eq!(reopened.len(), 3);
    let replay = reopened
        .append(vec![trip(1, 1, 10.0), trip(2, 1, 12.0), trip(3, 2, 7.0)])
        .await
        .unwrap();
    assert_eq!((replay.added, replay.already_logged), (0, 3));

    let logged = fixture.logged("trips").await;
    let mut fares: Vec<(i64, f64)> = logged
        .iter()
        .map(|(row, _, _)| match (&row[0], &row[3]) {
            (Value::Int64(id), Value::Float64(fare)) => (*id, *fare),
            other => panic!("unexpected row {other:?}"),
        })
        .collect();
    fares.sort_by_key(|f| f.0);
    assert_eq!(fares, [(1, 10.0), (2, 12.0), (3, 7.0)]);
}
