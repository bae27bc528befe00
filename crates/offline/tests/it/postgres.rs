//! `freshet ingest` of a PostgreSQL table or query, against a real server: each row lands once however
//! often the source is read, new rows arrive on the next run, bad rows go to the dead-letter file, and
//! problems with the relation itself are refused before anything is written.

use crate::Fixture;
use freshet_engine::{Timestamp, Value};
use freshet_offline::ingest::{
    IngestError, IngestOptions, RelationReport, SourceReport, ingest_batch_source,
};
use freshet_offline::layout::content_position;
use freshet_testkit::postgres::PostgresServer;

/// A project reading `source_yaml` (the source's connector keys) as source `loans`, with one view.
fn project(url: &str, source_yaml: &str, schema: &str) -> String {
    format!(
        r#"project: loans
entities:
  - {{name: applicant, join_keys: [user_id]}}
sources:
  - name: loans
    type: postgres
    url: "{url}"
    {source_yaml}
    timestamp_field: applied_at
    schema: {schema}
feature_views:
  - name: applicant_loans
    entities: [applicant]
    source: loans
    features:
      - {{name: loans_30d, aggregation: count, window: 30d}}
      - {{name: amount_sum, aggregation: sum, column: amount}}
"#
    )
}

const SCHEMA: &str = "{id: int64, user_id: string, amount: float64, applied_at: timestamp}";

const TABLE: &str = "CREATE TABLE loans (id bigint, user_id text, amount integer, status text, \
                     applied_at timestamptz);
INSERT INTO loans VALUES
  (1, 'ann', 1000, 'new', '2026-03-01T10:00:00Z'),
  (2, 'bob', 2500, 'new', '2026-03-02T11:30:00+01:00'),
  (3, 'ann', 400, 'new', NULL);";

async fn ingest(fixture: &Fixture, options: &IngestOptions) -> Result<RelationReport, IngestError> {
    let project = fixture.project();
    let spec = project.spec.sources[0].clone();
    let views = freshet_offline::views_of_source(&project, &spec.name);
    let mut log = fixture.open_log(&spec.name).await;
    let report = ingest_batch_source(
        &mut log,
        fixture.path(),
        &fixture.offline(),
        &spec,
        &views,
        options,
        &mut |_| {},
    )
    .await?;
    match report {
        SourceReport::Relation(r) => Ok(r),
        SourceReport::Files(_) => panic!("a postgres source reported files"),
    }
}

fn counts(r: &RelationReport) -> (u64, u64, u64, u64) {
    (r.records, r.added, r.already_logged, r.rejected)
}

