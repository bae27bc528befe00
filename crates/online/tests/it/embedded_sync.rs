//! The embedded store's replayable writes against concurrent syncs: held in memory and drained to the
//! file behind the writer's back, they are readable at once, never lose to older ones, and are in the
//! file after the next sync.

use freshet_engine::{EntityKey, KeyPart};
use freshet_online::embedded::EmbeddedStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const VIEW: &str = "v";

/// A record whose version (its first 16 bytes) is `version`, with some payload after it.
fn record(version: u64, entity: i64) -> Vec<u8> {
    let mut r = u128::from(version).to_be_bytes().to_vec();
    r.extend_from_slice(&entity.to_le_bytes());
    r.extend_from_slice(&[7u8; 200]);
    r
}

fn key(i: i64) -> EntityKey {
    EntityKey::from_parts(vec![KeyPart::Int(i)])
}

#[test]
fn writes_during_syncs_are_read_at_once_in_order_and_durable_after_the_next_sync() {
    const ENTITIES: i64 = 500;
    const ROUNDS: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let syncs = Arc::new(AtomicUsize::new(0));
    let syncer = {
        let (store, stop, syncs) = (store.clone(), stop.clone(), syncs.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                store.sync().unwrap();
                syncs.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let keys: Vec<EntityKey> = (0..ENTITIES).map(key).collect();
    let version = |round: u64| 1_000 + round * 10;
    for round in 1..=ROUNDS {
        // Each round rewrites a third of the entities, then an older version of all of them.
        let touched: Vec<(EntityKey, Vec<u8>)> = (0..ENTITIES)
            .filter(|i| (i + round as i64) % 3 == 0)
            .map(|i| (key(i), record(version(round), i)))
            .collect();
        store.write_replayable(VIEW, touched).unwrap();
        let stale: Vec<(EntityKey, Vec<u8>)> = (0..ENTITIES)
            .map(|i| (key(i), record(version(round) - 25, i)))
            .collect();
        store.write_replayable(VIEW, stale).unwrap();
        let read = store.read(VIEW, &keys).unwrap();
        for (i, found) in read.iter().enumerate() {
            let i = i as i64;
            // The newest version written for entity i so far.
            let newest = (1..=round)
                .rev()
                .find(|r| (i + *r as i64) % 3 == 0)
                .map_or(version(round) - 25, |r| version(r).max(version(round) - 25));
            assert_eq!(
                found.as_deref(),
                Some(record(newest, i).as_slice()),
                "round {round}, entity {i}"
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    syncer.join().unwrap();
    assert!(
        syncs.load(Ordering::Relaxed) > 10,
        "the syncs ran alongside"
    );
    let expected = store.read(VIEW, &keys).unwrap();
    store.sync().unwrap();
    drop(store);
    let reopened = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(reopened.read(VIEW, &keys).unwrap(), expected);
}
