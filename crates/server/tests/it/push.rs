//! `POST /push`: read-after-write, no lost events under concurrent pushes, the event log for `offline`,
//! and bad pushes refused whole with the row and field named.

use crate::{MINUTE, T0, start};
use freshet_server::ServerConfig;
use serde_json::json;

const EMBEDDED: &str = "online_store: {type: embedded, path: online}\n";

fn trip(driver: i64, minute: i64, fare: f64) -> String {
    let time = chrono::DateTime::from_timestamp_micros(T0 + minute * MINUTE)
        .unwrap()
        .to_rfc3339();
    format!(
        r#"{{"push_source_name": "trips", "df": {{"driver_id": [{driver}], "city": ["paris"], "zone_id": [1], "event_time": ["{time}"], "fare": [{fare}], "status": ["completed"]}}}}"#
    )
}

async fn trips_10m(running: &crate::Running, driver: i64) -> serde_json::Value {
    let body = format!(
        r#"{{"features": ["driver_trips:trips_10m", "driver_trips:fare_sum_1h"], "entities": {{"driver_id": [{driver}]}}}}"#
    );
    let (status, answer) = running.post("/get-online-features", &body).await;
    assert_eq!(status, 200, "{answer}");
    json!([
        answer["results"][1]["values"][0],
        answer["results"][2]["values"][0]
    ])
}

#[tokio::test]
async fn a_lookup_after_a_push_sees_it_and_concurrent_pushes_lose_nothing() {
    let running = start(EMBEDDED, ServerConfig::default()).await;
    assert_eq!(trips_10m(&running, 9).await, json!([null, null]));
    let (status, answer) = running.post("/push", &trip(9, 30, 4.5)).await;
    assert_eq!(
        (status, answer),
        (200, json!({"status": "ok", "events": 1}))
    );
    assert_eq!(trips_10m(&running, 9).await, json!([1, 4.5]));

    // Driver 1 already has three trips (one in the last 10 minutes); 24 concurrent pushes add 24.
    let mut pushes = tokio::task::JoinSet::new();
    for i in 0..24 {
        let client = running.client.clone();
        let url = format!("{}/push", running.url);
        let body = trip(1, 25 + i % 6, 1.0);
        pushes.spawn(async move {
            client
                .post(url)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    while let Some(status) = pushes.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(
        trips_10m(&running, 1).await,
        json!([25, 53.75]),
        "no pushed event may be lost"
    );
}

#[tokio::test]
async fn pushing_offline_appends_to_the_event_log() {
    let running = start(EMBEDDED, ServerConfig::default()).await;
    let mut body: serde_json::Value = serde_json::from_str(&trip(5, 30, 2.0)).unwrap();
    body["to"] = json!("online_and_offline");
    let (status, _) = running.post("/push", &body.to_string()).await;
    assert_eq!(status, 200);
    body["to"] = json!("offline");
    body["df"]["fare"] = json!([3.0]);
    let (status, _) = running.post("/push", &body.to_string()).await;
    assert_eq!(status, 200);
    // Online saw only the first; the log holds both.
    assert_eq!(trips_10m(&running, 5).await, json!([1, 2.0]));
    let table = running.dir().join(".freshet/offline/events/trips");
    let log = freshet_offline::SourceLog::open(
        &running.dir().join(".freshet/offline"),
        "trips",
        &running.project().spec.sources[0].schema,
        "event_time",
    )
    .await
    .unwrap();
    assert!(table.join("_delta_log").is_dir());
    let mut fares = Vec::new();
    freshet_offline::scan::scan_files(&log.files().unwrap(), log.fields(), |e| {
        fares.push(e.row[4].clone())
    })
    .unwrap();
    fares.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    assert_eq!(
        fares,
        [
            freshet_engine::Value::Float64(2.0),
            freshet_engine::Value::Float64(3.0)
        ]
    );
}

#[tokio::test]
async fn bad_pushes_are_refused_whole() {
    let running = start(EMBEDDED, ServerConfig::default()).await;
    let good: serde_json::Value = serde_json::from_str(&trip(3, 30, 2.0)).unwrap();
    let with = |path: &str, value: serde_json::Value| {
        let mut body = good.clone();
        body["df"][path] = value;
        body.to_string()
    };
    let two_rows = {
        let mut body = good.clone();
        for column in [
            "driver_id",
            "city",
            "zone_id",
            "event_time",
            "fare",
            "status",
        ] {
            let v = body["df"][column][0].clone();
            body["df"][column] = json!([v.clone(), v]);
        }
        body["df"]["fare"] = json!([1.0, "lots"]);
        body.to_string()
    };
    let cases = [
        (
            good.to_string().replace("\"trips\"", "\"trip\""),
            "unknown_push_source",
            "unknown push source `trip` (push sources: trips)",
        ),
        (
            with("colour", json!(["red"])),
            "unknown_column",
            "df.colour: source `trips` has no column `colour`",
        ),
        (
            two_rows,
            "invalid_value",
            "df.fare[1]: expected float64, found a string",
        ),
        (
            with("event_time", json!(["2026-01-01 00:30:00"])),
            "invalid_value",
            "df.event_time[0]: timestamp `2026-01-01 00:30:00` has no time zone",
        ),
        (
            with("event_time", json!([null])),
            "invalid_value",
            "df.event_time[0]: the event time is missing",
        ),
        (
            with("driver_id", json!([null])),
            "invalid_value",
            "join key `driver_id` is missing (needed by feature view `driver_trips`)",
        ),
        (
            with("fare", json!([1.0, 2.0])),
            "invalid_df",
            "df.fare has 2 values but df.driver_id has 1",
        ),
    ];
    for (body, code, message) in cases {
        let (status, answer) = running.post("/push", &body).await;
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some(code)),
            "{answer}"
        );
        let text = answer["message"].as_str().unwrap();
        assert!(text.contains(message), "expected `{message}` in `{text}`");
    }
    // Nothing of the refused requests was applied (the two-row one had a good first row).
    assert_eq!(trips_10m(&running, 3).await, json!([null, null]));
}
