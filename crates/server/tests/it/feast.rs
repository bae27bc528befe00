//! Feast compatibility: the request and column-major response shapes of Feast's feature server, values
//! equal to the engine's answer at read time (windows decay, TTL expires, unknown entities are
//! `NOT_FOUND`), composite keys, `full_feature_names`, and the same answers from Redis.

use crate::{EMBEDDED, MINUTE, Running, T0, start};
use freshet_engine::{EntityKey, FeatureValue, KeyPart};
use freshet_server::ServerConfig;
use freshet_sources::formats::json_value;
use freshet_testkit::redis::RedisServer;
use serde_json::json;

/// What the engine says for driver `driver`'s feature `feature` at `now`.
fn engine(running: &Running, driver: i64, feature: usize, now: i64) -> serde_json::Value {
    let row = running.views[0]
        .read(&EntityKey::int(driver), now, i64::MAX)
        .unwrap();
    match &row.values[feature] {
        FeatureValue::Scalar(v) => json_value(v),
        FeatureValue::List(items) => items.iter().map(json_value).collect(),
    }
}

async fn feast_shape_and_values(running: &Running) {
    let now = T0 + 31 * MINUTE;
    let (status, body) = running
        .post(
            "/get-online-features",
            r#"{"features": ["driver_trips:trips_10m", "driver_trips:fare_sum_1h", "driver_trips:last_status", "driver_trips:recent_status"],
                "entities": {"driver_id": [1, 2, 3]}}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let epoch = "1970-01-01T00:00:00Z";
    assert_eq!(
        body,
        json!({
            "metadata": {"feature_names": ["driver_id", "trips_10m", "fare_sum_1h", "last_status", "recent_status"]},
            "results": [
                {"values": [1, 2, 3], "statuses": ["PRESENT", "PRESENT", "PRESENT"], "event_timestamps": [epoch, epoch, epoch]},
                {"values": [1, 0, null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"],
                 "event_timestamps": ["2026-01-01T00:30:00Z", "2026-01-01T00:20:00Z", epoch]},
                {"values": [29.75, 30.0, null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"],
                 "event_timestamps": ["2026-01-01T00:30:00Z", "2026-01-01T00:20:00Z", epoch]},
                {"values": ["completed", "completed", null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"],
                 "event_timestamps": ["2026-01-01T00:30:00Z", "2026-01-01T00:20:00Z", epoch]},
                {"values": [["completed", "cancelled"], ["completed"], null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"],
                 "event_timestamps": ["2026-01-01T00:30:00Z", "2026-01-01T00:20:00Z", epoch]}
            ]
        })
    );
    // Every feature of the view equals the engine's own answer, at several instants: windows decay with
    // no new event, and the TTL (2h after the newest event) expires the entity.
    for minutes in [31, 40, 45, 100, 149, 150, 151] {
        let now = T0 + minutes * MINUTE;
        running.set_now(now);
        let (status, body) = running
            .post(
                "/get-online-features",
                r#"{"features": ["driver_trips:*"], "entities": {"driver_id": [1, 2, 3]}}"#,
            )
            .await;
        assert_eq!(status, 200);
        for feature in 0..5 {
            let column = &body["results"][feature + 1];
            for (i, driver) in [1, 2, 3].into_iter().enumerate() {
                assert_eq!(
                    column["values"][i],
                    engine(running, driver, feature, now),
                    "minute {minutes}"
                );
            }
        }
        let expired = minutes >= 150;
        assert_eq!(
            body["results"][1]["statuses"][0],
            if expired {
                "OUTSIDE_MAX_AGE"
            } else {
                "PRESENT"
            },
            "minute {minutes}"
        );
    }
    assert_eq!(
        engine(running, 1, 0, T0 + 45 * MINUTE),
        json!(0),
        "the 10m count decayed"
    );
    running.set_now(now);
}

async fn services_and_composite_keys(running: &Running) {
    let (status, body) = running
        .post(
            "/get-online-features",
            r#"{"feature_service": "dispatch", "full_feature_names": true,
                "entities": {"driver_id": [1, 2], "city": ["paris", "paris"], "zone_id": [1, 9]}}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["metadata"]["feature_names"],
        json!([
            "driver_id",
            "city",
            "zone_id",
            "driver_trips__trips_10m",
            "driver_trips__last_status",
            "zone_trips__trips_1h"
        ])
    );
    assert_eq!(body["results"][5]["values"], json!([3, null]));
    assert_eq!(
        body["results"][5]["statuses"],
        json!(["PRESENT", "NOT_FOUND"])
    );
    let zone = EntityKey::from_parts(vec![KeyPart::Str("paris".into()), KeyPart::Int(1)]);
    let row = running.views[1]
        .read(&zone, T0 + 31 * MINUTE, i64::MAX)
        .unwrap();
    assert_eq!(
        row.values[0],
        FeatureValue::Scalar(freshet_engine::Value::Int64(3))
    );
}

#[tokio::test]
async fn feast_requests_on_the_embedded_store() {
    let running = start(EMBEDDED, ServerConfig::default()).await;
    feast_shape_and_values(&running).await;
    services_and_composite_keys(&running).await;
}

#[tokio::test]
async fn feast_requests_on_redis_and_health_follows_the_store() {
    let mut redis = RedisServer::start();
    let store = format!("online_store: {{type: redis, url: \"{}\"}}\n", redis.url());
    let running = start(&store, ServerConfig::default()).await;
    feast_shape_and_values(&running).await;
    services_and_composite_keys(&running).await;

    let health = |r: &Running| {
        let client = r.client.clone();
        let url = format!("{}/health", r.url);
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(health(&running).await, 200);
    redis.kill();
    assert_eq!(health(&running).await, 503);
    let (status, body) = running
        .post(
            "/get-online-features",
            r#"{"features": ["driver_trips:trips_10m"], "entities": {"driver_id": [1]}}"#,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("store_unavailable")),
        "never a wrong value: {body}"
    );
    redis.restart();
    let mut healthy = false;
    for _ in 0..50 {
        if health(&running).await == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(healthy, "the server recovers when Redis is back");
    // The restarted Redis kept nothing: the entity is unknown, not given a stale or invented value.
    let (status, body) = running
        .post(
            "/get-online-features",
            r#"{"features": ["driver_trips:trips_10m"], "entities": {"driver_id": [1]}}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["results"][1]["statuses"], json!(["NOT_FOUND"]));
}

#[tokio::test]
async fn metrics_and_openapi_describe_the_server() {
    let running = start(EMBEDDED, ServerConfig::default()).await;
    running
        .post(
            "/get-online-features",
            r#"{"features": ["driver_trips:trips_10m"], "entities": {"driver_id": [1]}}"#,
        )
        .await;
    running.post("/get-online-features", "{").await;
    // A path that is no route is counted under one label, whatever the path.
    running.post("/get-online-features/v2", "{}").await;
    let metrics = running
        .client
        .get(format!("{}/metrics", running.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"freshet_http_requests_total{route="/get-online-features",status="200"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"freshet_http_requests_total{route="/get-online-features",status="400"} 1"#
        )
    );
    assert!(
        metrics.contains(r#"freshet_http_requests_total{route="other",status="404"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("freshet_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("freshet_online_store_errors_total 0"));
    // Driver 1's newest trip is at minute 30, the clock at minute 31.
    assert!(
        metrics.contains(r#"freshet_view_freshness_seconds{view="driver_trips"} 60.0"#),
        "{metrics}"
    );
    let openapi: serde_json::Value = running
        .client
        .get(format!("{}/openapi.json", running.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for route in [
        "/get-online-features",
        "/push",
        "/health",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(
            openapi["paths"].get(route).is_some(),
            "{route} is not documented"
        );
    }
}

#[tokio::test]
async fn feast_requests_and_pushes_on_a_redis_cluster() {
    let cluster = freshet_testkit::redis::RedisCluster::start();
    let urls: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let store = format!(
        "online_store: {{type: redis_cluster, urls: [{}]}}\n",
        urls.join(", ")
    );
    let running = start(&store, ServerConfig::default()).await;
    feast_shape_and_values(&running).await;
    services_and_composite_keys(&running).await;
    // Read-after-write through the cluster.
    let push = r#"{"push_source_name": "trips", "df": {"driver_id": [42], "city": ["oslo"], "zone_id": [3],
                   "event_time": ["2026-01-01T00:30:00Z"], "fare": [5.0], "status": ["completed"]}}"#;
    let (status, _) = running.post("/push", push).await;
    assert_eq!(status, 200);
    let (status, body) = running
        .post(
            "/get-online-features",
            r#"{"feature_service": "dispatch", "entities": {"driver_id": [42], "city": ["oslo"], "zone_id": [3]}}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][3]["values"], json!([1]));
    assert_eq!(body["results"][5]["values"], json!([1]));
}