#[tokio::test]
async fn each_row_lands_once_and_later_rows_arrive_on_the_next_run() {
    let pg = PostgresServer::start();
    pg.execute(TABLE);
    let fixture = Fixture::new(&project(&pg.url(), "table: loans", SCHEMA));
    let first = ingest(&fixture, &IngestOptions::default()).await.unwrap();
    assert_eq!(counts(&first), (3, 2, 0, 1));
    assert_eq!(first.relation, "table `loans`");

    // The refused row is explained in the dead-letter file.
    let dead = std::fs::read_to_string(first.dead_letter.as_ref().unwrap()).unwrap();
    assert_eq!(dead.lines().count(), 1);
    assert!(dead.contains("the event time is missing"), "{dead}");
    assert!(dead.contains(r#""field":"applied_at""#), "{dead}");
    assert!(dead.contains(r#"\"user_id\":\"ann\""#), "{dead}");

    // The events carry their values, the event time as ingest time, and a content position.
    let logged = fixture.logged("loans").await;
    assert_eq!(logged.len(), 2);
    let bob = logged.iter().find(|e| e.0[0] == Value::Int64(2)).unwrap();
    let t = Timestamp(1_772_447_400_000_000); // 2026-03-02T10:30:00Z
    assert_eq!(
        bob.0,
        vec![
            Value::Int64(2),
            Value::String("bob".into()),
            Value::Float64(2500.0),
            Value::Timestamp(t)
        ]
    );
    assert_eq!((bob.1, bob.2), (t.micros(), content_position(&bob.0, None)));

    // Reading again adds nothing.
    let again = ingest(&fixture, &IngestOptions::default()).await.unwrap();
    assert_eq!(counts(&again), (3, 0, 2, 1));

    // New rows, a fixed row and a changed row arrive; a deleted row stays in the log.
    pg.execute(
        "INSERT INTO loans VALUES (4, 'cy', 90, 'new', '2026-03-05T00:00:00Z');
         UPDATE loans SET applied_at = '2026-03-01T12:00:00Z' WHERE id = 3;
         UPDATE loans SET amount = 1100 WHERE id = 1;
         DELETE FROM loans WHERE id = 2;",
    );
    let third = ingest(&fixture, &IngestOptions::default()).await.unwrap();
    assert_eq!(counts(&third), (3, 3, 0, 0));
    assert!(
        third.dead_letter.is_none(),
        "the fixed row's letter is gone"
    );
    assert!(
        !fixture
            .offline()
            .join("dead-letter/loans/postgres.jsonl")
            .exists()
    );
    let ids: Vec<Value> = fixture
        .logged("loans")
        .await
        .into_iter()
        .map(|e| e.0[0].clone())
        .collect();
    assert_eq!(ids.len(), 5);
    for id in [1, 2, 3, 4] {
        assert!(ids.contains(&Value::Int64(id)), "{ids:?}");
    }
}

#[tokio::test]
async fn an_event_id_identifies_a_row_and_chunks_commit_separately() {
    let pg = PostgresServer::start();
    pg.execute(TABLE);
    pg.execute("INSERT INTO loans SELECT i, 'u' || (i % 7), i, 'new', \
                '2026-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(10, 39) i;");
    let source = "table: loans\n    event_id_field: id";
    let fixture = Fixture::new(&project(&pg.url(), source, SCHEMA));
    let options = IngestOptions { chunk_records: 7 };
    let first = ingest(&fixture, &options).await.unwrap();
    assert_eq!(counts(&first), (33, 32, 0, 1));
    // 32 rows in chunks of at least 7: several commits, each atomic.
    assert!(fixture.open_log("loans").await.version() >= 3);
    let positions: Vec<u64> = fixture.logged("loans").await.iter().map(|e| e.2).collect();
    let mut unique = positions.clone();
    unique.dedup();
    assert_eq!(unique.len(), 32);

    // With an event id, a changed row is the same event: nothing is added.
    pg.execute("UPDATE loans SET amount = amount + 1;");
    let again = ingest(&fixture, &options).await.unwrap();
    assert_eq!(counts(&again), (33, 0, 32, 1));
}

#[tokio::test]
async fn a_query_reads_its_columns_and_positions_do_not_depend_on_row_order() {
    let pg = PostgresServer::start();
    pg.execute(TABLE);
    let schema = "{user_id: string, amount: float64, applied_at: timestamp}";
    let mut runs = Vec::new();
    for order in ["ASC", "DESC"] {
        let query = format!(
            "query: \"SELECT user_id, amount::float8 * 2 AS amount, applied_at FROM loans \
             WHERE applied_at IS NOT NULL ORDER BY id {order};\""
        );
        let fixture = Fixture::new(&project(&pg.url(), &query, schema));
        let report = ingest(&fixture, &IngestOptions::default()).await.unwrap();
        assert_eq!(counts(&report), (2, 2, 0, 0));
        assert_eq!(report.relation, "the query of source `loans`");
        // Sorted by position, which is the same whatever order the rows came in.
        runs.push(fixture.logged("loans").await);
    }
    assert_eq!(runs[0], runs[1]);
    let ann = runs[0]
        .iter()
        .find(|e| e.0[0] == Value::String("ann".into()))
        .unwrap();
    assert_eq!(ann.0[1], Value::Float64(2000.0));
}

#[tokio::test]
async fn zoneless_times_follow_the_source_timezone_and_infinite_ones_are_refused() {
    let pg = PostgresServer::start();
    pg.execute(
        "CREATE TABLE loans (id bigint, user_id text, amount float8, applied_at timestamp);
         INSERT INTO loans VALUES (1, 'ann', 1, '2026-03-01 12:00:00'), (2, 'bob', 2, 'infinity');",
    );
    let source = "table: loans\n    timezone: \"+02:00\"";
    let fixture = Fixture::new(&project(&pg.url(), source, SCHEMA));
    let report = ingest(&fixture, &IngestOptions::default()).await.unwrap();
    assert_eq!(counts(&report), (2, 1, 0, 1));
    let logged = fixture.logged("loans").await;
    // 12:00 at +02:00 is 10:00 UTC.
    assert_eq!(
        logged[0].0[3],
        Value::Timestamp(Timestamp(1_772_359_200_000_000))
    );
    let dead = std::fs::read_to_string(report.dead_letter.unwrap()).unwrap();
    assert!(dead.contains("the timestamp is infinite"), "{dead}");
    assert!(dead.contains(r#""field":"applied_at""#), "{dead}");
}

/// Ingests and expects a refusal whose message holds every one of `needles`; the log stays empty.
async fn refused(url: &str, source: &str, schema: &str, needles: &[&str]) {
    let fixture = Fixture::new(&project(url, source, schema));
    let error = ingest(&fixture, &IngestOptions::default())
        .await
        .unwrap_err()
        .to_string();
    for needle in needles {
        assert!(error.contains(needle), "{error:?} lacks {needle:?}");
    }
    assert!(fixture.logged("loans").await.is_empty());
}

#[tokio::test]
async fn problems_with_the_relation_name_the_place_and_the_fix_and_write_nothing() {
    let pg = PostgresServer::start();
    pg.execute(TABLE);
    pg.execute(
        "CREATE TABLE naive (id bigint, user_id text, amount numeric, applied_at timestamp);",
    );
    let url = pg.url();
    refused(
        &url,
        "table: missing",
        SCHEMA,
        &["source `loans`", "\"missing\" does not exist"],
    )
    .await;
    refused(
        &url,
        "table: loans",
        "{id: int64, user_id: string, amount: float64, applied_at: timestamp, score: float64}",
        &[
            "table `loans` has no column `score`",
            "it has: id, user_id, amount, status, applied_at",
        ],
    )
    .await;
    refused(
        &url,
        "table: naive",
        "{id: int64, user_id: string, amount: int64, applied_at: timestamptz}"
            .replace("tz", "")
            .as_str(),
        &["column `amount` of table `naive` is `numeric`", "::bigint"],
    )
    .await;
    refused(
        &url,
        "query: \"SELECT id, user_id, 1.5::float8 AS amount, applied_at FROM naive\"",
        SCHEMA,
        &["column `applied_at`", "`timestamp`", "timezone: UTC"],
    )
    .await;
    refused(
        &url,
        "query: \"SELEC nonsense\"",
        SCHEMA,
        &["the query of source `loans`", "syntax error"],
    )
    .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = format!("postgres://ann:secret@127.0.0.1:{port}/loans");
    let fixture = Fixture::new(&project(&nobody, "table: loans", SCHEMA));
    let error = ingest(&fixture, &IngestOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cannot connect to PostgreSQL at 127.0.0.1"),
        "{error}"
    );
    assert!(error.contains(&format!("{port}/loans")), "{error}");
    assert!(!error.contains("secret"), "the password leaked: {error}");
}

/// One step of a table's life before an ingest: rows inserted as (user, amount, minute or a null
/// event time), then rows deleted (those with an amount below a bound), then a run with this chunk size.
#[derive(Debug, Clone)]
struct Step {
    inserts: Vec<(u8, i8, Option<u8>)>,
    delete_below: Option<i8>,
    chunk: u64,
}

fn steps() -> impl proptest::strategy::Strategy<Value = Vec<Step>> {
    use proptest::prelude::*;
    // Small domains, so identical rows (one event) and re-inserted deleted rows both happen.
    let insert = (0u8..3, -3i8..3, proptest::option::weighted(0.9, 0u8..20));
    let step = (
        proptest::collection::vec(insert, 0..10),
        proptest::option::of(-3i8..3),
        1u64..5,
    )
        .prop_map(|(inserts, delete_below, chunk)| Step {
            inserts,
            delete_below,
            chunk,
        });
    proptest::collection::vec(step, 1..5)
}

/// Against a naive oracle (the set of distinct rows the table held at any run): after every run the
/// log holds each of them exactly once, and nothing else, whatever the chunk sizes, repeats and deletes.
#[test]
fn the_log_holds_every_distinct_row_ever_read_exactly_once() {
    use proptest::test_runner::{Config, TestRunner};
    use std::collections::BTreeSet;
    let pg = PostgresServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(16);
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let table = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&steps(), |steps| {
        let number = table.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("life_{number}");
        pg.execute(&format!(
            "CREATE TABLE {name} (user_id text, amount float8, applied_at timestamptz);"
        ));
        let schema = "{user_id: string, amount: float64, applied_at: timestamp}";
        let fixture = Fixture::new(&project(&pg.url(), &format!("table: {name}"), schema));
        let mut ever: BTreeSet<(String, i64, i64)> = BTreeSet::new();
        let mut table_rows: Vec<(String, i8, Option<u8>)> = Vec::new();
        for step in &steps {
            for &(user, amount, minute) in &step.inserts {
                let user = format!("u{user}");
                let time = minute.map_or("NULL".to_owned(), |m| {
                    format!("'2026-01-01T00:00:00Z'::timestamptz + interval '{m} minutes'")
                });
                pg.execute(&format!(
                    "INSERT INTO {name} VALUES ('{user}', {amount}, {time});"
                ));
                table_rows.push((user, amount, minute));
            }
            if let Some(bound) = step.delete_below {
                pg.execute(&format!("DELETE FROM {name} WHERE amount < {bound};"));
                table_rows.retain(|r| r.1 >= bound);
            }
            let before = ever.len() as u64;
            for (user, amount, minute) in &table_rows {
                if let Some(m) = minute {
                    ever.insert((user.clone(), i64::from(*amount), i64::from(*m)));
                }
            }
            let options = IngestOptions {
                chunk_records: step.chunk,
            };
            let report = runtime.block_on(ingest(&fixture, &options)).unwrap();
            let nulls = table_rows.iter().filter(|r| r.2.is_none()).count() as u64;
            assert_eq!(report.records, table_rows.len() as u64);
            assert_eq!(report.rejected, nulls);
            assert_eq!(report.added, ever.len() as u64 - before, "{steps:?}");
            let logged = runtime.block_on(fixture.logged("loans"));
            let got: Vec<(String, i64, i64)> = logged
                .iter()
                .map(|(row, _, _)| match row.as_slice() {
                    [Value::String(u), Value::Float64(a), Value::Timestamp(t)] => (
                        u.to_string(),
                        *a as i64,
                        (t.micros() - 1_767_225_600_000_000) / 60_000_000,
                    ),
                    other => panic!("unexpected row {other:?}"),
                })
                .collect();
            let distinct: BTreeSet<_> = got.iter().cloned().collect();
            assert_eq!(
                got.len(),
                distinct.len(),
                "a row was logged twice: {steps:?}"
            );
            assert_eq!(distinct, ever, "{steps:?}");
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
