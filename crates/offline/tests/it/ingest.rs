//! `freshet ingest` semantics: every good record lands exactly once, bad ones go to the dead-letter file.

use crate::{Fixture, TRIPS};
use freshet_engine::{Timestamp, Value};
use freshet_offline::dead_letter::DeadLetter;
use freshet_offline::ingest::IngestOptions;
use freshet_offline::layout::file_position;

const GOOD: &str = "trip_id,driver_id,event_time,fare,status
1,7,2026-01-01T10:00:00Z,12.5,completed
2,7,2026-01-01T11:00:00Z,8.0,cancelled
3,8,2026-01-02T09:30:00+01:00,20.25,completed
";

#[tokio::test]
async fn good_rows_land_once_with_ingest_time_and_position() {
    let fixture = Fixture::new(TRIPS);
    fixture.write("a.csv", GOOD);
    let reports = fixture.ingest("trips", &IngestOptions::default()).await;
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (reports[0].records, reports[0].added, reports[0].rejected),
        (3, 3, 0)
    );
    assert!(!reports[0].already_logged);
    let events = fixture.logged("trips").await;
    assert_eq!(events.len(), 3);
    let (row, ingest_time, position) = &events[2];
    let t = Timestamp(1_767_342_600_000_000); // 2026-01-02T08:30:00Z
    assert_eq!(row[2], Value::Timestamp(t));
    assert_eq!(row[3], Value::Float64(20.25));
    // A historical file without an ingest-time column: known when it happened.
    assert_eq!(*ingest_time, t.micros());
    // The first file of the log, its fourth line.
    assert_eq!(*position, file_position(1, 4));
}

#[tokio::test]
async fn ingesting_the_same_content_again_adds_nothing_even_renamed() {
    let fixture = Fixture::new(TRIPS);
    fixture.write("a.csv", GOOD);
    fixture.ingest("trips", &IngestOptions::default()).await;
    let again = fixture.ingest("trips", &IngestOptions::default()).await;
    assert!(again[0].already_logged);
    assert_eq!(again[0].added, 0);
    fixture.write("copy-of-a.csv", GOOD);
    let renamed = fixture.ingest("trips", &IngestOptions::default()).await;
    assert!(renamed.iter().all(|r| r.already_logged && r.added == 0));
    assert_eq!(fixture.logged("trips").await.len(), 3);
}

#[tokio::test]
async fn a_new_file_gets_the_next_file_number() {
    let fixture = Fixture::new(TRIPS);
    fixture.write("a.csv", GOOD);
    fixture.ingest("trips", &IngestOptions::default()).await;
    fixture.write(
        "b.csv",
        "trip_id,driver_id,event_time,fare,status\n9,9,2026-01-03T00:00:00Z,1,completed\n",
    );
    let reports = fixture.ingest("trips", &IngestOptions::default()).await;
    assert_eq!(reports.iter().map(|r| r.added).sum::<u64>(), 1);
    let events = fixture.logged("trips").await;
    assert_eq!(events.last().unwrap().2, file_position(2, 2));
}

/// A file with good records and bad ones, read in chunks of `chunk_records`.
const MIXED: &str = "trip_id,driver_id,event_time,fare,status
1,7,2026-01-01T10:00:00Z,12.5,completed
2,7,2026-01-01T11:00:00Z,twelve,completed
3,8,2026-01-01T12:00:00Z,3.0,completed
4,8,2026-01-01T13:00:00Z,4.0,completed
5,9,2026-01-01T14:00:00Z,5.0,completed
";

#[tokio::test]
async fn a_file_is_not_marked_logged_before_its_dead_letters_are_written() {
    let fixture = Fixture::new(TRIPS);
    fixture.write("mixed.csv", MIXED);
    // A plain file where the source's dead-letter directory goes: the dead letters cannot be written.
    let blocked = fixture.offline().join("dead-letter");
    std::fs::create_dir_all(fixture.offline()).unwrap();
    std::fs::write(&blocked, "in the way").unwrap();
    let options = IngestOptions { chunk_records: 2 };
    let error = fixture.try_ingest("trips", &options).await.unwrap_err();
    assert!(error.to_string().contains("dead-letter"), "{error}");

    // The full chunks landed; the last one, which marks the file done, waited for the dead letters.
    // So the next run does not skip the file: it finishes it and writes them.
    let landed = fixture.logged("trips").await.len();
    assert!(landed < 4, "{landed} events landed");
    std::fs::remove_file(&blocked).unwrap();
    let reports = fixture.ingest("trips", &options).await;
    assert!(!reports[0].already_logged);
    assert_eq!(reports[0].rejected, 1);
    let letters = std::fs::read_to_string(reports[0].dead_letter.as_ref().unwrap()).unwrap();
    assert!(letters.contains("twelve"), "{letters}");
    assert_eq!(fixture.logged("trips").await.len(), 4);
    let again = fixture.ingest("trips", &options).await;
    assert!(again[0].already_logged);
    assert_eq!(again[0].dead_letter, reports[0].dead_letter);
}

/// 50 records, the second refused (so the run has a dead-letter file to write last).
fn fifty_with_one_bad() -> String {
    let mut text = String::from("trip_id,driver_id,event_time,fare,status\n");
    for i in 1..=50 {
        let fare = if i == 2 {
            "twelve".to_owned()
        } else {
            format!("{i}.5")
        };
        text.push_str(&format!(
            "{i},{},2026-01-01T00:{:02}:00Z,{fare},completed\n",
            i % 7,
            i % 60
        ));
    }
    text
}

