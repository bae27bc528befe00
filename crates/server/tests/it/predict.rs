//! `/predict` over HTTP: no production version, a served version whose answers are the model's own
//! on the features the store holds, request-time overrides, and a version refused once the project
//! redefines one of its inputs.

use crate::{EMBEDDED, Running, start};
use freshet_models::{Dataset, FeatureDefinition, ModelArtifact, TrainOptions};
use freshet_server::ServerConfig;

/// A service of the three numeric driver features, and a small regression model over it.
const MODEL: &str = r#"  - {name: pricing, features: ["driver_trips:trips_10m", "driver_trips:fare_sum_1h", "driver_trips:fare_mean"]}
models:
  - {name: fare, feature_service: pricing, label: {source: trips, column: fare}, task: regression, algorithm: gbdt, params: {trees: 10, max_depth: 3}}
"#;

/// Trains `fare` on rows where the label follows the inputs, stores it and makes it production.
fn train_and_promote(running: &Running) -> ModelArtifact {
    let artifact = train(running);
    let project = running.project();
    freshet_server::model_registry(&project)
        .promote("fare", artifact.version)
        .unwrap();
    running.app.reload_models(&project);
    artifact
}

/// Trains `fare` on rows where the label follows the inputs and stores it as the next version.
fn train(running: &Running) -> ModelArtifact {
    let project = running.project();
    let spec = &project.spec.models[0];
    let features = FeatureDefinition::of_service(&project, "pricing").unwrap();
    let rows = 60;
    let mut values = Vec::new();
    values.extend((0..rows).map(|r| (r % 4) as f64));
    values.extend((0..rows).map(|r| (r % 7) as f64 * 10.0));
    values.extend((0..rows).map(|r| if r % 5 == 0 { f64::NAN } else { r as f64 }));
    let data = Dataset {
        features: features.iter().map(FeatureDefinition::reference).collect(),
        labels: (0..rows).map(|r| (r % 7) as f64 * 10.0 + 5.0).collect(),
        times: (0..rows as i64).collect(),
        values,
    };
    let trained =
        freshet_models::train(spec, &data, 0, &TrainOptions::default(), &mut |_| {}).unwrap();
    let mut artifact = ModelArtifact::new(spec, features, trained, "2026-01-01T00:00:00Z".into());
    freshet_server::model_registry(&project)
        .save(&mut artifact)
        .unwrap();
    artifact
}

#[tokio::test]
async fn predictions_are_the_production_models_answers_until_its_inputs_are_redefined() {
    let running = start(&format!("{MODEL}{EMBEDDED}"), ServerConfig::default()).await;
    let ask =
        r#"{"model": "fare", "entities": {"driver_id": [1, 2, 99]}, "return_features": true}"#;

    let (status, body) = running.post("/predict", ask).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("no production version")
    );

    let artifact = train_and_promote(&running);
    let (status, body) = running.post("/predict", ask).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 1);
    let used = body["features"]["values"].as_array().unwrap();
    // The inputs are the engine's answers as of the server's clock; unknown driver 99 has none.
    let now = running.clock.load(std::sync::atomic::Ordering::Relaxed);
    let engine = running.views[0]
        .read(&freshet_engine::EntityKey::int(1), now, i64::MAX)
        .unwrap();
    let expected: Vec<f64> = [0, 1, 2]
        .iter()
        .map(|&f| freshet_models::input::model_input(&engine.values[f]))
        .collect();
    let inputs = |row: usize| -> Vec<f64> {
        used[row]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect()
    };
    assert_eq!(inputs(0), expected);
    assert!(inputs(2).iter().all(|v| v.is_nan()));
    for row in 0..3 {
        assert_eq!(
            body["predictions"][row].as_f64().unwrap(),
            artifact.estimator.predict_row(&inputs(row))
        );
    }

    // A request-time value replaces the stored one for its entity.
    let (status, body) = running
        .post(
            "/predict",
            r#"{"model": "fare", "entities": {"driver_id": [1]}, "features": {"driver_trips:fare_sum_1h": [60]}}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let overridden = [expected[0], 60.0, expected[2]];
    assert_eq!(
        body["predictions"][0].as_f64().unwrap(),
        artifact.estimator.predict_row(&overridden)
    );

    // The project changes what `fare_mean` means: the served version is refused, naming it.
    let file = running.dir().join("freshet.yaml");
    let text = std::fs::read_to_string(&file).unwrap().replace(
        "{name: fare_mean, aggregation: mean, column: fare}",
        "{name: fare_mean, aggregation: mean, column: fare, window: 1h}",
    );
    std::fs::write(&file, text).unwrap();
    running.app.reload_models(&running.project());
    let (status, body) = running.post("/predict", ask).await;
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("driver_trips:fare_mean"), "{message}");
    assert!(
        message.contains("freshet train --model fare --promote"),
        "{message}"
    );

    let (status, body) = running
        .post(
            "/predict",
            r#"{"model": "tip", "entities": {"driver_id": [1]}}"#,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["message"].as_str().unwrap().contains("fare"), "{body}");
}

/// The version `/predict` answers with, once it is `expected` (a running server follows the
/// registry on its own schedule).
async fn served_version(running: &Running, expected: u64) -> u64 {
    let ask = r#"{"model": "fare", "entities": {"driver_id": [1]}}"#;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, body) = running.post("/predict", ask).await;
        let version = body["version"].as_u64().unwrap_or(0);
        if version == expected || std::time::Instant::now() > deadline {
            return version;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn promotions_and_rollbacks_in_the_registry_reach_a_running_server() {
    let running = start(&format!("{MODEL}{EMBEDDED}"), ServerConfig::default()).await;
    let first = train(&running);
    let second = train(&running);
    assert_eq!((first.version, second.version), (1, 2));
    tokio::spawn(freshet_server::predict::follow_promotions(
        running.app.clone(),
        running.project(),
        std::time::Duration::from_millis(20),
    ));
    let registry = freshet_server::model_registry(&running.project());
    registry.promote("fare", 1).unwrap();
    assert_eq!(served_version(&running, 1).await, 1);
    registry.promote("fare", 2).unwrap();
    assert_eq!(served_version(&running, 2).await, 2);
    assert_eq!(registry.rollback("fare").unwrap(), 1);
    assert_eq!(served_version(&running, 1).await, 1);
}
