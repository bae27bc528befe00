//! Bad requests get a 4xx with a JSON `{code, message}` naming the offending field, and the server keeps
//! serving; limits are enforced before any store I/O; authentication reveals nothing; CORS is off
//! unless configured.

use crate::{EMBEDDED, start};
use freshet_server::{Limits, ServerConfig};

const GOOD: &str = r#"{"features": ["driver_trips:trips_10m"], "entities": {"driver_id": [1]}}"#;

#[tokio::test]
async fn every_bad_request_names_its_field_and_the_server_keeps_serving() {
    let limits = Limits {
        max_body_bytes: 4_096,
        max_entities: 3,
        max_features: 4,
    };
    let running = start(
        EMBEDDED,
        ServerConfig {
            limits,
            ..ServerConfig::default()
        },
    )
    .await;
    let big_body = format!(
        r#"{{"features": ["driver_trips:trips_10m"], "entities": {{"driver_id": [{}]}}}}"#,
        vec!["1"; 3_000].join(",")
    );
    let cases: Vec<(String, u16, &str, &str)> = vec![
        ("{".into(), 400, "invalid_json", "EOF while parsing"),
        (r#"{"features": ["driver_trips:trips_10m"]}"#.into(), 400, "invalid_json", "missing field `entities`"),
        (r#"{"features": ["driver_trips:trips_10m"], "entities": {"driver_id": [1]}, "colour": 1}"#.into(), 400, "invalid_json", "unknown field `colour`"),
        (r#"{"features": ["driver_trips:trips_10mm"], "entities": {"driver_id": [1]}}"#.into(), 400, "unknown_feature",
         "features[0]: feature view `driver_trips` has no feature `trips_10mm`; did you mean `trips_10m`?"),
        (r#"{"features": ["driver_trip:trips_10m"], "entities": {"driver_id": [1]}}"#.into(), 400, "unknown_feature_view",
         "features[0]: unknown feature view `driver_trip`; did you mean `driver_trips`?"),
        (r#"{"features": ["trips_10m"], "entities": {"driver_id": [1]}}"#.into(), 400, "invalid_feature_reference", "is not `view:feature`"),
        (r#"{"feature_service": "dispach", "entities": {"driver_id": [1]}}"#.into(), 400, "unknown_feature_service",
         "unknown feature service `dispach`; did you mean `dispatch`?"),
        (r#"{"entities": {"driver_id": [1]}}"#.into(), 400, "invalid_request", "exactly one of `features`"),
        (r#"{"features": ["driver_trips:trips_10m"], "entities": {"driver_id": [1, "two"]}}"#.into(), 400, "invalid_entity_key",
         r#"entities.driver_id[1]: expected an integer, found "two""#),
        (r#"{"features": ["driver_trips:trips_10m"], "entities": {"driver": [1]}}"#.into(), 400, "missing_join_key",
         "missing join key `driver_id`, needed by feature view `driver_trips`"),
        (r#"{"feature_service": "dispatch", "entities": {"driver_id": [1, 2], "city": ["paris"], "zone_id": [1, 2]}}"#.into(), 400, "invalid_entities",
         "entities.city has 1 values but entities.driver_id has 2"),
        (r#"{"features": ["driver_trips:trips_10m"], "entities": {}}"#.into(), 400, "invalid_entities", "at least one join key"),
        (r#"{"features": ["driver_trips:trips_10m"], "entities": {"driver_id": [1, 2, 3, 4]}}"#.into(), 413, "too_many_entities",
         "4 entities requested; the limit is 3"),
        (r#"{"features": ["driver_trips:*", "zone_trips:trips_1h"], "entities": {"driver_id": [1]}}"#.into(), 413, "too_many_features",
         "6 features requested; the limit is 4"),
        (big_body, 413, "body_too_large", "over the limit of 4096 bytes"),
    ];
    for (body, status, code, message) in cases {
        let (got, answer) = running.post("/get-online-features", &body).await;
        assert_eq!(got, status, "{answer}");
        assert_eq!(answer["code"], code, "{answer}");
        let text = answer["message"].as_str().unwrap();
        assert!(text.contains(message), "expected `{message}` in `{text}`");
        let (status, _) = running.post("/get-online-features", GOOD).await;
        assert_eq!(status, 200, "the server keeps serving after `{code}`");
    }
    let (status, answer) = running.post("/no-such-route", "{}").await;
    assert_eq!((status, answer["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn bearer_tokens_are_required_when_configured_and_health_stays_open() {
    let config = ServerConfig {
        tokens: vec!["first-token".into(), "second-token".into()],
        ..ServerConfig::default()
    };
    let running = start(EMBEDDED, config).await;
    let url = format!("{}/get-online-features", running.url);
    let send = |token: Option<&str>| {
        let mut request = running.client.post(&url).body(GOOD);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send()
    };
    for token in [
        None,
        Some("wrong"),
        Some("first-token-but-longer"),
        Some(""),
    ] {
        let response = send(token).await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{token:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"code": "unauthorized", "message": "a valid bearer token is required"})
        );
    }
    for token in ["first-token", "second-token"] {
        assert_eq!(send(Some(token)).await.unwrap().status().as_u16(), 200);
    }
    let health = running
        .client
        .get(format!("{}/health", running.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

#[tokio::test]
async fn cors_is_off_unless_an_origin_is_configured() {
    let preflight = |running: &crate::Running| {
        running
            .client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/get-online-features", running.url),
            )
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .send()
    };
    let closed = start(EMBEDDED, ServerConfig::default()).await;
    let response = preflight(&closed).await.unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let config = ServerConfig {
        cors_origins: vec!["https://app.example".into()],
        ..ServerConfig::default()
    };
    let open = start(EMBEDDED, config).await;
    let response = preflight(&open).await.unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example"
    );
}
