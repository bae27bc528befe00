//! `freshet demo` end to end: stream, train, serve features and predictions over HTTP; then the
//! served model's online predictions equal its batch predictions on the same instant.

use crate::{freshet, poll, stdout};
use arrow_array::Array;
use freshet_testkit::ports;
use std::process::{Command, Stdio};
use std::time::Duration;

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn body(response: &str) -> serde_json::Value {
    let json = response.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(json).unwrap_or(serde_json::Value::Null)
}

#[test]
fn the_demo_streams_trains_and_serves_predictions_that_match_batch_scoring() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("demo");
    let port = ports::reserve();
    let demo = Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args([
            "demo",
            "--json",
            "--duration",
            "45",
            "--drivers",
            "500",
            "--rate",
            "500",
        ])
        .args([
            "--port",
            &port.to_string(),
            "--dir",
            project.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Before the model is trained /predict answers 409; then 200 with one probability per entity.
    let request = post(
        "/predict",
        r#"{"model": "churn", "entities": {"driver_id": [1, 2, 3]}, "return_features": true}"#,
    );
    let answer = poll(
        port,
        &request,
        |a| a.starts_with("HTTP/1.1 200"),
        Duration::from_secs(120),
    );
    let answer = body(&answer);
    assert_eq!(answer["version"], 1, "{answer}");
    let predictions = answer["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), 3);
    assert!(
        predictions
            .iter()
            .all(|p| (0.0..=1.0).contains(&p.as_f64().unwrap()))
    );
    assert_eq!(answer["features"]["names"].as_array().unwrap().len(), 7);
    assert_eq!(answer["features"]["values"][0].as_array().unwrap().len(), 7);

    // Request-time values override the store's; a name the model does not read is a 400.
    let overridden = poll(
        port,
        &post(
            "/predict",
            r#"{"model": "churn", "entities": {"driver_id": [1]}, "features": {"driver_trips:trips_7d": [0]}, "return_features": true}"#,
        ),
        |a| a.starts_with("HTTP/1.1 200"),
        Duration::from_secs(5),
    );
    let overridden = body(&overridden);
    let names = overridden["features"]["names"].as_array().unwrap();
    let at = names
        .iter()
        .position(|n| n == "driver_trips:trips_7d")
        .unwrap();
    assert_eq!(overridden["features"]["values"][0][at], 0.0);
    let refused = poll(
        port,
        &post(
            "/predict",
            r#"{"model": "churn", "entities": {"driver_id": [1]}, "features": {"nope:x": [1]}}"#,
        ),
        |a| !a.is_empty(),
        Duration::from_secs(5),
    );
    assert!(
        refused.starts_with("HTTP/1.1 400") && refused.contains("its inputs"),
        "{refused}"
    );
    let unknown = poll(
        port,
        &post(
            "/predict",
            r#"{"model": "nope", "entities": {"driver_id": [1]}}"#,
        ),
        |a| !a.is_empty(),
        Duration::from_secs(5),
    );
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");

    // Features are served too, Feast-style.
    let features = poll(
        port,
        &post(
            "/get-online-features",
            r#"{"feature_service": "churn_features", "entities": {"driver_id": [1, 2]}}"#,
        ),
        |a| a.starts_with("HTTP/1.1 200"),
        Duration::from_secs(5),
    );
    let features = body(&features);
    assert_eq!(
        features["metadata"]["feature_names"]
            .as_array()
            .unwrap()
            .len(),
        8
    );

    let output = demo.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    // The generator's planted signal is learnt: far above chance, and above the linear baseline.
    let auc = report["model"]["metrics"]["auc"].as_f64().unwrap();
    assert!(auc >= 0.75, "validation AUC {auc}");

    // Online (store) and batch (event log, point in time) predictions agree at the stream's end.
    let end = report["run"]["simulated_now"].as_i64().unwrap();
    let at = chrono::DateTime::from_timestamp_micros(end)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let drivers = [1i64, 2, 3, 10, 42, 99, 250, 499];
    let mut spine = String::from("driver_id,event_timestamp\n");
    for d in drivers {
        spine.push_str(&format!("{d},{at}\n"));
    }
    std::fs::write(project.join("spine.csv"), spine).unwrap();
    let p = project.to_str().unwrap();
    let batch = freshet(
        &project,
        &[
            "predict",
            "-p",
            p,
            "--model",
            "churn",
            "--spine",
            "spine.csv",
            "--out",
            "scores.parquet",
        ],
    );
    assert!(
        batch.status.success(),
        "{}",
        String::from_utf8_lossy(&batch.stderr)
    );
    let file = std::fs::File::open(project.join("scores.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut scores = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = batch.column_by_name("prediction").unwrap();
        let column = column
            .as_any()
            .downcast_ref::<arrow_array::Float64Array>()
            .unwrap();
        scores.extend((0..column.len()).map(|i| column.value(i)));
    }
    assert_eq!(scores.len(), drivers.len());
    for (d, batch_score) in drivers.iter().zip(scores) {
        let online = freshet(
            &project,
            &[
                "predict",
                "-p",
                p,
                "--json",
                "--model",
                "churn",
                "--entity",
                &format!("driver_id={d}"),
                "--at",
                &at,
            ],
        );
        assert!(
            online.status.success(),
            "{}",
            String::from_utf8_lossy(&online.stderr)
        );
        let online: serde_json::Value = serde_json::from_str(&stdout(&online)).unwrap();
        let online_score = online["predictions"][0].as_f64().unwrap();
        assert_eq!(
            online_score.to_bits(),
            batch_score.to_bits(),
            "driver {d}: online {online_score} batch {batch_score}"
        );
    }
}
