//! The store contract, run against every store: reads return what was written, answers computed from
//! read records equal the engine's state (window decay included), writes are idempotent and ordered,
//! keys never collide; plus persistence (embedded), a Redis restart and a hung cluster node (errors,
//! then recovery; never a wrong value).

use freshet_engine::{EntityKey, KeyPart, RecordReader, Timestamp, Value, ViewDef, ViewState};
use freshet_online::OnlineStore;
use freshet_online::embedded::EmbeddedStore;
use freshet_online::redis_store::RedisStore;
use freshet_testkit::redis::{RedisCluster, RedisServer};
use std::collections::HashMap;

const MINUTE: i64 = 60_000_000;

/// A view keyed by (city, zone), with windows and a TTL.
fn view() -> ViewDef {
    let yaml = r#"project: p
entities: [{name: zone, join_keys: [city, zone]}]
sources:
  - {name: rides, type: push, timestamp_field: t, schema: {city: string, zone: int64, t: timestamp, fare: float64}}
feature_views:
  - name: zone_rides
    entities: [zone]
    source: rides
    ttl: 2h
    features:
      - {name: rides_10m, aggregation: count, window: 10m}
      - {name: fare_sum_1h, aggregation: sum, column: fare, window: 1h}
      - {name: last_fare, aggregation: last, column: fare}
"#;
    let file = freshet_project::SourceFile::new("freshet.yaml", yaml);
    let (_, mut views) =
        freshet_project::parse_project(file, &HashMap::<String, String>::new()).unwrap();
    views.pop().unwrap().def
}

fn key(city: &str, zone: i64) -> EntityKey {
    EntityKey::from_parts(vec![KeyPart::Str(city.into()), KeyPart::Int(zone)])
}

fn ride(city: &str, zone: i64, minute: i64, fare: f64) -> Vec<Value> {
    vec![
        Value::from(city),
        Value::Int64(zone),
        Value::Timestamp(Timestamp(minute * MINUTE)),
        Value::Float64(fare),
    ]
}

async fn contract(store: OnlineStore) {
    let def = view();
    let reader = RecordReader::new(&def);
    let mut state = ViewState::new(def.clone());
    let entities = [key("paris", 1), key("paris", 2), key("a,i1", 1), key("", 0)];
    let mut position = 0;
    for (i, entity) in entities.iter().enumerate() {
        let parts = entity.parts();
        let (KeyPart::Str(city), KeyPart::Int(zone)) = (&parts[0], &parts[1]) else {
            unreachable!()
        };
        for m in 0..=i as i64 * 3 {
            position += 1;
            state
                .ingest(
                    &ride(city, *zone, 100 + m * 4, m as f64 + 0.5),
                    Timestamp(0),
                    position,
                )
                .unwrap();
        }
    }
    let records: Vec<(EntityKey, Vec<u8>)> = entities
        .iter()
        .map(|e| (e.clone(), state.entity_record(e).unwrap()))
        .collect();
    assert_eq!(
        store.write("zone_rides", &records).await.unwrap(),
        entities.len()
    );

    // What a server reads equals the engine state at any time: windows decay with no new event.
    let mut asked = entities.to_vec();
    asked.push(key("paris", 99));
    let read = store.read("zone_rides", &asked).await.unwrap();
    assert!(read[4].is_none(), "an unknown entity has no record");
    for t in [100, 110, 140, 175, 300].map(|m| m * MINUTE) {
        for (entity, record) in asked.iter().zip(&read) {
            assert_eq!(
                reader.read(record.as_deref(), t, i64::MAX).unwrap(),
                state.read(entity, t, i64::MAX).unwrap(),
                "{entity} at minute {}",
                t / MINUTE
            );
        }
    }
    // Other views never see these records.
    assert!(
        store
            .read("other_view", &entities)
            .await
            .unwrap()
            .iter()
            .all(Option::is_none)
    );

    // Ordered and idempotent: an older record never replaces a newer one; a replay changes nothing.
    let entity = key("paris", 1);
    let older = state.entity_record(&entity).unwrap();
    position += 1;
    state
        .ingest(&ride("paris", 1, 103, 9.0), Timestamp(0), position)
        .unwrap();
    let newer = state.entity_record(&entity).unwrap();
    assert_eq!(
        store
            .write("zone_rides", &[(entity.clone(), newer.clone())])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .write("zone_rides", &[(entity.clone(), older)])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .write("zone_rides", &[(entity.clone(), newer.clone())])
            .await
            .unwrap(),
        1
    );
    let stored = store.read("zone_rides", &[entity]).await.unwrap();
    assert_eq!(stored[0].as_deref(), Some(newer.as_slice()));
    store.health().await.unwrap();
    concurrent_read_modify_writes_lose_nothing(&store).await;
    many_entities_are_read_in_the_order_asked(&store).await;
}

