//! Valid projects resolve to the spec their text means.

use super::{BASE, valid};
use freshet_engine::{Aggregation, DataType, FeatureType, Value};
use freshet_project::spec::{Connector, OnlineStoreSpec};
use freshet_project::starter::STARTER_PROJECT;
use freshet_project::{SourceFile, parse_project};

#[test]
fn base_project_resolves() {
    let spec = valid(BASE);
    assert_eq!(spec.project, "rides");
    assert!(matches!(
        spec.online_store,
        OnlineStoreSpec::Embedded { .. }
    ));
    let view = &spec.feature_views[0];
    assert_eq!(view.version, 1);
    assert_eq!(view.filter.as_deref(), Some("status = 'completed'"));
    assert_eq!(view.ttl.map(|d| d.millis()), Some(7 * 86_400_000));
    assert_eq!(view.features[1].aggregation, Aggregation::Sum);
    assert_eq!(
        view.features[1].output_type,
        FeatureType::Scalar(DataType::Float64)
    );
    assert_eq!(spec.feature_services[0].features.len(), 2);
}

#[test]
fn starter_project_validates() {
    let spec = valid(STARTER_PROJECT);
    assert!(matches!(
        spec.sources[0].connector,
        Connector::Generator { .. }
    ));
    assert_eq!(
        spec.feature_services[0].features.len(),
        7,
        "view:* expands to every feature"
    );
}

#[test]
fn compiled_views_evaluate_on_rows() {
    let text = BASE.replace(
        "    filter:",
        "    columns:\n      - {name: fare_cents, expr: \"CAST(fare * 100 AS bigint)\"}\n    filter:",
    ) .replace("column: fare, window: 24h", "column: fare_cents, window: 24h");
    let (spec, views) =
        parse_project(SourceFile::new("freshet.yaml", text), &super::env()).unwrap();
    let view = &views[0];
    assert_eq!(
        spec.feature_views[0].features[1].output_type,
        FeatureType::Scalar(DataType::Int64)
    );
    assert_eq!(view.columns.len(), 5);
    let mut row = vec![
        Value::Int64(1),
        Value::Float64(12.5),
        Value::from("completed"),
        Value::Null,
    ];
    let derived = view.def.derived[0].eval(&row);
    row.push(derived);
    assert_eq!(row[4], Value::Int64(1250));
    assert!(view.def.filter.as_ref().unwrap().eval_predicate(&row));
    let columns: Vec<Option<usize>> = view.def.features.iter().map(|f| f.column).collect();
    assert_eq!(columns, vec![None, Some(4)]);
    assert_eq!(
        (view.def.key_columns.clone(), view.def.timestamp_column),
        (vec![0], 3)
    );
    assert_eq!(view.def.features[1].window, Some(24 * 3_600_000_000));
    assert_eq!(view.def.ttl, Some(7 * 24 * 3_600_000_000));
}

#[test]
fn every_source_kind_validates() {
    let text = r#"project: all_kinds
entities: [{name: user, join_keys: [user_id]}]
sources:
  - {name: k, type: kafka, brokers: "b:9092", topic: t, start_offset: latest, timestamp_field: ts, schema: {user_id: string, ts: timestamp}}
  - {name: f, type: file, path: data/events.csv, every: 1h, timezone: "+02:00", timestamp_field: ts, schema: {user_id: string, ts: timestamp}}
  - {name: p, type: postgres, url: "postgres://u@h/db", query: "SELECT * FROM x", timestamp_field: ts, schema: {user_id: string, ts: timestamp}}
  - {name: c, type: postgres_cdc, url: "postgres://u@h/db", table: loans, timestamp_field: ts, event_id_field: id, schema: {id: int64, user_id: string, ts: timestamp}}
  - {name: h, type: push, timestamp_field: ts, ingest_time_field: seen, schema: {user_id: string, ts: timestamp, seen: timestamp}}
  - {name: g, type: generator, scenario: rides, rate: 50, entities: 10, seed: 7, speedup: 60}
feature_views:
  - {name: v, entities: [user], source: f, features: [{name: n, aggregation: count}]}
"#;
    let spec = valid(text);
    let kinds: Vec<&str> = spec.sources.iter().map(|s| s.connector.kind()).collect();
    assert_eq!(
        kinds,
        [
            "kafka",
            "file",
            "postgres",
            "postgres_cdc",
            "push",
            "generator"
        ]
    );
    match &spec.sources[3].connector {
        Connector::PostgresCdc {
            slot, publication, ..
        } => assert_eq!(
            (slot.as_str(), publication.as_str()),
            ("freshet_c", "freshet_c")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(spec.sources[1].timezone.map(|t| t.seconds), Some(7200));
    assert_eq!(spec.sources[5].timestamp_field, "event_time");
}

#[test]
fn every_aggregation_validates() {
    let mut features = String::new();
    for (i, a) in Aggregation::ALL.iter().enumerate() {
        let n = if a.takes_n() { ", n: 3" } else { "" };
        features.push_str(&format!(
            "      - {{name: f{i}, aggregation: {}, column: fare, window: 1h{n}}}\n",
            a.name()
        ));
    }
    let text = BASE.replace(
        "      - {name: trips_1h, aggregation: count, window: 1h}\n      - {name: fare_sum_24h, aggregation: sum, column: fare, window: 24h}\n",
        &features,
    ).replace("[\"driver_trips:trips_1h\", \"driver_trips:fare_sum_24h\"]", "[\"driver_trips:*\"]");
    let spec = valid(&text);
    assert_eq!(spec.feature_views[0].features.len(), Aggregation::ALL.len());
    assert_eq!(
        spec.feature_views[0].features[9].output_type,
        FeatureType::List(DataType::Float64)
    );
}

#[test]
fn a_kafka_source_reads_partitions_by_group_or_by_a_fixed_share() {
    use freshet_project::spec::PartitionAssignment;
    let assignment = |line: &str| {
        let text = super::base_with("    topic: trips\n", &format!("    topic: trips\n{line}"));
        match valid(&text).sources[0].connector {
            Connector::Kafka { assignment, .. } => assignment,
            ref other => panic!("{other:?}"),
        }
    };
    assert_eq!(assignment(""), PartitionAssignment::Group);
    assert_eq!(
        assignment("    assignment: group\n"),
        PartitionAssignment::Group
    );
    assert_eq!(
        assignment("    assignment: fixed\n"),
        PartitionAssignment::Fixed {
            worker: 0,
            workers: 1
        }
    );
    // The worker's number comes from the environment (WORKER_ID=1 in these tests).
    assert_eq!(
        assignment("    assignment: {worker: \"${WORKER_ID}\", workers: 3}\n"),
        PartitionAssignment::Fixed {
            worker: 1,
            workers: 3
        }
    );
    assert_eq!(
        assignment("    assignment: {worker: 2, workers: 3}\n"),
        PartitionAssignment::Fixed {
            worker: 2,
            workers: 3
        }
    );
}
