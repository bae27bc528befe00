//! A stored model is refused when its input features were removed or redefined since training.

use freshet_models::{FeatureDefinition, Mismatch, ModelArtifact, TrainOptions, train};
use freshet_project::{Project, SourceFile};
use std::collections::HashMap;

const PROJECT: &str = r#"
project: rides
entities: [{name: driver, join_keys: [driver_id]}]
sources:
  - name: trips
    type: generator
    scenario: rides
  - name: labels
    type: file
    path: labels.parquet
    timestamp_field: observed_at
    schema: {driver_id: int64, observed_at: timestamp, churned: bool}
feature_views:
  - name: driver_trips
    entities: [driver]
    source: trips
    features:
      - {name: trips_24h, aggregation: count, window: 24h}
      - {name: fare_sum_24h, aggregation: sum, column: fare, window: 24h}
feature_services:
  - {name: svc, features: ["driver_trips:*"]}
models:
  - {name: churn, feature_service: svc, label: {source: labels, column: churned}, algorithm: linear}
"#;

fn project(text: &str) -> Project {
    let (spec, views) = freshet_project::parse_project(
        SourceFile::new("freshet.yaml", text),
        &HashMap::<String, String>::new(),
    )
    .unwrap();
    Project {
        dir: ".".into(),
        spec,
        views,
    }
}

fn artifact(project: &Project) -> ModelArtifact {
    let features = FeatureDefinition::of_service(project, "svc").unwrap();
    let rows = 100;
    let data = freshet_models::Dataset {
        features: features.iter().map(FeatureDefinition::reference).collect(),
        values: (0..rows * 2).map(|x| (x % 7) as f64).collect(),
        labels: (0..rows).map(|r| (r % 2) as f64).collect(),
        times: (0..rows as i64).collect(),
    };
    let spec = &project.spec.models[0];
    let trained = train(spec, &data, 0, &TrainOptions::default(), &mut |_| {}).unwrap();
    ModelArtifact::new(spec, features, trained, "2026-11-21T00:00:00Z".into())
}

#[test]
fn unchanged_features_serve() {
    let p = project(PROJECT);
    assert_eq!(artifact(&p).check(&p), vec![]);
    // Changes elsewhere (descriptions, other views) do not matter.
    let described = PROJECT.replace("project: rides", "project: rides\n# a comment");
    assert_eq!(artifact(&p).check(&project(&described)), vec![]);
}

#[test]
fn a_redefined_or_removed_feature_is_named() {
    let trained = artifact(&project(PROJECT));
    let wider = project(&PROJECT.replace("count, window: 24h", "count, window: 48h"));
    assert_eq!(
        trained.check(&wider),
        vec![Mismatch::Changed {
            feature: "driver_trips:trips_24h".into(),
            parts: vec!["feature".into()],
        }]
    );
    let filtered = project(&PROJECT.replace(
        "    source: trips\n    features:",
        "    source: trips\n    filter: \"status = 'completed'\"\n    features:",
    ));
    let changed = trained.check(&filtered);
    assert_eq!(changed.len(), 2);
    assert!(
        changed[0]
            .to_string()
            .contains("changed since training (filter)"),
        "{}",
        changed[0]
    );
    let removed = project(&PROJECT.replace(
        "      - {name: fare_sum_24h, aggregation: sum, column: fare, window: 24h}\n",
        "",
    ));
    assert_eq!(
        trained.check(&removed),
        vec![Mismatch::Missing {
            feature: "driver_trips:fare_sum_24h".into(),
        }]
    );
}