#[tokio::test]
async fn a_resumed_ingest_keeps_the_interrupted_runs_chunks_whatever_size_it_is_given() {
    for resumed_with in [1, 3, 4, 7, 100] {
        let fixture = Fixture::new(TRIPS);
        fixture.write("fifty.csv", &fifty_with_one_bad());
        // Interrupted after its twelve full chunks of 4 landed: the dead letters cannot be written.
        let blocked = fixture.offline().join("dead-letter");
        std::fs::create_dir_all(fixture.offline()).unwrap();
        std::fs::write(&blocked, "in the way").unwrap();
        let first = IngestOptions { chunk_records: 4 };
        fixture.try_ingest("trips", &first).await.unwrap_err();
        assert_eq!(fixture.logged("trips").await.len(), 47);
        std::fs::remove_file(&blocked).unwrap();

        // Resumed with another chunk size: it goes on where the first run's chunks stopped.
        let options = IngestOptions {
            chunk_records: resumed_with,
        };
        let reports = fixture.ingest("trips", &options).await;
        let report = &reports[0];
        assert_eq!(
            (report.resumed_after, report.added, report.rejected),
            (48, 2, 1),
            "resumed with chunks of {resumed_with}"
        );
        let positions: Vec<u64> = fixture
            .logged("trips")
            .await
            .iter()
            .map(|(_, _, position)| *position)
            .collect();
        let expected: Vec<u64> = (2..=51)
            .filter(|line| *line != 3)
            .map(|line| file_position(1, line))
            .collect();
        assert_eq!(positions, expected, "resumed with chunks of {resumed_with}");
    }
}

#[tokio::test]
async fn bad_records_go_to_the_dead_letter_file_and_good_ones_are_kept() {
    let fixture = Fixture::new(TRIPS);
    fixture.write(
        "mixed.csv",
        "trip_id,driver_id,event_time,fare,status
1,7,2026-01-01T10:00:00Z,12.5,completed
2,7,2026-01-01T11:00:00Z,twelve,completed
3,,2026-01-01T12:00:00Z,3.0,completed
4,7,,3.0,completed
5,7,2026-01-01 13:00:00,3.0,completed
6,8,2026-01-01T14:00:00Z,4.0,completed
",
    );
    let reports = fixture.ingest("trips", &IngestOptions::default()).await;
    let report = &reports[0];
    assert_eq!((report.records, report.added, report.rejected), (6, 2, 4));
    let path = report.dead_letter.clone().expect("a dead-letter file");
    let letters: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows: Vec<u64> = letters.iter().map(|l| l["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, [3, 4, 5, 6]);
    assert!(letters[0]["file"].as_str().unwrap().ends_with("mixed.csv"));
    assert_eq!(letters[0]["field"], "fare");
    assert_eq!(
        letters[0]["original"],
        "2,7,2026-01-01T11:00:00Z,twelve,completed"
    );
    assert!(
        letters[1]["reason"]
            .as_str()
            .unwrap()
            .contains("join key `driver_id` is missing"),
        "{}",
        letters[1]["reason"]
    );
    assert!(
        letters[1]["reason"]
            .as_str()
            .unwrap()
            .contains("driver_trips")
    );
    assert!(
        letters[2]["reason"]
            .as_str()
            .unwrap()
            .contains("event time")
    );
    assert!(
        letters[3]["reason"]
            .as_str()
            .unwrap()
            .contains("no time zone")
    );
    let parsed: Vec<DeadLetter> = letters
        .iter()
        .map(|l| serde_json::from_value(l.clone()).unwrap())
        .collect();
    assert_eq!(parsed.len(), 4);
    let logged: Vec<i64> = fixture
        .logged("trips")
        .await
        .iter()
        .map(|(row, _, _)| match row[0] {
            Value::Int64(id) => id,
            _ => panic!("trip_id"),
        })
        .collect();
    assert_eq!(logged, [1, 6]);
}

#[tokio::test]
async fn chunked_ingest_commits_each_chunk_and_the_result_is_the_same() {
    let fixture = Fixture::new(TRIPS);
    let mut text = String::from("trip_id,driver_id,event_time,fare,status\n");
    for i in 0..100 {
        text.push_str(&format!(
            "{i},{},2026-01-01T00:{:02}:00Z,{i}.5,completed\n",
            i % 7,
            i % 60
        ));
    }
    fixture.write("many.csv", &text);
    let reports = fixture
        .ingest("trips", &IngestOptions { chunk_records: 10 })
        .await;
    assert_eq!(reports[0].added, 100);
    let log = fixture.open_log("trips").await;
    // create + 10 full chunks + the empty closing chunk that marks the file done.
    assert_eq!(log.version(), 11);
    assert_eq!(fixture.logged("trips").await.len(), 100);
}

/// Workers of one project start together and each opens the source's log: the first creates it, and
/// none may create it again (a second creation commits new table metadata, which fails every
/// concurrent append after it with "metadata changed since last commit").
#[test]
fn workers_opening_a_new_log_together_create_it_once() {
    for round in 0..8 {
        let fixture = Fixture::new(TRIPS);
        let project = fixture.project();
        let spec = project.spec.sources[0].clone();
        let offline = fixture.offline();
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let (offline, spec) = (offline.clone(), spec.clone());
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        freshet_offline::SourceLog::open(
                            &offline,
                            &spec.name,
                            &spec.schema,
                            &spec.timestamp_field,
                        )
                        .await
                        .map(|log| log.version())
                    })
                })
            })
            .collect();
        for opener in openers {
            assert_eq!(opener.join().unwrap().unwrap(), 0, "round {round}");
        }
        let commits = std::fs::read_dir(offline.join("events/trips/_delta_log"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".json")
            })
            .count();
        assert_eq!(
            commits, 1,
            "round {round}: the log was created more than once"
        );
    }
}