/// A state with one ride in each of 64 zones of `city` (on a cluster, keys on every node), each ride
/// at its own minute and fare so that no two records are alike, and the zones' records.
fn sixty_four_zones(city: &str) -> (ViewState, Vec<(EntityKey, Vec<u8>)>) {
    let mut state = ViewState::new(view());
    for zone in 0..64 {
        state
            .ingest(
                &ride(city, zone, 100 + zone, zone as f64),
                Timestamp(0),
                zone as u64 + 1,
            )
            .unwrap();
    }
    let records = (0..64)
        .map(|zone| {
            let entity = key(city, zone);
            let record = state.entity_record(&entity).unwrap();
            (entity, record)
        })
        .collect();
    (state, records)
}

/// A read of many entities (on a cluster, spread over the slots of every node) answers each in the
/// order asked, with `None` for the unknown ones among them.
async fn many_entities_are_read_in_the_order_asked(store: &OnlineStore) {
    let (state, records) = sixty_four_zones("lille");
    let written: Vec<EntityKey> = records.iter().map(|(e, _)| e.clone()).collect();
    store.write("zone_rides", &records).await.unwrap();
    // Newest first, with an entity never written after every fourth.
    let mut asked = Vec::new();
    for (i, entity) in written.iter().enumerate().rev() {
        asked.push(entity.clone());
        if i % 4 == 0 {
            asked.push(key("lille", 1_000 + i as i64));
        }
    }
    let read = store.read("zone_rides", &asked).await.unwrap();
    assert_eq!(read.len(), asked.len());
    for (entity, record) in asked.iter().zip(&read) {
        assert_eq!(
            record.as_deref(),
            state.entity_record(entity).as_deref(),
            "{entity}"
        );
    }
}

