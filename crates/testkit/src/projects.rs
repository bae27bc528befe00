//! Project files shared by tests of several kinds (a crate's unit tests and its integration tests),
//! so that one fixture describes the rides example wherever a test needs it.

/// Rides: trips pushed with a driver and a composite zone key; a driver view with a window of each
/// kind, a zone view, and a feature service across both. No online store: tests append their own.
pub const RIDES: &str = r#"project: rides
entities:
  - {name: driver, join_keys: [driver_id]}
  - {name: zone, join_keys: [city, zone_id]}
sources:
  - name: trips
    type: push
    timestamp_field: event_time
    schema: {driver_id: int64, city: string, zone_id: int64, event_time: timestamp, fare: float64, status: string}
feature_views:
  - name: driver_trips
    entities: [driver]
    source: trips
    ttl: 2h
    features:
      - {name: trips_10m, aggregation: count, window: 10m}
      - {name: fare_sum_1h, aggregation: sum, column: fare, window: 1h}
      - {name: fare_mean, aggregation: mean, column: fare}
      - {name: last_status, aggregation: last, column: status}
      - {name: recent_status, aggregation: last_n, column: status, n: 2}
  - name: zone_trips
    entities: [zone]
    source: trips
    features:
      - {name: trips_1h, aggregation: count, window: 1h}
feature_services:
  - {name: dispatch, features: ["driver_trips:trips_10m", "driver_trips:last_status", "zone_trips:trips_1h"]}
"#;
