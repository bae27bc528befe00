//! Integration tests of the project model: one binary, one module per concern.

// Test helpers may fail loudly: a panic is how a test reports a broken assumption.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bad_input;
mod docs;
mod plan;
mod registry;
mod valid;

use freshet_project::{Diagnostics, ProjectSpec, SourceFile, parse_project};
use std::collections::HashMap;

/// A small valid project the tests mutate by text replacement.
pub(crate) const BASE: &str = r#"project: rides
entities:
  - name: driver
    join_keys: [driver_id]
sources:
  - name: trips
    type: kafka
    brokers: 127.0.0.1:9092
    topic: trips
    timestamp_field: event_time
    schema: {driver_id: int64, fare: float64, status: string, event_time: timestamp}
feature_views:
  - name: driver_trips
    entities: [driver]
    source: trips
    filter: "status = 'completed'"
    ttl: 7d
    features:
      - {name: trips_1h, aggregation: count, window: 1h}
      - {name: fare_sum_24h, aggregation: sum, column: fare, window: 24h}
feature_services:
  - {name: churn_v1, features: ["driver_trips:trips_1h", "driver_trips:fare_sum_24h"]}
"#;

pub(crate) fn env() -> HashMap<String, String> {
    HashMap::from([
        ("REDIS_PASSWORD".to_owned(), "hunter2".to_owned()),
        ("PG_PASSWORD".to_owned(), "pg-secret".to_owned()),
        ("API_TOKEN".to_owned(), "a-long-random-token".to_owned()),
        ("EMPTY".to_owned(), String::new()),
        ("WORKER_ID".to_owned(), "1".to_owned()),
        ("BAD_WORKER_ID".to_owned(), "one".to_owned()),
    ])
}

pub(crate) fn parse(text: &str) -> Result<ProjectSpec, Diagnostics> {
    parse_project(SourceFile::new("freshet.yaml", text), &env()).map(|(spec, _)| spec)
}

pub(crate) fn valid(text: &str) -> ProjectSpec {
    parse(text).unwrap_or_else(|d| panic!("expected a valid project:\n{}", d.render()))
}

/// The single problem in `text`, as (line, column, path, message, help).
pub(crate) fn single_error(text: &str) -> (usize, usize, String, String, String) {
    let d = match parse(text) {
        Ok(_) => panic!("expected an error in:\n{text}"),
        Err(d) => d,
    };
    let json = d.to_json();
    assert_eq!(json.len(), 1, "expected one error, got:\n{}", d.render());
    let e = &json[0];
    (
        e.line.unwrap_or(0),
        e.column.unwrap_or(0),
        e.path.unwrap_or_default().to_owned(),
        e.message.to_owned(),
        e.help.unwrap_or_default().to_owned(),
    )
}

/// `BASE` with one replacement, which must apply.
pub(crate) fn base_with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE does not contain {from:?}");
    BASE.replacen(from, to, 1)
}

mod robustness;