/// Eight writers each apply ten events to one entity by read, apply, compare-and-swap (retrying on a
/// conflict), as pushes do: every event counts in the end.
async fn concurrent_read_modify_writes_lose_nothing(store: &OnlineStore) {
    let entity = key("nantes", 7);
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..8u64 {
        let store = store.clone();
        let entity = entity.clone();
        writers.spawn(async move {
            for n in 0..10u64 {
                loop {
                    let stored = store
                        .read("zone_rides", std::slice::from_ref(&entity))
                        .await
                        .unwrap();
                    let mut state = ViewState::new(view());
                    if let Some(record) = &stored[0] {
                        state.load_entity_record(entity.clone(), record).unwrap();
                    }
                    let position = 1_000 + writer * 100 + n;
                    state
                        .ingest(&ride("nantes", 7, 200, 1.0), Timestamp(0), position)
                        .unwrap();
                    let record = state.entity_record(&entity).unwrap();
                    let expected = stored[0].as_deref();
                    if store
                        .compare_and_swap("zone_rides", &entity, expected, &record)
                        .await
                        .unwrap()
                    {
                        break;
                    }
                }
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let stored = store
        .read("zone_rides", std::slice::from_ref(&entity))
        .await
        .unwrap();
    let row = RecordReader::new(&view())
        .read(stored[0].as_deref(), 200 * MINUTE, i64::MAX)
        .unwrap();
    assert_eq!(
        row.values[0],
        freshet_engine::FeatureValue::Scalar(Value::Int64(80)),
        "lost updates"
    );
}

#[tokio::test]
async fn embedded_store_keeps_the_contract_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    contract(OnlineStore::Embedded(
        EmbeddedStore::open(dir.path()).unwrap(),
    ))
    .await;
    let reopened = EmbeddedStore::open(dir.path()).unwrap();
    let read = reopened.read("zone_rides", &[key("paris", 2)]).unwrap();
    assert!(read[0].is_some(), "records survive a restart");
}

#[test]
fn a_second_process_on_the_embedded_file_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = EmbeddedStore::open(dir.path()).unwrap();
    let second = EmbeddedStore::open(dir.path()).unwrap_err().to_string();
    assert!(
        second.contains("another freshet process has it open"),
        "{second}"
    );
}

#[tokio::test]
async fn redis_store_keeps_the_contract() {
    let server = RedisServer::start();
    let store = RedisStore::connect("p", &server.url(), "redis://test")
        .await
        .unwrap();
    contract(OnlineStore::Redis(store)).await;
}

#[tokio::test]
async fn redis_cluster_store_keeps_the_contract() {
    let cluster = RedisCluster::start();
    let store = RedisStore::connect_cluster("p", &cluster.urls(), "cluster")
        .await
        .unwrap();
    contract(OnlineStore::Redis(store)).await;
}

#[tokio::test]
async fn a_redis_restart_gives_errors_then_recovers_never_a_wrong_value() {
    let mut server = RedisServer::start();
    let store = OnlineStore::Redis(
        RedisStore::connect("p", &server.url(), "redis://test")
            .await
            .unwrap(),
    );
    let def = view();
    let mut state = ViewState::new(def.clone());
    state
        .ingest(&ride("paris", 1, 100, 5.0), Timestamp(0), 1)
        .unwrap();
    let entity = key("paris", 1);
    let record = state.entity_record(&entity).unwrap();
    store
        .write("zone_rides", &[(entity.clone(), record.clone())])
        .await
        .unwrap();

    server.kill();
    let down = store
        .read("zone_rides", std::slice::from_ref(&entity))
        .await;
    assert!(
        down.is_err(),
        "a read with the server down must fail, not invent an answer"
    );
    assert!(store.health().await.is_err());
    let message = down.unwrap_err().to_string();
    assert!(message.contains("redis://test"), "{message}");

    server.restart();
    // The connection comes back by itself; the restarted server kept nothing, so the entity is unknown.
    let mut recovered = None;
    for _ in 0..50 {
        if let Ok(read) = store
            .read("zone_rides", std::slice::from_ref(&entity))
            .await
        {
            recovered = Some(read);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(recovered.expect("the store reconnects"), vec![None]);
    store
        .write("zone_rides", &[(entity.clone(), record.clone())])
        .await
        .unwrap();
    let read = store.read("zone_rides", &[entity]).await.unwrap();
    assert_eq!(read[0].as_deref(), Some(record.as_slice()));
    store.health().await.unwrap();
}

#[tokio::test]
async fn a_hung_cluster_node_gives_errors_then_recovers_never_a_wrong_value() {
    let cluster = RedisCluster::start();
    let store = OnlineStore::Redis(
        RedisStore::connect_cluster("p", &cluster.urls(), "cluster")
            .await
            .unwrap(),
    );
    let (_, written) = sixty_four_zones("paris");
    let entities: Vec<EntityKey> = written.iter().map(|(e, _)| e.clone()).collect();
    store.write("zone_rides", &written).await.unwrap();
    let records: Vec<Option<Vec<u8>>> = written.iter().map(|(_, r)| Some(r.clone())).collect();

    // 64 entities land on every node, so a read needs the one that hangs: it fails, or it is right.
    cluster.nodes[1].pause();
    match store.read("zone_rides", &entities).await {
        Err(e) => assert!(e.to_string().contains("cluster"), "{e}"),
        Ok(read) => assert_eq!(read, records, "a read during the hang answered wrongly"),
    }

    cluster.nodes[1].resume();
    let mut recovered = Err(None);
    for _ in 0..100 {
        match store.read("zone_rides", &entities).await {
            Ok(read) => {
                recovered = Ok(read);
                break;
            }
            Err(e) => recovered = Err(Some(e)),
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let read = recovered.expect("the cluster connection recovers");
    assert_eq!(read, records, "every entity answered with its own record");
}
